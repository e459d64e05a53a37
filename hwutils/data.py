"""Datasets: find them on disk in standard formats, never run code from a data file.

`load(name)` returns ((x_train, y_train), (x_test, y_test)): float32 NHWC images in [0, 1] and
int64 labels. Search order: explicit data_dir, $HWUTILS_DATA, the repo's data/, Keras's cache
(~/.keras/datasets), /usr/share/datasets; then, when online, the standard download into data/.
"""
from __future__ import annotations

import gzip
import io
import os
import pickle
import socket
import tarfile
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from .paths import DATA

NAMES = ("mnist", "fashion_mnist", "cifar10", "digits")
NUM_CLASSES = 10
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# Folder names under a search root that may hold each dataset ("" = the root itself).
SUBDIRS = {
    "mnist": ("mnist", ""),
    "fashion_mnist": ("fashion-mnist", "fashion_mnist"),
    "cifar10": ("", "cifar10", "cifar-10"),
}
DOWNLOADS = {
    "mnist": ["https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"],
    "fashion_mnist": [f"https://storage.googleapis.com/tensorflow/tf-keras-datasets/{f}.gz"
                      for f in IDX_FILES.values()],
    "cifar10": ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"],
}


class DatasetUnavailable(RuntimeError):
    """The dataset is nowhere on disk and cannot be downloaded."""


class MalformedDataFile(ValueError):
    """A data file exists but is truncated or not in the expected format."""


def default_roots() -> list[Path]:
    """The repo's data/, Keras's cache, and where Debian's dataset packages install."""
    return [DATA, Path.home() / ".keras" / "datasets", Path("/usr/share/datasets")]


def search_roots(data_dir: str | os.PathLike | None = None) -> list[Path]:
    roots = []
    if data_dir is not None:
        roots.append(Path(data_dir))
    if os.environ.get("HWUTILS_DATA"):
        roots.append(Path(os.environ["HWUTILS_DATA"]))
    return roots + default_roots()


# ---------------------------------------------------------------- formats

def _open_maybe_gz(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise MalformedDataFile(f"{path}: cannot be read as {'gzip' if path.suffix == '.gz' else 'IDX'} ({e})") from e


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally .gz) of unsigned bytes: magic 0x0000 08 <ndim>, then big-endian dims."""
    data = _open_maybe_gz(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08 or not 1 <= data[3] <= 4:
        raise MalformedDataFile(f"{path}: not an IDX file of unsigned bytes (wrong magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise MalformedDataFile(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(shape))
    if len(data) - header != size:
        raise MalformedDataFile(f"{path}: IDX header promises {size} values for shape {shape}, "
                                f"the file holds {len(data) - header} (truncated or corrupt)")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _find_idx(folder: Path) -> dict[str, Path] | None:
    found = {}
    for key, stem in IDX_FILES.items():
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            return None
    return found


def _load_idx_set(files: dict[str, Path]):
    arrays = {k: read_idx(p) for k, p in files.items()}
    for split in ("train", "test"):
        n_img, n_lab = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
        if n_img != n_lab:
            raise MalformedDataFile(f"{files[f'{split}_images']}: {n_img} images but "
                                    f"{files[f'{split}_labels']} has {n_lab} labels")
    return ((arrays["train_images"], arrays["train_labels"]), (arrays["test_images"], arrays["test_labels"]))


def _load_mnist_npz(path: Path):
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except Exception as e:  # zip errors, missing keys, object arrays
        raise MalformedDataFile(f"{path}: not a valid mnist.npz ({e})") from e
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
            raise MalformedDataFile(f"{path}: x_{split} must be uint8 images of shape (n, 28, 28), "
                                    f"got {x.dtype} {x.shape}")
        if not np.issubdtype(y.dtype, np.integer) or y.shape != (len(x),):
            raise MalformedDataFile(f"{path}: y_{split} must be {len(x)} integer labels (one per image), "
                                    f"got {y.dtype} {y.shape}")
        if y.size and (y.min() < 0 or y.max() >= NUM_CLASSES):
            raise MalformedDataFile(f"{path}: y_{split} holds labels outside 0..{NUM_CLASSES - 1}")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """CIFAR-10 batches are pickles; allow plain containers, bytes and numpy arrays, nothing else,
    so a planted file cannot run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays and plain data are allowed")


