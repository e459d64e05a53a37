"""Tiny instances of every checkpointing training loop, for tests/test_checkpoints.py and the child process
it kills by its pid (`python tests/resume_loops.py KIND FOLDER`: trains KIND with a checkpoint after every
epoch, each save followed by a pause so that the parent can kill it mid-training).

`run(kind, checkpoints)` trains one loop from fixed initial weights and returns everything the loop
produces (weights, optimizer variables, histories, the records of its callbacks) as arrays, so two runs
compare with np.array_equal."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HWUTILS_QUIET", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from hwutils import backend, callbacks, models, training  # noqa: E402
from hwutils.ensemble import Ensemble, fit_group  # noqa: E402

backend.deterministic()  # as hwutils.setup does on a CPU
backend.enable_float64()  # as tests/conftest.py does for the test session: the child computes what the parent does
KINDS = ("fit", "fit_stacked", "fit_group", "gradient_norm")
EPOCHS = 6


def data(n=44):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 3)).astype("float32")
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int32")


def mlp():
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(5, activation="tanh"),
                             keras.layers.Dense(2, activation="softmax")])


def _keras_state(model) -> dict:
    return {"weights": model.get_weights(), "optimizer": [v.numpy() for v in model.optimizer.variables]}


def run(kind: str, checkpoints=None, extra=()) -> dict:
    """Train loop `kind` (one of KINDS) from fixed initial weights; `extra`: more Keras callbacks."""
    x, y = data()
    if kind == "fit":
        keras.utils.set_random_seed(1)
        model = mlp()
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], steps_per_execution=2)
        snaps, norms = callbacks.WeightSnapshots(every=2), callbacks.GradientNorm()
        h = training.fit(model, (x, y), (x, y), EPOCHS, 8, order_seed=3, verbose=False, checkpoints=checkpoints,
                         callbacks=[snaps, norms, *extra])
        return {**_keras_state(model), "history": h, "snapshots": snaps.weights, "snapshot_epochs": snaps.epochs,
                "grad_norms": norms.grad_norms, "losses": norms.losses}
    if kind == "fit_stacked":
        keras.utils.set_random_seed(2)
        model = models.stacked(mlp, 2, loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(0.05),
                               metrics=["accuracy"])
        # Recording, not stopping: the epoch each member reached its targets is a counter the resume must keep.
        targets = callbacks.LossTarget.for_members(0.45, model, stop=False)
        fitted = callbacks.AccuracyTarget(0.8, ["member_0_accuracy", "member_1_accuracy"], stop=False)
        h = training.fit_stacked(model, (x, [y, 1 - y]), None, EPOCHS, 8, order_seed=4, verbose=False,
                                 checkpoints=checkpoints, callbacks=[*targets, fitted, *extra])
        return {**_keras_state(model), "history": h, "target_epochs": [t.epoch for t in targets],
                "target_steps": [t.steps for t in targets], "target_weights": [t.weights for t in targets],
                "fitted": fitted.first, "fitted_epochs": fitted.epoch}
    if kind == "fit_group":
        group = [Ensemble([3, 4, 2], 2, loss="sparse_categorical_crossentropy", learning_rate=0.05, seed=5),
                 Ensemble([3, 3, 3, 2], 2, loss="sparse_categorical_crossentropy", learning_rate=0.05, seed=6)]
        outs = fit_group(group, x, y, EPOCHS, 8, shuffle_seed=7, record_every=2, record_steps=True, verbose=False,
                         checkpoints=checkpoints)
        return {"states": [e.get_state() for e in group],
                "outs": [{k: out[k] for k in ("loss", "step_loss", "step_grad_norm", "epochs", "weights",
                                              "snapshot_metrics")} for out in outs]}
    if kind == "gradient_norm":
        ens = Ensemble([1, 4, 1], 3, seed=8, learning_rate=1e-2)
        xs = np.linspace(0.05, 1, 30)[:, None].astype("float32")
        ens.fit(xs, np.sinc(4 * xs), 3, 8, shuffle_seed=1, verbose=False, checkpoints=checkpoints)
        phase = ens.minimize_gradient_norm(xs, np.sinc(4 * xs), steps=EPOCHS * 5, tol=1e-9, steps_per_call=10,
                                           verbose=False, checkpoints=checkpoints)
        return {"state": ens.get_state(), "phase": phase}
    raise ValueError(kind)


def same(a, b, path="") -> list[str]:
    """Where two results differ (bit for bit)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(set(a) ^ set(b), key=str)}"]
        return [d for k in a for d in same(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{path}: lengths {len(a)} != {len(b)}"]
        return [d for i, (u, v) in enumerate(zip(a, b)) for d in same(u, v, f"{path}[{i}]")]
    if a is None or b is None:
        return [] if a is b else [f"{path}: {a!r} != {b!r}"]
    if isinstance(a, (str, bool)):
        return [] if a == b else [f"{path}: {a!r} != {b!r}"]
    return [] if np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True) else [f"{path}: differ"]


if __name__ == "__main__":  # the child process: train with a checkpoint every epoch, slowly, until killed
    from hwutils import checkpoints as ckpt
    save = ckpt.Loop.save

    def slow_save(self, *args, **kwargs):
        written = save(self, *args, **kwargs)
        time.sleep(float(os.environ.get("RESUME_PAUSE", "1.0")))  # time for the parent to kill us mid-training
        return written

    ckpt.Loop.save = slow_save
    run(sys.argv[1], ckpt.Checkpoints(sys.argv[2], every=1))
    print("FINISHED", flush=True)
