"""hwutils.measures against exact oracles: finite differences in float64, closed forms, eigh."""
import keras
import numpy as np
import pytest
from keras import ops

from hwutils import backend, measures
from hwutils.objective import Objective
from tests.helpers import (batch_list, data_sources, fd_gradient, fd_hessian, mlp64, regression_data, rel_err, subclassed_copy,
                           two_input_data, two_input_model)


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
    fd = fd_hessian(mlp, x, y)
    assert rel_err(h, fd) < 1e-6
    # The rows as computed, before the final symmetrisation (which would hide an antisymmetric
    # error): each row is the matching finite-difference row, and they form a symmetric matrix.
    # row_block=4 does not divide P = 22: the padded last block is exercised too.
    raw = Objective(mlp).hessian(x, y, row_block=4, symmetrize=False)
    for i in range(len(raw)):
        assert rel_err(raw[i], fd[i]) < 1e-5, i
    np.testing.assert_allclose(raw, raw.T, rtol=0, atol=1e-12 * np.abs(raw).max())
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
    model.compile(loss=lambda t, p: ops.mean(t * ops.square(p)))
    eig = measures.hessian_eigenvalues(model, x, signs[:, None])
    np.testing.assert_allclose(eig, np.sort(2 * signs / 10), atol=1e-12)
    assert measures.minimal_ratio(model, x, signs[:, None]) == pytest.approx(0.7)


def test_ratio_helpers_count_against_an_absolute_band():
    eig = np.array([-1.0, -1e-9, 0.0, 1e-9, 0.5, 2.0])
    assert measures.ratio_of_positive(eig, tau=1e-6) == pytest.approx(2 / 6)
    assert measures.ratio_near_zero(eig, tau=1e-6) == pytest.approx(3 / 6)
    assert measures.ratio_of_positive(eig, tau=0.0) == pytest.approx(3 / 6)


def test_spectrum_of_a_constructed_saddle_with_known_signature():
    # H = Q diag(λ) Qᵀ with 2 negative, 3 zero, 1 tiny and 4 positive eigenvalues; no gradient band.
    lam = np.array([-2.0, -0.3, 0.0, 0.0, 0.0, 1e-9, 0.4, 1.0, 2.5, 7.0])
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((10, 10)))
    out = measures.critical_point_spectrum(q @ np.diag(lam) @ q.T)
    tau = np.sqrt(10) * 2.0 ** -53 * 7.0  # rounding band of a float64 Hessian
    assert out["tau"] == pytest.approx(tau) and out["tau_gradient"] == 0.0
    np.testing.assert_allclose(out["eigenvalues"], lam, atol=1e-14)
    # the rounded zeros fall inside the band; 1e-9 is far above it, so it is a positive eigenvalue
    assert (out["negative"], out["near_zero"], out["positive"]) == pytest.approx((0.2, 0.3, 0.5))
    assert out["minimal_ratio"] == out["positive"] and out["index"] == out["negative"]
    assert out["exact_zero"] == 0.0  # a rotated zero block has no zero rows: not degeneracy by construction


def test_rounding_band_uses_the_unit_roundoff_of_the_hessians_dtype():
    eig = np.array([-3.0, 0.5, 1e-5])
    assert measures.spectrum_band(eig, dtype="float32")["tau"] == pytest.approx(np.sqrt(3) * 2.0 ** -24 * 3.0)
    assert measures.spectrum_band(eig, dtype="float64")["tau"] == pytest.approx(np.sqrt(3) * 2.0 ** -53 * 3.0)


@pytest.fixture(scope="module")
def relu_net():
    """A float64 ReLU chain at a non-critical point, with one hidden unit dead on every sample."""
    model = mlp64((3, 5, 4, 2), activation="relu", seed=2)
    w = model.get_weights()
    w[0][:, 1], w[1][1] = 0.0, -1.0  # unit 1 of the first hidden layer: z = -1 for every x
    model.set_weights(w)
    x, y = regression_data(60, 3, 2, seed=3)
    obj = Objective(model)
    return model, x, y, obj.get_flat(), obj.loss_and_gradient(x, y)[1], measures.hessian(model, x, y)


