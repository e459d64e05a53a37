"""The seeds of one CNN trained one after another against the same seeds trained as one stacked model.

    python benchmarks/stacked_cnn.py [--members 5] [--epochs 10] [--hidden 1 2 4] [--dataset digits]

Work: `members` seeds of the 1-1 actual-tasks CNN (conv -> dense hidden layers -> softmax, the
quick profile's digits data), `epochs` epochs at batch 64 with Adam, steps_per_execution 16 on both
sides. Sequential: one `model.fit` per seed (what a Keras user writes in a loop over seeds).
Stacked: one `models.stacked(build, members)` model and one `training.fit_stacked` call. Both sides
start from the same initial weights (the same Keras seed, `build` called in the same order) and
see the batches in the same order (shuffle=False), so their final full-data losses compare seed by seed.
Each side runs in a process of its own; wall and CPU (user+sys) time are printed with their ratio.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Timer, isolated  # noqa: E402


def _setup(dataset, hidden):
    import keras
    from hwutils import data, models
    (x, y), _ = data.load_subset(dataset, None, None, seed=0)
    shape = x.shape[1:]
    _, flat, conv = models.conv_front(shape, 4, pool=None)
    widths = models.solve_widths(2000, hidden, flat, 10, fixed=conv)
    return keras, models, x, y, (lambda: models.conv_dense(shape, 4, widths, pool=None))


def sequential(members, epochs, dataset, hidden):
    keras, models, x, y, build = _setup(dataset, hidden)
    from hwutils import training
    cpu = time.process_time()
    with Timer() as t:
        keras.utils.set_random_seed(0)
        nets = [build() for _ in range(members)]
        for net in nets:
            training.compile_classifier(net, "adam", 1e-3)
            net.fit(x, y, epochs=epochs, batch_size=64, shuffle=False, verbose=0)
    seconds, cpu = t.seconds, time.process_time() - cpu
    final = [net.evaluate(x, y, batch_size=1024, verbose=0)[0] for net in nets]  # outside the timing
    return {"seconds": seconds, "cpu": cpu, "final": final}


def stacked(members, epochs, dataset, hidden):
    keras, models, x, y, build = _setup(dataset, hidden)
    from hwutils import training
    cpu = time.process_time()
    with Timer() as t:
        keras.utils.set_random_seed(0)
        model = models.stacked(build, members, loss="sparse_categorical_crossentropy",
                               optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"],
                               steps_per_execution=training.STEPS_PER_EXECUTION)
        training.fit_stacked(model, (x, y), None, epochs, 64, shuffle=False, verbose=False)
    seconds, cpu = t.seconds, time.process_time() - cpu
    final = [models.member(model, m).evaluate(x, y, batch_size=1024, verbose=0)[0] for m in range(members)]
    return {"seconds": seconds, "cpu": cpu, "final": final}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--hidden", type=int, nargs="+", default=[4], help="hidden layers of the CNN(s) timed")
    ap.add_argument("--dataset", default="digits")
    args = ap.parse_args(argv)
    print(f"{args.members} seeds, {args.epochs} epochs, batch 64, {args.dataset}; each side in its own process")
    for hidden in args.hidden:
        a = isolated(sequential, args.members, args.epochs, args.dataset, hidden)
        b = isolated(stacked, args.members, args.epochs, args.dataset, hidden)
        diff = np.max(np.abs(np.array(a["final"]) - np.array(b["final"])) / np.abs(np.array(a["final"])))
        print(f"{hidden} hidden layer(s): one after another {a['seconds']:.1f} s wall ({a['cpu']:.1f} s CPU), "
              f"stacked {b['seconds']:.1f} s wall ({b['cpu']:.1f} s CPU): {a['seconds'] / b['seconds']:.1f}x wall, "
              f"{a['cpu'] / b['cpu']:.1f}x CPU; final losses agree seed by seed to {diff:.1e} (relative)")


if __name__ == "__main__":
    main()