def read_cifar_batch(raw: bytes, where: str):
    try:
        batch = _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:
        raise MalformedDataFile(f"{where}: not a CIFAR-10 batch ({e})") from e
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise MalformedDataFile(f"{where}: a CIFAR-10 batch is a dict with b'data' and b'labels'")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise MalformedDataFile(f"{where}: expected data of shape (n, 3072) and n labels, got {data.shape} "
                                f"and {labels.shape}")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR_TEST = "test_batch"


def _load_cifar_dir(folder: Path):
    missing = [n for n in CIFAR_TRAIN + [CIFAR_TEST] if not (folder / n).is_file()]
    if missing:
        raise MalformedDataFile(f"{folder}: missing {', '.join(missing)} (CIFAR-10 has "
                                f"{', '.join(CIFAR_TRAIN)} and {CIFAR_TEST})")

    def read(name):
        path = folder / name
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise MalformedDataFile(f"{path}: cannot be read ({e})") from e
        return read_cifar_batch(raw, str(path))
    train = [read(n) for n in CIFAR_TRAIN]
    x_test, y_test = read(CIFAR_TEST)
    return (np.concatenate([b[0] for b in train]), np.concatenate([b[1] for b in train])), (x_test, y_test)


def _load_cifar_tar(path: Path):
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            missing = [n for n in CIFAR_TRAIN + [CIFAR_TEST] if n not in members]
            if missing:
                raise MalformedDataFile(f"{path}: missing {', '.join(missing)}")
            def read(name):
                return read_cifar_batch(tar.extractfile(members[name]).read(), f"{path}:{name}")
            train = [read(n) for n in CIFAR_TRAIN]
            x_test, y_test = read(CIFAR_TEST)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise MalformedDataFile(f"{path}: not a readable .tar.gz ({e})") from e
    return (np.concatenate([b[0] for b in train]), np.concatenate([b[1] for b in train])), (x_test, y_test)


def _locate(name: str, root: Path, explicit: bool = False):
    """(loader, path) for dataset `name` under one search root, or None.

    IDX files lying directly in a shared root are only taken for an explicit data_dir: elsewhere
    they could belong to either MNIST or Fashion-MNIST.
    """
    for sub in SUBDIRS[name] + (("",) if explicit and "" not in SUBDIRS[name] else ()):
        folder = root / sub if sub else root
        if not folder.is_dir():
            continue
        if name == "cifar10":
            batches = folder / "cifar-10-batches-py"
            if batches.is_dir():
                return _load_cifar_dir, batches
            if (folder / "cifar-10-python.tar.gz").is_file():
                return _load_cifar_tar, folder / "cifar-10-python.tar.gz"
            continue
        if name == "mnist" and (folder / "mnist.npz").is_file():
            return _load_mnist_npz, folder / "mnist.npz"
        if sub == "" and not explicit:
            continue
        files = _find_idx(folder)
        if files:
            return _load_idx_set, files
    return None


# ---------------------------------------------------------------- download

def _online(url: str, timeout: float = 3.0) -> bool:
    if os.environ.get("HWUTILS_OFFLINE"):
        return False
    host = urlparse(url).hostname
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _download(name: str) -> Path:
    import keras
    target = DATA / ("fashion-mnist" if name == "fashion_mnist" else "")
    target.mkdir(parents=True, exist_ok=True)
    for url in DOWNLOADS[name]:
        keras.utils.get_file(fname=Path(urlparse(url).path).name, origin=url, cache_dir=str(target),
                             cache_subdir="")
    return DATA


def _unavailable(name: str, roots: list[Path]) -> DatasetUnavailable:
    where = "\n".join(f"  - {r}" + "".join(f"/{s}" if s else "" for s in SUBDIRS[name][:1]) for r in roots)
    files = {"mnist": "mnist.npz or the four IDX .gz files (train-images-idx3-ubyte.gz, ...)",
             "fashion_mnist": "the four IDX .gz files (train-images-idx3-ubyte.gz, ...)",
             "cifar10": "cifar-10-batches-py/ or cifar-10-python.tar.gz"}[name]
    return DatasetUnavailable(
        f"dataset {name!r} is not on disk and cannot be downloaded (offline). Searched:\n{where}\n"
        f"Fix: put {files} into {DATA / SUBDIRS[name][0]} (or set HWUTILS_DATA / pass data_dir=), "
        f"run once with network access to download it there, or use dataset='digits', which ships "
        f"with scikit-learn.")


