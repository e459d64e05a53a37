"""hwutils.measures against exact oracles: finite differences in float64, closed forms, eigh."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from hwutils import measures
from hwutils.objective import Objective
from tests.helpers import fd_gradient, fd_hessian, mlp64, regression_data, rel_err


@pytest.fixture(scope="module")
def mlp():
    return mlp64((3, 4, 2))


@pytest.fixture(scope="module")
def data():
    return regression_data(40, 3, 2)


def linear_lsq(x, scale=1.0):
    """y = x·w without bias, mean squared error: Hessian 2·XᵀX/n exactly."""
    model = keras.Sequential([keras.Input((x.shape[1],), dtype="float64"),
                              keras.layers.Dense(1, use_bias=False, dtype="float64")])
    model.compile(loss="mse")
    return model


def test_gradient_norm_matches_finite_differences(mlp, data):
    x, y = data
    assert measures.gradient_norm(mlp, x, y) == pytest.approx(np.linalg.norm(fd_gradient(mlp, x, y)), rel=1e-6)


def test_gradient_does_not_depend_on_chunk_size(mlp, data):
    x, y = data
    assert measures.gradient_norm(mlp, x, y, chunk_size=7) == pytest.approx(
        measures.gradient_norm(mlp, x, y, chunk_size=1000), rel=1e-12)


def test_hvp_matches_finite_differences_of_the_gradient(mlp, data):
    x, y = data
    obj = Objective(mlp)
    v = np.random.default_rng(1).standard_normal(obj.n_params)
    theta, h = obj.get_flat(), 1e-5
    obj.set_flat(theta + h * v)
    up = obj.loss_and_gradient(x, y)[1]
    obj.set_flat(theta - h * v)
    down = obj.loss_and_gradient(x, y)[1]
    obj.set_flat(theta)
    assert rel_err(measures.hvp(mlp, x, y, v), (up - down) / (2 * h)) < 1e-6


def test_hessian_of_linear_least_squares_is_2xtx_over_n():
    x = np.random.default_rng(2).standard_normal((50, 4))
    y = np.random.default_rng(3).standard_normal((50, 1))
    model = linear_lsq(x)
    h = measures.hessian(model, x, y)
    assert h.dtype == np.float64
    np.testing.assert_allclose(h, 2 * x.T @ x / len(x), rtol=1e-10, atol=1e-12)


def test_hessian_matches_finite_differences_and_is_symmetric(mlp, data):
    x, y = data
    h = measures.hessian(mlp, x, y)
    np.testing.assert_array_equal(h, h.T)
    assert rel_err(h, fd_hessian(mlp, x, y)) < 1e-6
    np.testing.assert_allclose(measures.hessian(mlp, x, y, chunk_size=9), h, rtol=1e-10, atol=1e-12)


def test_hessian_eigenvalues_are_eigh_of_the_hessian(mlp, data):
    x, y = data
    np.testing.assert_allclose(measures.hessian_eigenvalues(mlp, x, y), np.linalg.eigvalsh(fd_hessian(mlp, x, y)),
                               atol=1e-6)


def test_hessian_refuses_large_models_and_points_to_matrix_free_functions(mlp, data):
    with pytest.raises(ValueError, match="hvp"):
        measures.hessian(mlp, *data, max_params=5)


def test_minimal_ratio_is_one_for_a_strictly_convex_model():
    x = np.random.default_rng(4).standard_normal((30, 3))
    model = linear_lsq(x)
    assert measures.minimal_ratio(model, x, np.zeros((30, 1))) == 1.0


def test_minimal_ratio_of_a_constructed_saddle():
    # L(w) = mean_i t_i (e_i·w)² has Hessian (2/n)·diag(t): 7 positive and 3 negative directions.
    signs = np.array([1, 1, -1, 1, 1, -1, 1, 1, -1, 1], dtype=np.float64)
    x = np.eye(10)
    model = keras.Sequential([keras.Input((10,), dtype="float64"),
                              keras.layers.Dense(1, use_bias=False, dtype="float64")])
    model.compile(loss=lambda t, p: tf.reduce_mean(t * tf.square(p)))
    eig = measures.hessian_eigenvalues(model, x, signs[:, None])
    np.testing.assert_allclose(eig, np.sort(2 * signs / 10), atol=1e-12)
    assert measures.minimal_ratio(model, x, signs[:, None]) == pytest.approx(0.7)


def test_ratio_helpers_count_near_zero_eigenvalues():
    eig = np.array([-1.0, -1e-9, 0.0, 1e-9, 0.5, 2.0])
    assert measures.ratio_of_positive(eig, rtol=1e-6) == pytest.approx(2 / 6)
    assert measures.ratio_near_zero(eig, rtol=1e-6) == pytest.approx(3 / 6)


def test_top_eigenvalues_match_eigh_with_deflation():
    model = mlp64((3, 6, 2), seed=3)
    x, y = regression_data(60, 3, 2, seed=5)
    exact = np.linalg.eigvalsh(measures.hessian(model, x, y))
    by_magnitude = exact[np.argsort(-np.abs(exact))][:3]
    top = measures.top_eigenvalues(model, x, y, k=3)
    np.testing.assert_allclose(top, by_magnitude, rtol=1e-2)


def test_hutchinson_trace_within_five_percent():
    x = np.random.default_rng(6).standard_normal((2000, 20)) * np.linspace(0.5, 2.0, 20)
    model = linear_lsq(x)
    y = np.zeros((2000, 1))
    exact = np.trace(measures.hessian(model, x, y))
    assert measures.hessian_trace(model, x, y, samples=300, seed=0) == pytest.approx(exact, rel=0.05)


def test_spectral_density_weights_sum_to_one_and_span_the_spectrum():
    model = mlp64((3, 5, 2), seed=4)
    x, y = regression_data(50, 3, 2, seed=7)
    exact = np.linalg.eigvalsh(measures.hessian(model, x, y))
    nodes, weights = measures.spectral_density(model, x, y, steps=len(exact), vectors=3)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(weights >= 0)
    scale = np.abs(exact).max()
    assert abs(nodes.min() - exact.min()) <= 0.01 * scale
    assert abs(nodes.max() - exact.max()) <= 0.01 * scale


def softmax_model(d=4, k=3, hidden=None, seed=0):
    keras.utils.set_random_seed(seed)
    layers = [keras.layers.Dense(hidden, activation="tanh", dtype="float64")] if hidden else []
    layers.append(keras.layers.Dense(k, activation="softmax", dtype="float64"))
    model = keras.Sequential([keras.Input((d,), dtype="float64"), *layers])
    model.compile(loss="sparse_categorical_crossentropy")
    return model


def test_sensitivity_closed_form_for_linear_softmax():
    model = softmax_model()
    x = np.random.default_rng(8).standard_normal((25, 4))
    w, b = model.get_weights()
    expected = []
    for xi in x:
        z = xi @ w + b
        p = np.exp(z - z.max())
        p /= p.sum()
        jac = (np.diag(p) - np.outer(p, p)) @ w.T  # ∂p/∂x, shape [classes, inputs]
        expected.append(np.linalg.norm(jac))
    np.testing.assert_allclose(measures.sensitivity(model, x, per_sample=True), expected, rtol=1e-10)
    assert measures.sensitivity(model, x) == pytest.approx(np.mean(expected), rel=1e-10)


def test_sensitivity_matches_finite_differences():
    model = softmax_model(hidden=5, seed=2)
    x = np.random.default_rng(9).standard_normal((6, 4))
    h = 1e-6
    expected = []
    for xi in x:
        cols = []
        for j in range(4):
            e = np.zeros(4)
            e[j] = h
            up = model(tf.constant([xi + e], tf.float64)).numpy()[0]
            down = model(tf.constant([xi - e], tf.float64)).numpy()[0]
            cols.append((up - down) / (2 * h))
        expected.append(np.linalg.norm(np.array(cols)))
    np.testing.assert_allclose(measures.sensitivity(model, x, per_sample=True), expected, rtol=1e-6)


def test_sensitivity_does_not_depend_on_batching():
    model = softmax_model(hidden=5, seed=2)
    x = np.random.default_rng(10).standard_normal((37, 4))
    whole = measures.sensitivity(model, x, chunk_size=1000)
    assert measures.sensitivity(model, x, chunk_size=4) == pytest.approx(whole, rel=1e-12)
    perm = np.random.default_rng(0).permutation(37)
    per = measures.sensitivity(model, x, per_sample=True, chunk_size=5)
    np.testing.assert_allclose(measures.sensitivity(model, x[perm], per_sample=True, chunk_size=11), per[perm],
                               rtol=1e-12)


def test_sharpness_zero_at_zero_epsilon_grows_with_it_and_restores_weights():
    model = mlp64((3, 4, 2), seed=1)
    x, y = regression_data(40, 3, 2)
    before = [w.copy() for w in model.get_weights()]
    assert measures.sharpness(model, x, y, epsilon=0.0) == 0.0
    small = measures.sharpness(model, x, y, epsilon=1e-4)
    large = measures.sharpness(model, x, y, epsilon=1e-2)
    assert 0 < small < large
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert measures.sharpness(model, x, y, epsilon=1e-3, subspace_dim=5) > 0


def test_sharpness_is_larger_for_a_sharper_quadratic():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((100, 3))
    w_star = np.array([[0.5], [-1.0], [2.0]])
    flat = linear_lsq(x)
    flat.set_weights([w_star])
    sharp = linear_lsq(x)
    sharp.set_weights([w_star / 3])
    # The same minimum loss (zero), the Hessian of the second 9 times larger.
    phi_flat = measures.sharpness(flat, x, x @ w_star, epsilon=1e-2)
    phi_sharp = measures.sharpness(sharp, 3 * x, x @ w_star, epsilon=1e-2)
    assert phi_sharp > phi_flat > 0
