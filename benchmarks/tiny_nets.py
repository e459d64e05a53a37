"""Tiny-network engine against what a Keras user would write, on the same work, in one run, on Keras's
TensorFlow and JAX backends side by side.

    python benchmarks/tiny_nets.py [--members 100] [--epochs 50] [--baseline-models 10] [--cases abc]
                                   [--backends tensorflow,jax]

(a) `members` copies of the report's 461-parameter deep model, `epochs` epochs on 5000 points at
    batch 128: one Keras fit per model against one stacked ensemble. Target ≥ 40× the plain fit.
(b) the three 1-1 architectures, one model each, the same epochs. Target ≥ 5× the plain fit.
(c) exact Hessians of `members` members on 1000 points: per member, measures.hessian (the vectorised
    Jacobian of the gradient: tape.jacobian with pfor on TensorFlow, vmap of jvp on JAX; compiled once,
    weights reassigned between members) against Ensemble.hessians. Target ≥ 20×, peak RSS ≤ 4 GB. Cold
    against cold (each side's first call compiles) and warm against warm.
The per-model fits of (a) and (b) are timed three ways, side by side:
  plain   `model.fit(x, y, batch_size=128, epochs=...)`: array input, Keras's defaults;
  tuned   the same with `steps_per_execution=16` and `jit_compile=True` (what hwutils.training sets);
  matched the engine's own batches served through a keras.utils.PyDataset, from the engine's initial
          weights: its final losses compare with the engine's model by model, and its time against
          the plain fit's shows what the PyDataset's Python call per batch costs.
Every measurement runs in a process of its own (time and peak RSS are its own). The per-model
baselines of (a) and (c) are timed on `--baseline-models` models and scaled to `members` (the
output says so); `--baseline-models 100` times them all (about 1.5 hours on 2 cores).
Each backend's half runs in child processes of that backend (harness.isolated(backend=...)); a table at
the end puts the two backends' times side by side.
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


def keras_fits(architectures, epochs, n, mode="plain"):
    """One Keras fit per model (graph mode, Keras's default on CPU), from the engine's initial weights.

    mode: "plain" (array input, Keras's defaults), "tuned" (array input, steps_per_execution=16,
    jit_compile=True) or "matched" (the engine's batches through a PyDataset, shuffle off)."""
    import keras
    from hwutils.models import dense_chain
    x, y = data(n)
    start = initial_weights(architectures)
    finals = []
    tuned = {"steps_per_execution": 16, "jit_compile": True} if mode == "tuned" else {}
    with Timer() as t:
        for widths, weights in zip(architectures, start):
            model = dense_chain(widths)
            model.set_weights(weights)
            model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", **tuned)
            if mode == "matched":
                batches, follow = epoch_batches(x, y, epochs, 128)
                history = model.fit(batches, epochs=epochs, shuffle=False, callbacks=[follow], verbose=0)
            else:
                history = model.fit(x, y, batch_size=128, epochs=epochs, verbose=0)
            finals.append(history.history["loss"][-1])
    return {"seconds": t.seconds, "final_losses": finals}


BASELINES = ("plain", "tuned", "matched")


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
    """Per member: measures.hessian of a Keras model whose weights are the member's (compiled on the first
    member; the weights are assigned into the same model, so no member pays a compilation of its own)."""
    from hwutils import measures
    from hwutils.ensemble import Ensemble
    from hwutils.models import dense_chain
    x, y = data(n)
    ens = Ensemble(DEEP, members, seed=0)
    model = dense_chain(DEEP)
    model.compile(loss="mse")
    firsts = []
    with Timer() as t:
        for m in range(members):
            with Timer() as one:
                model.set_weights(ens.member_weights(m))
                measures.hessian(model, x, y)
            firsts.append(one.seconds)
    # warm: every member after the first, scaled to all members
    warm = (t.seconds - firsts[0]) * members / max(1, members - 1)
    return {"seconds": t.seconds, "warm_seconds": warm}


def engine_hessians(members, n):
    from hwutils.ensemble import Ensemble
    x, y = data(n)
    ens = Ensemble(DEEP, members, seed=0)
    with Timer() as t:
        h = ens.hessians(x, y)
    with Timer() as warm:  # traced by now
        ens.hessians(x, y)
    return {"seconds": t.seconds, "warm_seconds": warm.seconds, "shape": list(h.shape)}


def _ratio_line(label, base_s, engine_s, target=None):
    mark = f"  (target ≥ {target}×)" if target else ""
    return f"    {label:<34}{base_s:>10.1f} s {engine_s:>9.2f} s {base_s / engine_s:>8.1f}×{mark}"


def _fit_case(name, architectures, k, m, epochs, points, target, backend, summary):
    """Time the three per-model baselines on k models and the engine on m; print the ratios."""
    scale = m / k
    base = {mode: isolated(keras_fits, architectures[:k], epochs, points, mode, backend=backend) for mode in BASELINES}
    eng = isolated(engine_fits, architectures, epochs, points, backend=backend)
    note = "" if k == m else f" (per-model times measured on {k} models, ×{scale:g})"
    print(f"({name}) per-model Keras vs engine{note}:       per-model    engine    ratio")
    for mode in ("plain", "tuned"):
        print(_ratio_line(f"{mode} fit, first call", base[mode]["seconds"] * scale, eng["seconds"],
                          target if mode == "plain" else None))
        print(_ratio_line(f"{mode} fit, engine compiled", base[mode]["seconds"] * scale, eng["compiled_seconds"]))
    print(f"    PyDataset input (matched batches) against plain array input: "
          f"{base['matched']['seconds'] / base['plain']['seconds']:.2f}× the time")
    print(f"    peak RSS plain/tuned/engine: {base['plain']['peak_rss_mb']:.0f} / {base['tuned']['peak_rss_mb']:.0f}"
          f" / {eng['peak_rss_mb']:.0f} MB; engine first minus second call "
          f"{eng['seconds'] - eng['compiled_seconds']:+.1f} s (tracing and compiling)")
    base_l = np.array(base["matched"]["final_losses"])
    eng_l = np.array(eng["final_losses"])
    twins = eng_l[:len(base_l)]  # model i starts from the same weights and sees the same batches on both sides
    rel = np.abs(twins - base_l) / np.abs(base_l)
    mb, me = np.median(base_l), np.median(twins)
    every = "" if len(twins) == len(eng_l) else f"; all {len(eng_l)} engine members {np.median(eng_l):.4g}"
    print(f"    final loss, matched batches: median over the {len(base_l)} twins per-model {mb:.4g}, engine {me:.4g} "
          f"(ratio {max(mb, me) / min(mb, me):.3f}, target ≤ 2){every}; model by model: median relative difference "
          f"{np.median(rel):.1e}, {int(np.sum(rel < 1e-2))}/{len(rel)} within 1%, largest {rel.max():.1e}", flush=True)
    for mode in BASELINES:
        summary[(f"({name}) per-model {mode} fit", backend)] = base[mode]["seconds"] * scale
    summary[(f"({name}) engine, first call", backend)] = eng["seconds"]
    summary[(f"({name}) engine, compiled", backend)] = eng["compiled_seconds"]
    summary[(f"({name}) engine final loss (median)", backend)] = float(np.median(eng_l))


def _hessian_case(m, k, points, backend, summary):
    base = isolated(jacobian_hessians, k, points, backend=backend)
    eng = isolated(engine_hessians, m, points, backend=backend)
    scale = m / k
    note = "" if k == m else f" (per-model times measured on {k} models, ×{scale:g})"
    print(f"(c) measures.hessian per member vs Ensemble.hessians{note}")
    print(_ratio_line("cold (each side compiles once)", base["seconds"] * scale, eng["seconds"], 20))
    print(_ratio_line("warm (compiled already)", base["warm_seconds"] * scale, eng["warm_seconds"]))
    print(f"    peak RSS per-model/engine: {base['peak_rss_mb']:.0f} / {eng['peak_rss_mb']:.0f} MB (target ≤ 4096)",
          flush=True)
    summary[("(c) per-model Hessians, cold", backend)] = base["seconds"] * scale
    summary[("(c) per-model Hessians, warm", backend)] = base["warm_seconds"] * scale
    summary[("(c) engine Hessians, cold", backend)] = eng["seconds"]
    summary[("(c) engine Hessians, warm", backend)] = eng["warm_seconds"]


def _side_by_side(summary, backends):
    """One row per measurement, one column per backend, and their ratio (TensorFlow over JAX)."""
    rows = list(dict.fromkeys(label for label, _ in summary))
    print("\nside by side (seconds; the final losses are losses)" + " " * 4 + "".join(f"{b:>12}" for b in backends)
          + ("    tf/jax" if len(backends) == 2 else ""))
    for label in rows:
        values = [summary.get((label, b), float("nan")) for b in backends]
        ratio = f"{values[0] / values[1]:>10.2f}" if len(values) == 2 and values[1] else ""
        print(f"  {label:<52}" + "".join(f"{v:>12.4g}" for v in values) + ("" if "loss" in label else ratio))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--points", type=int, default=5000)
    ap.add_argument("--hessian-points", type=int, default=1000)
    ap.add_argument("--cases", default="abc", help="which of the cases a, b, c to run (default: all)")
    ap.add_argument("--baseline-models", type=int, default=10,
                    help="time the per-model baselines of (a) and (c) on this many models and scale up")
    ap.add_argument("--backends", default="tensorflow,jax", help="Keras backends, each in its own processes")
    args = ap.parse_args()
    from hwutils.models import REPORT_FUNCTION_MODELS  # noqa: F401 (the parent's own backend; children choose theirs)
    m, k = args.members, min(args.baseline_models, args.members)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    summary = {}
    for backend in backends:
        print(f"=== Keras backend: {backend}", flush=True)
        if "a" in args.cases:
            print(f"(a) {m} × deep 461-parameter model, {args.epochs} epochs, {args.points} points, batch 128", flush=True)
            _fit_case("a", [DEEP] * m, k, m, args.epochs, args.points, 40, backend, summary)
        if "b" in args.cases:
            print("(b) the three 1-1 architectures, one model each", flush=True)
            archs = list(REPORT_FUNCTION_MODELS["sinc"].values())
            _fit_case("b", archs, 3, 3, args.epochs, args.points, 5, backend, summary)
        if "c" in args.cases:
            print(f"(c) exact Hessians of {m} members on {args.hessian_points} points", flush=True)
            _hessian_case(m, k, args.hessian_points, backend, summary)
    _side_by_side(summary, backends)


if __name__ == "__main__":
    main()
