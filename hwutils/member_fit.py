"""Training a vectorised model (hwutils.vectorized): every member on its own batch order and its own
labels, the training data on the device for the whole fit, checkpoints as in training.fit.

Member m's epoch e visits the points in the order `order.epoch_order(order_seed[m], e, n)`: the batches
`training.fit(..., order_seed=order_seed[m])` gives the same model alone, so member m follows the
trajectory of that fit (tests/test_vectorized.py). One order_seed for all: the members share their
batches, as the members of `models.stacked` do, and the first layer computes every member from one batch.

The feed carries indices only ([B], or [B, M] with an order per member) and each member's labels; the
model gathers the images from a copy of the training set it holds on the device (`Members.on_device`), so
a step moves a few hundred bytes to the device instead of a batch of images.
"""
from __future__ import annotations

import os

import keras
import numpy as np
from keras import ops

from . import order, resume


# The training set is kept on the device when it is at most this large (MB; $HWUTILS_DEVICE_DATA_MB):
# MNIST is 188 MB and CIFAR-10 614 MB in float32; a larger one is fed batch by batch.
DEVICE_DATA_MB = 2048


class MemberBatches(keras.utils.PyDataset):
    """The batches of one epoch: (indices [B] or [B, M], labels [B, M]); member m's slice of
    `order.epoch_order(order_seeds[m], epoch, n)` (the identity order when shuffle=False). With `x` given,
    the inputs themselves ([B, ...] or [B, M, ...]) instead of their indices. `epoch` is set by
    order.FollowEpoch, so initial_epoch=k starts with epoch k's batches."""

    def __init__(self, labels: np.ndarray, batch_size: int, order_seeds, shuffle: bool = True, epoch: int = 0,
                 x=None):
        super().__init__()
        self.x = x
        self.labels = np.asarray(labels)  # [n, M]
        self.shared = np.isscalar(order_seeds)
        self.seeds = [int(order_seeds)] if self.shared else [int(s) for s in order_seeds]
        self.batch_size, self.shuffle, self.epoch = int(batch_size), bool(shuffle), int(epoch)
        self._order = (None, None)

    def order(self, epoch: int) -> np.ndarray:
        """[orders, n]: one row per distinct order (one when shared)."""
        if self._order[0] != epoch:
            n = len(self.labels)
            rows = [order.epoch_order(s, epoch, n) if self.shuffle else np.arange(n) for s in self.seeds]
            self._order = (epoch, np.stack(rows).astype("int32"))
        return self._order[1]

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __getitem__(self, i: int):
        idx = self.order(self.epoch)[:, i * self.batch_size:(i + 1) * self.batch_size].T  # [B, orders]
        if self.shared:
            idx = idx[:, 0]
            return (idx if self.x is None else self.x[idx]), self.labels[idx]
        return (idx if self.x is None else self.x[idx]), np.take_along_axis(self.labels, idx, axis=0)


def fits_on_device(x) -> bool:
    """Whether fit keeps the training inputs on the device (at most DEVICE_DATA_MB, or the environment's)."""
    limit = float(os.environ.get("HWUTILS_DEVICE_DATA_MB", DEVICE_DATA_MB))
    return np.asarray(x).nbytes <= limit * 2**20


def _labels(y, members: int) -> np.ndarray:
    """[n, M] from one label array (every member) or a list of M (each member its own)."""
    if isinstance(y, (list, tuple)):
        if len(y) != members:
            raise ValueError(f"{len(y)} label arrays for a vectorised model of {members} members")
        return np.stack([np.asarray(v) for v in y], axis=1)
    return np.repeat(np.asarray(y)[:, None], members, axis=1)


