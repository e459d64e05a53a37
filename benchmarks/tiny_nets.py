"""Tiny-network engine against a straightforward per-model Keras fit, on the same work, in one run.

    python benchmarks/tiny_nets.py [--members 100] [--epochs 50] [--baseline-models N]

(a) `members` copies of the report's 461-parameter deep model, `epochs` epochs on 5000 points at
    batch 128: one Keras fit per model against one stacked ensemble. Target ≥ 40×.
    Both sides start from the same initial weights and see the same batches (the per-model fit
    reads the engine's epoch permutations through a PyDataset), so the final losses must agree.
(b) the three 1-1 architectures, one model each, the same epochs. Target ≥ 5×.
(c) exact Hessians of `members` members on 1000 points: one tape.jacobian per exported member
    against Ensemble.hessians. Target ≥ 20×, peak RSS ≤ 4 GB.
Every measurement runs in a process of its own (time and peak RSS are its own). With
--baseline-models N < members, the per-model baselines of (a) and (c) are timed on N models and
scaled to `members`, and the output says so.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Timer, isolated  # noqa: E402

DEEP = [1, 5, 10, 10, 10, 10, 5, 1]


def data(n):
    x = np.linspace(0, 1, n + 1)[1:, None].astype("float32")
    return x, np.sinc(5 * x).astype("float32")


def initial_weights(architectures):
    """Each model's initial weights: the engine's member initialisation, shared by both sides."""
    from hwutils.ensemble import Ensemble
    return [Ensemble(widths, 1, seed=i).member_weights(0) for i, widths in enumerate(architectures)]


def epoch_batches(x, y, epochs, batch_size, seed=0):
    """A keras PyDataset that serves the engine's batches: epoch e visits the points in
    np.random.default_rng(seed)'s e-th permutation, the order Ensemble.fit uses, so both sides
    do the same work and their final losses compare like for like."""
    import keras

    class EpochBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            rng = np.random.default_rng(seed)
            self.orders = [rng.permutation(len(x)) for _ in range(epochs)]
            self.epoch = 0

        def __len__(self):
            return -(-len(x) // batch_size)

        def __getitem__(self, i):
            idx = self.orders[self.epoch][i * batch_size:(i + 1) * batch_size]
            return x[idx], y[idx]

    class FollowEpoch(keras.callbacks.Callback):
        def __init__(self, batches):
            super().__init__()
            self.batches = batches

        def on_epoch_begin(self, epoch, logs=None):
            self.batches.epoch = epoch

    batches = EpochBatches()
    return batches, FollowEpoch(batches)


def keras_fits(architectures, epochs, n):
    """One plain Keras fit per model (graph mode, Keras's default on CPU), on the engine's batches."""
    import keras
    from hwutils.models import dense_chain
    x, y = data(n)
    start = initial_weights(architectures)
    finals = []
    with Timer() as t:
        for widths, weights in zip(architectures, start):
            model = dense_chain(widths)
            model.set_weights(weights)
            model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
            batches, follow = epoch_batches(x, y, epochs, 128)
            history = model.fit(batches, epochs=epochs, shuffle=False, callbacks=[follow], verbose=0)
            finals.append(history.history["loss"][-1])
    return {"seconds": t.seconds, "final_losses": finals}


def engine_fits(architectures, epochs, n):
    """Members of the same architecture share one ensemble; different architectures train
    together in one compiled program (fit_group)."""
    from hwutils.ensemble import Ensemble, fit_group
    x, y = data(n)
    start = initial_weights(architectures)
    groups = {}
    for widths, weights in zip(architectures, start):
        groups.setdefault(tuple(widths), []).append(weights)
    finals = []
    with Timer() as t:
        ensembles = []
        for widths, members in groups.items():
            ens = Ensemble(list(widths), len(members))
            for m, weights in enumerate(members):
                ens.set_member_weights(m, weights)
            ensembles.append(ens)
        for out in fit_group(ensembles, x, y, epochs, 128, verbose=False):
            finals += list(out["loss"][-1])
    with Timer() as again:  # the same work once more: the XLA program is compiled by now
        fit_group(ensembles, x, y, epochs, 128, verbose=False)
    return {"seconds": t.seconds, "compiled_seconds": again.seconds, "final_losses": finals}


def jacobian_hessians(members, n):
    import tensorflow as tf
    from hwutils.ensemble import Ensemble
    x, y = data(n)
    ens = Ensemble(DEEP, members, seed=0)
    models = [ens.member(m) for m in range(members)]
    with Timer() as t:
        for model in models:
            with tf.GradientTape() as outer:
                with tf.GradientTape() as inner:
                    loss = tf.reduce_mean(tf.square(model(x) - y))
                grads = inner.gradient(loss, model.trainable_weights)
                flat = tf.concat([tf.reshape(g, [-1]) for g in grads], 0)
            jac = outer.jacobian(flat, model.trainable_weights)
            np.concatenate([j.numpy().reshape(len(flat), -1) for j in jac], axis=1)
    return {"seconds": t.seconds}


def engine_hessians(members, n):
    from hwutils.ensemble import Ensemble
    x, y = data(n)
    ens = Ensemble(DEEP, members, seed=0)
    with Timer() as t:
        h = ens.hessians(x, y)
    return {"seconds": t.seconds, "shape": list(h.shape)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--points", type=int, default=5000)
    ap.add_argument("--hessian-points", type=int, default=1000)
    ap.add_argument("--cases", default="abc", help="which of the cases a, b, c to run (default: all)")
    ap.add_argument("--baseline-models", type=int, default=None,
                    help="time the per-model baselines of (a) and (c) on this many models and scale up")
    args = ap.parse_args()
    from hwutils.models import REPORT_FUNCTION_MODELS
    m, k = args.members, min(args.baseline_models or args.members, args.members)
    scale = m / k
    note = "" if k == m else f" (timed on {k} models, scaled ×{scale:g})"
    rows, losses = [], []

    if "a" in args.cases:
        print(f"(a) {m} × deep 461-parameter model, {args.epochs} epochs, {args.points} points, batch 128", flush=True)
        base = isolated(keras_fits, [DEEP] * k, args.epochs, args.points)
        eng = isolated(engine_fits, [DEEP] * m, args.epochs, args.points)
        rows.append(("a", base["seconds"] * scale, eng, base, note, 40))
        losses.append(("a", base, eng))

    if "b" in args.cases:
        print("(b) the three 1-1 architectures, one model each", flush=True)
        archs = list(REPORT_FUNCTION_MODELS["sinc"].values())
        base_b = isolated(keras_fits, archs, args.epochs, args.points)
        eng_b = isolated(engine_fits, archs, args.epochs, args.points)
        rows.append(("b", base_b["seconds"], eng_b, base_b, "", 5))
        losses.append(("b", base_b, eng_b))

    if "c" in args.cases:
        print(f"(c) exact Hessians of {m} members on {args.hessian_points} points", flush=True)
        base_c = isolated(jacobian_hessians, k, args.hessian_points)
        eng_c = isolated(engine_hessians, m, args.hessian_points)
        rows.append(("c", base_c["seconds"] * scale, eng_c, base_c, note, 20))

    print(f"\n{'case':<5}{'per-model (s)':>16}{'engine (s)':>12}{'ratio':>9}{'target':>8}"
          f"{'peak RSS base/engine (MB)':>28}")
    for case, base_s, row_eng, row_base, note_, target in rows:
        ratio = base_s / row_eng["seconds"]
        print(f"{case:<5}{base_s:>16.1f}{row_eng['seconds']:>12.2f}{ratio:>8.1f}×{'≥' + str(target) + '×':>8}"
              f"{row_base['peak_rss_mb']:>14.0f} / {row_eng['peak_rss_mb']:.0f}{note_}")
        if "compiled_seconds" in row_eng:
            # The difference is the tracing and XLA compilation the first call paid; where the
            # training itself dominates, run-to-run noise can exceed it, so it is only an estimate.
            print(f"     the same work again, program compiled: {row_eng['compiled_seconds']:.2f} s "
                  f"({base_s / row_eng['compiled_seconds']:.0f}×); first minus second call "
                  f"{row_eng['seconds'] - row_eng['compiled_seconds']:+.1f} s (tracing and compiling)")
    for case, row_base, row_eng in losses:
        base_l, eng_l = np.array(row_base["final_losses"]), np.array(row_eng["final_losses"])
        mb, me = np.median(base_l), np.median(eng_l)
        # Model i starts from the same weights on both sides; with --baseline-models only the
        # first k engine members have a per-model twin.
        rel = np.abs(eng_l[:len(base_l)] - base_l) / np.abs(base_l)
        print(f"({case}) median final loss: per-model {mb:.4g}, engine {me:.4g} (ratio {max(mb, me) / min(mb, me):.3f}, "
              f"target ≤ 2)\n    model by model (same start, same batches): median relative difference {np.median(rel):.1e}, "
              f"{int(np.sum(rel < 1e-2))}/{len(rel)} within 1%, largest {rel.max():.1e}")

if __name__ == "__main__":
    main()
