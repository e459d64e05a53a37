"""Training shared by the notebooks: per-epoch train and test histories, readable progress,
and divergence recorded instead of plotted as if it were fine."""
from __future__ import annotations

import math
import warnings

import keras
import numpy as np

from . import order, resume
from .callbacks import DivergenceStop, ProgressBar


def optimizer(name: str, learning_rate: float):
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate)
    raise ValueError(f"unknown optimizer {name!r}: use 'adam' or 'sgd'")


# Several training steps per compiled call: the same arithmetic, a fraction of the per-step
# Python overhead that dominates small models on a CPU.
STEPS_PER_EXECUTION = 16
# compile(jit_compile=...) for a tiny model: on TensorFlow XLA's compile time outweighs its gain (a plain
# tf.function is compiled too); on JAX XLA is the only compiler, and False would run every step eagerly.
TINY_JIT = keras.backend.backend() == "jax"


def compile_classifier(model, optimizer_name: str = "adam", learning_rate: float = 1e-3):
    """Softmax classifiers of the report: sparse categorical cross-entropy (integer labels)."""
    model.compile(optimizer=optimizer(optimizer_name, learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=STEPS_PER_EXECUTION)
    return model


def image_mlp_classifier(input_shape, hidden, learning_rate: float = 1e-3, optimizer_name: str = "adam",
                         name: str = "mlp"):
    """A fresh `models.image_mlp` compiled by `compile_classifier`: one call, one new model (a seed's net)."""
    from .models import image_mlp
    return compile_classifier(image_mlp(input_shape, hidden, name=name), optimizer_name, learning_rate)


def fit(model, train, test=None, epochs: int = 1, batch_size: int = 32, label: str = "train",
        verbose: bool | None = None, callbacks=(), order_seed: int | None = None, initial_epoch: int = 0,
        checkpoints=None) -> dict:
    """Fit a compiled model; return its per-epoch history as plain lists. Epoch e visits the
    training points in the order `order.epoch_order(order_seed, e, n)` (hwutils owns the data order;
    Keras gets shuffle=False), so `initial_epoch=k` continues with the batches an uninterrupted fit
    would have seen in epoch k. order_seed=None draws one from NumPy's global generator (which
    `keras.utils.set_random_seed` and `hwutils.setup` seed): reproducible, but give it explicitly where a
    fit must resume or must share (or not share) its order with another fit.

    {"train_loss", "train_accuracy", "test_loss", "test_accuracy", "epochs", "diverged",
    "diverged_epoch"}; test metrics are measured at the end of every epoch. A non-finite loss
    stops training with a warning and `diverged: True`; the lists then end at the last finite epoch.
    With initial_epoch = k the lists hold epochs k+1 ... epochs.

    `checkpoints` (P.checkpoints in a notebook): the fit saves its whole state every few epochs or
    minutes and at its end, and a rerun continues from the newest checkpoint ("resumed at epoch k of n")
    to the same result, bit for bit, as a fit never interrupted; callbacks with a get_state (those of
    hwutils.callbacks) are saved with it.
    """
    x, y = train
    stop = DivergenceStop()
    h = _keras_fit(model, x, y, test, epochs, batch_size, [stop, ProgressBar(label, enabled=verbose), *callbacks],
                   order_seed, True, initial_epoch, checkpoints, label, "fit")
    out = {"train_loss": list(map(float, h.get("loss", [])))}
    if "accuracy" in h:
        out["train_accuracy"] = list(map(float, h["accuracy"]))
    if test is not None:
        out["test_loss"] = list(map(float, h.get("val_loss", [])))
        if "val_accuracy" in h:
            out["test_accuracy"] = list(map(float, h["val_accuracy"]))
    diverged = stop.diverged
    if diverged:
        warnings.warn(f"{label}: training diverged (non-finite loss) in epoch {stop.epoch}; "
                      f"stopped there and recorded as diverged. Lower the learning rate.", stacklevel=2)
        for key in out:  # drop the epoch that produced the non-finite loss
            out[key] = [v for v in out[key][: stop.epoch - 1 - initial_epoch]]
    out["epochs"] = len(out["train_loss"])
    out["diverged"] = diverged
    out["diverged_epoch"] = stop.epoch
    return out


def _keras_fit(model, x, targets, test, epochs: int, batch_size: int, callbacks, order_seed: int | None,
               shuffle: bool, initial_epoch: int, checkpoints=None, label: str = "train", kind: str = "fit") -> dict:
    """model.fit on hwutils' data order (order.EpochBatches, shuffle=False), resumable: Keras's history
    dict of every epoch from initial_epoch on. With `checkpoints` (a checkpoints.Checkpoints, e.g.
    P.checkpoints) that is enabled, the fit continues from its newest checkpoint (restored ones' epochs
    included in the history), saves one when due and one at its end; a fit that had finished is not run
    again. `callbacks` with a get_state are saved and restored with it."""
    if order_seed is None:  # as reproducible as Keras's own shuffle was: the seeded global generator
        order_seed = int(np.random.randint(2**31 - 1))
    loop = None
    if checkpoints is not None:
        loop = checkpoints.loop(label, *resume.loop_identity(model, kind, x, targets, test, epochs, batch_size,
                                                              order_seed, shuffle, initial_epoch,
                                                              [type(cb).__name__ for cb in callbacks
                                                               if hasattr(cb, "get_state")]))
    keeper = resume.KerasLoop(loop, callbacks, epochs, initial_epoch)
    restored = keeper.restore(model)
    start = initial_epoch
    if restored is not None:
        start, finished = restored
        loop.resumed(start, epochs, finished=finished)
        if finished:
            return keeper.history
    batches, follow = order.keras_feed(x, targets, batch_size, order_seed, shuffle, start)
    # FollowEpoch first: every other callback's on_epoch_begin already sees the epoch's batches; the
    # keeper last: it saves what every other callback recorded of the epoch.
    model.fit(batches, epochs=epochs, initial_epoch=start, validation_data=test, verbose=0,
              callbacks=[follow, *callbacks, keeper], shuffle=False)
    return keeper.history


def final(history: dict, key: str) -> float:
    """Last value of a history list (NaN when empty, e.g. diverged in the first epoch)."""
    values = history.get(key) or []
    return float(values[-1]) if values else float("nan")


def activations_per_sample(model) -> int:
    """The outputs of every layer for one sample, summed (a stacked model: over every member)."""
    total = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        # Inputs hold no activations of their own; a container's outputs are its last layer's.
        if isinstance(layer, keras.layers.InputLayer) or any(True for _ in layer._flatten_layers(include_self=False)):
            continue
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):  # a layer that was never called on a symbolic input
            continue
        total += int(np.prod([d for d in shape[1:] if d is not None]))
    return max(1, total)


