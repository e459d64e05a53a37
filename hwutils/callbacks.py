"""Keras callbacks for what the report records during training: progress, divergence, weight
snapshots, gradient norms, a training-loss target. Used as a Keras user expects:
`model.fit(..., callbacks=[WeightSnapshots(every=3), GradientNorm(x, y)])`."""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from . import backend
from . import progress as _progress
from .objective import flatten


class ProgressBar(keras.callbacks.Callback):
    """A tqdm.auto bar over epochs with the epoch's loss and accuracy (train and validation).

    In JupyterLab it is the notebook's bar (a widget where ipywidgets is installed, else a text bar
    redrawn in place); in a papermill log or a terminal it is a text bar refreshed about `lines`
    times in all, so the log stays readable. Silent when HWUTILS_QUIET or CI is set (or enabled=False).
    """

    KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")

    def __init__(self, label: str = "train", lines: int = 10, enabled: bool | None = None):
        super().__init__()
        self.label, self.lines, self.enabled = label, lines, enabled
        self.bar = None

    def on_train_begin(self, logs=None):
        self.bar = _progress.Progress(self.params.get("epochs") or 1, self.label, lines=self.lines,
                                      enabled=self.enabled, unit="epoch")

    def on_epoch_begin(self, epoch, logs=None):
        if epoch > 0 and self.bar.bar.n == 0:  # a fit started at initial_epoch > 0: a resumed one
            self.bar.resumed(epoch)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        text = " ".join(f"{k} {logs[k]:.4g}" for k in self.KEYS if k in logs)
        self.bar.update(epoch + 1, text)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()


