"""A Keras model's compiled loss as a function of its flattened trainable weights θ, over a whole dataset.

θ is every trainable weight flattened in `model.trainable_weights` order (C order). The loss on a batch
is `hwutils.loss.ModelLoss` (the compiled loss with its loss_weights and sample weights, plus
`model.losses`, at training=False). The data are anything `hwutils.batches.of` takes — arrays, a
tf.data.Dataset, a PyDataset, a generator — read batch by batch, each batch cut into chunks of at most
`chunk_size` samples; every quantity is the chunk's value weighted by its sample count, summed and
divided by the total count. That is the full-data mean whatever the batching (the mean `model.evaluate`
reports), and memory is bounded by one chunk.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from . import batches as batches_
from .loss import ModelLoss


def loss_function(model, loss=None):
    """(y_true, y_pred[, sample_weight]) -> scalar: the data term of the one loss definition
    (`hwutils.loss.ModelLoss.data_loss`; `loss` if given, else the model's compiled loss), without
    `model.losses`."""
    return ModelLoss(model, loss).data_loss


def chunks(n: int, size: int):
    """(start, stop) of consecutive chunks of at most `size` out of n."""
    for start in range(0, n, size):
        yield start, min(n, start + size)


def flatten(arrays) -> np.ndarray:
    """Weight arrays -> one float64 vector (C order)."""
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays]) if arrays else np.zeros(0)


def unflatten(vector: np.ndarray, like) -> list[np.ndarray]:
    """One vector -> arrays shaped like `like` (weights or arrays), the inverse of `flatten`."""
    out, start = [], 0
    for w in like:
        shape = tuple(w.shape)
        size = int(np.prod(shape))
        out.append(np.asarray(vector[start:start + size]).reshape(shape))
        start += size
    return out


def _flat(grads, variables) -> tf.Tensor:
    """Gradients (or Jacobian blocks) of every variable as one flat tensor; None — a weight that does not
    reach the loss, e.g. the head of an output without a loss — as zeros (TensorFlow's own
    UnconnectedGradients.ZERO fails on Keras variables, whose dtype is a string)."""
    # convert_to_tensor: an Embedding's gradient comes as IndexedSlices
    return tf.concat([tf.reshape(tf.zeros(v.shape, v.dtype) if g is None else tf.convert_to_tensor(g), [-1])
                      for g, v in zip(grads, variables)], 0)


class Objective:
    """Compiled loss L(θ), its gradient, Hessian-vector products and exact Hessian rows of one model,
    averaged over a dataset.

    Every method takes the data as `x, y=None, sample_weight=None` in any form `hwutils.batches.of`
    accepts (arrays, or a batch source as x alone) and returns float64 NumPy values; `precision` names
    the dtype they were computed in (`hwutils.loss`). Weights that do not reach the loss get a zero
    gradient."""

    def __init__(self, model, loss=None, chunk_size: int = 1024):
        self.model = model
        self.vars = list(model.trainable_weights)
        if not self.vars:
            raise ValueError("the model has no trainable weights")
        self.dtype = self.vars[0].dtype
        self.sizes = [int(np.prod(v.shape)) for v in self.vars]
        self.n_params = sum(self.sizes)
        self.chunk_size = int(chunk_size)
        self.model_loss = ModelLoss(model, loss)
        self.precision = self.model_loss.precision
        batch_loss = self.model_loss

        def loss_fn(x, y, sample_weight=None):
            return batch_loss(x, y, sample_weight)

        def grad_fn(x, y, sample_weight=None):
            with tf.GradientTape() as tape:
                value = batch_loss(x, y, sample_weight)
            return value, _flat(tape.gradient(value, self.vars), self.vars)

        def hvp_fn(x, y, sample_weight, v):
            with tf.GradientTape() as outer:
                with tf.GradientTape() as inner:
                    value = batch_loss(x, y, sample_weight)
                g = _flat(inner.gradient(value, self.vars), self.vars)
                gv = tf.reduce_sum(g * tf.stop_gradient(v))
            return _flat(outer.gradient(gv, self.vars), self.vars)

        def hessian_rows_fn(x, y, sample_weight, rows):
            # Rows `rows` of the Hessian: the Jacobian of those gradient entries, vectorised (pfor).
            with tf.GradientTape() as outer:
                with tf.GradientTape() as inner:
                    value = batch_loss(x, y, sample_weight)
                g = tf.gather(_flat(inner.gradient(value, self.vars), self.vars), rows)
            jac = outer.jacobian(g, self.vars, experimental_use_pfor=True)
            count = tf.shape(rows)[0]
            return tf.concat([tf.zeros([count, size], self.dtype) if j is None else tf.reshape(j, [count, -1])
                              for j, size in zip(jac, self.sizes)], 1)

        def outputs_fn(x, y, sample_weight=None):
            pred, value = batch_loss.outputs_and_loss(x, y, sample_weight)
            return value, pred

        # The plain Python functions of (x, y, sample_weight[, extra]): callbacks.GradientNorm calls "grad"
        # inside the model's own train step.
        self._python = {"loss": loss_fn, "grad": grad_fn, "hvp": hvp_fn, "rows": hessian_rows_fn,
                        "outputs": outputs_fn}
        self._traced = {}

    def _compiled(self, name, batch, *extra):
        """The tf.function of `name` for batches shaped like `batch`, traced once for any number of
        samples: the batch dimension of its signature is None, so chunks of every size reuse one trace."""
        key = (name, batches_.signature_key(batch))
        if key not in self._traced:
            fn = self._python[name]

            def on_batch(batch, *extra):
                return fn(*(tuple(batch) + (None,) * (3 - len(batch))), *extra)

            specs = [batches_.signature(batch)] + [tf.TensorSpec(e.shape, e.dtype) for e in extra]
            self._traced[key] = tf.function(on_batch, input_signature=specs)
        return self._traced[key]

    # ------------------------------------------------------------ weights
    def get_flat(self) -> np.ndarray:
        return flatten([v.numpy() for v in self.vars])

    def set_flat(self, theta: np.ndarray) -> None:
        for var, value in zip(self.vars, unflatten(theta, self.vars)):
            var.assign(value.astype(np.dtype(var.dtype)))

    # ------------------------------------------------------------ data means
    def _mean(self, name, data, *extra, chunk_size=None):
        """The sample-weighted mean over every chunk of `data` of the traced `name`'s outputs (float64)."""
        total, count = None, 0
        for source_batch in data:
            for batch in batches_.split(source_batch, chunk_size or self.chunk_size):
                n = batches_.samples(batch)
                out = self._compiled(name, batch, *extra)(batch, *extra)
                out = [n * np.asarray(o, dtype=np.float64) for o in (out if isinstance(out, (tuple, list)) else [out])]
                total = out if total is None else [t + o for t, o in zip(total, out)]
                count += n
        return [t / count for t in total]

    def loss(self, x, y=None, sample_weight=None) -> float:
        """L(θ) over the data."""
        return float(self._mean("loss", batches_.of(x, y, sample_weight))[0])

    def loss_and_gradient(self, x, y=None, sample_weight=None):
        """(L(θ), ∇θ L as a float64 vector [P]) over the data, in one pass."""
        value, grad = self._mean("grad", batches_.of(x, y, sample_weight))
        return float(value), grad

    def hvp(self, x, y=None, v=None, sample_weight=None) -> np.ndarray:
        """H v (float64 [P]) by double backpropagation, H = ∇²θ L never formed."""
        if v is None:
            raise TypeError("hvp needs the vector v")
        return self._mean("hvp", batches_.of(x, y, sample_weight), tf.constant(np.asarray(v), dtype=self.dtype))[0]

    def evaluate(self, x, y=None, sample_weight=None) -> dict:
        """{"loss": L(θ)} over the data, and "accuracy" (unweighted: argmax of the output against the label,
        or against the argmax of a one-hot target) for a model with one output of more than one unit."""
        total, count, correct, classifier = 0.0, 0, 0, True
        for source_batch in batches_.of(x, y, sample_weight):
            for batch in batches_.split(source_batch, self.chunk_size):
                n = batches_.samples(batch)
                value, pred = self._compiled("outputs", batch)(batch)
                total, count = total + n * float(value), count + n
                classifier = classifier and isinstance(pred, tf.Tensor) and pred.shape[-1] > 1
                if classifier:
                    target = np.asarray(tf.nest.flatten(batch[1])[0])
                    labels = np.argmax(target, -1) if target.ndim == pred.ndim else np.ravel(target)
                    correct += int(np.sum(np.argmax(pred.numpy(), -1) == labels))
        return {"loss": total / count, **({"accuracy": correct / count} if classifier else {})}

    def hessian(self, x, y=None, row_block: int | None = None, budget: float = 4e6, symmetrize: bool = True,
                sample_weight=None) -> np.ndarray:
        """The exact Hessian (float64 [P, P]). Rows come in blocks and data in chunks sized so that a block's
        vectorised Jacobian touches about `budget` (rows x samples) at once: bounded memory.
        symmetrize=False returns the rows as computed (the tests hold them to finite differences)."""
        data = batches_.of(x, y, sample_weight)
        p = self.n_params
        row_block = row_block or min(p, 512)
        data_chunk = int(max(1, min(self.chunk_size, budget // row_block)))
        h = np.zeros((p, p))
        for r0 in range(0, p, row_block):
            rows = np.minimum(np.arange(r0, r0 + row_block), p - 1).astype(np.int32)
            block = self._mean("rows", data, tf.constant(rows), chunk_size=data_chunk)[0]
            take = min(row_block, p - r0)
            h[r0:r0 + take] = block[:take]
        return 0.5 * (h + h.T) if symmetrize else h
