"""hwutils.data: every format from a tiny fixture written here, the search order, and the errors."""
import gzip
import os
import pickle
import tarfile
import time

import numpy as np
import pytest

from hwutils import data


@pytest.fixture(autouse=True)
def isolated_roots(monkeypatch, tmp_path):
    """Only the roots a test names: nothing on this machine's disk leaks in."""
    monkeypatch.setattr(data, "default_roots", lambda: [tmp_path / "repo-data"])
    monkeypatch.delenv("HWUTILS_DATA", raising=False)
    monkeypatch.setenv("HWUTILS_OFFLINE", "1")


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_set(folder, n_train=12, n_test=6, seed=0, compress=True):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train_images": rng.integers(0, 256, (n_train, 28, 28)), "train_labels": np.arange(n_train) % 10,
              "test_images": rng.integers(0, 256, (n_test, 28, 28)), "test_labels": np.arange(n_test) % 10}
    for key, stem in data.IDX_FILES.items():
        raw = idx_bytes(arrays[key])
        if compress:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / stem).write_bytes(raw)
    return arrays


def cifar_batch(n, seed):
    rng = np.random.default_rng(seed)
    return {b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8), b"labels": list(rng.integers(0, 10, n)),
            b"batch_label": b"fixture"}


def write_cifar_dir(folder):
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    for i, name in enumerate(data.CIFAR_TRAIN + [data.CIFAR_TEST]):
        (batches / name).write_bytes(pickle.dumps(cifar_batch(4, i), protocol=2))
    return batches


def test_idx_gz_and_plain(tmp_path):
    arrays = write_idx_set(tmp_path / "a" / "fashion-mnist")
    (x, y), (xt, yt) = data.load("fashion_mnist", data_dir=tmp_path / "a")
    assert x.shape == (12, 28, 28, 1) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(x[..., 0] * 255, arrays["train_images"], atol=1e-4)
    np.testing.assert_array_equal(yt, arrays["test_labels"])
    write_idx_set(tmp_path / "b" / "mnist", compress=False)
    (x, _), _ = data.load("mnist", data_dir=tmp_path / "b")
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_mnist_npz(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "k"
    folder.mkdir()
    xs = rng.integers(0, 256, (5, 28, 28)).astype(np.uint8)
    np.savez(folder / "mnist.npz", x_train=xs, y_train=np.arange(5), x_test=xs[:2], y_test=np.arange(2))
    (x, y), (xt, yt) = data.load("mnist", data_dir=folder)
    assert x.shape == (5, 28, 28, 1) and xt.shape == (2, 28, 28, 1)
    np.testing.assert_allclose(x[..., 0], xs / 255.0, atol=1e-6)


def test_cifar_directory_and_tarball(tmp_path):
    batches = write_cifar_dir(tmp_path / "dir")
    (x, y), (xt, yt) = data.load("cifar10", data_dir=tmp_path / "dir")
    assert x.shape == (20, 32, 32, 3) and xt.shape == (4, 32, 32, 3)
    raw = cifar_batch(4, 0)[b"data"][0]
    # channel-first rows become NHWC: pixel (0, 0) holds red, green, blue from the three planes
    np.testing.assert_allclose(x[0, 0, 0] * 255, [raw[0], raw[1024], raw[2048]], atol=1e-4)
    tar_root = tmp_path / "tar"
    tar_root.mkdir()
    with tarfile.open(tar_root / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(batches, arcname="cifar-10-batches-py")
    (x2, y2), _ = data.load("cifar10", data_dir=tar_root)
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)


def test_search_order_explicit_then_env_then_defaults(tmp_path, monkeypatch):
    write_idx_set(tmp_path / "explicit" / "mnist", n_train=3)
    write_idx_set(tmp_path / "env" / "mnist", n_train=4)
    write_idx_set(tmp_path / "repo-data" / "mnist", n_train=5)
    monkeypatch.setenv("HWUTILS_DATA", str(tmp_path / "env"))
    assert len(data.load("mnist", data_dir=tmp_path / "explicit")[0][1]) == 3
    assert len(data.load("mnist")[0][1]) == 4
    monkeypatch.delenv("HWUTILS_DATA")
    assert len(data.load("mnist")[0][1]) == 5


def test_offline_and_missing_fails_fast_with_places_and_fix(tmp_path):
    start = time.perf_counter()
    with pytest.raises(data.DatasetUnavailable) as err:
        data.load("mnist", data_dir=tmp_path / "nowhere")
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert str(tmp_path / "nowhere") in message and str(tmp_path / "repo-data") in message
    assert "digits" in message and "HWUTILS_DATA" in message


def test_offline_detected_without_the_flag(tmp_path, monkeypatch):
    monkeypatch.delenv("HWUTILS_OFFLINE")
    monkeypatch.setattr(data.socket, "create_connection", lambda *a, **k: (_ for _ in ()).throw(OSError("no route")))
    with pytest.raises(data.DatasetUnavailable):
        data.load("cifar10", data_dir=tmp_path)


class Planted:
    def __reduce__(self):
        return (os.system, ("touch planted-file-ran",))


def test_restricted_unpickler_refuses_a_planted_object(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    batches = write_cifar_dir(tmp_path / "evil")
    (batches / "data_batch_1").write_bytes(pickle.dumps({b"data": Planted(), b"labels": [1]}, protocol=2))
    with pytest.raises(data.MalformedDataFile, match="data_batch_1.*refusing to load"):
        data.load("cifar10", data_dir=tmp_path / "evil")
    assert not (tmp_path / "planted-file-ran").exists()


def test_truncated_and_wrong_magic_files_name_the_file(tmp_path):
    folder = tmp_path / "t" / "mnist"
    write_idx_set(folder)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-100]))
    with pytest.raises(data.MalformedDataFile, match="train-images-idx3-ubyte.gz.*truncated"):
        data.load("mnist", data_dir=tmp_path / "t")
    write_idx_set(folder)
    path.write_bytes(gzip.compress(b"\x00\x00\x09\x03" + b"\x00" * 20))
    with pytest.raises(data.MalformedDataFile, match="train-images-idx3-ubyte.gz.*magic"):
        data.load("mnist", data_dir=tmp_path / "t")
    path.write_bytes(b"not gzip at all")
    with pytest.raises(data.MalformedDataFile, match="train-images-idx3-ubyte.gz"):
        data.load("mnist", data_dir=tmp_path / "t")


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'svhn'"):
        data.load("svhn")