class DivergenceStop(keras.callbacks.Callback):
    """Stops training at the first non-finite loss. Keras reports the running mean of the epoch's
    batch losses after every compiled call (`steps_per_execution` steps), and one NaN or inf batch
    makes that mean non-finite, so the check sees every batch. After fit: `.diverged` (bool) and
    `.epoch` (1-based epoch in which it happened, None when it did not).

    Reading the loss after every compiled call is a host sync per call (on JAX it also keeps Keras from
    dispatching the batch callbacks asynchronously): the price of stopping right after the call that met
    the NaN, deterministically. hwutils' fits run 16 steps per call (training.STEPS_PER_EXECUTION)."""

    def __init__(self, monitor: str = "loss"):
        super().__init__()
        self.monitor = monitor
        self.diverged, self.epoch, self._current = False, None, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current = epoch + 1

    def _check(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is not None and not math.isfinite(float(value)) and not self.diverged:
            self.diverged, self.epoch = True, self._current
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        self._check(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs)

    def get_state(self) -> dict:
        """What a checkpoint keeps of this callback (hwutils.checkpoints); set_state puts it back."""
        return {"diverged": self.diverged, "epoch": self.epoch, "current": self._current}

    def set_state(self, state: dict) -> None:
        self.diverged, self.epoch, self._current = bool(state["diverged"]), state["epoch"], int(state["current"])


class WeightSnapshots(keras.callbacks.Callback):
    """The flat trainable weights θ (float64, `model.trainable_weights` order, as in
    hwutils.measures) before training (epoch 0) and after every `every`-th epoch.

    `.epochs`: [0, k, 2k, ...]; `.weights`: one numpy vector per entry of `.epochs`. Calling fit
    again continues the count (the epoch-0 snapshot is taken once), as Keras's `initial_epoch` does.
    """

    def __init__(self, every: int = 1):
        super().__init__()
        if int(every) < 1:
            raise ValueError(f"every must be a positive number of epochs, got {every}")
        self.every = int(every)
        self.epochs: list[int] = []
        self.weights: list[np.ndarray] = []
        self._done = 0

    def _take(self, epoch: int) -> None:
        self.epochs.append(epoch)
        self.weights.append(flatten([v.numpy() for v in self.model.trainable_weights]))

    def on_train_begin(self, logs=None):
        if not self.epochs:
            self._take(0)

    def on_epoch_end(self, epoch, logs=None):
        self._done += 1
        if self._done % self.every == 0:
            self._take(self._done)

    def stacked(self) -> np.ndarray:
        """The snapshots as one array [len(epochs), P]."""
        return np.stack(self.weights)

    def get_state(self) -> dict:
        """What a checkpoint keeps of this callback (hwutils.checkpoints); set_state puts it back."""
        return {"every": self.every, "epochs": list(self.epochs), "done": self._done,
                "weights": np.stack(self.weights) if self.weights else np.zeros((0, 0))}

    def set_state(self, state: dict) -> None:
        if int(state["every"]) != self.every:
            raise ValueError(f"a WeightSnapshots state of every={state['every']} given to one of every={self.every}")
        self.epochs, self._done = [int(e) for e in state["epochs"]], int(state["done"])
        self.weights = [np.array(w) for w in state["weights"]]


class GradientNorm(keras.callbacks.Callback):
    """Per training iteration: ‖∇θ L‖₂ of the loss on the batch the iteration used, and that loss.

    Both are taken at the weights BEFORE the iteration's update: the gradient the optimizer then
    applies, and the batch loss Keras itself computes in that step. L is hwutils.measures' loss (the
    compiled loss at training=False plus regularisation terms), so `.grad_norms[i]` equals
    `measures.gradient_norm(model, xb, yb)` at the weights before step i, on that step's batch xb, yb.

    The batch is whatever fit fed the step (Keras's own shuffling, any data source): the callback
    instruments the model's train step for the duration of fit (one extra gradient per step,
    `hwutils.backend.record_steps`) and restores it afterwards. Works with any `steps_per_execution`, on
    TensorFlow and JAX: every step's values are kept on the device (TensorFlow: in variables the compiled
    steps write; JAX: returned by each stateless step beside its state) and read at the end of each epoch,
    so the callback forces no host sync per batch. `.grad_norms`, `.losses`: lists of floats, one per
    iteration, across every fit it was used in.
    """

    # Where Keras does not know the steps of an epoch (a generator), TensorFlow's buffer holds this many.
    UNKNOWN_EPOCH_STEPS = 10000

    def __init__(self):
        super().__init__()
        self.grad_norms: list[float] = []
        self.losses: list[float] = []
        self._recorder = None

    def set_params(self, params):
        # After set_model and before Keras builds its train function: the steps of an epoch are known here.
        super().set_params(params)
        if self.model is not None and self._recorder is None:
            self._install(self.model, (params or {}).get("steps") or self.UNKNOWN_EPOCH_STEPS)

    def _install(self, model, capacity: int):
        from .measures import objective
        grad = objective(model)._python["grad"]
        wide = backend.float64_enabled()  # the norm in float64 where the backend has it

        def record(theta, state, data):
            x, y, _ = data
            loss, g = grad(theta, state, x, y)
            g = ops.cast(g, "float64") if wide else g
            return ops.sqrt(ops.sum(g * g)), ops.cast(loss, g.dtype)

        self._recorder = backend.record_steps(model, record, capacity)

    def _read(self):
        if self._recorder is None:
            return
        values = self._recorder.read()
        self.grad_norms.extend(values[:, 0].tolist())
        self.losses.extend(values[:, 1].tolist())

    def on_epoch_end(self, epoch, logs=None):
        self._read()

    def get_state(self) -> dict:
        """What a checkpoint keeps of this callback (hwutils.checkpoints); set_state puts it back. Taken at
        an epoch's end, after the epoch's steps were read."""
        self._read()
        return {"grad_norms": np.array(self.grad_norms, dtype=np.float64), "losses": np.array(self.losses, np.float64)}

    def set_state(self, state: dict) -> None:
        self.grad_norms = [float(v) for v in state["grad_norms"]]
        self.losses = [float(v) for v in state["losses"]]

    def on_train_end(self, logs=None):
        self._read()
        if self._recorder is not None:
            self._recorder.remove()
            self._recorder = None


class LossTarget(keras.callbacks.Callback):
    """Stops training at the end of the first epoch whose training loss is ≤ `target`.

    The epoch's training loss is what Keras logs under `monitor` at the end of the epoch (the
    mean of that epoch's batch losses). After fit: `.reached` (bool), `.epoch` (1-based epoch at
    which the target was reached; the number of epochs trained when it was not), `.steps` (the
    optimizer steps up to then: `optimizer.iterations`), `.loss` (the monitored loss of that epoch).
    Calling fit again continues the count, as Keras's `initial_epoch` does.

    `stop=False` only records when the target was reached and lets training go on (the report's
    fixed-epoch design, marked with the same target). `keep`, a Keras model or layer, keeps a copy
    of its weights at the epoch the target was reached (`.weights`; `restore(model)` puts them into
    a model of the same architecture). `LossTarget.for_members(target, stacked)` watches every
    member of a `models.stacked` model: each member gets its own target epoch and weights, and the
    fit stops when every member has reached the target.
    """

    def __init__(self, target: float | None, monitor: str = "loss", stop: bool = True, keep=None):
        super().__init__()
        self.target = None if target is None else float(target)
        self.monitor, self.stop, self.keep = monitor, bool(stop), keep
        self.reached, self.epoch, self.steps, self.loss, self.weights = False, 0, 0, math.nan, None
        self.peers = [self]  # the fit stops when every peer has reached its target

    @classmethod
    def for_members(cls, target: float | None, stacked, stop: bool = True) -> list["LossTarget"]:
        """One LossTarget per member of a stacked model (monitor `member_<m>_loss`, keeping that
        member's weights); the fit stops when all of them have reached the target."""
        from .models import members
        group = [cls(target, f"member_{m}_loss", stop, keep=stacked.get_layer(f"member_{m}"))
                 for m in range(members(stacked))]
        for callback in group:
            callback.peers = group
        return group

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(f"LossTarget monitors {self.monitor!r}, which fit does not log; it logs {sorted(logs)}")
        if self.reached:
            return
        value = float(logs[self.monitor])
        self.epoch, self.steps, self.loss = self.epoch + 1, int(self.model.optimizer.iterations), value
        if self.target is not None and value <= self.target:  # NaN never reaches a target
            self.reached = True
            if self.keep is not None:
                self.weights = [np.array(w, copy=True) for w in self.keep.get_weights()]
        if self.stop and all(p.reached for p in self.peers):
            self.model.stop_training = True

    def get_state(self) -> dict:
        """What a checkpoint keeps of this callback (hwutils.checkpoints); set_state puts it back."""
        return {"target": self.target, "reached": self.reached, "epoch": self.epoch, "steps": self.steps,
                "loss": self.loss, "weights": None if self.weights is None else list(self.weights)}

    def set_state(self, state: dict) -> None:
        self.reached, self.epoch, self.steps = bool(state["reached"]), int(state["epoch"]), int(state["steps"])
        self.loss = float(state["loss"]) if state["loss"] is not None else math.nan
        self.weights = None if state["weights"] is None else [np.array(w) for w in state["weights"]]

    def restore(self, model) -> None:
        """Give `model` the weights kept when the target was reached (unchanged when it was not)."""
        if self.weights is not None:
            model.set_weights(self.weights)

    @staticmethod
    def members(stacked, group: list["LossTarget"]) -> list:
        """The members of a stacked model trained with `for_members`, each as its own Keras model
        (`models.member`) with the weights of the epoch it reached the target (its last weights when
        it missed the target)."""
        from .models import member
        out = [member(stacked, m) for m in range(len(group))]
        for model, callback in zip(out, group):
            callback.restore(model)
        return out


class AccuracyTarget(keras.callbacks.Callback):
    """Stops training at the end of the first epoch at which every monitored accuracy is ≥ `target`,
    e.g. `AccuracyTarget(0.95, [f"member_{m}_accuracy" for m in range(M)])`: every member of a
    stacked model has fitted its (possibly random) labels. The accuracy is what Keras logs at the
    end of the epoch (the mean over that epoch's batches, as the report's curves show it).

    After fit: `.first[key]`, the 1-based epoch at which `key` first reached the target (None when it
    never did: not fitted within the budget); `.reached`, whether all did; `.epoch`, epochs trained.
    `stop=False` records the epochs and lets training run to its budget.
    """

    def __init__(self, target: float, monitor="accuracy", stop: bool = True):
        super().__init__()
        self.target, self.stop = float(target), bool(stop)
        self.monitor = [monitor] if isinstance(monitor, str) else list(monitor)
        self.first = {key: None for key in self.monitor}
        self.epoch = 0

    @property
    def reached(self) -> bool:
        return all(epoch is not None for epoch in self.first.values())

    def get_state(self) -> dict:
        """What a checkpoint keeps of this callback (hwutils.checkpoints); set_state puts it back."""
        return {"first": dict(self.first), "epoch": self.epoch}

    def set_state(self, state: dict) -> None:
        if set(state["first"]) != set(self.monitor):
            raise ValueError(f"an AccuracyTarget state of {sorted(state['first'])} given to one of {self.monitor}")
        self.first, self.epoch = {k: state["first"][k] for k in self.monitor}, int(state["epoch"])

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epoch += 1
        for key in self.monitor:
            if key not in logs:
                raise KeyError(f"AccuracyTarget monitors {key!r}, which fit does not log; it logs {sorted(logs)}")
            if self.first[key] is None and float(logs[key]) >= self.target:  # NaN never reaches it
                self.first[key] = self.epoch
        if self.stop and self.reached:
            self.model.stop_training = True


class EpochBudget(keras.callbacks.Callback):
    """Stops training at a budget that reference runs set: `factor` × the epoch at which every monitored
    accuracy first reached `threshold` (rounded up), or `cap` epochs when they never do (or sooner than
    that product). The budget depends on the reference runs alone — in 1-3 random labels, the true-label
    run of a seed — so what the other runs reach within it is not settled by the stopping rule, as a rule
    "stop when every run has fitted" would settle "every run fits".

    The monitored value is what Keras logs at the end of the epoch (the running mean over the epoch's
    batches). After fit: `.reference_epoch` (1-based; None when never reached), `.budget` (the epochs the fit
    was allowed), `.epoch` (epochs trained).
    """

    def __init__(self, factor: float, threshold: float, monitor, cap: int):
        super().__init__()
        if factor < 1:
            raise ValueError(f"the budget factor must be at least 1, got {factor}")
        self.factor, self.threshold, self.cap = float(factor), float(threshold), int(cap)
        self.monitor = [monitor] if isinstance(monitor, str) else list(monitor)
        self.reference_epoch, self.budget, self.epoch = None, self.cap, 0

    def get_state(self) -> dict:
        """What a checkpoint keeps of this callback (hwutils.checkpoints); set_state puts it back."""
        return {"reference_epoch": self.reference_epoch, "budget": self.budget, "epoch": self.epoch}

    def set_state(self, state: dict) -> None:
        self.reference_epoch = None if state["reference_epoch"] is None else int(state["reference_epoch"])
        self.budget, self.epoch = int(state["budget"]), int(state["epoch"])

    def on_train_begin(self, logs=None):
        if self.epoch >= self.budget:  # resumed after the budget was spent: nothing left to train
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epoch += 1
        missing = [k for k in self.monitor if k not in logs]
        if missing:
            raise KeyError(f"EpochBudget monitors {missing}, which fit does not log; it logs {sorted(logs)}")
        if self.reference_epoch is None and all(float(logs[k]) >= self.threshold for k in self.monitor):
            self.reference_epoch = self.epoch
            self.budget = min(self.cap, math.ceil(self.factor * self.epoch))
        if self.epoch >= self.budget:
            self.model.stop_training = True
