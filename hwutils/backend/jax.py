"""The JAX implementation of hwutils.backend (see its docstring for what each function does)."""
from __future__ import annotations

import contextlib
import os
import platform

import jax
import jax.numpy as jnp
import numpy as np


def value_and_grad(fn, has_aux: bool = False):
    return jax.value_and_grad(fn, has_aux=has_aux)


def hvp(fn):
    def wrapped(theta, v, *args):
        # forward over reverse: the directional derivative of the gradient along v
        return jax.jvp(jax.grad(lambda t: fn(t, *args)), (theta,), (v.astype(theta.dtype),))[1]
    return wrapped


def hessian_apply(fn):
    one = hvp(fn)

    def wrapped(theta, vectors, *args):
        return jax.vmap(lambda v: one(theta, v, *args))(vectors)
    return wrapped


def batch_jacobians(fn, xs, wrt):
    xs = list(xs)
    wrt = tuple(wrt)

    def per_point(chosen, rest):  # one sample's inputs, without the batch dimension
        full = list(rest)
        for i, leaf in zip(wrt, chosen):
            full[i] = leaf
        return [o[0] for o in fn([leaf[None] for leaf in full])]

    chosen = tuple(xs[i] for i in wrt)
    jac = jax.vmap(jax.jacrev(per_point, argnums=0))(chosen, xs)  # [output][input]: [B, *out, *in]
    return [list(per_output) for per_output in jac]


def jit(fn, xla: bool = False, autograph: bool = True, batch_arg: int | None = None):
    # XLA is JAX's only compiler, and its shapes are static: one compilation per batch size (batch_arg is
    # TensorFlow's open batch dimension); autograph is TensorFlow's.
    return jax.jit(fn)



def optimizer_step(optimizer, variables, optimizer_values, grads, values):
    new_values, new_optimizer_values = optimizer.stateless_apply(list(optimizer_values), list(grads), list(values))
    return list(new_values), list(new_optimizer_values)


class record_steps:
    """fn(θ, state, batch) -> (norm, loss) evaluated at the weights before every step of model.fit.

    The JAX train step is stateless and Keras's loop of `steps_per_execution` steps returns only the last
    one's logs, so the records cannot travel in the logs: the model's train function is replaced for the fit
    by the same loop over the same jitted Keras step, each step returning its record beside its state. The
    records stay on the device until `read` (an epoch's end): no host sync per batch."""

    def __init__(self, model, fn, capacity: int):
        self.model = model  # capacity: TensorFlow's fixed buffer; a list here
        self._pending: list = []
        original = model.train_step

        def step(state, data):
            import keras
            trainable, others = state[0], state[1]
            theta = jnp.concatenate([jnp.ravel(v) for v in trainable])
            record = jnp.stack(fn(theta, list(others), keras.utils.unpack_x_y_sample_weight(data)))
            logs, state = original(state, data)
            return logs, state, record

        compiled = step if model.run_eagerly or not model.jit_compile else jax.jit(step, donate_argnums=0)
        pending = self._pending

        def train_function(state, iterator):
            logs = None
            for k in range(max(1, int(model.steps_per_execution or 1))):
                try:
                    data = next(iterator)
                except StopIteration:
                    if k == 0:
                        raise
                    break
                logs, state, record = compiled(state, data)
                pending.append(record)
            return logs, state

        model.train_function = train_function

    def read(self) -> np.ndarray:
        out = np.asarray(jnp.stack(self._pending), dtype=np.float64) if self._pending else np.zeros((0, 2))
        self._pending.clear()
        return out

    def remove(self) -> None:
        self.model.train_function = None  # Keras builds its own again


# Keras's type promotion on JAX maps every float64 result to float32 ("aligned with JAX's default", in
# keras/src/backend/common/dtypes.py), whatever x64 says: a float64 Dense layer's tanh then runs in float32
# and the oracle tests' finite differences come out 1% wrong. Where x64 is on, float64 stays float64, as on
# TensorFlow.
from keras.src.backend.common import dtypes as _keras_dtypes  # noqa: E402


def _keras_keeps_float64(on: bool) -> None:
    _keras_dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64" if on else "float32"


@contextlib.contextmanager
def float64():
    before = _keras_dtypes.BIT64_TO_BIT32_DTYPE["float64"]
    with jax.enable_x64(True):
        _keras_keeps_float64(True)
        try:
            yield
        finally:
            _keras_dtypes.BIT64_TO_BIT32_DTYPE["float64"] = before


def enable_float64() -> None:
    jax.config.update("jax_enable_x64", True)
    _keras_keeps_float64(True)


if jax.config.jax_enable_x64:  # JAX_ENABLE_X64=1 in the environment: the same opt-in
    _keras_keeps_float64(True)


def float64_enabled() -> bool:
    return bool(jax.config.jax_enable_x64)


def deterministic() -> None:
    # XLA's CPU kernels are deterministic; on a GPU, XLA_FLAGS=--xla_gpu_deterministic_ops=true must be set
    # before JAX starts (a seed then fixes the initialisation and the data order).
    pass


def device() -> str:
    gpus = [d for d in jax.devices() if d.platform != "cpu"]
    if gpus:
        return "GPU: " + ", ".join(str(d) for d in gpus)
    return f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def versions() -> dict:
    import jaxlib
    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__}
