"""The loss of a compiled Keras model on one batch: the one definition that every measure differentiates.

For a batch (x, y, s) of n samples,

    L = Σ_o w_o · ℓ_o(y_o, f_o(x), s_o)  +  Σ model.losses

over the model's outputs o: ℓ_o the loss compiled for output o (one loss for every output, a list by
position or a dict by output name; an output with no loss is left out), w_o its `loss_weights` entry,
s_o the sample weights (one array for every output, or a list or dict per output), and each ℓ_o reduced
as Keras reduces it (`sum_over_batch_size`: Σ_i s_i ℓ_i / n). `model.losses` adds the regularisation
terms and any `add_loss`. This is `Model.compute_loss`, the loss `model.evaluate` reports; a model that
overrides `compute_loss` is measured with its own (its stated precision is then that of the forward pass:
what its compute_loss does inside is its own).

Two choices, both documented where the measures are:
- f is evaluated with `training=False`: BatchNormalization uses its moving statistics and Dropout is the
  identity, so the loss is a deterministic function of θ (a Hessian of a random function means nothing).
- the loss is computed in the model's own precision. Keras wraps a loss given by name or as a function
  in a float32 (floatx) wrapper whatever the model's dtype; here it gets the model's precision, so a
  float64 model has a float64 loss (the oracle tests rely on it). A `keras.losses.Loss` instance keeps
  the dtype it was built with. `precision` is the narrowest floating dtype on the way: the trainable
  weights, every layer's compute dtype, the casting of inputs by a subclassed model, and the losses.
"""
from __future__ import annotations

import re

import keras
import numpy as np
from keras import ops

# What Model.compile wraps a loss given by name or as a function in; not exported by keras.losses.
from keras.src.losses.losses import LossFunctionWrapper


class ModelLoss:
    """The loss L of `model` on a batch (module docstring). `loss` replaces the compiled loss (one loss,
    or a list or dict of them like compile's; `loss_weights` then goes with it, as in compile); None
    uses the compiled loss and its loss_weights.

    Call it as `model_loss(x, y, sample_weight)` (inside a compiled function or eagerly) for the scalar L in the
    dtype of the trainable weights; `outputs_and_loss` also returns the model's outputs; `data_loss(y,
    y_pred, sample_weight)` is the first sum alone. `precision` names the dtype it is computed in."""

    def __init__(self, model, loss=None, loss_weights=None):
        self.model = model
        weights = list(model.trainable_weights)
        self.dtype = weights[0].dtype if weights else keras.config.floatx()
        model_precision = forward_precision(model)
        self.own_compute_loss = loss is None and type(model).compute_loss is not keras.Model.compute_loss
        if self.own_compute_loss:
            self.losses, self.loss_weights, self.precision = None, None, model_precision
            return
        compiled = getattr(model, "_compile_loss", None)  # Keras keeps compile's loss_weights nowhere public
        spec = model.loss if loss is None else loss
        if spec is None:
            raise ValueError("the model is not compiled and no loss= was given")
        self.loss_weights = getattr(compiled, "_user_loss_weights", None) if loss is None else loss_weights
        self.losses = _map(lambda item: _loss_object(item, model_precision), spec)
        self.precision = narrowest([model_precision] + [l.dtype for l in _leaves(self.losses)])

    def __call__(self, x, y, sample_weight=None):
        return self.outputs_and_loss(x, y, sample_weight)[1]

    def outputs_and_loss(self, x, y, sample_weight=None):
        y_pred = self.model(x, training=False)
        if self.own_compute_loss:
            value = self.model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
            return y_pred, ops.cast(value, self.dtype)
        value = self.data_loss(y, y_pred, sample_weight)
        for term in self.model.losses:  # regularisation, add_loss
            value = value + ops.sum(ops.cast(term, self.dtype))
        return y_pred, value

    def pure(self, theta, state, x, y, sample_weight=None):
        """(outputs, L) at the flat trainable weights θ (a tensor [P], `model.trainable_weights` order) and the
        non-trainable values `state`, without reading or writing the model's variables: what the backend
        differentiates. The regularisation terms are computed from θ too."""
        values = unflatten_tensor(theta, self.model.trainable_variables)
        mapping = list(zip(self.model.trainable_variables, values)) + list(zip(self.model.non_trainable_variables, state))
        with keras.StatelessScope(state_mapping=mapping, collect_losses=True):
            return self.outputs_and_loss(x, y, sample_weight)

    def data_loss(self, y_true, y_pred, sample_weight=None):
        names, predictions = output_names_and_values(self.model, y_pred)
        targets = per_output(y_true, names, "y", broadcast=False)
        losses = per_output(self.losses, names, "the loss")
        weights = per_output(self.loss_weights, names, "loss_weights")
        sample_weights = per_output(sample_weight, names, "sample_weight")
        terms = []
        for loss, weight, target, pred, sw in zip(losses, weights, targets, predictions, sample_weights):
            if loss is None:
                continue  # an output without a loss (compile's None entry)
            term = ops.cast(loss(target, pred, sw), self.dtype)
            terms.append(term if weight is None else term * ops.cast(weight, self.dtype))
        if not terms:
            raise ValueError("no output of the model has a loss")
        return sum(terms[1:], terms[0])


