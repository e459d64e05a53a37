"""hwutils.vectorized, member_layers, member_fit: M seeds of one CNN as one model with a member axis.

The oracle is the member trained alone: the same Keras model from the same initial weights, fitted by
training.fit on the batch order member_fit gives it. Tolerance: over 12 optimizer steps (3 epochs of
4 batches, learning rate 1e-2, large enough that the weights move by more than 1e-3), every weight
within 1e-5 relative + 5e-6 absolute (Adam moves a weight by up to 1e-2 a step), and the per-epoch
losses within 1e-5 relative: the arithmetic is the same, only its reduction order differs (a batched
matmul against a convolution; JAX's reductions against TensorFlow's)."""
import keras
import numpy as np
import pytest

from hwutils import callbacks, checkpoints as ckpt, member_fit, member_layers, models, precision, training
from hwutils import vectorized

RTOL, ATOL, STEPS_EPOCHS = 1e-5, 5e-6, 3


def _data(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 8, 8, 1)).astype("float32"), rng.integers(0, 10, n)


def _cnn():  # two convolutions (shared and per-member inputs; an even kernel's "same" pads unevenly), pooling, dense
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(3, 3, activation="relu"),
                             keras.layers.Conv2D(4, 2, activation="relu", padding="same"),
                             keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
                             keras.layers.Dense(6, activation="relu"), keras.layers.Dense(10, activation="softmax")])


def _nets(members=3, seed=0, build=_cnn):
    keras.utils.set_random_seed(seed)
    return [build() for _ in range(members)]


def _vectorised(nets, optimizer="adam", lr=1e-2, **kwargs):
    return vectorized.from_models([models.copy(n) for n in nets], loss="sparse_categorical_crossentropy",
                                  optimizer=training.optimizer(optimizer, lr), metrics=["accuracy"],
                                  steps_per_execution=2, **kwargs)


def _alone(net, optimizer, lr, train, test, order_seed):
    alone = models.copy(net)
    alone.compile(optimizer=training.optimizer(optimizer, lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return alone, training.fit(alone, train, test, STEPS_EPOCHS, 16, order_seed=order_seed, verbose=False)


def _assert_follows(model, m, alone, h_vec, h_alone, start):
    trained = vectorized.member(model, m).get_weights()
    moved = max(np.abs(w1 - w0).max() for w1, w0 in zip(trained, start))
    assert moved > 1e-3, "the weights must have moved for the comparison to mean anything"
    for w_vec, w_alone in zip(trained, alone.get_weights()):
        np.testing.assert_allclose(w_vec, w_alone, rtol=RTOL, atol=ATOL)
    for key in ("train_loss", "test_loss"):
        np.testing.assert_allclose(h_vec[key], h_alone[key], rtol=RTOL)
    np.testing.assert_allclose(h_vec["test_accuracy"], h_alone["test_accuracy"])


CONV_METHODS = ["patches", "loop", "grouped"]


@pytest.mark.parametrize("method", CONV_METHODS)
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_each_member_follows_its_own_trajectory_on_its_own_order_and_labels(method, optimizer, monkeypatch):
    """Member m (its own batch order, its own labels) ends where the same model fitted alone ends."""
    monkeypatch.setenv("HWUTILS_MEMBER_CONV", method)
    x, y = _data()
    labels = [y, (y + 3) % 10, np.random.default_rng(5).permutation(y)]
    nets = _nets()
    # TensorFlow runs grouped convolutions on a CPU only under XLA.
    model = _vectorised(nets, optimizer, jit_compile=True if method == "grouped" else None)
    hist = member_fit.fit(model, (x, labels), (x[:20], y[:20]), STEPS_EPOCHS, 16, order_seed=[4, 5, 6], verbose=False)
    for m, net in enumerate(nets):
        alone, h = _alone(net, optimizer, 1e-2, (x, labels[m]), (x[:20], y[:20]), 4 + m)
        _assert_follows(model, m, alone, hist[m], h, net.get_weights())


def _mlp():  # a dense first layer: on a shared batch one matmul with M·O columns
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(6, activation="tanh"),
                             keras.layers.Dense(10, activation="softmax")])


def test_a_dense_first_layer_on_a_shared_batch_follows_each_member_alone():
    """Shared batches into a Flatten and a Dense (the shared-input matmul, every member's columns side by side):
    each member ends where it ends fitted alone on the same order."""
    x, y = _data()
    nets = _nets(3, build=_mlp)
    model = _vectorised(nets)
    hist = member_fit.fit(model, (x, y), (x[:20], y[:20]), STEPS_EPOCHS, 16, order_seed=7, verbose=False)
    for m, net in enumerate(nets):
        alone, h = _alone(net, "adam", 1e-2, (x, y), (x[:20], y[:20]), 7)
        _assert_follows(model, m, alone, hist[m], h, net.get_weights())


