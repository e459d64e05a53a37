"""Vectorised seeds: M copies of one Keras architecture (a CNN's seeds) as one model with a member axis.

`stacked(build, M, loss=..., optimizer=...)` takes what `models.stacked` takes and builds the same
members from the same initial weights (build is called M times under the current Keras seed), but as one
set of layers (hwutils.member_layers), so that a training step is a few kernels whatever M is, where
`models.stacked` runs every layer of every member as a kernel of its own. `from_models(nets)` does
the same from M built Keras models. `member(model, m)` takes member m out as an ordinary Keras model
(float32, usable by every measure); `member_fit.fit` trains it (batch order per member, labels per
member, checkpoints).

The model's output is [B, M, classes], its labels [B, M]; the loss is the sum over members of each
member's mean loss, so the gradient with respect to member m's weights is that of its own loss, and
Adam, SGD and RMSprop (which act on each weight element) move member m as it would move alone. It logs
`member_<m>_loss` and `member_<m>_accuracy` as a `models.stacked` model does, so the callbacks that
watch members (LossTarget, AccuracyTarget, EpochBudget) work unchanged.

Supported layers: Conv2D (stride 1, no dilation, no groups), MaxPooling2D (stride = pool), Flatten,
Dense; anything else is refused with its name.
"""
from __future__ import annotations

import json

import keras
import numpy as np
from keras import ops

from . import member_layers as ml
from . import precision as precision_mod


class MemberSum(keras.losses.Loss):
    """Σ_m mean_b loss(y[b, m], p[b, m]): per sample, the sum over members of its losses."""

    def __init__(self, loss="sparse_categorical_crossentropy", name="member_sum"):
        super().__init__(name=name, reduction="sum_over_batch_size")
        self.loss = loss
        self.fn = keras.losses.get(loss)

    def call(self, y_true, y_pred):
        return ops.sum(self.fn(y_true, y_pred), axis=-1)

    def get_config(self):
        return {"loss": self.loss, "name": self.name}

    def __repr__(self):  # what a checkpoint's identity records of the loss (resume.loop_identity): no address
        return f"MemberSum({self.loss!r})"


class MemberMetrics(keras.metrics.Metric):
    """Each member's mean loss and accuracy over the samples seen, logged as `member_<m>_loss` and
    `member_<m>_accuracy`: the keys, and the per-sample weighting, of a `models.stacked` model's
    per-output metrics."""

    def __init__(self, members: int, name="member_metrics"):
        super().__init__(name=name)
        self.members, self.loss_fn, self.accuracy = int(members), None, False
        self.loss_sum = self.add_variable((self.members,), initializer="zeros", name="loss_sum")
        self.correct = self.add_variable((self.members,), initializer="zeros", name="correct")
        self.count = self.add_variable((), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(y_pred, "float32")
        self.loss_sum.assign_add(ops.sum(ops.cast(self.loss_fn(y_true, y_pred), "float32"), axis=0))
        if self.accuracy:
            hit = ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), ops.cast(y_true, "int32"))
            self.correct.assign_add(ops.sum(ops.cast(hit, "float32"), axis=0))
        self.count.assign_add(ops.cast(ops.shape(y_pred)[0], "float32"))

    def result(self):
        n = ops.maximum(self.count, 1.0)
        out = {f"member_{m}_loss": self.loss_sum[m] / n for m in range(self.members)}
        if self.accuracy:
            out.update({f"member_{m}_accuracy": self.correct[m] / n for m in range(self.members)})
        return out