def stateless_outputs(model, values, state, x):
    """The model's outputs on x in inference mode at the trainable values `values` and non-trainable `state`
    (lists in the model's variable order), without reading or writing its variables."""
    mapping = list(zip(model.trainable_variables, values)) + list(zip(model.non_trainable_variables, state))
    with keras.StatelessScope(state_mapping=mapping):
        return model(x, training=False)


def output_names_and_values(model, y_pred):
    """The model's outputs as (names, tensors): a dict's keys, else `model.output_names` by position (None
    where the model has none, e.g. a subclassed model returning a list)."""
    if isinstance(y_pred, dict):
        return list(y_pred.keys()), list(y_pred.values())
    values = list(y_pred) if isinstance(y_pred, (list, tuple)) else [y_pred]
    names = list(getattr(model, "output_names", None) or [])
    return (names if len(names) == len(values) else [None] * len(values)), values


def per_output(spec, names, what: str, broadcast: bool = True) -> list:
    """`spec` as one entry per output: a dict by output name, a list or tuple by position, or (broadcast)
    one value for every output."""
    if isinstance(spec, dict):
        unknown = set(spec) - set(names)
        if unknown:
            raise ValueError(f"{what} names {sorted(map(str, unknown))}, which are not outputs of the model {names}")
        return [spec.get(name) for name in names]
    if isinstance(spec, (list, tuple)):
        if len(spec) != len(names):
            raise ValueError(f"{what} has {len(spec)} entries for the model's {len(names)} outputs {names}")
        return list(spec)
    if not broadcast and len(names) > 1 and spec is not None:
        raise ValueError(f"the model has {len(names)} outputs {names}: give {what} as a list or dict of them")
    return [spec] * len(names)


def _loss_object(identifier, dtype):
    """A Keras Loss for one output: a Loss instance as it is; a name or function in Keras's own wrapper
    (the reduction compile gives it), computed in `dtype` instead of floatx."""
    if identifier is None:
        return None
    loss = keras.losses.get(identifier) if isinstance(identifier, str) else identifier
    if isinstance(loss, keras.losses.Loss):
        return loss
    name = identifier if isinstance(identifier, str) else getattr(loss, "__name__", "loss")
    # a TensorFlow name scope: "<lambda>" is not a valid one (kept on every backend: one name everywhere)
    return LossFunctionWrapper(loss, name=re.sub(r"[^A-Za-z0-9_.]", "_", name).strip("_") or "loss", dtype=dtype)


def _map(fn, spec):
    if isinstance(spec, dict):
        return {k: fn(v) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [fn(v) for v in spec]
    return fn(spec)


def _leaves(spec):
    items = spec.values() if isinstance(spec, dict) else spec if isinstance(spec, list) else [spec]
    return [item for item in items if item is not None]


def forward_precision(model) -> str:
    """The narrowest floating dtype of the model's forward pass and its derivatives: its trainable weights,
    every layer's compute dtype (a float32 layer casts its float64 inputs down), and the model's own for a
    subclassed model, whose __call__ casts floating inputs to it (a Functional or Sequential model passes
    them to its layers as they are)."""
    from keras.src.models.functional import Functional  # not exported; the class of every functional model
    layers = [l for l in model._flatten_layers(include_self=False) if not isinstance(l, keras.layers.InputLayer)]
    dtypes = [v.dtype for v in model.trainable_weights] + [l.compute_dtype for l in layers]
    if not isinstance(model, (Functional, keras.Sequential)):
        dtypes.append(model.compute_dtype)
    return narrowest(dtypes)


def narrowest(dtypes) -> str:
    """The floating dtype with the fewest bits among `dtypes` (non-floating ones ignored)."""
    floats = [keras.backend.standardize_dtype(d) for d in dtypes if d is not None]
    floats = [d for d in floats if "float" in d]
    return min(floats, key=dtype_bits) if floats else keras.config.floatx()


def dtype_bits(dtype) -> int:
    """The bits of a dtype by name: 16 for float16 and bfloat16, 32, 64."""
    return int(re.search(r"\d+", keras.backend.standardize_dtype(dtype)).group())


def unflatten_tensor(theta, variables) -> list:
    """A flat tensor [P] cut into tensors shaped (and typed) like `variables`, in their order."""
    out, start = [], 0
    for v in variables:
        size = int(np.prod(v.shape))
        out.append(ops.cast(ops.reshape(theta[start:start + size], v.shape), v.dtype))
        start += size
    return out


def flat_tensor(values):
    """Tensors (or variables' values) as one flat tensor, the inverse of `unflatten_tensor`."""
    return ops.concatenate([ops.reshape(v, [-1]) for v in values], axis=0)
