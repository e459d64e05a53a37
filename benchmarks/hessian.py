"""Exact Hessian of the report's 461-parameter model on 5000 points: hwutils.measures.hessian
against the straightforward Hessian of each framework over all the data (TensorFlow: tape.jacobian of the
gradient in a tf.function; JAX: jax.hessian in jax.jit), in one run, each in a process of its own (time and
peak RSS), on each Keras backend.

Cold is compared with cold and warm with warm: the baseline is compiled once, the way a user who needs
many Hessians would write it; its first call pays the trace, and its second call, after new weights are
assigned (as between training runs), does not. hwutils is timed the same way.

    python benchmarks/hessian.py [--points 5000] [--backends tensorflow,jax]
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


def new_weights(model, seed):
    """Other weights of the same shapes: the warm call must work on new values, not a cached result."""
    rng = np.random.default_rng(seed)
    model.set_weights([w + 0.01 * rng.standard_normal(w.shape).astype(w.dtype) for w in model.get_weights()])


def straightforward(n):
    import keras
    if keras.backend.backend() == "jax":
        return _straightforward_jax(n)
    import tensorflow as tf  # this child runs on the TensorFlow backend
    model, x, y = model_and_data(n)

    @tf.function
    def hessian_blocks(x, y):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                loss = tf.reduce_mean(tf.square(model(x) - y))
            flat = tf.concat([tf.reshape(g, [-1]) for g in inner.gradient(loss, model.trainable_weights)], 0)
        return outer.jacobian(flat, model.trainable_weights)

    def hessian():
        jac = hessian_blocks(x, y)
        return np.concatenate([j.numpy().reshape(j.shape[0], -1) for j in jac], axis=1)

    with Timer() as cold:
        hessian()
    new_weights(model, 1)
    with Timer() as warm:
        h = hessian()
    return {"seconds": cold.seconds, "warm_seconds": warm.seconds, "trace": float(np.trace(h))}


def _straightforward_jax(n):
    import jax
    import jax.numpy as jnp

    from hwutils.loss import flat_tensor, stateless_outputs, unflatten_tensor
    model, x, y = model_and_data(n)
    variables = model.trainable_variables

    def loss(theta):
        return jnp.mean((stateless_outputs(model, unflatten_tensor(theta, variables), [], x) - y) ** 2)
    hessian_fn = jax.jit(jax.hessian(loss))

    def hessian():
        return np.asarray(hessian_fn(flat_tensor([v.value for v in variables])))

    with Timer() as cold:
        hessian()
    new_weights(model, 1)
    with Timer() as warm:
        h = hessian()
    return {"seconds": cold.seconds, "warm_seconds": warm.seconds, "trace": float(np.trace(h))}


def ours(n):
    from hwutils import measures
    model, x, y = model_and_data(n)
    with Timer() as cold:
        measures.hessian(model, x, y)
    new_weights(model, 1)
    with Timer() as warm:  # the compiled functions are cached per model: a second Hessian skips tracing
        h = measures.hessian(model, x, y)
    return {"seconds": cold.seconds, "warm_seconds": warm.seconds, "trace": float(np.trace(h))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=5000)
    ap.add_argument("--backends", default="tensorflow,jax", help="Keras backends, each in its own processes")
    args = ap.parse_args()
    n = args.points
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        base, mine = isolated(straightforward, n, backend=backend), isolated(ours, n, backend=backend)
        name = "tape.jacobian in a tf.function" if backend == "tensorflow" else "jax.hessian in jax.jit"
        print(f"exact Hessian, 461 parameters, {n} points, Keras backend {backend}")
        print(f"  {name + ':':<32}{base['seconds']:.2f} s first call (traced), "
              f"{base['warm_seconds']:.2f} s on new weights; peak RSS {base['peak_rss_mb']:.0f} MB")
        print(f"  hwutils.measures.hessian:       {mine['seconds']:.2f} s first call (traced), "
              f"{mine['warm_seconds']:.2f} s on new weights; peak RSS {mine['peak_rss_mb']:.0f} MB (target < 2048 MB)")
        print(f"  ratio cold/cold {base['seconds'] / mine['seconds']:.2f}×, warm/warm "
              f"{base['warm_seconds'] / mine['warm_seconds']:.2f}×; traces of the warm Hessians agree to "
              f"{abs(base['trace'] - mine['trace']) / abs(base['trace']):.1e} (relative)", flush=True)


if __name__ == "__main__":
    main()
