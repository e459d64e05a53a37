"""Checkpoints: every training loop interrupted at epoch k (an exception; a process killed by its pid) and
resumed ends bit-identical to a loop never interrupted; the store refuses other fingerprints, ignores
half-written checkpoints and never moves back; cached stages; deletion at the end."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from hwutils import checkpoints as ckpt
from hwutils import fingerprint, state_files, stage_cache
from tests import resume_loops
from tests.resume_loops import KINDS, run, same

# The folder each kind's loop checkpoints into (its label, then how many loops of that label came before).
FOLDER = {"fit": "train-0", "fit_stacked": "train-0", "fit_group": "ensembles-0", "gradient_norm": "gradient_norm-0"}


@pytest.fixture(scope="module")
def uninterrupted():
    return {kind: run(kind) for kind in KINDS}


class Interrupt(keras.callbacks.Callback):
    """An exception from a callback at the end of epoch `at` (before that epoch's checkpoint)."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.at:
            raise KeyboardInterrupt(f"interrupted in epoch {self.at}")


@pytest.mark.parametrize("kind", KINDS)
def test_a_loop_interrupted_by_an_exception_resumes_bit_identical(kind, uninterrupted, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "ckpt"
    if kind.startswith("fit") and kind != "fit_group":
        with pytest.raises(KeyboardInterrupt):
            run(kind, ckpt.Checkpoints(folder, every=1), extra=[Interrupt(4)])
        resumed_at = 3  # epoch 4's checkpoint was never written
    else:  # the engine's loops run no callbacks: the exception comes right after a checkpoint is written
        save = ckpt.Loop.save
        at = 3 if kind == "fit_group" else 10

        def save_then_fail(self, epoch, *args, **kwargs):
            written = save(self, epoch, *args, **kwargs)
            if self.folder.name == FOLDER[kind] and epoch >= at:
                raise KeyboardInterrupt(f"interrupted after the checkpoint at {epoch}")
            return written
        monkeypatch.setattr(ckpt.Loop, "save", save_then_fail)
        with pytest.raises(KeyboardInterrupt):
            run(kind, ckpt.Checkpoints(folder, every=1))
        monkeypatch.setattr(ckpt.Loop, "save", save)
        resumed_at = at
    capsys.readouterr()
    again = run(kind, ckpt.Checkpoints(folder, every=1))
    assert same(again, uninterrupted[kind]) == []
    unit = "step" if kind == "gradient_norm" else "epoch"
    assert f"resumed at {unit} {resumed_at} of" in capsys.readouterr().out
    # A finished loop stays finished: a third run trains nothing and returns the same.
    third = run(kind, ckpt.Checkpoints(folder, every=1))
    assert same(third, uninterrupted[kind]) == []
    out = capsys.readouterr().out
    assert "resumed at" not in out and "finished in an earlier run" in out


@pytest.mark.parametrize("kind", KINDS)
def test_a_loop_killed_by_its_pid_resumes_bit_identical(kind, uninterrupted, tmp_path, capsys):
    folder = tmp_path / "ckpt"
    env = {**os.environ, "RESUME_PAUSE": "1.5"}
    child = subprocess.Popen([sys.executable, resume_loops.__file__, kind, str(folder)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    loop = ckpt.Loop(folder / FOLDER[kind], {}, "", 0, 0, kind)
    deadline = time.time() + 240
    while loop.newest_epoch() < 2 and time.time() < deadline and child.poll() is None:
        time.sleep(0.1)
    assert child.poll() is None, "the child finished before it could be killed mid-training"
    killed_at = loop.newest_epoch()
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=60)
    assert "FINISHED" not in child.stdout.read()
    assert 2 <= killed_at < (resume_loops.EPOCHS * 5 if kind == "gradient_norm" else resume_loops.EPOCHS)
    again = run(kind, ckpt.Checkpoints(folder, every=1))
    assert f"resumed at {'step' if kind == 'gradient_norm' else 'epoch'} {killed_at} of" in capsys.readouterr().out
    assert same(again, uninterrupted[kind]) == []


class PlantNaN(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:  # the output layer's kernel: the loss of epoch 3 is NaN
            w = self.model.trainable_weights[-2]
            w.assign(np.full(w.shape, np.nan, dtype="float32"))


def test_a_diverged_fit_stays_diverged_when_restored(tmp_path, capsys):
    from hwutils import training
    x, y = resume_loops.data()
    histories = []
    for _ in range(2):  # the second run restores the first one's finished checkpoint
        keras.utils.set_random_seed(1)
        model = resume_loops.mlp()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        with pytest.warns(UserWarning, match="diverged"):
            histories.append(training.fit(model, (x, y), epochs=6, batch_size=8, order_seed=0, verbose=False,
                                          callbacks=[PlantNaN()], checkpoints=ckpt.Checkpoints(tmp_path, every=1)))
    assert "finished in an earlier run at epoch 3 of 6" in capsys.readouterr().out
    assert histories[1] == histories[0] and histories[1]["diverged"] and histories[1]["diverged_epoch"] == 3


def test_a_checkpoint_from_other_parameters_is_refused_and_says_why(uninterrupted, tmp_path, capsys):
    folder = tmp_path / "ckpt"
    mine = fingerprint.run_parts({"epochs": 6, "seed": 0})
    with pytest.raises(KeyboardInterrupt):
        run("fit", ckpt.Checkpoints(folder, mine, every=1), extra=[Interrupt(4)])
    other = fingerprint.run_parts({"epochs": 6, "seed": 1})
    capsys.readouterr()
    again = run("fit", ckpt.Checkpoints(folder, other, every=1))
    out = capsys.readouterr().out
    assert "made with different parameters" in out and "starts over" in out and "resumed" not in out
    assert same(again, uninterrupted["fit"]) == []  # trained from the start, to the same end
    code = {**mine, "code": "edited"}
    with pytest.raises(KeyboardInterrupt):
        run("fit", ckpt.Checkpoints(folder, mine, every=1), extra=[Interrupt(4)])
    capsys.readouterr()
    run("fit", ckpt.Checkpoints(folder, code, every=1))
    assert "different hwutils code" in capsys.readouterr().out


def test_the_run_fingerprint_follows_parameters_profile_backend_and_precision_not_where_it_saves():
    base = {"profile": "smoke", "seed": 0, "out_dir": "/a", "checkpoint_dir": "/c", "checkpoint_minutes": 2.0}
    parts = fingerprint.run_parts(base)
    assert parts == fingerprint.run_parts({**base, "out_dir": "/b", "checkpoint_dir": None, "checkpoint_every": 3,
                                           "keep_checkpoints": True, "checkpoint_minutes": 0.0})
    assert fingerprint.differences(parts, fingerprint.run_parts({**base, "profile": "quick"})) == ["params"]
    assert {"code", "versions", "backend", "precision"} <= set(parts)
    assert parts["backend"] == keras.backend.backend() and keras.config.floatx() in parts["precision"]


def _loop(folder, parts=None, label="loop"):
    return ckpt.Loop(Path(folder), parts or {"params": "p"}, "identity", 1, 0, label)


def test_a_half_written_checkpoint_is_ignored(tmp_path, capsys):
    loop = _loop(tmp_path / "loop")
    for epoch in (1, 2):
        assert loop.save(epoch, 5, {"epoch": epoch, "w": np.full(3, float(epoch))})
    # A writer killed mid-write leaves its temporary folder: never read.
    partial = tmp_path / "loop" / f"{state_files.TMP_PREFIX}epoch-00000003-123-abcd"
    partial.mkdir()
    (partial / state_files.ARRAYS).write_bytes(b"PK\x03\x04 cut off")
    meta, _ = loop.restore()
    assert meta["epoch"] == 2 and np.array_equal(meta["tree"]["w"], [2.0, 2.0, 2.0])
    # The newest checkpoint damaged after its rename (its data never reached the disk): the one before it.
    newest = tmp_path / "loop" / "epoch-00000002" / state_files.ARRAYS
    newest.write_bytes(newest.read_bytes()[:20])
    meta, _ = loop.restore()
    assert meta["epoch"] == 1 and "ignored" in capsys.readouterr().out
    (tmp_path / "loop" / "epoch-00000007").mkdir()  # a folder without its state.json
    assert loop.restore()[0]["epoch"] == 1


def test_two_writers_never_move_a_checkpoint_back(tmp_path):
    a, b = _loop(tmp_path / "loop"), _loop(tmp_path / "loop")  # e.g. a lost worker's zombie and its retry
    assert a.save(5, 9, {"w": np.ones(2)})
    assert not b.save(3, 9, {"w": np.zeros(2)})  # lower: not written
    assert not b.save(5, 9, {"w": np.zeros(2)})  # the same epoch: the first one stands
    assert a.restore()[0]["epoch"] == 5 and np.array_equal(a.restore()[0]["tree"]["w"], [1, 1])
    # Two writers at once, one of them falling behind, and a reader: what it finds never goes back and is whole.
    a, b = _loop(tmp_path / "race"), _loop(tmp_path / "race")
    seen, errors = [], []
    stop = threading.Event()

    def writer(loop, epochs, pause):
        for epoch in epochs:
            loop.save(epoch, 99, {"w": np.full(50_000, float(epoch))})
            time.sleep(pause)

    def reader():
        while not stop.is_set():
            try:
                found = a.restore()
                if found:
                    seen.append(found[0]["epoch"])
                    if not np.all(found[0]["tree"]["w"] == found[0]["epoch"]):
                        errors.append(f"epoch {found[0]['epoch']} holds another epoch's state")
            except Exception as err:  # noqa: BLE001 - a reader must never see a broken checkpoint
                errors.append(err)
    threads = [threading.Thread(target=writer, args=(a, range(2, 61, 2), 0.0)),
               threading.Thread(target=writer, args=(b, range(1, 59, 3), 0.01))]  # b falls behind a
    watch = threading.Thread(target=reader)
    watch.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watch.join()
    assert not errors and seen and seen == sorted(seen) and a.restore()[0]["epoch"] == 60


def test_a_reader_whose_checkpoint_is_cleaned_up_under_it_finds_the_newer_one(tmp_path, monkeypatch):
    # The race the two-writer test can hit under load: the reader lists epochs 10 and 8, another writer then
    # saves 12 and its clean-up removes 10 while the reader opens it. Falling back to 8 would move back.
    a, other = _loop(tmp_path / "loop"), _loop(tmp_path / "loop")
    for epoch in (8, 10):
        assert a.save(epoch, 99, {"w": np.full(3, float(epoch))})
    real_read_meta = state_files.read_meta

    def read_meta_while_another_writer_saves(path):
        if path.name.endswith("00000010") and not (tmp_path / "loop" / "epoch-00000012").exists():
            assert other.save(12, 99, {"w": np.full(3, 12.0)})  # KEEP_LAST = 2: its clean-up removes epoch 8
            import shutil
            shutil.rmtree(path)  # ... and, as it would for an older one, epoch 10 while it is being read
        return real_read_meta(path)
    monkeypatch.setattr(state_files, "read_meta", read_meta_while_another_writer_saves)
    found = a.restore()
    assert found and found[0]["epoch"] == 12 and np.all(found[0]["tree"]["w"] == 12.0)


def test_due_by_epochs_and_by_minutes(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(ckpt.time, "monotonic", lambda: clock[0])
    by_epochs = ckpt.Loop(Path("/nonexistent"), {}, "", 3, 0, "x")
    assert [e for e in range(1, 10) if by_epochs.due(e)] == [3, 6, 9]
    by_time = ckpt.Loop(Path("/nonexistent"), {}, "", 0, 2.0, "x")
    assert not by_time.due(1)
    clock[0] += 119
    assert not by_time.due(2) and by_time.seconds_left() == pytest.approx(1.0)
    clock[0] += 1
    assert by_time.due(3)


def test_the_engine_splits_its_calls_at_the_checkpoints_and_within_the_interval():
    from hwutils.ensemble import _next_call, _within_interval
    every3 = ckpt.Loop(Path("/nonexistent"), {}, "", 3, 0, "x")
    assert _next_call(0, 20, 200, None, every3) == 3 and _next_call(4, 20, 200, 2, every3) == 2
    assert _next_call(18, 20, 200, None, None) == 2
    by_time = ckpt.Loop(Path("/nonexistent"), {}, "", 0, 1.0, "x")  # one minute
    assert _within_interval(200, by_time, seconds=30.0, units=100) == 200  # 0.3 s an epoch: 200 fit
    assert _within_interval(200, by_time, seconds=60.0, units=20) == 20  # 3 s an epoch: 20 a minute


def test_finish_deletes_the_checkpoints_unless_kept(tmp_path, capsys):
    for keep in (False, True):
        store = ckpt.Checkpoints(tmp_path / str(keep), every=1, keep=keep)
        store.loop("a").save(1, 2, {"w": np.ones(1)})
        store.finish()
        assert (tmp_path / str(keep)).exists() == keep
    assert "checkpoints deleted" in capsys.readouterr().out
    assert ckpt.Checkpoints(tmp_path / "off").loop("a") is None  # off: no loop, nothing written


def test_a_cached_stage_runs_once_per_fingerprint(tmp_path):
    calls = []

    def costly(model, x, scale=1.0):
        calls.append(1)
        return {"value": float(scale * x.sum()), "curve": x * scale, "pair": (1, 2)}

    keras.utils.set_random_seed(0)
    model = resume_loops.mlp()
    x = np.arange(4.0)
    store = ckpt.Checkpoints(tmp_path, {"params": "a"}, minutes=5)
    first = stage_cache.cached(store, "costly", costly, model, x, scale=2.0)
    again = stage_cache.cached(ckpt.Checkpoints(tmp_path, {"params": "a"}, minutes=5), "costly", costly, model, x,
                               scale=2.0)
    assert len(calls) == 1 and again["value"] == first["value"] and np.array_equal(again["curve"], first["curve"])
    assert again["pair"] == [1, 2]  # tuples come back as lists
    stage_cache.cached(store, "costly", costly, model, x, scale=3.0)  # other arguments
    model.set_weights([w + 1 for w in model.get_weights()])
    stage_cache.cached(store, "costly", costly, model, x, scale=2.0)  # the same name, another model
    stage_cache.cached(ckpt.Checkpoints(tmp_path, {"params": "b"}, minutes=5), "costly", costly, model, x, scale=2.0)
    assert len(calls) == 4
    from hwutils.ensemble import Ensemble
    ens = Ensemble([1, 3, 1], 2, seed=0)
    first = stage_cache.cached(store, "hessians", ens.hessians, x[:, None], x[:, None])
    ens.theta.assign(ens.theta.numpy() + 1)  # a bound method's object is part of the key: other weights
    assert not np.allclose(stage_cache.cached(store, "hessians", ens.hessians, x[:, None], x[:, None]), first)
    stage_cache.cached(ckpt.Checkpoints(tmp_path), "costly", costly, model, x)  # checkpoints off: always runs
    stage_cache.cached(None, "costly", costly, model, x)
    assert len(calls) == 6


def test_the_progress_bar_says_where_a_fit_resumed(monkeypatch, capsys):
    from hwutils import callbacks, training
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("HWUTILS_QUIET", raising=False)
    x, y = resume_loops.data()
    model = resume_loops.mlp()
    model.compile(loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=4, initial_epoch=2, verbose=0, callbacks=[callbacks.ProgressBar("bar")])
    assert "bar (resumed at epoch 2 of 4)" in capsys.readouterr().out
    training.fit(model, (x, y), epochs=2, batch_size=8, label="plain", order_seed=0)
    assert "resumed" not in capsys.readouterr().out


def test_state_files_round_trip_every_kind_of_value(tmp_path):
    tree = {"a": np.arange(3), "b": [1.5, None, "s", True, {"c": np.zeros((2, 0))}], "n": float("nan")}
    assert state_files.write(tmp_path / "s", tree, {"meta": 1})
    meta = state_files.read_meta(tmp_path / "s")
    back = state_files.read_tree(tmp_path / "s", meta)
    assert meta["meta"] == 1 and np.array_equal(back["a"], tree["a"]) and back["b"][:4] == [1.5, None, "s", True]
    assert back["b"][4]["c"].shape == (2, 0) and np.isnan(back["n"])
    assert json.loads((tmp_path / "s" / state_files.STATE).read_text())["files"][state_files.ARRAYS]["bytes"] > 0
    with pytest.raises(TypeError):
        state_files.write(tmp_path / "t", {"model": object()}, {})
    assert not any(p.name.startswith(state_files.TMP_PREFIX) for p in tmp_path.iterdir())