class Members(keras.Model):
    """M members of one architecture as one model: input shared [B, ...] (every member sees the batch) or
    per member [B, M, ...], or integer indices [B] or [B, M] into a table of inputs set with `on_device`
    (member_fit keeps the training data on the device that way); output [B, M, classes]."""

    def __init__(self, stack: list, members: int, template: str, input_shape, **kwargs):
        super().__init__(**kwargs)
        self.stack = stack
        self.n_members = int(members)
        self.template = template  # member 0's Keras config (JSON): what `member` rebuilds
        self.member_input_shape = tuple(input_shape)
        self.member_metrics = MemberMetrics(members)
        self._table = None

    def call(self, x, training=False):
        if "int" in str(x.dtype):  # indices into the table on the device
            x = ops.take(self._table, x, axis=0)
        if len(x.shape) == len(self.member_input_shape) + 2:  # [B, M, ...] -> member-major [M, B, ...]
            x = ops.moveaxis(x, 1, 0)
        for layer in self.stack:
            x = layer(x)
        return ops.stack(x, axis=1) if ml.is_split(x) else ops.moveaxis(x, 0, 1)

    def compile(self, optimizer="adam", loss="sparse_categorical_crossentropy", metrics=None, **kwargs):
        """Keras's compile with the loss summed over members; `metrics` may hold "accuracy" (per member)."""
        names = [m if isinstance(m, str) else getattr(m, "name", "") for m in (metrics or [])]
        unknown = [n for n in names if n not in ("accuracy", "acc")]
        if unknown:
            raise ValueError(f"a vectorised model logs each member's loss and accuracy; not {unknown}")
        self.member_loss = loss if isinstance(loss, str) else keras.losses.serialize(loss)
        self.member_metrics.loss_fn = keras.losses.get(loss)
        self.member_metrics.accuracy = bool(names)
        self.member_metric_names = names
        super().compile(optimizer=optimizer, loss=MemberSum(loss), **kwargs)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        self.member_metrics.update_state(y, y_pred)
        return self.get_metrics_result()

    def on_device(self, table):
        """Give the model a table of inputs that integer inputs index (None: none); the compiled functions
        are rebuilt around it."""
        self._table = None if table is None else ops.convert_to_tensor(np.asarray(table))
        self.train_function = self.test_function = self.predict_function = None


# ------------------------------------------------------------------ building
def _translate(layer, members: int):
    """The member-axis layer computing `layer` (a built Keras layer) for every member."""
    config = layer.get_config()
    # What the member-axis layers do not compute: a regulariser's loss, a constraint's projection, LoRA. Left
    # out silently, each member would train on another objective than the model it came from.
    extras = sorted(k for k, v in config.items() if v is not None and (
        k.endswith(("_regularizer", "_constraint")) or (k == "lora_rank" and v)))
    if extras:
        raise ValueError(f"{layer.name}: {', '.join(extras)} set; the member-axis layers compute none of them "
                         f"(a vectorised member would train without it)")
    if isinstance(layer, keras.layers.Conv2D):
        if tuple(layer.strides) != (1, 1) or tuple(layer.dilation_rate) != (1, 1) or layer.groups != 1 \
                or layer.data_format != "channels_last" or not layer.use_bias:
            raise ValueError(f"{layer.name}: only stride-1, undilated, ungrouped, channels-last Conv2D with a bias")
        return ml.MemberConv2D(members, layer.input.shape[-1], layer.filters, layer.kernel_size,
                               config["activation"], layer.padding)
    if isinstance(layer, keras.layers.MaxPooling2D):
        if tuple(layer.strides) != tuple(layer.pool_size) or layer.padding != "valid":
            raise ValueError(f"{layer.name}: only MaxPooling2D with strides = pool_size and valid padding")
        return ml.MemberMaxPooling2D(layer.pool_size)
    if isinstance(layer, keras.layers.Flatten):
        return ml.MemberFlatten(len(layer.input.shape))
    if isinstance(layer, keras.layers.Dense):
        if not layer.use_bias:
            raise ValueError(f"{layer.name}: only Dense with a bias")
        return ml.MemberDense(members, layer.input.shape[-1], layer.units, config["activation"])
    raise ValueError(f"{layer.name}: {type(layer).__name__} has no member-axis version (Conv2D, MaxPooling2D, "
                     f"Flatten and Dense have)")


def architecture(net) -> str:
    """A Keras model's layers and their settings without names or dtypes: equal for the same architecture."""
    drop = {"name", "dtype", "trainable"}
    return json.dumps([[type(layer).__name__, {k: v for k, v in layer.get_config().items() if k not in drop}]
                       for layer in net.layers], sort_keys=True, default=str)