def test_rescaling_generators_satisfy_h_d_theta_equals_minus_d_g(relu_net):
    model, x, y, theta, g, h = relu_net
    gens = measures.relu_rescaling_generators([3, 5, 4, 2])
    assert len(gens) == 9 and measures.dense_relu_widths(model) == [3, 5, 4, 2]
    assert np.linalg.norm(g) > 1e-2  # not a critical point: the identity is not 0 = 0
    assert [(len(i), len(o)) for i, o in gens] == [(4, 4)] * 5 + [(6, 2)] * 4
    for incoming, outgoing in gens:
        d = np.zeros_like(theta)
        d[incoming], d[outgoing] = 1.0, -1.0
        np.testing.assert_allclose(h @ (d * theta), -d * g, atol=1e-10 * np.abs(h).max())


def test_gradient_band_bounds_h_on_the_symmetry_span_and_holds_that_many_eigenvalues(relu_net):
    _, _, _, theta, g, h = relu_net
    gens = measures.relu_rescaling_generators([3, 5, 4, 2])
    band = measures.gradient_band(theta, g, gens)
    # oracle from H itself: the operator norm of H on the span of the generators v_j = D_j θ
    v = np.zeros((len(theta), len(gens)))
    for j, (incoming, outgoing) in enumerate(gens):
        v[incoming, j], v[outgoing, j] = theta[incoming], -theta[outgoing]
    q, r = np.linalg.qr(v)
    assert np.linalg.matrix_rank(v) == band["directions"] == len(gens)
    assert band["tau"] == pytest.approx(np.linalg.norm(h @ q, 2), rel=1e-8)
    assert band["tau"] > 1e-6
    eig = np.linalg.eigvalsh(h)
    assert np.sum(np.abs(eig) <= band["tau"] * (1 + 1e-9)) >= band["directions"]
    # at a point with no gradient the symmetry directions are exactly flat: no band
    assert measures.gradient_band(theta, np.zeros_like(g), gens)["tau"] == 0.0


def test_dead_unit_gives_exact_zeros_classed_near_zero(relu_net):
    model, x, y, theta, g, h = relu_net
    incoming, outgoing = measures.relu_rescaling_generators([3, 5, 4, 2])[1]
    dead = np.concatenate([incoming, outgoing])
    assert np.all(h[dead] == 0) and np.all(h[:, dead] == 0)
    out = measures.critical_point_spectrum(h, g, theta, [3, 5, 4, 2])
    p = len(theta)
    zero_rows = np.all(h == 0, axis=1)
    assert zero_rows[dead].all() and out["exact_zero"] == pytest.approx(zero_rows.mean())
    assert np.sum(out["eigenvalues"] == 0.0) >= len(dead)
    eig, tau = np.linalg.eigvalsh(h), out["tau"]
    assert out["tau"] == out["tau_gradient"] > out["tau_rounding"]
    assert out["near_zero"] == pytest.approx(np.mean(np.abs(eig) <= tau), abs=1.5 / p)
    assert out["negative"] == pytest.approx(np.mean(eig < -tau), abs=1.5 / p)
    assert out["negative"] + out["near_zero"] + out["positive"] == pytest.approx(1.0)
    assert out["near_zero"] >= out["exact_zero"]
    assert out["minimal_ratio_live"] == pytest.approx(np.sum(eig > tau) / np.sum(~zero_rows))
    assert measures.minimal_ratio(model, x, y) == pytest.approx(out["positive"])


def test_top_eigenvalues_match_eigh_with_deflation():
    model = mlp64((3, 6, 2), seed=3)
    x, y = regression_data(60, 3, 2, seed=5)
    exact = np.linalg.eigvalsh(measures.hessian(model, x, y))
    by_magnitude = exact[np.argsort(-np.abs(exact))][:3]
    top = measures.top_eigenvalues(model, x, y, k=3, which="LM")
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
            up = np.asarray(model(np.array([xi + e])))[0]
            down = np.asarray(model(np.array([xi - e])))[0]
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


# ---------------------------------------------------------------- oracles of issue 13

def affine_lsq(x):
    """y = x·w + b, mean squared error: L(θ) = mean((Xw + b − y)²), an analytic convex quadratic."""
    model = keras.Sequential([keras.Input((x.shape[1],), dtype="float64"), keras.layers.Dense(1, dtype="float64")])
    model.compile(loss="mse")
    return model


