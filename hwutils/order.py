"""The data order: which points each epoch visits, and in which order, owned by hwutils.

Epoch e of a fit visits the points in the order of `numpy.random.default_rng([order_seed, e])`'s
permutation: a function of the seed and the epoch alone, not of a generator that earlier epochs
advanced. The batches of epoch k are therefore the same whether the fit ran from epoch 0 in one call,
in several calls, or resumed from a checkpoint at epoch k — the condition for a resumed fit to see the
batches an uninterrupted one saw. Keras gets `shuffle=False` and the batches from `EpochBatches`;
the stacked ensemble (hwutils.ensemble) draws its epochs from the same function.
"""
from __future__ import annotations

from typing import Sequence

import keras
import numpy as np


def epoch_order(order_seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which epoch `epoch` (0-based, counted over the whole training) visits n points."""
    if int(order_seed) < 0 or int(epoch) < 0:
        raise ValueError(f"order_seed and epoch must be non-negative, got {order_seed} and {epoch}")
    return np.random.default_rng([int(order_seed), int(epoch)]).permutation(int(n))


class EpochBatches(keras.utils.PyDataset):
    """The batches of one epoch for Keras `fit`: (x[idx], y[idx]) with idx the epoch's slice of
    `epoch_order(order_seed, epoch, n)` (the identity order when shuffle=False), the last batch
    smaller as Keras makes it. `targets` is one label array, or a list of them (one per output of
    a stacked model). The epoch is set by the `FollowEpoch` callback from Keras's own epoch index, so
    `fit(..., initial_epoch=k)` starts with epoch k's batches."""

    def __init__(self, x, targets, batch_size: int, order_seed: int = 0, shuffle: bool = True, epoch: int = 0):
        super().__init__()
        self.x = x
        self.many = isinstance(targets, (list, tuple))
        self.targets = list(targets) if self.many else [targets]
        if any(len(t) != len(x) for t in self.targets):
            raise ValueError(f"{len(x)} inputs but targets of lengths {[len(t) for t in self.targets]}")
        self.batch_size, self.order_seed, self.shuffle = int(batch_size), int(order_seed), bool(shuffle)
        self.epoch = int(epoch)
        self._order = (None, None)  # (epoch, its order): one permutation per epoch, not per batch

    def order(self, epoch: int) -> np.ndarray:
        if self._order[0] != epoch:
            n = len(self.x)
            self._order = (epoch, epoch_order(self.order_seed, epoch, n) if self.shuffle else np.arange(n))
        return self._order[1]

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i: int):
        idx = self.order(self.epoch)[i * self.batch_size:(i + 1) * self.batch_size]
        ys = [t[idx] for t in self.targets]
        return self.x[idx], (tuple(ys) if self.many else ys[0])  # tf.data takes tuples, not lists


class FollowEpoch(keras.callbacks.Callback):
    """Tells an EpochBatches which epoch Keras is starting (the absolute index, initial_epoch included)."""

    def __init__(self, batches: EpochBatches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.epoch = int(epoch)


def keras_feed(x, targets: Sequence | np.ndarray, batch_size: int, order_seed: int, shuffle: bool = True,
               initial_epoch: int = 0) -> tuple[EpochBatches, FollowEpoch]:
    """(the dataset to give `model.fit` with shuffle=False, the callback that keeps it on Keras's epoch)."""
    batches = EpochBatches(x, targets, batch_size, order_seed, shuffle, epoch=initial_epoch)
    return batches, FollowEpoch(batches)