def test_shared_order_members_match_the_stacked_model():
    """One order for all: the first layer computes every member from one batch, and each member ends where
    the same member of a models.stacked model ends (the same batches)."""
    x, y = _data()
    nets = _nets()
    model = _vectorised(nets)
    hist = member_fit.fit(model, (x, y), (x, y), STEPS_EPOCHS, 16, order_seed=9, verbose=False)
    st = models.stacked([lambda n=n: models.copy(n) for n in nets], loss="sparse_categorical_crossentropy",
                        optimizer=keras.optimizers.Adam(1e-2), metrics=["accuracy"])
    h_st = training.fit_stacked(st, (x, y), (x, y), STEPS_EPOCHS, 16, order_seed=9, verbose=False)
    for m in range(3):
        for a, b in zip(vectorized.member(model, m).get_weights(), models.member(st, m).get_weights()):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
        # Not the losses: a stacked model's per-output loss metric counts each batch once, the smaller last
        # batch as much as a full one; member_fit's weighs each sample once, as a model fitted alone does.
        for key in ("train_accuracy", "test_accuracy"):
            np.testing.assert_allclose(hist[m][key], h_st[m][key], rtol=RTOL)


def test_stacked_builds_the_members_models_stacked_would_build():
    build = lambda: models.conv_dense((8, 8, 1), 3, [5], pool=2)  # noqa: E731
    keras.utils.set_random_seed(3)
    vec = vectorized.stacked(build, 4)
    keras.utils.set_random_seed(3)
    st = models.stacked(build, 4)
    for m in range(4):
        for a, b in zip(vectorized.member(vec, m).get_weights(), models.member(st, m).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_data_fed_from_the_host_gives_the_results_of_data_on_the_device(monkeypatch):
    x, y = _data()
    nets = _nets(2)
    on_device = _vectorised(nets)
    h1 = member_fit.fit(on_device, (x, y), None, 2, 16, order_seed=[1, 2], verbose=False)
    monkeypatch.setenv("HWUTILS_DEVICE_DATA_MB", "0")
    assert not member_fit.fits_on_device(x)
    fed = _vectorised(nets)
    h2 = member_fit.fit(fed, (x, y), None, 2, 16, order_seed=[1, 2], verbose=False)
    for a, b in zip(on_device.get_weights(), fed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert h1 == h2


def test_member_is_a_float32_copy_that_predicts_what_the_model_predicts():
    x, _ = _data(7)
    nets = _nets(3)
    model = _vectorised(nets, precision="mixed_bfloat16")
    assert model.stack[0].compute_dtype == "bfloat16" and model.stack[0].kernel.dtype == "float32"
    full = _vectorised(nets)
    alone = vectorized.member(full, 1)
    assert all(layer.compute_dtype == "float32" for layer in vectorized.member(model, 1).layers)
    np.testing.assert_allclose(alone.predict(x, verbose=0), full.predict(x, verbose=0)[:, 1], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(nets[1].predict(x, verbose=0), alone.predict(x, verbose=0), rtol=1e-5, atol=1e-7)
    # bfloat16 activations: the same predictions to bfloat16's precision (8 bits of mantissa)
    np.testing.assert_allclose(model.predict(x, verbose=0), full.predict(x, verbose=0), atol=3e-2)
    alone.set_weights([w + 1 for w in alone.get_weights()])
    assert not np.allclose(alone.get_weights()[0], vectorized.member_weights(full, 1)[0])
    assert alone.loss == "sparse_categorical_crossentropy" and alone.optimizer is not full.optimizer


def test_other_architectures_and_layers_are_refused():
    keras.utils.set_random_seed(0)
    with pytest.raises(ValueError, match="another architecture"):
        vectorized.from_models([_cnn(), models.conv_dense((8, 8, 1), 3, [6])])
    odd = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(3, 3, strides=2), keras.layers.Flatten(),
                            keras.layers.Dense(10)])
    with pytest.raises(ValueError, match="stride-1"):
        vectorized.from_models([odd])
    drop = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="Dropout has no member-axis version"):
        vectorized.from_models([drop])
    for extra in ({"kernel_regularizer": "l2"}, {"activity_regularizer": "l1"}, {"kernel_constraint": "non_neg"}):
        kept = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(3, 3, **extra), keras.layers.Flatten(),
                                 keras.layers.Dense(10)])
        with pytest.raises(ValueError, match=next(iter(extra))):  # not trained without it, silently
            vectorized.from_models([kept])
        dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, **extra)])
        with pytest.raises(ValueError, match=next(iter(extra))):
            vectorized.from_models([dense])
    with pytest.raises(ValueError, match="order seeds"):
        member_fit.fit(_vectorised(_nets(2)), _data(), None, 1, 16, order_seed=[1, 2, 3], verbose=False)


