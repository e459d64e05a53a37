"""Each callback against an independent computation."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from hwutils import callbacks, measures, training
from hwutils.objective import flatten


def _data(n=50, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype("float32")
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int32")


def _model(seed=0, steps_per_execution=1, optimizer=None):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5, activation="tanh"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=optimizer or keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
                  steps_per_execution=steps_per_execution)
    return model


def _theta(model):
    return flatten([v.numpy() for v in model.trainable_weights])


def test_weight_snapshots_equal_the_weights_after_those_epochs():
    x, y = _data()
    a = _model(steps_per_execution=4)
    snaps = callbacks.WeightSnapshots(every=3)
    a.fit(x, y, batch_size=8, epochs=7, shuffle=False, verbose=0, callbacks=[snaps])
    b = _model(steps_per_execution=4)  # the same initial weights; trained epoch by epoch, one fit each
    expected = {0: _theta(b)}
    for epoch in range(1, 8):
        b.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        expected[epoch] = _theta(b)
    assert snaps.epochs == [0, 3, 6]
    assert len(snaps.weights) == 3 and snaps.stacked().shape == (3, len(expected[0]))
    for epoch, theta in zip(snaps.epochs, snaps.weights):
        np.testing.assert_allclose(theta, expected[epoch], rtol=1e-5, atol=1e-6)
    assert not np.allclose(expected[3], expected[6])  # the snapshots differ, so the comparison means something


def test_weight_snapshots_reject_a_non_positive_period():
    with pytest.raises(ValueError):
        callbacks.WeightSnapshots(every=0)


class _WeightsBeforeEachStep(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.thetas = []

    def on_train_batch_begin(self, batch, logs=None):
        _sync(self.model)
        self.thetas.append(_theta(self.model))


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_gradient_norm_equals_the_measure_on_the_same_batch_before_the_update(steps_per_execution):
    x, y = _data(n=50)
    batch, epochs = 16, 2  # 4 steps per epoch, the last one of 2 points
    model = _model(steps_per_execution=steps_per_execution, optimizer=keras.optimizers.SGD(0.5))
    recorder = callbacks.GradientNorm()
    model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=False, verbose=0, callbacks=[recorder])
    # Independent replay: the same model one step per call, its weights read before every step.
    replay = _model(steps_per_execution=1, optimizer=keras.optimizers.SGD(0.5))
    before = _WeightsBeforeEachStep()
    replay.fit(x, y, batch_size=batch, epochs=epochs, shuffle=False, verbose=0, callbacks=[before])
    probe = _model()
    obj = measures.objective(probe)
    steps = -(-len(x) // batch)
    assert len(recorder.grad_norms) == len(recorder.losses) == steps * epochs == len(before.thetas)
    for i, theta in enumerate(before.thetas):
        obj.set_flat(theta)
        xb, yb = x[(i % steps) * batch:(i % steps + 1) * batch], y[(i % steps) * batch:(i % steps + 1) * batch]
        assert recorder.grad_norms[i] == pytest.approx(measures.gradient_norm(probe, xb, yb), rel=1e-4)
        assert recorder.losses[i] == pytest.approx(obj.loss(xb, yb), rel=1e-5)
    assert np.ptp(recorder.grad_norms) > 0.01 * np.mean(recorder.grad_norms)


def test_gradient_norm_leaves_the_model_as_it_was():
    x, y = _data()
    model = _model()
    recorder = callbacks.GradientNorm()
    model.fit(x, y, batch_size=10, epochs=2, verbose=0, callbacks=[recorder])  # Keras's own shuffling
    assert len(recorder.grad_norms) == 10 and np.all(np.isfinite(recorder.grad_norms))
    assert "train_step" not in model.__dict__
    model.fit(x, y, batch_size=10, epochs=1, verbose=0)
    assert len(recorder.grad_norms) == 10  # no longer recording


class _PlantNaN(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch + 1 == self.at_epoch:
            w = self.model.trainable_weights[0]
            w.assign(np.full(w.shape, np.nan, dtype="float32"))


def test_divergence_stop_stops_on_a_planted_nan():
    x, y = _data()
    model = _model(steps_per_execution=2)
    stop = callbacks.DivergenceStop()
    hist = model.fit(x, y, batch_size=10, epochs=8, verbose=0, callbacks=[_PlantNaN(3), stop])
    assert stop.diverged and stop.epoch == 3
    assert len(hist.history["loss"]) == 3 and np.all(np.isfinite(hist.history["loss"][:2]))
    clean = callbacks.DivergenceStop()
    hist = _model().fit(x, y, batch_size=10, epochs=8, verbose=0, callbacks=[clean])
    assert not clean.diverged and clean.epoch is None and len(hist.history["loss"]) == 8


def test_training_fit_records_divergence_and_drops_the_bad_epoch():
    x, y = _data()
    with pytest.warns(UserWarning, match="diverged"):
        out = training.fit(_model(), (x, y), epochs=6, batch_size=10, callbacks=[_PlantNaN(4)])
    assert out["diverged"] and out["diverged_epoch"] == 4 and out["epochs"] == 3 == len(out["train_loss"])


def test_progress_bar_shows_the_epochs_and_is_silent_when_quiet(capsys, monkeypatch):
    x, y = _data()
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("HWUTILS_QUIET", raising=False)
    _model().fit(x, y, batch_size=10, epochs=4, verbose=0, callbacks=[callbacks.ProgressBar("bar-label")])
    out = capsys.readouterr().out
    assert "bar-label" in out and "4/4" in out and "loss" in out
    monkeypatch.setenv("HWUTILS_QUIET", "1")
    _model().fit(x, y, batch_size=10, epochs=4, verbose=0, callbacks=[callbacks.ProgressBar("bar-label")])
    assert "bar-label" not in capsys.readouterr().out + capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- LossTarget
def _first_epoch_at_or_below(losses, target):
    """1-based index of the first loss ≤ target, counted independently of the callback."""
    hits = [i + 1 for i, v in enumerate(losses) if v <= target]
    return hits[0] if hits else None


@pytest.mark.parametrize("steps_per_execution", [1, 3])
def test_loss_target_stops_at_the_first_epoch_at_or_below_the_target(steps_per_execution):
    x, y = _data()
    batch = 8  # 50 points: 7 steps per epoch, the last one short
    reference = _model(steps_per_execution=steps_per_execution)
    losses = reference.fit(x, y, batch_size=batch, epochs=12, shuffle=False, verbose=0).history["loss"]
    target = float(losses[5])  # exactly a logged value: "≤" must stop at it, "<" would not
    expected = _first_epoch_at_or_below(losses, target)
    assert 1 < expected < 12
    model = _model(steps_per_execution=steps_per_execution)
    stop = callbacks.LossTarget(target)
    hist = model.fit(x, y, batch_size=batch, epochs=12, shuffle=False, verbose=0, callbacks=[stop])
    assert stop.reached and stop.epoch == expected == len(hist.history["loss"])
    assert stop.steps == expected * int(np.ceil(len(x) / batch))
    assert stop.loss == pytest.approx(losses[expected - 1], rel=1e-5)
    again = _model(steps_per_execution=steps_per_execution)  # the stopped weights are those after that epoch
    again.fit(x, y, batch_size=batch, epochs=expected, shuffle=False, verbose=0)
    np.testing.assert_allclose(_theta(model), _theta(again), rtol=1e-5, atol=1e-6)


def test_loss_target_missed_runs_to_the_cap_and_says_so():
    x, y = _data()
    stop = callbacks.LossTarget(1e-9)
    hist = _model().fit(x, y, batch_size=16, epochs=5, verbose=0, callbacks=[stop])
    assert not stop.reached and stop.epoch == 5 == len(hist.history["loss"]) and stop.steps == 5 * 4
    assert stop.loss == pytest.approx(hist.history["loss"][-1])
    record = callbacks.LossTarget(1e9, stop=False)  # reached in epoch 1, but only recorded
    hist = _model().fit(x, y, batch_size=16, epochs=5, verbose=0, callbacks=[record])
    assert record.reached and record.epoch == 1 and record.steps == 4 and len(hist.history["loss"]) == 5
    with pytest.raises(KeyError, match="val_loss"):
        _model().fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[callbacks.LossTarget(0.1, "val_loss")])


def test_loss_target_for_members_keeps_each_members_weights_at_its_own_target_epoch():
    from hwutils import models
    x, y = _data(n=60)

    def stacked():
        keras.utils.set_random_seed(3)
        return models.stacked(lambda: keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"),
                                                        keras.layers.Dense(2, activation="softmax")]),
                              3, loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(0.05))

    free = stacked()  # the independent count: every member's loss and weights after every epoch
    snaps = [callbacks.WeightSnapshots(every=1) for _ in range(3)]
    for m, snap in enumerate(snaps):
        snap.set_model(free.get_layer(f"member_{m}"))
    h = free.fit(x, [y] * 3, batch_size=12, epochs=15, shuffle=False, verbose=0,
                 callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: [s._take(e + 1) for s in snaps])])
    losses = [h.history[f"member_{m}_loss"] for m in range(3)]
    target = float(np.median([v for l in losses for v in l[2:10]]))
    expected = [_first_epoch_at_or_below(l, target) for l in losses]
    assert all(e is not None for e in expected) and len(set(expected)) > 1  # members reach it at different times
    net = stacked()
    group = callbacks.LossTarget.for_members(target, net)
    hist = net.fit(x, [y] * 3, batch_size=12, epochs=15, shuffle=False, verbose=0, callbacks=group)
    assert len(hist.history["loss"]) == max(expected)  # stopped when the last member got there
    for m, stop in enumerate(group):
        assert stop.reached and stop.epoch == expected[m] and stop.steps == expected[m] * 5
        after = snaps[m].weights[snaps[m].epochs.index(expected[m])]  # weights after that epoch
        np.testing.assert_allclose(flatten(stop.weights), after, rtol=1e-5, atol=1e-6)
        alone = callbacks.LossTarget.members(net, group)[m]  # its own model, at its own target epoch
        np.testing.assert_allclose(_theta(alone), after, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ AccuracyTarget (1-3 random labels)
def test_accuracy_target_records_each_members_first_epoch_and_stops_when_all_fitted():
    from hwutils import models
    x, y = _data(n=60)
    rng = np.random.default_rng(1)
    labels = [y, rng.permutation(y), y]  # member 1 on permuted labels: it fits them later

    def stacked():
        keras.utils.set_random_seed(3)
        return models.stacked(lambda: keras.Sequential([keras.Input((3,)), keras.layers.Dense(16, activation="tanh"),
                                                        keras.layers.Dense(2, activation="softmax")]),
                              3, loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(0.05),
                              metrics=["accuracy"])

    free = stacked().fit(x, labels, batch_size=12, epochs=40, shuffle=False, verbose=0).history
    accs = [free[f"member_{m}_accuracy"] for m in range(3)]
    target = min(max(acc) for acc in accs)  # every member gets there, some later than others
    expected = [next((e + 1 for e, a in enumerate(acc) if a >= target), None) for acc in accs]
    assert all(e is not None for e in expected) and len(set(expected)) > 1, expected
    keys = [f"member_{m}_accuracy" for m in range(3)]
    stop = callbacks.AccuracyTarget(target, keys)
    hist = stacked().fit(x, labels, batch_size=12, epochs=40, shuffle=False, verbose=0, callbacks=[stop])
    assert stop.reached and [stop.first[k] for k in keys] == expected
    assert len(hist.history["loss"]) == stop.epoch == max(expected)  # stopped when the last one got there

    never = callbacks.AccuracyTarget(1.01, keys[0])  # unreachable: runs the budget, records None
    stacked().fit(x, labels, batch_size=12, epochs=3, shuffle=False, verbose=0, callbacks=[never])
    assert never.first == {keys[0]: None} and not never.reached and never.epoch == 3
    with pytest.raises(KeyError, match="does not log"):
        stacked().fit(x, labels, batch_size=12, epochs=1, verbose=0, callbacks=[callbacks.AccuracyTarget(0.5, "acc")])


def test_evaluate_snapshots_scores_each_snapshot_and_restores_the_weights():
    x, y = _data()
    model = _model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    snaps = callbacks.WeightSnapshots(every=2)
    model.fit(x, y, batch_size=10, epochs=4, verbose=0, callbacks=[snaps])
    final = _theta(model)
    scores = training.evaluate_snapshots(model, snaps.weights[:2], x, y)  # epochs 0 and 2, not the final weights
    np.testing.assert_array_equal(_theta(model), final)
    for theta, score in zip(snaps.weights[:2], scores):
        probe = _model()
        probe.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        measures.objective(probe).set_flat(theta)
        expected = probe.evaluate(x, y, verbose=0, return_dict=True)
        assert score["loss"] == pytest.approx(expected["loss"], rel=1e-5)
        assert score["accuracy"] == pytest.approx(expected["accuracy"])
    assert scores[0]["loss"] != pytest.approx(scores[-1]["loss"], rel=1e-3)


def test_weight_snapshots_continue_across_two_fits():
    """Fit twice with one WeightSnapshots: the epoch-0 snapshot is taken once and the count goes on, so the
    snapshots of 2 + 3 epochs at every 2 are those after epochs 0, 2 and 4 of one training."""
    x, y = _data()
    a = _model()
    snaps = callbacks.WeightSnapshots(every=2)
    a.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0, callbacks=[snaps])
    a.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=0, callbacks=[snaps])
    b = _model()
    expected = {0: _theta(b)}
    for epoch in range(1, 6):
        b.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0)
        expected[epoch] = _theta(b)
    assert snaps.epochs == [0, 2, 4]
    for epoch, theta in zip(snaps.epochs, snaps.weights):
        np.testing.assert_allclose(theta, expected[epoch], rtol=1e-5, atol=1e-6)


def _sync(model):
    """Within an epoch JAX's fit holds the weights in its own state: a callback that reads or writes them
    mid-epoch syncs them first (the next step then starts from the variables)."""
    if hasattr(model, "jax_state_sync"):
        model.jax_state_sync()


class _PlantNaNAtBatch(keras.callbacks.Callback):
    """NaN into the first kernel before batch `batch` of epoch `epoch` (both 0-based)."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            _sync(self.model)
            w = self.model.trainable_weights[0]
            w.assign(np.full(w.shape, np.nan, dtype="float32"))


def test_divergence_stop_stops_within_the_epoch():
    """A NaN planted at batch 1 of epoch 2 (of 5 batches an epoch): training stops in that epoch, after the
    batch that met it, not at the end of the epoch or later."""
    x, y = _data()
    model = _model()
    stop = callbacks.DivergenceStop()
    model.fit(x, y, batch_size=10, epochs=6, verbose=0, shuffle=False, callbacks=[_PlantNaNAtBatch(2, 1), stop])
    assert stop.diverged and stop.epoch == 3
    assert int(model.optimizer.iterations) == 2 * 5 + 2  # two whole epochs, then batches 0 and 1 of the third