# ---------------------------------------------------------------- public

def _to_float_nhwc(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32) / 255.0
    return x[..., None] if x.ndim == 3 else x


def load_digits():
    """scikit-learn's bundled 8x8 digits, split 80/20 stratified with a fixed seed."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split
    bunch = sk_digits()
    x = (bunch.images / 16.0).astype(np.float32)[..., None]
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    return (x_tr, y_tr), (x_te, y_te)


def available(name: str, data_dir: str | os.PathLike | None = None) -> Path | str:
    """Where dataset `name` would be loaded from — a path on disk, "bundled" for digits, or "download" when it
    is not on disk but the download site answers — without reading it: what the report checks for every
    entry before the first notebook runs. Offline and not on disk: DatasetUnavailable, naming where it looked
    and where to put the files (within seconds: one connection attempt, none when HWUTILS_OFFLINE is set)."""
    if name not in NAMES:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(NAMES)}")
    if name == "digits":
        return "bundled"
    roots = search_roots(data_dir)
    found = next((hit for hit in (_locate(name, r, explicit=(data_dir is not None and i == 0))
                                  for i, r in enumerate(roots)) if hit), None)
    if found is not None:
        path = found[1]
        return Path(next(iter(path.values()))).parent if isinstance(path, dict) else Path(path)
    if _online(DOWNLOADS[name][0]):
        return "download"
    raise _unavailable(name, roots)


def load(name: str, data_dir: str | os.PathLike | None = None):
    """((x_train, y_train), (x_test, y_test)) as float32 NHWC in [0, 1] and int64 labels."""
    if name not in NAMES:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(NAMES)}")
    if name == "digits":
        return load_digits()
    roots = search_roots(data_dir)
    found = next((hit for hit in (_locate(name, r, explicit=(data_dir is not None and i == 0))
                                  for i, r in enumerate(roots)) if hit), None)
    if found is None:
        if not _online(DOWNLOADS[name][0]):
            raise _unavailable(name, roots)
        found = _locate(name, _download(name))
        if found is None:
            raise _unavailable(name, roots)
    loader, path = found
    (x_tr, y_tr), (x_te, y_te) = loader(path)
    return (_to_float_nhwc(x_tr), y_tr.astype(np.int64)), (_to_float_nhwc(x_te), y_te.astype(np.int64))


def stratified_subset(x: np.ndarray, y: np.ndarray, n: int | None, seed: int = 0):
    """n samples with the class proportions of y (all of them when n is None or ≥ len(y))."""
    if n is None or n >= len(y):
        return x, y
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    # Largest-remainder allocation: exact total n, proportions kept.
    quota = counts * n / len(y)
    take = np.floor(quota).astype(int)
    for i in np.argsort(-(quota - take))[: n - take.sum()]:
        take[i] += 1
    idx = np.concatenate([rng.choice(np.flatnonzero(y == c), k, replace=False) for c, k in zip(classes, take)])
    idx = np.sort(idx)
    return x[idx], y[idx]


def load_subset(name: str, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
                data_dir: str | os.PathLike | None = None):
    """load() followed by stratified subsets of the training and test sets."""
    (x_tr, y_tr), (x_te, y_te) = load(name, data_dir)
    return stratified_subset(x_tr, y_tr, n_train, seed), stratified_subset(x_te, y_te, n_test, seed + 1)


def randomize_labels(y: np.ndarray, fraction: float, seed: int = 0, num_classes: int = NUM_CLASSES,
                     mode: str = "uniform") -> np.ndarray:
    """A copy of y with round(fraction·n) labels corrupted.

    mode="uniform" (Zhang et al. 2017): the chosen labels are redrawn uniformly over the classes.
    mode="permute" (the report): the chosen labels are shuffled among themselves, which keeps the
    class histogram.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    y = np.array(y, copy=True)
    chosen = rng.choice(len(y), int(round(fraction * len(y))), replace=False)
    if mode == "uniform":
        y[chosen] = rng.integers(0, num_classes, len(chosen))
    elif mode == "permute":
        y[chosen] = y[rng.permutation(chosen)]
    else:
        raise ValueError(f"mode must be 'uniform' or 'permute', got {mode!r}")
    return y