def from_models(nets, loss=None, optimizer=None, metrics=None, steps_per_execution: int = 1,
                jit_compile: bool | None = None, precision: str = "float32", name: str = "vectorized") -> Members:
    """One vectorised model whose member m starts with the weights of `nets[m]` (built Keras Sequential
    models of one architecture), computing in `precision` (hwutils.precision). With `loss` given it is
    compiled, as `models.stacked` compiles. `jit_compile` None: XLA on JAX (always) and on a GPU; not for
    TensorFlow on a CPU, where XLA's convolutions measured 10–50× slower than oneDNN's here."""
    nets = list(nets)
    if not nets:
        raise ValueError("a vectorised model needs at least one member")
    arch = architecture(nets[0])
    for m, net in enumerate(nets[1:], 1):
        if architecture(net) != arch:
            raise ValueError(f"member {m} has another architecture than member 0: vectorised members share one")
    shape = tuple(nets[0].inputs[0].shape[1:])
    with precision_mod.policy(precision):
        stack = [_translate(layer, len(nets)) for layer in nets[0].layers]
        model = Members(stack, len(nets), nets[0].to_json(), shape, name=name)
    # Every member's activations for one sample: what bounds the chunks it is evaluated in.
    model.activations_per_sample = len(nets) * sum(int(np.prod(layer.output.shape[1:])) for layer in nets[0].layers)
    model(np.zeros((1, *shape), "float32"))  # builds every layer
    if jit_compile is None:
        jit_compile = keras.backend.backend() != "tensorflow" or precision_mod.accelerator() is not None
    for m, net in enumerate(nets):
        set_member(model, m, net.get_weights())
    if loss is not None:
        model.compile(optimizer=keras.optimizers.get(optimizer or "adam") if isinstance(optimizer, (str, type(None)))
                      else optimizer, loss=loss, metrics=metrics, steps_per_execution=steps_per_execution,
                      jit_compile=jit_compile)
    return model


def stacked(build, members: int | None = None, **compile_args) -> Members:
    """`models.stacked`'s signature: `build` (a function returning a fresh Keras model; or a list of them,
    one per member, of one architecture) called once per member, in order, under the current Keras seed,
    so the members start from the weights `models.stacked(build, members)` gives them."""
    builds = list(build) if isinstance(build, (list, tuple)) else [build] * int(members or 0)
    if members is not None and len(builds) != members:
        raise ValueError(f"members={members} but {len(builds)} build functions were given")
    return from_models([b() for b in builds], **compile_args)


def seeded(builds, seeds) -> list[list[keras.Model]]:
    """nets[k][s]: build k's Keras model with seed s's initial weights, as `models.stacked(builds)` builds
    them after `keras.utils.set_random_seed(seeds[s])` (every build called in order under that seed): the
    seeds of each architecture, ready for `from_models`."""
    nets = []
    for seed in seeds:
        keras.utils.set_random_seed(int(seed))
        nets.append([build() for build in builds])
    return [list(column) for column in zip(*nets)]


# ------------------------------------------------------------------ members out
def _weighted(model: Members):
    return [layer for layer in model.stack if isinstance(layer, ml.MemberLayer)]


def member_weights(model: Members, m: int) -> list[np.ndarray]:
    """Member m's weights in its Keras model's get_weights() order."""
    if not 0 <= m < model.n_members:
        raise IndexError(f"member {m} of a vectorised model of {model.n_members}")
    return [w for layer in _weighted(model) for w in layer.member_weights(m)]


def set_member(model: Members, m: int, weights) -> None:
    """Set member m's weights from a list in its Keras model's get_weights() order."""
    weights, i = list(weights), 0
    for layer in _weighted(model):
        k = len(layer.weights)
        layer.set_member_weights(m, weights[i:i + k])
        i += k
    if i != len(weights):
        raise ValueError(f"{len(weights)} weights for a member that has {i}")


def members(model) -> int:
    return model.n_members


def member(model: Members, m: int, compile: bool = True) -> keras.Model:
    """Member m as its own Keras model in float32 (whatever policy trained it), with a copy of its current
    weights; compiled, when the vectorised model is, with its loss and metrics and a fresh optimizer of the
    same configuration (as `models.member`)."""
    config = json.loads(model.template)
    for layer in config["config"]["layers"]:
        layer["config"]["dtype"] = "float32"
    alone = keras.models.model_from_json(json.dumps(config))
    alone.set_weights(member_weights(model, m))
    alone.name = f"member_{m}"
    if compile and getattr(model, "compiled", False):
        opt = model.optimizer.__class__.from_config(model.optimizer.get_config())
        alone.compile(optimizer=opt, loss=model.member_loss, metrics=list(model.member_metric_names) or None)
    return alone


class MemberView:
    """Member m's weights as a Keras layer shows them (`get_weights`), for callbacks that keep a copy
    (callbacks.LossTarget(keep=...))."""

    def __init__(self, model: Members, m: int):
        self.model, self.m = model, int(m)

    def get_weights(self):
        return member_weights(self.model, self.m)


def loss_targets(model: Members, target: float | None, stop: bool = True) -> list:
    """One callbacks.LossTarget per member (`LossTarget.for_members` for a vectorised model): member m's
    target epoch, steps and weights; the fit stops when every member has reached the target."""
    from .callbacks import LossTarget
    group = [LossTarget(target, f"member_{m}_loss", stop, keep=MemberView(model, m)) for m in range(model.n_members)]
    for callback in group:
        callback.peers = group
    return group
