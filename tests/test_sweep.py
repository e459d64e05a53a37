"""hwutils.sweep and the Dask side of hwutils.report on a real LocalCluster (2 worker processes, shared by
the tests of this module): sweeps of a tiny throwaway notebook (no TensorFlow, so it stays fast), a worker
killed by its pid in the middle of a task, a notebook made to fail, and two smoke-profile notebooks of the
report giving the same results on the cluster as one after another."""
import json
import os
import signal
import threading
import time
from pathlib import Path

import nbformat
import pytest

from hwutils import paths, report, sweep

distributed = pytest.importorskip("distributed")

TOY = '''import json, os, pathlib, time
if marker_dir:
    pathlib.Path(marker_dir, f"seed{seed}-{os.getpid()}").write_text(str(os.getpid()))
time.sleep(sleep)
if marker_dir:
    pathlib.Path(marker_dir, f"done-seed{seed}-{os.getpid()}").write_text("")
if scale < 0:
    raise ValueError(f"scale must be non-negative, got {scale}")
out = pathlib.Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
(out / "note.txt").write_text(f"seed {seed}")
json.dump({"seed": seed, "loss": scale * (1 + seed), "threads": os.environ.get("OMP_NUM_THREADS"),
           "params": {"seed": seed, "scale": scale, "out_dir": out_dir}, "figures": [], "findings": [],
           "claims": [{"id": "positive", "verdict": "reproduced" if scale > 0 else "inconclusive", "effect": scale}]},
          open(out / "results.json", "w"))
'''


def toy_notebook(folder: Path, code: str = TOY) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    cell = nbformat.v4.new_code_cell("profile = None\nout_dir = None\nseed = 0\nscale = 1.0\nsleep = 0.0\n"
                                     "marker_dir = ''")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(code)]
    path = folder / "toy.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as c:
        yield c


@pytest.fixture
def build(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "BUILD", tmp_path / "build")
    # Other people edit hwutils while these tests run: a changed code hash would rerun every point.
    frozen = report.code_hash()
    monkeypatch.setattr(report, "code_hash", lambda root=None: frozen)
    return tmp_path / "build"


def test_point_names_are_distinct_and_readable():
    assert sweep.point_name({"seed": 0, "epochs": 10}) == "seed-0_epochs-10"
    names = {sweep.point_name({"widths": w}) for w in ([4, 16], [4, 1, 6], [41, 6], "4,16")}
    assert len(names) == 4
    assert sweep.grid_points({"a": [1, 2], "b": ["x", "y", "z"]})[:2] == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}]


def test_two_by_two_sweep_on_the_cluster_resumes_and_extends(cluster, build, tmp_path, capsys):
    nb = toy_notebook(tmp_path)
    grid = tmp_path / "grid.yaml"
    grid.write_text("grid:\n  seed: [0, 1]\n  scale: [1.0, 2.0]\n")
    addr = ["--scheduler", cluster.scheduler_address, "--profile", "smoke"]
    assert sweep.main([str(nb), "-f", str(grid), *addr]) == 0
    out = capsys.readouterr().out
    assert out.count(": ok in") == 4
    df = sweep.load("toy")
    assert len(df) == 4 and set(df["status"]) == {"ok"}
    assert sorted(zip(df["seed"], df["scale"])) == [(0, 1.0), (0, 2.0), (1, 1.0), (1, 2.0)]
    # each row holds the results of its own point (the notebook computes loss = scale * (1 + seed))
    assert list(df["loss"]) == [s * (1 + d) for d, s in zip(df["seed"], df["scale"])]
    assert set(df["claim:positive"]) == {"reproduced"} and list(df["claim:positive:effect"]) == list(df["scale"])
    assert set(df["threads"]) == {1}  # 2 cores, 2 single-thread workers: one thread per kernel
    folder = build / "sweeps" / "toy"
    for point in df["point"]:  # the client wrote every file the task returned, with the real out_dir
        results = json.loads((folder / point / "results.json").read_text())
        assert results["params"]["out_dir"] == str(folder / point)
        assert (folder / point / "note.txt").is_file() and (folder / point / "toy.ipynb").is_file()
    assert (folder / "summary.png").stat().st_size > 1000
    finished = {k: v["finished"] for k, v in json.loads((folder / "state.json").read_text()).items()}

    assert sweep.main([str(nb), "-p", "seed", "0", "1", "-p", "scale", "1.0", "2.0", *addr]) == 0
    out = capsys.readouterr().out
    assert out.count("skipped, unchanged") == 4 and ": ok in" not in out
    assert {k: v["finished"] for k, v in json.loads((folder / "state.json").read_text()).items()} == finished

    assert sweep.main([str(nb), "-p", "seed", "0", "1", "-p", "scale", "1.0", "2.0", "3.0", *addr]) == 0
    out = capsys.readouterr().out
    assert out.count("skipped, unchanged") == 4 and out.count(": ok in") == 2
    assert "seed-0_scale-3.0: ok" in out and "seed-1_scale-3.0: ok" in out
    df = sweep.load("toy")
    assert len(df) == 6 and sorted(df["loss"]) == [1.0, 2.0, 2.0, 3.0, 4.0, 6.0]


