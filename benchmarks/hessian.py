"""Exact Hessian of the report's 461-parameter model on 5000 points: hwutils.measures.hessian
against a straightforward tape.jacobian of the gradient over all the data, in one run, each in a
process of its own (time and peak RSS).

    python benchmarks/hessian.py [--points 5000]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Timer, isolated  # noqa: E402


def model_and_data(n):
    import keras
    from hwutils.models import REPORT_FUNCTION_MODELS, dense_chain
    keras.utils.set_random_seed(0)
    model = dense_chain(REPORT_FUNCTION_MODELS["sinc"]["deep"])
    model.compile(loss="mse")
    x = np.linspace(0, 1, n + 1)[1:, None].astype("float32")
    return model, x, np.sinc(5 * x).astype("float32")


def straightforward(n):
    import tensorflow as tf
    model, x, y = model_and_data(n)
    with Timer() as t:
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                loss = tf.reduce_mean(tf.square(model(x) - y))
            flat = tf.concat([tf.reshape(g, [-1]) for g in inner.gradient(loss, model.trainable_weights)], 0)
        jac = outer.jacobian(flat, model.trainable_weights)
        h = np.concatenate([j.numpy().reshape(len(flat), -1) for j in jac], axis=1)
    return {"seconds": t.seconds, "trace": float(np.trace(h))}


def ours(n):
    from hwutils import measures
    model, x, y = model_and_data(n)
    with Timer() as t:
        h = measures.hessian(model, x, y)
    with Timer() as warm:  # the compiled functions are cached per model: a second Hessian skips tracing
        measures.hessian(model, x, y)
    return {"seconds": t.seconds, "warm_seconds": warm.seconds, "trace": float(np.trace(h))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=5000)
    n = ap.parse_args().points
    base, mine = isolated(straightforward, n), isolated(ours, n)
    print(f"exact Hessian, 461 parameters, {n} points")
    print(f"  tape.jacobian of the gradient: {base['seconds']:.2f} s, peak RSS {base['peak_rss_mb']:.0f} MB")
    print(f"  hwutils.measures.hessian:      {mine['seconds']:.2f} s first call, {mine['warm_seconds']:.2f} s "
          f"once traced; peak RSS {mine['peak_rss_mb']:.0f} MB (target < 2048 MB)")
    print(f"  ratio {base['seconds'] / mine['seconds']:.2f}× first call, {base['seconds'] / mine['warm_seconds']:.2f}× "
          f"traced; traces agree to "
          f"{abs(base['trace'] - mine['trace']) / abs(base['trace']):.1e} (relative)")


if __name__ == "__main__":
    main()