def fit(model, train, test=None, epochs: int = 1, batch_size: int = 32, label: str = "train",
        verbose: bool | None = None, callbacks=(), order_seed=None, shuffle: bool = True, initial_epoch: int = 0,
        checkpoints=None) -> list[dict]:
    """Fit a compiled vectorised model; one history per member, shaped like `training.fit_stacked`'s:
    {"train_loss", "train_accuracy", "test_loss", "test_accuracy", "epochs", "diverged", "diverged_epoch"},
    and "steps": the optimizer steps taken when the fit ended (every member takes every step).

    `train` is (x, y) with one label array for every member or (x, [y_0, ..., y_{M-1}]); `test` is (x, y),
    every member on the same test set. `order_seed`: one int (shared batches), a list of M (member m on
    order_seed[m]), or None (one drawn from NumPy's global generator, as training.fit does).
    `checkpoints`, `callbacks`, `initial_epoch`: as in training.fit (the loop's whole state is saved and a
    rerun resumes it). A member whose loss turns non-finite does not disturb the others; its history ends
    at its last finite epoch with `diverged: True`.
    """
    m_count = model.n_members
    x, y = train
    labels = _labels(y, m_count)
    if order_seed is None:
        order_seed = int(np.random.randint(2**31 - 1))
    seeds = order_seed if np.isscalar(order_seed) else [int(s) for s in order_seed]
    if not np.isscalar(seeds) and len(seeds) != m_count:
        raise ValueError(f"{len(seeds)} order seeds for a vectorised model of {m_count} members")
    validation = (test[0], _labels(test[1], m_count)) if test is not None else None
    bar = _progress_bar(label, verbose)
    loop = None
    if checkpoints is not None:
        loop = checkpoints.loop(label, *resume.loop_identity(
            model, "member_fit", x, labels, validation, epochs, batch_size, seeds, shuffle, initial_epoch,
            [type(cb).__name__ for cb in callbacks if hasattr(cb, "get_state")]))
    keeper = resume.KerasLoop(loop, list(callbacks), epochs, initial_epoch)
    restored = keeper.restore(model)
    start = initial_epoch
    if restored is not None:
        start, finished = restored
        loop.resumed(start, epochs, finished=finished)
    if restored is None or not restored[1]:
        resident = fits_on_device(x)
        batches = MemberBatches(labels, batch_size, seeds, shuffle, start, x=None if resident else x)
        model.on_device(x if resident else None)
        tested = [TestMetrics(*validation)] if validation is not None and TestMetrics.handles(model) else []
        try:  # TestMetrics first: every later callback sees the epoch's test metrics in its logs
            model.fit(batches, epochs=epochs, initial_epoch=start, validation_data=None if tested else validation,
                      verbose=0, callbacks=[order.FollowEpoch(batches), *tested, *bar, *callbacks, keeper],
                      shuffle=False)
        finally:
            model.on_device(None)
    steps = int(ops.convert_to_numpy(model.optimizer.iterations))
    return [dict(_record(keeper.history, m, test is not None, initial_epoch, label), steps=steps)
            for m in range(m_count)]


class TestMetrics(keras.callbacks.Callback):
    """At the end of every epoch, each member's loss and accuracy on the test set, logged as Keras's
    validation logs them (`val_member_<m>_loss`, `val_member_<m>_accuracy`, `val_loss` their sum): the mean
    cross-entropy (probabilities clipped at 1e-7, as Keras does) and accuracy over every test point, from
    the model's compiled predict step on chunks of the test set, in float64. Keras's own validation runs
    an evaluate() per epoch whose data pipeline alone cost about 130 ms an epoch here, where a small CNN's
    whole epoch costs tens of milliseconds."""

    def __init__(self, x, labels, budget: float = 2e7):
        super().__init__()
        self.x, self.labels, self.budget = np.asarray(x), np.asarray(labels), float(budget)

    @staticmethod
    def handles(model) -> bool:
        return getattr(model, "member_loss", None) == "sparse_categorical_crossentropy"

    def on_epoch_end(self, epoch, logs=None):
        p = predict(self.model, self.x, self.budget)  # [n, M, classes]
        n, m_count = self.labels.shape
        mine = np.take_along_axis(p, self.labels[:, :, None], axis=2)[:, :, 0]
        loss = -np.log(np.clip(mine, 1e-7, 1 - 1e-7)).mean(axis=0)
        hits = (p.argmax(axis=2) == self.labels).mean(axis=0)
        if logs is not None:
            logs.update({f"val_member_{m}_loss": float(loss[m]) for m in range(m_count)})
            if self.model.member_metrics.accuracy:
                logs.update({f"val_member_{m}_accuracy": float(hits[m]) for m in range(m_count)})
            logs["val_loss"] = float(loss.sum())


def predict(model, x, budget: float = 2e7) -> np.ndarray:
    """The model's output on x as float64 [n, M, classes], in chunks whose activations stay within `budget`
    elements, the last chunk padded to the others' size (one compiled shape)."""
    chunk = int(max(1, min(len(x), budget // model.activations_per_sample)))
    out = []
    for i in range(0, len(x), chunk):
        part = x[i:i + chunk]
        pad = chunk - len(part)
        if pad:
            part = np.concatenate([part, np.zeros((pad, *part.shape[1:]), part.dtype)])
        out.append(np.asarray(model.predict_on_batch(part), np.float64)[:chunk - pad])
    return np.concatenate(out)


def _progress_bar(label: str, verbose) -> list:
    """[callbacks.ProgressBar], or none where hwutils.callbacks cannot be imported: it imports TensorFlow,
    which a JAX-only machine lacks (until hwutils runs without it), and the fit needs no bar to train."""
    try:
        from .callbacks import ProgressBar
    except ImportError:
        return []
    return [ProgressBar(label, enabled=verbose)]


def _record(h: dict, m: int, with_test: bool, initial_epoch: int, label: str) -> dict:
    """Member m's history from Keras's logs, cut at its first non-finite loss (training.fit_stacked's)."""
    from .training import member_record
    return member_record(h, f"member_{m}_", m, with_test, initial_epoch, label)