def test_a_failing_point_is_recorded_others_finish_and_only_it_reruns(cluster, build, tmp_path, capsys):
    nb = toy_notebook(tmp_path)
    args = [str(nb), "-p", "scale", "-1.0", "1.0", "--scheduler", cluster.scheduler_address, "--profile", "smoke"]
    assert sweep.main(args) == 1
    out, err = capsys.readouterr()
    assert "scale-1.0: ok in" in out and "scale--1.0: failed" in out
    assert "scale must be non-negative" in out and "FAILED: scale--1.0" in err
    df = sweep.load("toy").set_index("point")
    assert df.loc["scale-1.0", "status"] == "ok" and df.loc["scale--1.0", "status"] == "failed"
    assert "scale must be non-negative" in df.loc["scale--1.0", "error"]
    assert (build / "sweeps" / "toy" / "failed" / "scale--1.0.ipynb").is_file()  # the executed notebook, kept
    assert sweep.main(args) == 1
    out = capsys.readouterr().out
    assert "scale-1.0: skipped, unchanged" in out and "scale--1.0: failed in" in out and ": ok in" not in out


# Two cheap report entries that run today (other notebooks are being rewritten this session).
REAL = ["1-1-simulate-function-sinc", "1-2-gradient-norm"]
VARIES = {"wall_time", "versions", "device"}


def _metrics(results: dict) -> dict:
    out = {k: v for k, v in results.items() if k not in VARIES}
    out["params"] = {k: v for k, v in results.get("params", {}).items() if k != "out_dir"}
    return out