def test_sharpness_is_the_maximum_over_the_box_found_at_its_vertex():
    # A convex quadratic takes its maximum over a box at a vertex: enumerate all 2^P of them. θ is
    # off the minimum so that exactly one vertex is a KKT point of the maximisation (checked
    # below): a local ascent from any start must end there, whatever the seed.
    import itertools
    rng = np.random.default_rng(12)
    x = rng.standard_normal((40, 3)) * np.array([1.0, 2.0, 0.5])
    y = rng.standard_normal((40, 1))
    model = affine_lsq(x)
    theta = np.array([0.3, -0.2, 0.8, 0.1])
    model.set_weights([theta[:3, None], theta[3:]])
    xa = np.hstack([x, np.ones((40, 1))])

    def loss(t):
        return float(np.mean((xa @ t - y[:, 0]) ** 2))

    def grad(t):
        return 2 * xa.T @ (xa @ t - y[:, 0]) / len(xa)

    for eps in (0.02, 0.1):
        bound = eps * (np.abs(theta) + 1)
        vertices = [np.array(s) * bound for s in itertools.product([-1.0, 1.0], repeat=4)]
        values = np.array([loss(theta + z) for z in vertices])
        kkt = [np.all(grad(theta + z) * np.sign(z) > 0) for z in vertices]
        assert sum(kkt) == 1 and kkt[int(np.argmax(values))]
        best, base = vertices[int(np.argmax(values))], loss(theta)
        expected = 100 * (values.max() - base) / (1 + base)
        for seed in range(3):
            phi, z = measures.sharpness(model, x, y, epsilon=eps, seed=seed, return_maximizer=True)
            assert phi == pytest.approx(expected, rel=1e-7)
            np.testing.assert_allclose(z, best, rtol=0, atol=1e-7 * bound.max())
    # ε = 0: the box is the point θ; the optimiser evaluates it and finds no increase.
    phi, z = measures.sharpness(model, x, y, epsilon=0.0, return_maximizer=True)
    assert phi == 0.0 and not z.any()
    np.testing.assert_array_equal(Objective(model).get_flat(), theta)


def known_spectrum_model(eigenvalues, seed=0):
    """A model whose loss L(w) = Σ_i t_i (q_i·w)² / P has Hessian Q diag(λ) Qᵀ exactly (t_i = λ_i P/2),
    Q a random orthogonal matrix: a known spectrum, negative eigenvalues included."""
    p = len(eigenvalues)
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((p, p)))
    model = keras.Sequential([keras.Input((p,), dtype="float64"),
                              keras.layers.Dense(1, use_bias=False, dtype="float64")])
    model.compile(loss=lambda t, pred: ops.mean(t * ops.square(pred)))
    x, t = q.T, (np.asarray(eigenvalues, dtype=np.float64) * p / 2)[:, None]  # row i of x is q_i
    return model, x, t, q


def test_slq_with_one_probe_and_full_steps_gives_eigenvalues_and_squared_projections():
    lam = np.array([-2.0, -0.5, 0.1, 0.7, 1.5, 3.0, 6.0])
    model, x, t, q = known_spectrum_model(lam)
    np.testing.assert_allclose(measures.hessian(model, x, t), q @ np.diag(lam) @ q.T, atol=1e-12)
    v = np.random.default_rng(3).standard_normal(len(lam))
    nodes, weights = measures.spectral_density(model, x, t, steps=len(lam), vectors=v[None])
    np.testing.assert_allclose(nodes, lam, atol=1e-9)
    np.testing.assert_allclose(weights, (q.T @ v) ** 2 / (v @ v), rtol=1e-7, atol=1e-12)


def test_slq_moments_match_the_trace_of_h_and_h_squared_within_the_monte_carlo_error():
    lam = np.array([-1.0, -0.3, 0.2, 0.5, 0.9, 1.4, 2.0, 4.0])
    model, x, t, q = known_spectrum_model(lam, seed=1)
    h = q @ np.diag(lam) @ q.T
    p, k = len(lam), 200
    probes = np.random.default_rng(5).choice([-1.0, 1.0], size=(k, p))
    nodes, weights = measures.spectral_density(model, x, t, steps=3, vectors=probes)  # 3 < P steps
    # Gauss quadrature with 3 nodes is exact up to degree 5: the moments are those of the probes.
    for power in (1, 2):
        hp = np.linalg.matrix_power(h, power)
        per_probe = np.einsum("ki,ij,kj->k", probes, hp, probes) / p
        assert np.sum(weights * nodes ** power) == pytest.approx(per_probe.mean(), rel=1e-9)
        # ... and they estimate trace(Hᵖ)/P: Rademacher variance 2 Σ_{i≠j} (Hᵖ)_ij² / P² per probe.
        off = hp - np.diag(np.diag(hp))
        sigma = np.sqrt(2 * np.sum(off ** 2)) / p / np.sqrt(k)
        assert abs(np.sum(weights * nodes ** power) - np.trace(hp) / p) < 4 * sigma
    # The same with the function's own Rademacher probes.
    nodes, weights = measures.spectral_density(model, x, t, steps=3, vectors=80, seed=2)
    off = h - np.diag(np.diag(h))
    assert abs(np.sum(weights * nodes) - np.trace(h) / p) < 4 * np.sqrt(2 * np.sum(off ** 2)) / p / np.sqrt(80)