def test_a_diverged_member_is_recorded_and_leaves_the_others_alone():
    x, y = _data()
    nets = _nets(2)
    model = _vectorised(nets)
    bad = vectorized.member_weights(model, 0)
    bad[-1] = np.full_like(bad[-1], np.nan)  # the output bias
    vectorized.set_member(model, 0, bad)
    hist = member_fit.fit(model, (x, y), None, 2, 16, order_seed=[0, 1], verbose=False)
    assert hist[0]["diverged"] and hist[0]["diverged_epoch"] == 1 and hist[0]["epochs"] == 0
    assert not hist[1]["diverged"] and hist[1]["epochs"] == 2
    alone = models.copy(nets[1])
    training.compile_classifier(alone, "adam", 1e-2)
    h = training.fit(alone, (x, y), None, 2, 16, order_seed=1, verbose=False)
    np.testing.assert_allclose(hist[1]["train_loss"], h["train_loss"], rtol=RTOL)


def test_loss_targets_keep_each_members_weights_at_its_own_target_epoch():
    x, y = _data()
    nets = _nets(2)
    model = _vectorised(nets)
    group = vectorized.loss_targets(model, 2.2, stop=True)
    member_fit.fit(model, (x, y), None, 30, 16, order_seed=[0, 1], verbose=False, callbacks=group)
    for m, stop in enumerate(group):
        assert stop.reached
        alone = models.copy(nets[m])
        training.compile_classifier(alone, "adam", 1e-2)
        one = callbacks.LossTarget(2.2, keep=alone)
        training.fit(alone, (x, y), None, 30, 16, order_seed=m, verbose=False, callbacks=[one])
        assert (stop.epoch, stop.steps) == (one.epoch, one.steps)
        for a, b in zip(stop.weights, one.weights):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    assert max(s.epoch for s in group) == len(model.history.history["loss"])  # stopped when the last got there


class Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == 3:
            raise KeyboardInterrupt("interrupted in epoch 3")


def _resumable(folder, extra=()):
    x, y = _data()
    model = _vectorised(_nets(2))
    targets = vectorized.loss_targets(model, 2.25, stop=False)
    fitted = callbacks.AccuracyTarget(0.3, ["member_0_accuracy", "member_1_accuracy"], stop=False)
    hist = member_fit.fit(model, (x, [y, 9 - y]), (x, y), 5, 16, order_seed=[3, 4], verbose=False,
                          callbacks=[*targets, fitted, *extra], checkpoints=ckpt.Checkpoints(folder, every=1))
    return {"weights": model.get_weights(), "optimizer": [v.numpy() for v in model.optimizer.variables],
            "history": hist, "targets": [(t.epoch, t.steps, t.weights) for t in targets], "fitted": fitted.first}


def test_an_interrupted_fit_resumes_bit_identical(tmp_path, capsys):
    from tests.resume_loops import same
    whole = _resumable(tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        _resumable(tmp_path / "cut", [Interrupt()])
    capsys.readouterr()
    again = _resumable(tmp_path / "cut")
    assert "resumed at epoch 2 of 5" in capsys.readouterr().out
    assert same(again, whole) == []
    assert same(_resumable(tmp_path / "cut"), whole) == []  # finished: restored, not trained again
    assert "finished in an earlier run" in capsys.readouterr().out


def test_conv_method_follows_backend_device_and_size(monkeypatch):
    monkeypatch.delenv("HWUTILS_MEMBER_CONV", raising=False)
    small, large = member_layers.conv_method(1_300), member_layers.conv_method(295_000)
    if precision.accelerator() is not None:
        assert small == large == "grouped"
    elif keras.backend.backend() == "tensorflow":
        assert (small, large) == ("patches", "loop")
    else:
        assert small == large == "patches"
    monkeypatch.setenv("HWUTILS_MEMBER_CONV", "loop")
    assert member_layers.conv_method(36) == "loop"


def test_precision_is_checked_and_tf32_turned_off():
    with pytest.raises(ValueError, match="precision must be one of"):
        precision.check("float16")
    with precision.policy("float32"):
        assert keras.config.dtype_policy().name == "float32"
    precision.full_float32_matmuls()
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        assert not tf.config.experimental.tensor_float_32_execution_enabled()
    else:
        import jax
        assert jax.config.jax_default_matmul_precision == "highest"
