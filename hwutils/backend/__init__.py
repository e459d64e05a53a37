"""What hwutils needs of automatic differentiation beyond Keras, one implementation per Keras backend.

Everything else in hwutils is keras.ops and NumPy; this layer holds the few things Keras does not offer
in a backend-neutral form, each written once for TensorFlow (`tf.py`: tf.GradientTape, tf.function) and
once for JAX (`jax.py`: jax.grad, jax.jvp, jax.jit, jax.vmap):

- `value_and_grad(fn, has_aux=False)`: fn(θ, *args) -> value (or (value, aux)) becomes
  g(θ, *args) -> (value, ∇θ value) (or ((value, aux), ∇θ value)); θ any tensor, the gradient shaped like it;
  nests (the gradient of a function of a gradient: double backpropagation).
- `hvp(fn)`: h(θ, v, *args) -> H v, H = ∇²θ fn; JAX forward over reverse (jvp of the gradient), TensorFlow
  reverse over reverse (double backpropagation, as before this layer; tf.autodiff.ForwardAccumulator computes
  most JVPs by transposing a backward pass anyway, and it was not measured against it here).
- `hessian_apply(fn)`: h(θ, V, *args) -> [R, *θ.shape], H applied to every row of V [R, *θ.shape] at once
  (vmap of hvp on JAX, a vectorised Jacobian on TensorFlow): with unit vectors, rows of H.
- `batch_jacobians(fn, xs, wrt)`: per-sample Jacobians of fn's outputs with respect to the inputs `wrt`.
- `jit(fn, xla=False, autograph=True, batch_arg=None)`: a compiled function (jax.jit; tf.function, XLA when
  asked), counting its traces.
- the compiled loop is Keras's own, keras.ops.fori_loop (lax.fori_loop on JAX, tf.while_loop on TensorFlow),
  inside `jit(..., xla=True)`: hwutils.ensemble runs every step of a call as one XLA program on both.
- `optimizer_step(optimizer, variables, optimizer_values, grads, values)`: one optimizer update as a
  function of values (Keras's stateless_apply on JAX; TensorFlow refuses stateless_apply, so there the
  values go through the variables).
- `record_steps(model, fn, capacity)`: instruments a model's fit so that fn(θ, state, batch) -> (norm, loss)
  is evaluated at the weights before every step's update and kept on the device, up to `capacity` steps
  between two `read()`s (callbacks.GradientNorm reads at each epoch's end); `remove()` undoes it.
- `float64()`: a scope in which float64 arrays exist (JAX computes in float32 unless x64 is enabled; the
  scope enables it; `in_float64` decorates a function with it), `enable_float64()` the documented opt-in for float64 Keras models on JAX, and
  `check_dtypes(variables)`, which refuses a variable whose values are narrower than its declared dtype
  instead of letting a float64 measure run in float32.
- `deterministic()`, `device()`, `versions()`: what hwutils.run records and sets.

TensorFlow is imported only when it is the Keras backend: on JAX nothing here or elsewhere in hwutils
imports it.
"""
from __future__ import annotations

import keras

NAME = keras.backend.backend()

if NAME == "tensorflow":
    from . import tf as _impl
elif NAME == "jax":
    from . import jax as _impl
else:  # PyTorch and the others: their autodiff is not written here
    raise ImportError(f"hwutils runs on Keras's 'tensorflow' and 'jax' backends, not {NAME!r}: "
                      "set KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax")

value_and_grad = _impl.value_and_grad
hvp = _impl.hvp
hessian_apply = _impl.hessian_apply
batch_jacobians = _impl.batch_jacobians
optimizer_step = _impl.optimizer_step
record_steps = _impl.record_steps
float64 = _impl.float64
enable_float64 = _impl.enable_float64
float64_enabled = _impl.float64_enabled
deterministic = _impl.deterministic
device = _impl.device
versions = _impl.versions


class jit:
    """`fn` compiled by the backend (module docstring); `traces` counts how often its Python ran, i.e. how
    often it was traced. batch_arg: the argument whose leading (batch) dimension varies; TensorFlow traces it
    open once, JAX compiles once per size (XLA's shapes are static)."""

    def __init__(self, fn, xla: bool = False, autograph: bool = True, batch_arg: int | None = None):
        self.traces = 0

        def counted(*args):
            self.traces += 1
            return fn(*args)
        self._compiled = _impl.jit(counted, xla=xla, autograph=autograph, batch_arg=batch_arg)

    def __call__(self, *args):
        return self._compiled(*args)


def in_float64(fn):
    """`fn` run inside `float64()`: for a function that builds and measures a float64 model of its own."""
    import functools

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with float64():
            return fn(*args, **kwargs)
    return wrapped


def grad(fn):
    """g(θ, *args) -> ∇θ fn(θ, *args)."""
    vg = value_and_grad(fn)
    return lambda theta, *args: vg(theta, *args)[1]


def check_dtypes(variables, what: str = "the model") -> None:
    """Refuse variables whose values are narrower than their declared dtype: on JAX without x64 a float64
    variable silently holds float32 values, and a float64 measure would run in float32."""
    for v in variables:
        held = keras.backend.standardize_dtype(v.value.dtype)
        if held != keras.backend.standardize_dtype(v.dtype):
            raise TypeError(
                f"{what}'s variable {v.path} is declared {v.dtype} but holds {held} values: JAX has float64 only "
                "with x64 enabled. Build and measure a float64 model after hwutils.backend.enable_float64() (or with "
                "JAX_ENABLE_X64=1 set before Python starts), or inside `with hwutils.backend.float64():`")