def test_sensitivity_traces_once_for_every_batch_size():
    model = softmax_model(hidden=5, seed=3)
    x = np.random.default_rng(4).standard_normal((23, 4))
    measures.sensitivity(model, x, chunk_size=10)  # batches of 10, 10 and 3
    fns = [f for key, f in measures._CACHE[model].items() if key[0] == "sensitivity"]
    # TensorFlow traces the batch dimension open; JAX compiles once per batch size (XLA's shapes are static)
    tf_backend = backend.NAME == "tensorflow"
    assert len(fns) == 1 and fns[0].traces == (1 if tf_backend else 2)
    measures.sensitivity(model, x, chunk_size=7)  # 7, 7, 7 and 2
    again = [f for key, f in measures._CACHE[model].items() if key[0] == "sensitivity"]
    assert again == fns and fns[0].traces == (1 if tf_backend else 4)


# ------------------------------------------------------------------ gradient norm vs loss oscillation (synthetic truth)
def _series(rng, n=1500, coupled=0.0, sampling=1.0):
    """A shared downward trend; batch difficulty d_t (right-skewed: now and then a hard batch) raises
    both g_t and L_t (the sampling effect); a slow latent s_t raises g_t and, when coupled > 0, the loss
    spread around t (the claimed effect)."""
    t = np.arange(n)
    trend = np.exp(-t / 400)
    d = rng.exponential(1.0, n) - 1.0
    s = np.convolve(rng.standard_normal(n + 60), np.ones(60) / np.sqrt(60), "valid")[:n]
    g = trend * np.exp(0.3 * s + 0.3 * sampling * d)
    noise = rng.standard_normal(n) * np.exp(coupled * s)
    loss = trend * np.exp(0.3 * sampling * d + 0.3 * noise)
    return g, loss


def test_oscillation_coupling_finds_a_planted_coupling_against_the_circular_shift_null():
    rng = np.random.default_rng(0)
    g, loss = _series(rng, coupled=0.8)
    rho, null = measures.oscillation_coupling(g, loss, window=101, horizon=10)
    assert len(null) >= 39 and rho > np.quantile(null, 0.975)
    g, loss = _series(rng, coupled=-0.8)
    rho, null = measures.oscillation_coupling(g, loss, window=101, horizon=10)
    assert rho < np.quantile(null, 0.025)


def test_oscillation_coupling_is_not_fooled_by_sampling_and_trend():
    """Pure sampling effect plus a shared trend, no coupling: beyond the null's upper 2.5% AND below
    its lower 2.5% each at about the nominal rate (200 draws; limit: the binomial's 99.9% quantile at
    2.5%). Had o_t included batch t's own loss, hard batches alone would put it above most of the
    time (about 60% measured here); with running medians that hold values near t (the earlier
    version) it fell below 11% of the time (mean ρ −0.026, null median ≈ 0)."""
    from scipy.stats import binom
    rng = np.random.default_rng(1)
    above = below = 0
    for _ in range(200):
        g, loss = _series(rng, n=600, coupled=0.0, sampling=2.5)
        rho, null = measures.oscillation_coupling(g, loss, window=51, horizon=10)
        above += rho > np.quantile(null, 0.975)
        below += rho < np.quantile(null, 0.025)
    limit = binom.ppf(0.999, 200, 0.025)
    assert above <= limit and below <= limit, (above, below, limit)



# ------------------------------------------------------------------ any compiled model, any batched data (issue 22)
# A two-input Conv + BatchNorm + Dropout model with a dict loss, loss_weights and L2, in float64, on data with
# sample weights; the oracles are central finite differences of its loss and eigh of its exact Hessian.

@pytest.fixture(scope="module")
def two():
    model = two_input_model()
    x, y, sw = two_input_data()
    return model, x, y, sw