def test_digits_ships_with_scikit_learn():
    (x, y), (xt, yt) = data.load("digits")
    assert x.shape[1:] == (8, 8, 1) and x.dtype == np.float32 and x.max() <= 1.0
    assert len(x) + len(xt) == 1797 and set(np.unique(yt)) == set(range(10))


def test_stratified_subset_keeps_class_proportions():
    y = np.repeat(np.arange(4), [10, 20, 30, 40])
    x = np.arange(100)
    xs, ys = data.stratified_subset(x, y, 50, seed=0)
    assert len(ys) == 50 and np.bincount(ys).tolist() == [5, 10, 15, 20]
    np.testing.assert_array_equal(y[xs], ys)
    assert data.stratified_subset(x, y, None)[0] is x


def test_randomize_labels_fraction_and_modes():
    y = np.repeat(np.arange(10), 100)
    assert np.array_equal(data.randomize_labels(y, 0.0), y)
    uniform = data.randomize_labels(y, 0.5, seed=1)
    changed = np.mean(uniform != y)
    assert 0.4 < changed < 0.5  # 500 redrawn, a tenth of them land on their true label
    permuted = data.randomize_labels(y, 1.0, seed=1, mode="permute")
    assert np.array_equal(np.bincount(permuted), np.bincount(y)) and np.mean(permuted != y) > 0.85
    assert np.array_equal(data.randomize_labels(y, 0.3, seed=2), data.randomize_labels(y, 0.3, seed=2))
    with pytest.raises(ValueError):
        data.randomize_labels(y, 1.5)


@pytest.mark.parametrize("key,value,match", [
    ("x_train", np.zeros((5, 28, 28), np.float32), "x_train must be uint8.*float32"),
    ("x_train", np.zeros((5, 28, 27), np.uint8), r"x_train must be uint8 images of shape \(n, 28, 28\).*\(5, 28, 27\)"),
    ("y_train", np.arange(4), r"y_train must be 5 integer labels.*\(4,\)"),
    ("y_test", np.array([0.0, 1.0]), "y_test must be 2 integer labels.*float64"),
    ("y_test", np.array([0, 10]), "y_test holds labels outside 0..9"),
])
def test_mnist_npz_with_wrong_shapes_or_dtypes_names_the_file_and_the_problem(tmp_path, key, value, match):
    folder = tmp_path / "k"
    folder.mkdir()
    xs = np.zeros((5, 28, 28), np.uint8)
    arrays = {"x_train": xs, "y_train": np.arange(5), "x_test": xs[:2], "y_test": np.arange(2)}
    arrays[key] = value
    np.savez(folder / "mnist.npz", **arrays)
    with pytest.raises(data.MalformedDataFile, match=f"mnist.npz: {match}"):
        data.load("mnist", data_dir=folder)


def test_cifar_directory_missing_a_batch_names_it(tmp_path):
    batches = write_cifar_dir(tmp_path / "dir")
    (batches / "data_batch_3").unlink()
    with pytest.raises(data.MalformedDataFile, match="cifar-10-batches-py: missing data_batch_3 "):
        data.load("cifar10", data_dir=tmp_path / "dir")
