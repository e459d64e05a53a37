"""hwutils.landscape: interpolation, filter-normalised directions, surfaces, noise curve, PCA."""
import keras
import numpy as np
import pytest

from hwutils import landscape
from hwutils.objective import Objective
from tests.helpers import mlp64, regression_data


def classifier(seed, batchnorm=False):
    keras.utils.set_random_seed(seed)
    layers = [keras.layers.Dense(6, activation="relu")]
    if batchnorm:
        layers.append(keras.layers.BatchNormalization())
    layers.append(keras.layers.Dense(3, activation="softmax"))
    model = keras.Sequential([keras.Input((4,)), *layers])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def cls_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64") + (x[:, 1] > 1).astype("int64")


def test_alpha_grid_has_zero_and_one_exactly():
    for points in (7, 10, 31, 61):
        grid = landscape.alpha_grid(points)
        assert 0.0 in grid and 1.0 in grid and grid[0] == -1.0 and grid[-1] == 2.0


def test_interpolate_endpoints_equal_evaluate_and_inputs_unchanged(cls_data):
    x, y = cls_data
    a, b = classifier(1), classifier(2)
    a.fit(x, y, epochs=3, verbose=0)
    wa, wb = [w.copy() for w in a.get_weights()], [w.copy() for w in b.get_weights()]
    out = landscape.interpolate(a, b, [0.0, 0.5, 1.0], {"train": (x, y)})
    for i, model in ((0, a), (2, b)):
        ref = model.evaluate(x, y, verbose=0, return_dict=True)
        assert out["train_loss"][i] == pytest.approx(ref["loss"], rel=1e-5)
        assert out["train_accuracy"][i] == pytest.approx(ref["accuracy"])
    for before, after in zip(wa + wb, a.get_weights() + b.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_interpolate_mixes_batch_norm_statistics(cls_data):
    x, y = cls_data
    a, b = classifier(1, batchnorm=True), classifier(2, batchnorm=True)
    a.fit(x, y, epochs=2, verbose=0)
    b.fit(3 * x + 1, y, epochs=2, verbose=0)  # different moving statistics
    out = landscape.interpolate(a, b, [0.5], {"train": (x, y)})
    half = keras.models.clone_model(a)
    half.set_weights([(u + v) / 2 for u, v in zip(a.get_weights(), b.get_weights())])
    half.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert out["train_loss"][0] == pytest.approx(half.evaluate(x, y, verbose=0, return_dict=True)["loss"], rel=1e-5)
    # Interpolating only the trainable weights would give another loss: the test can fail.
    trainable_only = keras.models.clone_model(a)
    trainable_only.set_weights(a.get_weights())
    for var, u, v in zip(trainable_only.trainable_weights, a.trainable_weights, b.trainable_weights):
        var.assign((u.numpy() + v.numpy()) / 2)
    trainable_only.compile(loss="sparse_categorical_crossentropy")
    assert abs(trainable_only.evaluate(x, y, verbose=0, return_dict=True)["loss"] - out["train_loss"][0]) > 1e-4


def test_filter_normalized_direction_matches_filter_norms_and_zeroes_biases():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                              keras.layers.Dense(5)])
    d = landscape.filter_normalized_direction(model, seed=3)
    for w, di in zip(model.trainable_weights, d):
        w = w.numpy()
        assert di.shape == w.shape
        if w.ndim == 1:
            assert not di.any()
        else:
            axes = tuple(range(w.ndim - 1))
            np.testing.assert_allclose(np.linalg.norm(di.reshape(-1, w.shape[-1]), axis=0),
                                       np.sqrt((w ** 2).sum(axis=axes)), rtol=1e-6)


def test_surface_at_origin_is_the_trained_loss_and_weights_restored():
    model = mlp64((3, 4, 2))
    x, y = regression_data()
    before = model.get_weights()
    d = landscape.filter_normalized_direction(model, seed=0)
    line = landscape.surface_1d(model, x, y, d, [-0.5, 0.0, 0.5])
    assert line["loss"][1] == pytest.approx(Objective(model).loss(x, y), rel=1e-12)
    plane = landscape.surface_2d(model, x, y, d, landscape.filter_normalized_direction(model, seed=1), [-1, 0, 1])
    assert plane["loss"][1][1] == pytest.approx(line["loss"][1], rel=1e-12)
    for u, v in zip(before, model.get_weights()):
        np.testing.assert_array_equal(u, v)


def test_filter_normalisation_removes_relu_scale_symmetry():
    model = mlp64((3, 5, 2), activation="relu")
    x, y = regression_data()
    scaled = mlp64((3, 5, 2), activation="relu")
    k1, b1, k2, b2 = model.get_weights()
    c = 7.0
    scaled.set_weights([c * k1, c * b1, k2 / c, b2])  # the same function
    curve = landscape.surface_1d(model, x, y, landscape.filter_normalized_direction(model, 0), 9)
    curve_scaled = landscape.surface_1d(scaled, x, y, landscape.filter_normalized_direction(scaled, 0), 9)
    np.testing.assert_allclose(curve_scaled["loss"], curve["loss"], rtol=1e-9)
    # Without the normalisation the two curves differ: the test can fail.
    raw = [np.random.default_rng(0).standard_normal(w.shape) for w in model.get_weights()]
    plain = landscape.surface_1d(model, x, y, raw, 9)["loss"]
    plain_scaled = landscape.surface_1d(scaled, x, y, raw, 9)["loss"]
    assert not np.allclose(plain, plain_scaled, rtol=1e-3)


def test_perturbation_curve_restarts_from_the_trained_weights():
    model = mlp64((3, 4, 2))
    x, y = regression_data()
    before = model.get_weights()
    trained = Objective(model).loss(x, y)
    curve = landscape.perturbation_curve(model, x, y, [0.0, 0.3, 0.0], samples=4, seed=0)
    assert curve["mean_loss"][0] == pytest.approx(trained, rel=1e-12)
    assert curve["std_loss"][0] == 0.0
    assert curve["mean_loss"][1] != pytest.approx(trained, rel=1e-3)
    # σ = 0 after noisy draws is the trained loss again: draws never build on earlier draws.
    assert curve["mean_loss"][2] == pytest.approx(trained, rel=1e-12)
    for u, v in zip(before, model.get_weights()):
        np.testing.assert_array_equal(u, v)


def test_pca_projections_are_centred_and_match_the_explained_variance():
    rng = np.random.default_rng(0)
    path = np.cumsum(rng.standard_normal((20, 50)) * np.linspace(3, 0.1, 50), axis=0) + 5.0
    pca = landscape.pca_directions(path, k=2)
    proj = pca["projections"]
    np.testing.assert_allclose(proj.mean(axis=0), 0, atol=1e-9)
    total = ((path - path.mean(0)) ** 2).sum()
    np.testing.assert_allclose((proj ** 2).sum(axis=0) / total, pca["explained_variance_ratio"], rtol=1e-10)
    np.testing.assert_allclose(proj, (path - pca["mean"]) @ pca["components"].T)
    assert not np.allclose(proj, path[:, :2])