def evaluate(model, x, y, batch_size: int = 1024, budget: float = 1e8) -> dict:
    """Loss and (for classifiers) accuracy of `model` on (x, y), in batches of at most `batch_size`
    whose activations stay within `budget` elements (1e8 float32: 400 MB): a stacked model of many
    CNNs evaluates in smaller batches instead of exhausting the memory."""
    batch_size = int(max(1, min(batch_size, budget // activations_per_sample(model))))
    values = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    return {k: float(v) for k, v in values.items()}


def _progress_callback(epochs: int, label: str, verbose: bool | None):
    """callbacks.ProgressBar: a tqdm.auto bar over the epochs."""
    return ProgressBar(label, enabled=verbose)


def fit_stacked(model, train, test=None, epochs: int = 1, batch_size: int = 32, label: str = "train",
                verbose: bool | None = None, callbacks=(), shuffle: bool = True, order_seed: int | None = None,
                initial_epoch: int = 0, checkpoints=None) -> list[dict]:
    """Fit a compiled stacked model (`models.stacked`): every member on the same batches, in one
    `model.fit`. Returns one history per member, shaped like `fit`'s: {"train_loss",
    "train_accuracy", "test_loss", "test_accuracy", "epochs", "diverged", "diverged_epoch"}.

    `train` is (x, y) with one label array for every member, or (x, [y_0, ..., y_{M-1}]) with each
    member's own labels. The batches follow `fit`'s data order: epoch e visits the points in the order
    `order.epoch_order(order_seed, e, n)` (shuffle=False: in their given order), so the same initial
    weights train on another batch order with another order_seed, and initial_epoch=k continues with
    epoch k's batches (order_seed=None: as in `fit`). `checkpoints`: as in `fit`.

    Each member's "train_loss" is Keras's per-output loss metric: the mean of the epoch's batch losses,
    each batch counted once (a single model's "loss" weighs batches by their size, so the two differ
    slightly when the last batch is smaller); the weights themselves equal the model trained alone.
    A member whose loss turns non-finite does not disturb the others (the summed loss's gradient
    with respect to another member's weights is that member's own); training goes on, and that
    member's history ends at its last finite epoch with `diverged: True`, as `fit` would record it.
    """
    from .models import members as count_members
    n = count_members(model)
    x, y = train
    targets = list(y) if isinstance(y, (list, tuple)) else [y] * n
    if len(targets) != n:
        raise ValueError(f"{len(targets)} label arrays for a stacked model of {n} members")
    validation = (test[0], [test[1]] * n) if test is not None else None
    h = _keras_fit(model, x, targets if n > 1 else targets[0], validation, epochs, batch_size,
                   [_progress_callback(epochs, label, verbose), *callbacks], order_seed, shuffle, initial_epoch,
                   checkpoints, label, "fit_stacked")
    out = []
    for m in range(n):
        key = f"member_{m}_" if n > 1 else ""  # one output: Keras's keys carry no output name
        out.append(member_record(h, key, m, test is not None, initial_epoch, label))
    return out


def evaluate_snapshots(model, snapshots, x, y, batch_size: int = 1024, budget: float = 1e8) -> list[dict]:
    """The model's metrics (training.evaluate) at each flat θ of `snapshots` (e.g.
    callbacks.WeightSnapshots().weights); the model's own weights are restored afterwards."""
    from .objective import unflatten
    variables = list(model.trainable_weights)
    current = [v.numpy() for v in variables]
    try:
        out = []
        for theta in snapshots:
            for v, value in zip(variables, unflatten(theta, variables)):
                v.assign(value.astype(v.dtype))
            out.append(evaluate(model, x, y, batch_size, budget))
        return out
    finally:
        for v, value in zip(variables, current):
            v.assign(value)


def history_array(histories, key: str, epochs: int | None = None):
    """One history key of several runs as an array [runs, epochs], NaN where a run stopped early
    (diverged): what the plots' bands over seeds take."""
    epochs = epochs or max((len(h.get(key) or []) for h in histories), default=0)
    out = np.full((len(histories), epochs), np.nan)
    for i, h in enumerate(histories):
        values = (h.get(key) or [])[:epochs]
        out[i, :len(values)] = values
    return out


def epochs_to_level(curves, level: float):
    """For each row of `curves` [runs, epochs] (a loss per epoch, NaN after a run stopped), the first
    1-based epoch whose value is at or below `level`; NaN for a run that never got there (censored at the
    epochs it trained, not dropped)."""
    import numpy as np
    c = np.asarray(curves, dtype=float)
    below = c <= level  # NaN compares False
    return np.where(below.any(axis=1), below.argmax(axis=1) + 1.0, np.nan)


def scores(model, x, y, chunk: int = 2048) -> dict:
    """Cross-entropy (probabilities clipped at 1e-7, as Keras does) and accuracy of a softmax classifier on
    the whole of (x, y) at its current weights, from one forward pass in float64 (no compiled evaluation,
    so it costs nothing to trace per model): {"loss", "accuracy"}."""
    import numpy as np
    p = np.concatenate([np.asarray(model(x[i:i + chunk], training=False), np.float64) for i in range(0, len(x), chunk)])
    y = np.asarray(y).ravel()
    return {"loss": float(-np.mean(np.log(np.maximum(p[np.arange(len(y)), y], 1e-7)))),
            "accuracy": float(np.mean(p.argmax(1) == y))}


def member_record(h: dict, key: str, m: int, with_test: bool, initial_epoch: int, label: str) -> dict:
    """Member m's history from Keras's logs (its keys prefixed `key`), cut at its first non-finite loss: what
    fit_stacked and member_fit.fit return per member."""
    record = {"train_loss": list(map(float, h.get(key + "loss", [])))}
    if key + "accuracy" in h:
        record["train_accuracy"] = list(map(float, h[key + "accuracy"]))
    if with_test:
        record["test_loss"] = list(map(float, h.get("val_" + key + "loss", [])))
        if "val_" + key + "accuracy" in h:
            record["test_accuracy"] = list(map(float, h["val_" + key + "accuracy"]))
    bad = [e for e, v in enumerate(record["train_loss"]) if not math.isfinite(v)]
    if bad:
        warnings.warn(f"{label}: member {m} diverged (non-finite loss) in epoch {bad[0] + 1}; recorded as "
                      f"diverged. Lower the learning rate.", stacklevel=3)
        record = {k: v[: bad[0]] for k, v in record.items()}
    record.update(epochs=len(record["train_loss"]), diverged=bool(bad),
                  diverged_epoch=initial_epoch + bad[0] + 1 if bad else None)
    return record
