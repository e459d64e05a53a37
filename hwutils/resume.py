"""Resumable Keras fits: the loop state of training.fit and training.fit_stacked, saved and restored.

`keras.callbacks.BackupAndRestore` alone is not enough for the report: it keeps the weights, the
optimizer and the epoch, but no history, no callback state (the snapshots, gradient norms and targets
the notebooks record), no data order and no random state, and it deletes its files at the end of
every fit, so a notebook with several fits redoes the finished ones. What is used of Keras here is
its own weights format (`model.save_weights`: every layer's weights and the optimizer's variables in
one `.weights.h5`) and `fit(initial_epoch=k)`; the data order is hwutils.order's, a function of the
epoch alone, so it needs no state.
"""
from __future__ import annotations

import keras

from .run import random_state, set_random_state

WEIGHTS = "model.weights.h5"


def loop_identity(model, kind: str, *settings) -> list:
    """What a Keras fit starts from, for its checkpoints' identity: the model (architecture and
    weights), its loss, its optimizer's configuration and variables, and the fit's own settings."""
    opt = model.optimizer
    opt_vars = [v.numpy() for v in opt.variables] if opt is not None and opt.built else "not built"
    # Without its name: auto-numbered (adam_1, ...), it depends on what was built before, not on the fit.
    config = {k: v for k, v in opt.get_config().items() if k != "name"} if opt is not None else None
    return [kind, model, str(getattr(model, "loss", None)), config, opt_vars, *settings]


class KerasLoop(keras.callbacks.Callback):
    """The last callback of a fit: it keeps the history of every epoch (restored ones included) and,
    at the end of each epoch its `loop` (a checkpoints.Loop, or None: no checkpoints) says is due and
    at the end of the fit, saves the loop's whole state: weights and optimizer variables
    (model.weights.h5), the epoch, the history, the state of each callback in `tracked` that has a
    get_state (recorders and stops), and the random generators."""

    def __init__(self, loop, tracked, epochs: int, initial_epoch: int = 0):
        super().__init__()
        self.loop, self.epochs = loop, int(epochs)
        self.tracked = [cb for cb in tracked if hasattr(cb, "get_state")]
        self.history: dict[str, list[float]] = {}
        self.done = int(initial_epoch)

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.done = epoch + 1
        if self.loop is None:
            return
        finished = self.done >= self.epochs or bool(self.model.stop_training)
        if finished or self.loop.due(self.done):
            self.save(finished)

    def get_state(self) -> dict:
        return {"epoch": self.done, "history": self.history, "random": random_state(),
                "iterations": int(self.model.optimizer.iterations.numpy()),
                "callbacks": [[type(cb).__name__, cb.get_state()] for cb in self.tracked]}

    def save(self, finished: bool) -> bool:
        return self.loop.save(self.done, self.epochs, self.get_state(), finished,
                              extra=lambda folder: self.model.save_weights(folder / WEIGHTS))

    def restore(self, model) -> tuple[int, bool] | None:
        """Put the newest usable checkpoint into `model` and the tracked callbacks: (its epoch, whether
        the fit had finished), or None when there is none (the fit starts at its own initial epoch)."""
        found = self.loop.restore() if self.loop is not None else None
        if found is None:
            return None
        meta, folder = found
        state = meta["tree"]
        names = [name for name, _ in state["callbacks"]]
        if names != [type(cb).__name__ for cb in self.tracked]:
            raise ValueError(f"{self.loop.label}: the checkpoint holds the callbacks {names}, this fit has "
                             f"{[type(cb).__name__ for cb in self.tracked]}")
        if not model.optimizer.built:  # its variables must exist to be loaded, else Keras skips them
            model.optimizer.build(model.trainable_variables)
        model.load_weights(folder / WEIGHTS)
        if int(model.optimizer.iterations.numpy()) != int(state["iterations"]):
            raise ValueError(f"{self.loop.label}: the optimizer's state was not restored from {folder}")
        for cb, (_, cb_state) in zip(self.tracked, state["callbacks"]):
            cb.set_state(cb_state)
        self.history = {k: [float(v) for v in values] for k, values in state["history"].items()}
        set_random_state(state["random"])
        self.done = int(state["epoch"])
        return self.done, bool(meta["finished"])

