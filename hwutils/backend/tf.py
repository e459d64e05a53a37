"""The TensorFlow implementation of hwutils.backend (see its docstring for what each function does)."""
from __future__ import annotations

import contextlib
import os
import platform

import numpy as np
import tensorflow as tf

ZERO = tf.UnconnectedGradients.ZERO  # a weight that does not reach the loss has gradient 0, not None


def _gradient(tape, value, theta):
    grad = tape.gradient(value, theta, unconnected_gradients=ZERO)
    return tf.convert_to_tensor(grad)  # an Embedding's gradient comes as IndexedSlices


def value_and_grad(fn, has_aux: bool = False):
    def wrapped(theta, *args):
        with tf.GradientTape() as tape:
            tape.watch(theta)
            out = fn(theta, *args)
        return out, _gradient(tape, out[0] if has_aux else out, theta)
    return wrapped


def hvp(fn):
    def wrapped(theta, v, *args):
        with tf.GradientTape() as outer:
            outer.watch(theta)
            with tf.GradientTape() as inner:
                inner.watch(theta)
                value = fn(theta, *args)
            gv = tf.reduce_sum(_gradient(inner, value, theta) * tf.stop_gradient(v))
        return _gradient(outer, gv, theta)
    return wrapped


def hessian_apply(fn):
    def wrapped(theta, vectors, *args):
        # The Jacobian of the R products gᵀv_r, vectorised (pfor): row r is v_rᵀ H = (H v_r)ᵀ.
        with tf.GradientTape() as outer:
            outer.watch(theta)
            with tf.GradientTape() as inner:
                inner.watch(theta)
                value = fn(theta, *args)
            g = _gradient(inner, value, theta)
            axes = list(range(1, len(vectors.shape)))
            products = tf.reduce_sum(g[None] * tf.stop_gradient(vectors), axis=axes)
        jac = outer.jacobian(products, theta, experimental_use_pfor=True, unconnected_gradients=ZERO)
        return tf.convert_to_tensor(jac)
    return wrapped


def batch_jacobians(fn, xs, wrt):
    xs = list(xs)
    with tf.GradientTape(persistent=True) as tape:
        for i in wrt:
            tape.watch(xs[i])
        outs = fn(xs)
    return [[tape.batch_jacobian(o, xs[i]) for i in wrt] for o in outs]


def jit(fn, xla: bool = False, autograph: bool = True, batch_arg: int | None = None):
    if batch_arg is None:
        # reduce_retracing: a second input shape traces once more, with the dimensions that changed left open
        return tf.function(fn, jit_compile=xla, reduce_retracing=True, autograph=autograph)
    return _OpenBatch(fn, xla, autograph, batch_arg)


class _OpenBatch:
    """One tf.function per structure of the arguments, traced with the leading (batch) dimension of argument
    `batch_arg` open: every chunk size of a measure reuses one trace."""

    def __init__(self, fn, xla, autograph, batch_arg):
        self.fn, self.xla, self.autograph, self.batch_arg = fn, xla, autograph, batch_arg
        self._traced = {}

    def __call__(self, *args):
        args = tf.nest.map_structure(tf.convert_to_tensor, args)
        key = str([tf.nest.map_structure(lambda t, open_=(i == self.batch_arg): (t.dtype.name, tuple(t.shape)[open_:]),
                                         arg) for i, arg in enumerate(args)])
        if key not in self._traced:
            specs = [tf.nest.map_structure(
                lambda t, open_=(i == self.batch_arg): tf.TensorSpec([None, *t.shape[1:]] if open_ else t.shape, t.dtype),
                arg) for i, arg in enumerate(args)]
            self._traced[key] = tf.function(self.fn, input_signature=specs, jit_compile=self.xla,
                                            autograph=self.autograph)
        return self._traced[key](*args)



def optimizer_step(optimizer, variables, optimizer_values, grads, values):
    # TensorFlow's optimizers refuse stateless_apply (tf.distribute): the values go through the variables.
    for var, value in zip(list(variables) + list(optimizer.variables), list(values) + list(optimizer_values)):
        var.assign(value)
    optimizer.apply(grads, variables)
    return [tf.identity(v.value) for v in variables], [tf.identity(v.value) for v in optimizer.variables]


class record_steps:
    """fn(θ, state, batch) -> (norm, loss) evaluated at the weights before every step of model.fit, kept in
    variables (`capacity` of them: the steps of one epoch) that the compiled steps write and `read` returns."""

    def __init__(self, model, fn, capacity: int):
        import keras
        self.capacity = int(capacity)
        self._values = tf.Variable(tf.zeros([self.capacity, 2], tf.float64), trainable=False)
        self._count = tf.Variable(0, dtype=tf.int32, trainable=False)
        values, count, size = self._values, self._count, self.capacity
        original = model.train_step
        trainable, others = model.trainable_variables, model.non_trainable_variables

        def train_step(data):
            theta = tf.concat([tf.reshape(v.value, [-1]) for v in trainable], 0)
            out = tf.cast(tf.stack(fn(theta, [v.value for v in others], keras.utils.unpack_x_y_sample_weight(data))),
                          tf.float64)
            values.scatter_nd_update([[tf.minimum(count, size - 1)]], [out])
            with tf.control_dependencies([values.value()]):
                count.assign_add(1)
            return original(data)

        self.model = model
        model.train_step = train_step
        model.train_function = None  # rebuilt around the instrumented step

    def read(self) -> np.ndarray:
        k = int(self._count.numpy())
        if k > self.capacity:
            raise RuntimeError(f"{k} steps ran before the records were read, more than the {self.capacity} kept")
        out = self._values.numpy()[:k].copy()
        self._count.assign(0)
        return out

    def remove(self) -> None:
        del self.model.train_step  # the class's own step again
        self.model.train_function = None


def float64():
    return contextlib.nullcontext()  # TensorFlow has float64 everywhere


def enable_float64() -> None:
    pass


def float64_enabled() -> bool:
    return True


def deterministic() -> None:
    # Deterministic kernels on the CPU. On a GPU some ops (XLA scatter among them) have no deterministic
    # implementation and would raise instead, so there a seed fixes the initialisation and data order but
    # not the last bits of every reduction.
    if not tf.config.list_physical_devices("GPU"):
        tf.config.experimental.enable_op_determinism()


def device() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return "GPU: " + ", ".join(g.name for g in gpus)
    return f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def versions() -> dict:
    return {"tensorflow": tf.__version__}
