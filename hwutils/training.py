"""Training shared by the notebooks: per-epoch train and test histories, readable progress,
and divergence recorded instead of plotted as if it were fine."""
from __future__ import annotations

import math
import warnings

import keras

from .progress import Progress


def optimizer(name: str, learning_rate: float):
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate)
    raise ValueError(f"unknown optimizer {name!r}: use 'adam' or 'sgd'")


# Several training steps per compiled call: the same arithmetic, a fraction of the per-step
# Python overhead that dominates small models on a CPU.
STEPS_PER_EXECUTION = 16


def compile_classifier(model, optimizer_name: str = "adam", learning_rate: float = 1e-3):
    """Softmax classifiers of the report: sparse categorical cross-entropy (integer labels)."""
    model.compile(optimizer=optimizer(optimizer_name, learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=STEPS_PER_EXECUTION)
    return model


class _Recorder(keras.callbacks.Callback):
    """Stops at the first non-finite batch loss (checked after every compiled call of
    STEPS_PER_EXECUTION steps) and prints sparse progress."""

    def __init__(self, epochs: int, label: str, verbose: bool | None):
        super().__init__()
        self.progress = Progress(epochs, label, enabled=verbose)
        self.diverged_epoch = None
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged_epoch = self.epoch
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        text = " ".join(f"{k} {v:.4g}" for k, v in logs.items() if k in ("loss", "accuracy", "val_loss", "val_accuracy"))
        self.progress.update(epoch + 1, text)


def fit(model, train, test=None, epochs: int = 1, batch_size: int = 32, label: str = "train",
        verbose: bool | None = None, callbacks=(), shuffle_seed: int | None = None) -> dict:
    """Fit a compiled model; return its per-epoch history as plain lists.

    {"train_loss", "train_accuracy", "test_loss", "test_accuracy", "epochs", "diverged",
    "diverged_epoch"}; test metrics are measured at the end of every epoch. A non-finite loss
    stops training with a warning and `diverged: True`; the lists then end at the last finite epoch.
    """
    x, y = train
    recorder = _Recorder(epochs, label, verbose)
    hist = model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_data=test, verbose=0,
                     callbacks=[recorder, *callbacks], shuffle=True)
    h = hist.history
    out = {"train_loss": list(map(float, h.get("loss", [])))}
    if "accuracy" in h:
        out["train_accuracy"] = list(map(float, h["accuracy"]))
    if test is not None:
        out["test_loss"] = list(map(float, h.get("val_loss", [])))
        if "val_accuracy" in h:
            out["test_accuracy"] = list(map(float, h["val_accuracy"]))
    diverged = recorder.diverged_epoch is not None
    if diverged:
        warnings.warn(f"{label}: training diverged (non-finite loss) in epoch {recorder.diverged_epoch}; "
                      f"stopped there and recorded as diverged. Lower the learning rate.", stacklevel=2)
        for key in out:  # drop the epoch that produced the non-finite loss
            out[key] = [v for v in out[key][: recorder.diverged_epoch - 1]]
    out["epochs"] = len(out["train_loss"])
    out["diverged"] = diverged
    out["diverged_epoch"] = recorder.diverged_epoch
    return out


def final(history: dict, key: str) -> float:
    """Last value of a history list (NaN when empty, e.g. diverged in the first epoch)."""
    values = history.get(key) or []
    return float(values[-1]) if values else float("nan")


def evaluate(model, x, y, batch_size: int = 1024) -> dict:
    """Loss and (for classifiers) accuracy of `model` on (x, y)."""
    values = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    return {k: float(v) for k, v in values.items()}
