"""A Keras model's compiled loss as a function of its flattened trainable weights θ.

θ is every trainable weight flattened in `model.trainable_weights` order (C order). Every
quantity is computed over the data in chunks and combined with weights n_chunk / n, so the
result is the full-data mean and does not depend on the chunk size.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def loss_function(model, loss=None):
    """(y_true, y_pred) -> scalar mean loss: `loss` if given, else the model's compiled loss."""
    loss = model.loss if loss is None else loss
    if loss is None:
        raise ValueError("the model is not compiled and no loss= was given")
    fn = keras.losses.get(loss) if isinstance(loss, str) else loss
    if isinstance(fn, keras.losses.Loss):
        return fn
    return lambda y_true, y_pred: tf.reduce_mean(fn(y_true, y_pred))


def chunks(n: int, size: int):
    for start in range(0, n, size):
        yield start, min(n, start + size)


def flatten(arrays) -> np.ndarray:
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays]) if arrays else np.zeros(0)


def unflatten(vector: np.ndarray, like) -> list[np.ndarray]:
    out, start = [], 0
    for w in like:
        shape = tuple(w.shape)
        size = int(np.prod(shape))
        out.append(np.asarray(vector[start:start + size]).reshape(shape))
        start += size
    return out


class Objective:
    """Compiled loss, gradient and Hessian-vector product of one model on data, chunked."""

    def __init__(self, model, loss=None, chunk_size: int = 1024):
        self.model = model
        self.vars = list(model.trainable_weights)
        if not self.vars:
            raise ValueError("the model has no trainable weights")
        self.dtype = self.vars[0].dtype
        self.sizes = [int(np.prod(v.shape)) for v in self.vars]
        self.n_params = sum(self.sizes)
        self.chunk_size = int(chunk_size)
        loss_fn = loss_function(model, loss)

        def batch_loss(x, y):
            value = tf.cast(loss_fn(y, model(x, training=False)), self.dtype)
            if model.losses:  # regularisation terms are part of the compiled loss
                value += tf.add_n([tf.cast(t, self.dtype) for t in model.losses])
            return value

        def flat(grads):
            return tf.concat([tf.reshape(g, [-1]) for g in grads], 0)

        def loss_fn_c(x, y):
            return batch_loss(x, y)

        def grad_fn(x, y):
            with tf.GradientTape() as tape:
                value = batch_loss(x, y)
            return value, flat(tape.gradient(value, self.vars))

        def hvp_fn(x, y, v):
            with tf.GradientTape() as outer:
                with tf.GradientTape() as inner:
                    value = batch_loss(x, y)
                g = flat(inner.gradient(value, self.vars))
                gv = tf.reduce_sum(g * tf.stop_gradient(v))
            return flat(outer.gradient(gv, self.vars))

        def hessian_rows_fn(x, y, rows):
            # Rows `rows` of the Hessian: the Jacobian of those gradient entries, vectorised (pfor).
            with tf.GradientTape() as outer:
                with tf.GradientTape() as inner:
                    value = batch_loss(x, y)
                g = tf.gather(flat(inner.gradient(value, self.vars)), rows)
            jac = outer.jacobian(g, self.vars, experimental_use_pfor=True)
            return tf.concat([tf.reshape(j, [tf.shape(rows)[0], -1]) for j in jac], 1)

        self._python = {"loss": loss_fn_c, "grad": grad_fn, "hvp": hvp_fn, "rows": hessian_rows_fn}
        self._traced = {}

    def _compiled(self, name, x, y, *extra):
        """The tf.function of `name`, traced once for any number of samples: the batch dimension
        of its signature is None, so chunks of different sizes reuse one trace."""
        key = (name, x.dtype.name, y.dtype.name, x.shape[1:], y.shape[1:])
        if key not in self._traced:
            specs = [tf.TensorSpec([None, *x.shape[1:]], x.dtype), tf.TensorSpec([None, *y.shape[1:]], y.dtype)]
            specs += [tf.TensorSpec(e.shape, e.dtype) for e in extra]
            self._traced[key] = tf.function(self._python[name], input_signature=specs)
        return self._traced[key]

    # ------------------------------------------------------------ weights
    def get_flat(self) -> np.ndarray:
        return flatten([v.numpy() for v in self.vars])

    def set_flat(self, theta: np.ndarray) -> None:
        for var, value in zip(self.vars, unflatten(theta, self.vars)):
            var.assign(value.astype(np.dtype(var.dtype)))

    # ------------------------------------------------------------ data sums
    def _mean(self, name, x, y, *extra, chunk_size=None):
        n = len(x)
        total = None
        x, y = np.asarray(x), np.asarray(y)
        fn = self._compiled(name, x, y, *extra)
        for a, b in chunks(n, chunk_size or self.chunk_size):
            out = fn(tf.convert_to_tensor(x[a:b]), tf.convert_to_tensor(y[a:b]), *extra)
            out = [np.asarray(o, dtype=np.float64) for o in (out if isinstance(out, (tuple, list)) else [out])]
            weighted = [(b - a) / n * o for o in out]
            total = weighted if total is None else [t + w for t, w in zip(total, weighted)]
        return total

    def loss(self, x, y) -> float:
        return float(self._mean("loss", x, y)[0])

    def loss_and_gradient(self, x, y):
        value, grad = self._mean("grad", x, y)
        return float(value), grad

    def hvp(self, x, y, v) -> np.ndarray:
        return self._mean("hvp", x, y, tf.constant(np.asarray(v), dtype=self.dtype))[0]

    def hessian(self, x, y, row_block: int | None = None, budget: float = 4e6, symmetrize: bool = True) -> np.ndarray:
        """The exact Hessian. Rows come in blocks and data in chunks sized so that a block's
        vectorised Jacobian touches about `budget` (rows x samples) at once: bounded memory.
        symmetrize=False returns the rows as computed (the tests hold them to finite differences)."""
        p = self.n_params
        row_block = row_block or min(p, 512)
        data_chunk = int(max(1, min(self.chunk_size, budget // row_block)))
        h = np.zeros((p, p))
        for r0 in range(0, p, row_block):
            rows = np.minimum(np.arange(r0, r0 + row_block), p - 1).astype(np.int32)
            block = self._mean("rows", x, y, tf.constant(rows), chunk_size=data_chunk)[0]
            take = min(row_block, p - r0)
            h[r0:r0 + take] = block[:take]
        return 0.5 * (h + h.T) if symmetrize else h
