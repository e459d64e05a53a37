"""The seeds of one CNN three ways — one Keras model after another, one `models.stacked` model, one
vectorised model (hwutils.vectorized) — on each Keras backend, and the 1-3 parameters widths: the
ensemble engine against vectorised MLPs.

    python benchmarks/stacked_cnn.py [--members 5 20 100] [--epochs 2] [--baseline-members 5]
                                     [--backends tensorflow jax] [--cnn actual] [--widths 2 4 ... 256]
                                     [--side-limit 900]

CNN seeds: `members` seeds of a notebook's CNN (`--cnn actual`: the 1-1 actual-tasks digits CNN with 4
hidden layers; `report`: the 1-3 report CNN; `flatness`: the 1-3 flatness CNN), `epochs` epochs on the
digits training set (1437 images) at batch 64 with Adam, steps_per_execution 16 everywhere.
- per model: one Keras fit per seed on hwutils' batches (what `training.fit` runs), timed on
  `--baseline-members` seeds and scaled to `members` (the table says so); member m on batch order m;
- stacked: one `models.stacked` model fitted as `training.fit_stacked` fits it, every member on batch
  order 0 (all it can do);
- vectorised, shared: `vectorized.stacked` + `member_fit.fit` on batch order 0 — the stacked model's work;
- vectorised, own: the same with member m on batch order m — the per-model fits' work, and the notebooks'.
A per-model or stacked side whose process outlives `--side-limit` seconds is stopped and its cell says
"> limit" (the ratio "> …×" then a lower bound, loose by the process's start and import, a few seconds); the
vectorised sides are never stopped early.
Every side starts from the same initial weights (the same Keras seed, `build` called in the same order).
Agreement: the largest relative difference of the members' final training losses (a full-data
evaluation after training), vectorised-shared against stacked (every member) and vectorised-own against
the per-model fits (the baseline members). Times are wall seconds of building and training (tracing and
compilation included: what a notebook pays), each side in a process of its own.

1-3 parameters widths: `seeds` MLPs Flatten -> Dense(n) -> Dense(n) -> softmax per width (`--widths`, the
quick profile's by default; digits, `--width-epochs` epochs, seed s on batch order s): the notebook's
engine (`ensemble.fit_group` over every width, one XLA program, on either backend) against one vectorised model per width from the engine's initial weights; agreement of
their final losses member by member.

`--precision mixed_bfloat16` also times the vectorised seeds (own orders) in that precision (for a GPU).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ChildFailed, TimedOut, Timer, isolated  # noqa: E402

QUICK_WIDTHS = [2, 4, 8, 16, 32, 64, 128, 256]


def _use(backend):
    os.environ["KERAS_BACKEND"] = backend  # before Keras is first imported in this (child) process


def _cnn(kind, shape):
    from hwutils import models
    if kind == "report":
        return lambda: models.report_cnn(shape)
    if kind == "flatness":
        return lambda: models.conv_dense(shape, 16, [64])
    _, flat, conv = models.conv_front(shape, 4, pool=None)
    widths = models.solve_widths(2065, 4, flat, 10, fixed=conv)
    return lambda: models.conv_dense(shape, 4, widths, pool=None)


def _digits():
    from hwutils import data
    (x, y), _ = data.load_subset("digits", None, None, seed=0)
    return x, y


# As hwutils.training.STEPS_PER_EXECUTION. The sides below use Keras and hwutils.order, models, vectorized
# and member_fit only: none of them imports TensorFlow, so this runs on a machine that has JAX alone.
STEPS = 16


def _final_losses(nets, x, y):
    """Each net's cross-entropy on (x, y) at its final weights, in float64 (probabilities clipped as Keras does)."""
    import keras
    out = []
    for net in nets:  # a direct call, not net.predict: predict traces a function per model (and warns of it)
        p = np.asarray(keras.ops.convert_to_numpy(net(x, training=False)), np.float64)
        out.append(float(-np.mean(np.log(np.maximum(p[np.arange(len(y)), y], 1e-7)))))
    return out


def _fit(model, x, targets, epochs, order_seed):
    """model.fit on hwutils' data order, as training.fit and fit_stacked feed it."""
    from hwutils import order
    batches, follow = order.keras_feed(x, targets, 64, order_seed)
    model.fit(batches, epochs=epochs, verbose=0, shuffle=False, callbacks=[follow])


def per_model(backend, kind, members, epochs):
    _use(backend)
    import keras
    x, y = _digits()
    build = _cnn(kind, x.shape[1:])
    cpu = time.process_time()
    with Timer() as t:
        keras.utils.set_random_seed(0)
        nets = [build() for _ in range(members)]
        for m, net in enumerate(nets):
            net.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                        metrics=["accuracy"], steps_per_execution=STEPS)
            _fit(net, x, y, epochs, m)
    return {"seconds": t.seconds, "cpu": time.process_time() - cpu, "final": _final_losses(nets, x, y)}