def test_two_input_gradient_hvp_and_hessian_rows_match_finite_differences(two):
    model, x, y, sw = two
    obj = Objective(model)
    theta, h = obj.get_flat(), 1e-6
    fd = np.zeros_like(theta)
    for i in range(len(theta)):
        e = np.zeros_like(theta)
        e[i] = h
        obj.set_flat(theta + e)
        up = obj.loss(x, y, sw)
        obj.set_flat(theta - e)
        fd[i] = (up - obj.loss(x, y, sw)) / (2 * h)
    obj.set_flat(theta)
    grad = obj.loss_and_gradient(x, y, sw)[1]
    assert rel_err(grad, fd) < 1e-7
    assert measures.gradient_norm(model, x, y, sample_weight=sw) == pytest.approx(np.linalg.norm(fd), rel=1e-7)
    # the Hessian's rows as computed (not symmetrised) against finite differences of the exact gradient
    raw = obj.hessian(x, y, row_block=50, symmetrize=False, sample_weight=sw)  # 50 does not divide P = 112
    hess_fd = np.zeros_like(raw)
    for i in range(len(theta)):
        e = np.zeros_like(theta)
        e[i] = 1e-5
        obj.set_flat(theta + e)
        up = obj.loss_and_gradient(x, y, sw)[1]
        obj.set_flat(theta - e)
        hess_fd[i] = (up - obj.loss_and_gradient(x, y, sw)[1]) / 2e-5
    obj.set_flat(theta)
    assert rel_err(raw, hess_fd) < 1e-6
    v = np.random.default_rng(0).standard_normal(len(theta))
    assert rel_err(measures.hvp(model, x, y, v, sample_weight=sw), hess_fd @ v) < 1e-6
    np.testing.assert_allclose(measures.hessian_eigenvalues(model, x, y, sample_weight=sw),
                               np.linalg.eigvalsh(0.5 * (hess_fd + hess_fd.T)), atol=1e-6)


def test_top_eigenvalues_LA_SA_LM_are_each_end_of_eigh_of_the_exact_hessian(two):
    model, x, y, sw = two
    exact = np.linalg.eigvalsh(measures.hessian(model, x, y, sample_weight=sw))
    assert exact[0] < -1 and exact[-1] > 1  # indefinite: the two ends differ in sign
    la = measures.top_eigenvalues(model, x, y, k=3, sample_weight=sw)  # which="LA" is the default
    np.testing.assert_allclose(la, exact[::-1][:3], rtol=1e-6)
    np.testing.assert_allclose(measures.top_eigenvalues(model, x, y, k=2, which="SA", sample_weight=sw), exact[:2],
                               rtol=1e-6)
    assert la.which == "LA" and la.precision == "float64" and la.hvps > 3
    from scipy.sparse.linalg import ArpackNoConvergence
    with pytest.raises(ArpackNoConvergence):  # the iteration budget is honoured: one restart is too few here
        measures.top_eigenvalues(model, x, y, k=12, maxiter=1, tol=1e-14, sample_weight=sw)


def test_top_eigenvalues_LA_is_lambda_max_where_the_largest_magnitude_is_negative():
    lam = np.array([-9.0, -4.0, -0.5, 0.2, 1.0, 2.0, 3.0])
    model, x, t, _ = known_spectrum_model(lam, seed=4)
    np.testing.assert_allclose(measures.top_eigenvalues(model, x, t, k=2), [3.0, 2.0], rtol=1e-8)
    np.testing.assert_allclose(measures.top_eigenvalues(model, x, t, k=2, which="SA"), [-9.0, -4.0], rtol=1e-8)
    np.testing.assert_allclose(measures.top_eigenvalues(model, x, t, k=2, which="LM"), [-9.0, -4.0], rtol=1e-8)
    with pytest.raises(ValueError, match="which"):
        measures.top_eigenvalues(model, x, t, which="largest")


def test_hessian_trace_standard_error_is_hutchinsons_and_covers_the_trace(two):
    model, x, y, sw = two
    h = measures.hessian(model, x, y, sample_weight=sw)
    off = h - np.diag(np.diag(h))
    n = 150
    sigma = np.sqrt(2 * np.sum(off ** 2) / n)  # Rademacher: Var(vᵀHv) = 2·Σ_{i≠j} H_ij²
    est = measures.hessian_trace(model, x, y, samples=n, seed=1, sample_weight=sw)
    assert est.probes == n and est.precision == "float64"
    assert est.se == pytest.approx(sigma, rel=0.25)
    assert abs(est - np.trace(h)) < 4 * sigma


