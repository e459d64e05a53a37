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

import keras
import numpy as np
from keras import ops

from . import backend
from . import batches as batches_
from .loss import ModelLoss, flat_tensor


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


def _with_batch(fn):
    """fn(θ, state, x, y, sample_weight, *extra) as a function of (θ, state, batch, *extra), the batch a
    Keras data tuple (x,), (x, y) or (x, y, sample_weight)."""
    def on_batch(theta, state, batch, *extra):
        return fn(theta, state, *(tuple(batch) + (None,) * (3 - len(batch))), *extra)
    return on_batch


class Objective:
    """Compiled loss L(θ), its gradient, Hessian-vector products and exact Hessian rows of one model,
    averaged over a dataset.

    Every method takes the data as `x, y=None, sample_weight=None` in any form `hwutils.batches.of`
    accepts (arrays, or a batch source as x alone) and returns float64 NumPy values; `precision` names
    the dtype they were computed in (`hwutils.loss`). Weights that do not reach the loss get a zero
    gradient.

    Each quantity is a pure function of the flat weights θ, the non-trainable values and a batch
    (`ModelLoss.pure`, through Keras's stateless scope), differentiated by `hwutils.backend` and compiled
    once per model: the same code on TensorFlow and JAX."""

    def __init__(self, model, loss=None, chunk_size: int = 1024):
        self.model = model
        self.vars = list(model.trainable_weights)
        if not self.vars:
            raise ValueError("the model has no trainable weights")
        backend.check_dtypes(list(model.weights), "the model")
        self.dtype = self.vars[0].dtype
        self.sizes = [int(np.prod(v.shape)) for v in self.vars]
        self.n_params = sum(self.sizes)
        self.chunk_size = int(chunk_size)
        self.model_loss = ModelLoss(model, loss)
        self.precision = self.model_loss.precision
        pure = self.model_loss.pure

        def loss_fn(theta, state, x, y, sample_weight=None):
            return pure(theta, state, x, y, sample_weight)[1]

        grad_fn = backend.value_and_grad(loss_fn)
        hvp_fn = backend.hvp(loss_fn)
        apply_fn = backend.hessian_apply(loss_fn)
        dtype = self.dtype

        def rows_fn(theta, state, x, y, sample_weight, rows):
            # Rows `rows` of the Hessian: H applied to those unit vectors (H is symmetric).
            return apply_fn(theta, ops.one_hot(rows, self.n_params, dtype=dtype), state, x, y, sample_weight)

        def outputs_fn(theta, state, x, y, sample_weight=None):
            pred, value = pure(theta, state, x, y, sample_weight)
            return value, pred

        def hvp_on(theta, state, x, y, sample_weight, v):
            return hvp_fn(theta, v, state, x, y, sample_weight)

        def grad_on(theta, state, x, y, sample_weight=None):
            return grad_fn(theta, state, x, y, sample_weight)

        # The plain functions of (θ, state, x, y, sample_weight[, extra]): callbacks.GradientNorm calls "grad"
        # inside the model's own train step.
        self._python = {"loss": loss_fn, "grad": grad_on, "hvp": hvp_on, "rows": rows_fn, "outputs": outputs_fn}
        self._traced = {}

    def _compiled(self, name):
        """The compiled `name`, one per Objective: the backend retraces it for a new batch structure or size."""
        if name not in self._traced:
            self._traced[name] = backend.jit(_with_batch(self._python[name]), batch_arg=2)
        return self._traced[name]

    # ------------------------------------------------------------ weights
    def theta(self):
        """θ as a backend tensor [P] in the weights' dtype (no copy to the host)."""
        return flat_tensor([v.value for v in self.vars])

    def state(self) -> list:
        """The model's non-trainable values (batch-norm statistics, ...), as the pure functions take them."""
        return [v.value for v in self.model.non_trainable_variables]

    def get_flat(self) -> np.ndarray:
        return flatten([v.numpy() for v in self.vars])

    def set_flat(self, theta: np.ndarray) -> None:
        for var, value in zip(self.vars, unflatten(theta, self.vars)):
            var.assign(value.astype(np.dtype(var.dtype)))

    # ------------------------------------------------------------ data means
    def _mean(self, name, data, *extra, chunk_size=None):
        """The sample-weighted mean over every chunk of `data` of the compiled `name`'s outputs (float64)."""
        total, count = None, 0
        fn, theta, state = self._compiled(name), self.theta(), self.state()
        for source_batch in data:
            for batch in batches_.split(source_batch, chunk_size or self.chunk_size):
                n = batches_.samples(batch)
                out = fn(theta, state, batches_.as_arrays(batch), *extra)
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
        """H v (float64 [P]), H = ∇²θ L never formed (`hwutils.backend.hvp`)."""
        if v is None:
            raise TypeError("hvp needs the vector v")
        return self._mean("hvp", batches_.of(x, y, sample_weight), ops.convert_to_tensor(np.asarray(v), self.dtype))[0]

    def evaluate(self, x, y=None, sample_weight=None) -> dict:
        """{"loss": L(θ)} over the data, and "accuracy" (unweighted: argmax of the output against the label,
        or against the argmax of a one-hot target) for a model with one output of more than one unit."""
        total, count, correct, classifier = 0.0, 0, 0, True
        fn, theta, state = self._compiled("outputs"), self.theta(), self.state()
        for source_batch in batches_.of(x, y, sample_weight):
            for batch in batches_.split(source_batch, self.chunk_size):
                n = batches_.samples(batch)
                value, pred = fn(theta, state, batches_.as_arrays(batch))
                total, count = total + n * float(value), count + n
                classifier = classifier and ops.is_tensor(pred) and pred.shape[-1] > 1
                if classifier:
                    target = np.asarray(keras.tree.flatten(batch[1])[0])
                    labels = np.argmax(target, -1) if target.ndim == len(pred.shape) else np.ravel(target)
                    correct += int(np.sum(np.argmax(np.asarray(pred), -1) == labels))
        return {"loss": total / count, **({"accuracy": correct / count} if classifier else {})}

    def hessian(self, x, y=None, row_block: int | None = None, budget: float = 4e6, symmetrize: bool = True,
                sample_weight=None) -> np.ndarray:
        """The exact Hessian (float64 [P, P]). Rows come in blocks and data in chunks sized so that a block's
        vectorised products touch about `budget` (rows x samples) at once: bounded memory.
        symmetrize=False returns the rows as computed (the tests hold them to finite differences)."""
        data = batches_.of(x, y, sample_weight)
        p = self.n_params
        row_block = row_block or min(p, 512)
        data_chunk = int(max(1, min(self.chunk_size, budget // row_block)))
        h = np.zeros((p, p))
        for r0 in range(0, p, row_block):
            rows = np.minimum(np.arange(r0, r0 + row_block), p - 1).astype(np.int32)
            block = self._mean("rows", data, ops.convert_to_tensor(rows), chunk_size=data_chunk)[0]
            take = min(row_block, p - r0)
            h[r0:r0 + take] = block[:take]
        return 0.5 * (h + h.T) if symmetrize else h