def stacked(backend, kind, members, epochs):
    _use(backend)
    import keras
    from hwutils import models
    x, y = _digits()
    build = _cnn(kind, x.shape[1:])
    cpu = time.process_time()
    with Timer() as t:
        keras.utils.set_random_seed(0)
        model = models.stacked(build, members, loss="sparse_categorical_crossentropy",
                               optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"], steps_per_execution=STEPS)
        _fit(model, x, [y] * members if members > 1 else y, epochs, 0)
    nets = [models.member(model, m) for m in range(members)]
    return {"seconds": t.seconds, "cpu": time.process_time() - cpu, "final": _final_losses(nets, x, y)}


def vectorised(backend, kind, members, epochs, own_orders, precision="float32"):
    _use(backend)
    import keras
    from hwutils import member_fit, vectorized
    x, y = _digits()
    build = _cnn(kind, x.shape[1:])
    cpu = time.process_time()
    with Timer() as t:
        keras.utils.set_random_seed(0)
        model = vectorized.stacked(build, members, loss="sparse_categorical_crossentropy",
                                   optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"],
                                   steps_per_execution=STEPS, precision=precision)
        member_fit.fit(model, (x, y), None, epochs, 64, order_seed=list(range(members)) if own_orders else 0,
                       verbose=False)
    nets = [vectorized.member(model, m) for m in range(members)]
    return {"seconds": t.seconds, "cpu": time.process_time() - cpu, "final": _final_losses(nets, x, y)}


def engine_widths(backend, widths, seeds, epochs):
    _use(backend)
    from hwutils import ensemble
    x, y = _digits()
    x = x.reshape(len(x), -1)
    with Timer() as t:
        family = [ensemble.Ensemble([x.shape[1], n, n, 10], seeds, loss="sparse_categorical_crossentropy",
                                    learning_rate=1e-3, seed=i) for i, n in enumerate(widths)]
        ensemble.fit_group(family, x, y, epochs, 64, shuffle_seed=list(range(seeds)), verbose=False)
    return {"seconds": t.seconds, "final": [list(e.metrics(x, y)["loss"]) for e in family]}


def vectorised_widths(backend, widths, seeds, epochs):
    _use(backend)
    from hwutils import ensemble, member_fit, models, vectorized
    x, y = _digits()
    x = x.reshape(len(x), -1)
    models_by_width = []
    with Timer() as t:
        for i, n in enumerate(widths):
            start = ensemble.Ensemble([x.shape[1], n, n, 10], seeds, seed=i)  # the engine's initial weights
            nets = [models.dense_chain([x.shape[1], n, n, 10], output_activation="softmax") for _ in range(seeds)]
            for m, net in enumerate(nets):
                net.set_weights(start.member_weights(m))
            model = vectorized.from_models(nets, loss="sparse_categorical_crossentropy", optimizer="adam",
                                           metrics=["accuracy"], steps_per_execution=STEPS)
            member_fit.fit(model, (x, y), None, epochs, 64, order_seed=list(range(seeds)), verbose=False)
            models_by_width.append(model)
    # After the timer, as the engine side evaluates after its own: the times compare training alone.
    finals = [_final_losses([vectorized.member(model, m) for m in range(seeds)], x, y) for model in models_by_width]
    return {"seconds": t.seconds, "final": finals}


def _agree(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def _try(fn, *args, limit: float | None = None):
    """fn's result, or {"error": ...} when its process failed. With a `limit`, a process stopped there is
    {"over": limit}, a lower bound (the process, its start and Keras import included, ran that long); without
    one, a side past the harness's default limit is an error like any other."""
    try:
        return isolated(fn, *args) if limit is None else isolated(fn, *args, timeout=limit)
    except TimedOut as err:
        return {"over": err.limit} if limit is not None else {"error": str(err)}
    except ChildFailed as err:
        return {"error": str(err)}


def _seconds(side: dict, scale: float = 1.0) -> str:
    """A side's seconds for the table: measured, or "> limit" when it was stopped there."""
    return f"> {side['over'] * scale:.0f} s" if "over" in side else f"{side['seconds'] * scale:.1f} s"


def _ratio(slow: dict, fast: dict, scale: float = 1.0) -> str:
    """slow / fast, a lower bound when the slow side was stopped at its limit."""
    if "over" in slow:
        return f"> {slow['over'] * scale / fast['seconds']:.1f}×"
    return f"{slow['seconds'] * scale / fast['seconds']:.1f}×"


def _agreement(a: dict, b: dict, n: int | None = None) -> str:
    if "over" in b:
        return "—"
    return f"{_agree(a['final'][:n], b['final']):.1e}"


def backends(asked):
    import importlib.util
    return [b for b in asked if importlib.util.find_spec({"tensorflow": "tensorflow", "jax": "jax"}[b])]


def cnn_table(args) -> list[str]:
    rows = ["| backend | members | per model | stacked | vectorised, shared | vectorised, own orders | "
            "vectorised vs stacked | vectorised vs per model | agreement: vs stacked / vs per model |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for backend in backends(args.backends):
        for members in args.members:
            base_n = min(members, args.baseline_members)
            base = _try(per_model, backend, args.cnn, base_n, args.epochs, limit=args.side_limit)
            st = _try(stacked, backend, args.cnn, members, args.epochs, limit=args.side_limit)
            vs = _try(vectorised, backend, args.cnn, members, args.epochs, False)
            vo = _try(vectorised, backend, args.cnn, members, args.epochs, True)
            failed = [r["error"] for r in (base, st, vs, vo) if "error" in r]
            if args.precision != "float32" and not failed:
                mixed = _try(vectorised, backend, args.cnn, members, args.epochs, True, args.precision)
                print(f"  {backend}, {members} members, vectorised in {args.precision}: "
                      + (mixed.get("error") or f"{mixed['seconds']:.1f} s against {vo['seconds']:.1f} s in float32; "
                         f"final losses within {_agree(mixed['final'], vo['final']):.1e} of float32's"), flush=True)
            if failed:
                rows.append(f"| {backend} | {members} | failed: {'; '.join(failed)} |")
                print(rows[-1], flush=True)
                continue
            scale = members / base_n
            note = f" (×{scale:.0f} from {base_n})" if scale != 1 else ""
            rows.append(f"| {backend} | {members} | {_seconds(base, scale)}{note} | {_seconds(st)} | "
                        f"{vs['seconds']:.1f} s | {vo['seconds']:.1f} s | {_ratio(st, vs)} | {_ratio(base, vo, scale)} | "
                        f"{_agreement(vs, st)} / {_agreement(vo, base, base_n)} |")
            print(rows[-1], flush=True)
    return rows


def widths_table(args) -> list[str]:
    rows = ["| backend | widths × seeds | engine (fit_group) | vectorised, one model per width | engine vs vectorised | "
            "agreement |", "| --- | --- | --- | --- | --- | --- |"]
    for backend in backends(args.backends):
        # The engine is written on TensorFlow until it runs on every backend (issue 23).
        eng = _try(engine_widths, backend, args.widths, args.seeds, args.width_epochs)
        vec = _try(vectorised_widths, backend, args.widths, args.seeds, args.width_epochs)
        size = f"{len(args.widths)} × {args.seeds}"
        if "error" in vec:
            rows.append(f"| {backend} | {size} | — | failed: {vec['error']} | | |")
        elif "error" in eng:
            rows.append(f"| {backend} | {size} | not on this backend yet | {vec['seconds']:.1f} s | | |")
        else:
            rows.append(f"| {backend} | {size} | {eng['seconds']:.1f} s | {vec['seconds']:.1f} s | "
                        f"{vec['seconds'] / eng['seconds']:.2f}× | {_agree(vec['final'], eng['final']):.1e} |")
        print(rows[-1], flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", type=int, nargs="+", default=[5, 20, 100])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--baseline-members", type=int, default=5, help="per-model fits timed, then scaled")
    ap.add_argument("--backends", nargs="+", default=["tensorflow", "jax"], choices=["tensorflow", "jax"])
    ap.add_argument("--cnn", default="actual", choices=["actual", "report", "flatness"])
    ap.add_argument("--widths", type=int, nargs="*", default=QUICK_WIDTHS, help="1-3 parameters widths; none: skip")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per width")
    ap.add_argument("--width-epochs", type=int, default=10)
    ap.add_argument("--side-limit", type=float, default=900.0, metavar="SECONDS",
                    help="stop a per-model or stacked side after this long and report it as a lower bound")
    ap.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16"],
                    help="also time the vectorised seeds (own orders) in this precision")
    args = ap.parse_args(argv)
    print(f"CNN seeds ({args.cnn}), {args.epochs} epochs of the digits training set at batch 64; "
          f"each side in its own process; backends: {', '.join(backends(args.backends))}")
    cnn_table(args)
    if args.widths:
        print(f"\n1-3 parameters: widths {args.widths}, {args.seeds} seeds each, {args.width_epochs} epochs")
        widths_table(args)


if __name__ == "__main__":
    main()