def _close(a, b, path="") -> list[str]:
    """Differences between two results (floats within 1e-6 relative: one kernel had 2 threads, the other 1)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(set(a) ^ set(b))}"]
        return [d for k in a for d in _close(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: lengths {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _close(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float):
        return [] if abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b)) else [f"{path}: {a} != {b}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def test_report_on_the_cluster_gives_the_sequential_results(cluster, build, tmp_path, monkeypatch, capsys):
    only = [arg for entry in REAL for arg in ("--only", entry)]
    results = {}
    for mode, extra in (("sequential", []), ("dask", ["--scheduler", cluster.scheduler_address])):
        monkeypatch.setattr(paths, "BUILD", tmp_path / mode)
        assert report.main(["--profile", "smoke", *only, *extra]) == 0, capsys.readouterr()
        results[mode] = {s: json.loads((tmp_path / mode / s / "results.json").read_text()) for s in REAL}
        for stem in REAL:
            assert results[mode][stem]["params"]["out_dir"] == str(tmp_path / mode / stem)
            for fig in results[mode][stem].get("figures", []):
                assert (tmp_path / mode / stem / fig).is_file()
        assert (tmp_path / mode / "report" / "index.html").is_file()
    out = capsys.readouterr().out
    assert "Dask: 2 workers" in out
    for stem in REAL:
        assert _close(_metrics(results["sequential"][stem]), _metrics(results["dask"][stem])) == []


# A checkpointed loop (hwutils.checkpoints, no TensorFlow): 6 epochs, each adding epoch² to a total; the first
# attempt at seed 0 waits after its epoch-3 checkpoint until its worker is killed.
TRAINING = '''import json, os, pathlib, time
from hwutils import checkpoints
store = checkpoints.Checkpoints(checkpoints.folder_for(out_dir, None), {"params": f"seed {seed}"}, every=1)
loop = store.loop("toy training")
found = loop.restore()
start, total = (found[0]["epoch"], found[0]["tree"]["total"]) if found else (0, 0)
if found:
    loop.resumed(start, 6)
for epoch in range(start, 6):
    total += (epoch + seed) ** 2
    loop.save(epoch + 1, 6, {"total": total})
    if epoch == 2 and seed == 0 and marker_dir:
        pathlib.Path(marker_dir, f"epoch3-{os.getpid()}").write_text(str(os.getpid()))
        if len(list(pathlib.Path(marker_dir).glob("epoch3-*"))) == 1:
            time.sleep(120)  # the first attempt: killed with its worker here
out = pathlib.Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
json.dump({"seed": seed, "total": total, "started_at": start, "resumed": store.resumed, "figures": [],
           "findings": [], "params": {"seed": seed}}, open(out / "results.json", "w"))
store.finish()
'''


def test_a_notebook_whose_worker_is_killed_resumes_from_its_checkpoint_on_another(cluster, build, tmp_path):
    from distributed import Client

    nb = toy_notebook(tmp_path, TRAINING)
    markers = tmp_path / "markers"
    markers.mkdir()
    shared = tmp_path / "shared-checkpoints"  # every worker of the local cluster sees it
    argv = [str(nb), "-p", "seed", "0", "1", "-p", "marker_dir", repr(str(markers)), "--scheduler",
            cluster.scheduler_address, "--profile", "smoke", "--name", "resume", "--checkpoint-dir", str(shared)]
    rc = {}
    thread = threading.Thread(target=lambda: rc.setdefault("rc", sweep.main(argv)))
    thread.start()
    with Client(cluster.scheduler_address) as client:
        deadline = time.time() + 240
        while not list(markers.glob("epoch3-*")) and time.time() < deadline:
            time.sleep(0.2)
        assert list(markers.glob("epoch3-*")), "the task never reached its third epoch"
        victim = next(addr for addr, keys in client.processing().items() if any("seed-0" in str(k) for k in keys))
        os.kill(client.run(os.getpid, workers=[victim])[victim], signal.SIGKILL)
        thread.join(timeout=300)
        assert not thread.is_alive()
        client.wait_for_workers(2, timeout=120)  # the nanny restarts the killed worker: the next tests need two
    assert rc["rc"] == 0
    df = sweep.load("resume").set_index("seed")
    assert set(df["status"]) == {"ok"}
    assert df.loc[0, "started_at"] == 3 and df.loc[1, "started_at"] == 0  # seed 0 resumed at epoch 3
    assert list(df["total"]) == [sum((e + s) ** 2 for e in range(6)) for s in (0, 1)]  # as if never interrupted
    state = json.loads((build / "sweeps" / "resume" / "state.json").read_text())
    assert "resumed from checkpoints: toy training at epoch 3 of 6" in state[df.loc[0, "point"]]["notes"]
    assert [p.name for p in shared.iterdir()] == [report.MARKER]  # the finished notebooks' checkpoints are gone


# Last in this module: it leaves the shared cluster with one worker until its nanny has restarted the other.
def test_a_worker_killed_mid_task_loses_nothing(cluster, build, tmp_path):
    from distributed import Client

    nb = toy_notebook(tmp_path)
    markers = tmp_path / "markers"
    markers.mkdir()
    argv = [str(nb), "-p", "seed", "0", "1", "-p", "sleep", "8.0", "-p", "marker_dir", repr(str(markers)),
            "--scheduler", cluster.scheduler_address, "--profile", "smoke", "--name", "kill"]
    rc = {}
    thread = threading.Thread(target=lambda: rc.setdefault("rc", sweep.main(argv)))
    thread.start()
    with Client(cluster.scheduler_address) as client:
        deadline = time.time() + 240
        while not list(markers.glob("seed0-*")) and time.time() < deadline:  # the notebook is running
            time.sleep(0.2)
        assert list(markers.glob("seed0-*")), "the task never started"
        victim = next(addr for addr, keys in client.processing().items() if any("seed-0" in str(k) for k in keys))
        pid = client.run(os.getpid, workers=[victim])[victim]
        kernel = int(next(markers.glob("seed0-*")).read_text())
        os.kill(pid, signal.SIGKILL)
        thread.join(timeout=300)
        assert not thread.is_alive()
    assert rc["rc"] == 0
    df = sweep.load("kill")
    assert len(df) == 2 and set(df["status"]) == {"ok"}
    assert len(list(markers.glob("seed0-*"))) == 2  # seed 0 ran again after the kill, seed 1 once
    assert len(list(markers.glob("seed1-*"))) == 1
    # The killed worker's notebook stopped with it: its kernel never reached the end of its cell.
    assert not (markers / f"done-seed0-{kernel}").exists()
    assert len(list(markers.glob("done-seed0-*"))) == 1