def test_spectral_density_says_how_many_probes_and_lanczos_steps_it_used():
    lam = np.array([1.0, 1.0, 1.0, 2.0, 2.0, 5.0])  # three distinct eigenvalues: Krylov spaces of dimension 3
    model, x, t, _ = known_spectrum_model(lam, seed=2)
    density = measures.spectral_density(model, x, t, steps=5, vectors=4, seed=0)
    nodes, weights = density  # still the (nodes, weights) pair
    assert density.probes == 4 and density.steps == 5 and density.lanczos_steps == [3, 3, 3, 3]
    np.testing.assert_allclose(np.unique(np.round(nodes, 8)), [1.0, 2.0, 5.0])
    assert weights.sum() == pytest.approx(1.0) and density.precision == "float64"


def _jacobian_fd(model, x, inputs, h=1e-6):
    """Each point's ‖∂f/∂x‖_F over every output and the named inputs, by central differences (float64)."""
    norms = []
    for i in range(len(x["image"])):
        point = {k: v[i:i + 1].copy() for k, v in x.items()}
        squares = 0.0
        for name in inputs:
            for j in np.ndindex(point[name].shape[1:]):
                up, down = {k: v.copy() for k, v in point.items()}, {k: v.copy() for k, v in point.items()}
                up[name][(0, *j)] += h
                down[name][(0, *j)] -= h
                fu, fdn = model(up, training=False), model(down, training=False)
                squares += sum(np.sum(((np.asarray(fu[o]) - np.asarray(fdn[o])) / (2 * h)) ** 2) for o in fu)
        norms.append(np.sqrt(squares))
    return np.array(norms)


def test_sensitivity_of_two_inputs_and_two_outputs_matches_finite_differences(two):
    model, x, _, _ = two
    few = {k: v[:5] for k, v in x.items()}
    np.testing.assert_allclose(measures.sensitivity(model, few, per_sample=True),
                               _jacobian_fd(model, few, ["image", "extra"]), rtol=1e-6)
    np.testing.assert_allclose(measures.sensitivity(model, few, per_sample=True, inputs="image"),
                               _jacobian_fd(model, few, ["image"]), rtol=1e-6)
    with pytest.raises(ValueError, match="not among"):
        measures.sensitivity(model, few, inputs="nope")


def _every_measure(model, data, array_data=None):
    """Every public measure of a loss on `data` (arrays given as a (x, y, sw) tuple, else a batch source)."""
    x, y, sw = data if isinstance(data, tuple) else (data, None, None)
    kw = dict(sample_weight=sw)
    v = np.linspace(-1, 1, measures.objective(model).n_params)
    sens_x = x if isinstance(data, tuple) else data
    return {"gradient_norm": measures.gradient_norm(model, x, y, **kw),
            "hessian": measures.hessian(model, x, y, **kw),
            "hessian_eigenvalues": measures.hessian_eigenvalues(model, x, y, **kw),
            "minimal_ratio": measures.minimal_ratio(model, x, y, **kw),
            "hvp": measures.hvp(model, x, y, v, **kw),
            "top_eigenvalues": measures.top_eigenvalues(model, x, y, k=2, **kw),
            "hessian_trace": measures.hessian_trace(model, x, y, samples=5, **kw),
            "spectral_density": np.concatenate(measures.spectral_density(model, x, y, steps=6, vectors=2, **kw)),
            "sensitivity": measures.sensitivity(model, sens_x, per_sample=True, chunk_size=16),
            "sharpness": measures.sharpness(model, x, y, epsilon=1e-3, maxiter=3, **kw)}


@pytest.fixture(scope="module")
def on_arrays(two):
    model, x, y, sw = two
    return _every_measure(model, (x, y, sw))


@pytest.mark.parametrize("form", ["dataset", "generator", "callable", "pydataset", "list"])
def test_every_measure_on_batched_data_agrees_with_the_same_arrays(two, on_arrays, form):
    model, x, y, sw = two
    source = data_sources(x, y, sw)[form]
    on_source = _every_measure(model, source)
    for name, expected in on_arrays.items():
        np.testing.assert_allclose(on_source[name], expected, rtol=1e-9, atol=1e-12, err_msg=name)
    assert on_arrays["sharpness"] > 0 and on_arrays["sensitivity"].precision == "float64"


def test_a_subclassed_model_goes_through_every_measure_with_the_functional_models_numbers(two, on_arrays):
    model, x, y, sw = two
    net = subclassed_copy(model)
    assert not hasattr(net, "inputs") or not net.inputs  # no symbolic inputs for the measures to lean on
    on_net = _every_measure(net, batch_list(x, y, sw, 16))
    for name, expected in on_arrays.items():
        np.testing.assert_allclose(on_net[name], expected, rtol=1e-9, atol=1e-12, err_msg=name)
