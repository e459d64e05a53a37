"""hwutils.landscape: interpolation, filter-normalised directions, surfaces, noise curve, PCA."""
import keras
import numpy as np
import pytest

from hwutils import backend, batches, landscape
from hwutils.objective import Objective
from tests.helpers import data_sources, mlp64, perturb, regression_data, subclassed_copy, two_input_data, two_input_model


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


# ---------------------------------------------------------------- oracles of issue 13

def affine_lsq(seed=0):
    """y = x·w + b with mean squared error: L(θ) = mean((X̃θ − y)²), X̃ = [X, 1], analytic in θ."""
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((30, 3)), rng.standard_normal((30, 1))
    model = keras.Sequential([keras.Input((3,), dtype="float64"), keras.layers.Dense(1, dtype="float64")])
    model.compile(loss="mse")
    model.set_weights([rng.standard_normal((3, 1)), rng.standard_normal(1)])
    xa = np.hstack([x, np.ones((30, 1))])
    return model, x, y, lambda theta: float(np.mean((xa @ theta - y[:, 0]) ** 2))


def test_surfaces_at_every_grid_point_match_the_analytic_loss_with_and_without_center():
    model, x, y, loss = affine_lsq()
    theta = Objective(model).get_flat()
    rng = np.random.default_rng(1)
    u, v, c = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(4)
    alphas, betas = [-0.7, -0.2, 0.0, 0.4, 1.3], [-0.5, 0.25, 0.9]  # not symmetric, not the same length
    u_list = [u[:3, None], u[3:]]  # a direction given as weight arrays, the same as the flat u
    for center, origin in ((None, theta), (c, c)):
        line = landscape.surface_1d(model, x, y, u_list, alphas, center=center)
        assert line["alpha"] == alphas
        np.testing.assert_allclose(line["loss"], [loss(origin + a * u) for a in alphas], rtol=1e-12)
        plane = landscape.surface_2d(model, x, y, u, v, alphas, center=center, beta_steps=betas)
        assert plane["alpha"] == alphas and plane["beta"] == betas
        expected = [[loss(origin + a * u + b * v) for b in betas] for a in alphas]
        np.testing.assert_allclose(plane["loss"], expected, rtol=1e-12)
        square = landscape.surface_2d(model, x, y, u, v, alphas, center=center)  # beta grid = alpha grid
        np.testing.assert_allclose(square["loss"], [[loss(origin + a * u + b * v) for b in alphas] for a in alphas],
                                   rtol=1e-12)
    np.testing.assert_array_equal(Objective(model).get_flat(), theta)


def test_surfaces_and_curves_reuse_one_traced_loss():
    from hwutils import measures
    model, x, y, _ = affine_lsq(seed=2)
    d = np.ones(4)
    landscape.surface_1d(model, x, y, d, 3)
    landscape.surface_2d(model, x, y, d, -d, 3)
    landscape.perturbation_curve(model, x, y, [0.0, 0.1], samples=2)
    landscape.surface_1d(model, x[:7], y[:7], d, 4)
    traced = measures.objective(model)._traced
    loss_fns = [f for key, f in traced.items() if key == "loss"]
    # TensorFlow traces the batch dimension open; JAX compiles once per batch size (20 points, then 7)
    assert len(loss_fns) == 1 and loss_fns[0].traces == (1 if backend.NAME == "tensorflow" else 2)


def test_pca_directions_match_eigh_of_the_centred_covariance():
    rng = np.random.default_rng(3)
    for t, p in ((40, 12), (15, 30)):  # more snapshots than parameters, and fewer
        path = np.cumsum(rng.standard_normal((t, p)) * np.linspace(3, 0.1, p), axis=0) + 2.0
        pca = landscape.pca_directions(list(path), k=3)
        centred = path - path.mean(0)
        values, vectors = np.linalg.eigh(centred.T @ centred / (t - 1))
        values, vectors = values[::-1], vectors[:, ::-1]
        np.testing.assert_allclose(pca["mean"], path.mean(0), rtol=1e-12)
        np.testing.assert_allclose(pca["explained_variance_ratio"], values[:3] / values.sum(), rtol=1e-9)
        for i in range(3):
            sign = np.sign(pca["components"][i] @ vectors[:, i])
            np.testing.assert_allclose(pca["components"][i], sign * vectors[:, i], atol=1e-9)
            np.testing.assert_allclose(pca["projections"][:, i], sign * centred @ vectors[:, i], atol=1e-9)


# ------------------------------------------------------------------ trajectories (PCA / t-SNE inputs) and barriers
def test_trajectory_points_are_the_snapshots_run_major_restricted_to_the_columns():
    rng = np.random.default_rng(0)
    snaps = rng.standard_normal((3, 4, 7))  # 3 runs, 4 snapshots, 7 weights
    cols = np.array([1, 2, 5])
    rows = landscape.trajectory_points(snaps, cols)
    assert rows.shape == (12, 3)
    for r in range(3):
        for t in range(4):
            np.testing.assert_array_equal(rows[r * 4 + t], snaps[r, t, cols])
    np.testing.assert_array_equal(landscape.trajectory_points(snaps)[5], snaps[1, 1])


def test_tsne_embeds_every_row_and_keeps_well_separated_groups_apart():
    rng = np.random.default_rng(1)
    points = np.concatenate([rng.normal(0, 0.1, (10, 5)), rng.normal(10, 0.1, (10, 5))])
    emb = landscape.tsne(points, perplexity=30, seed=0)  # perplexity capped for 20 rows
    assert emb.shape == (20, 2)
    within = np.linalg.norm(emb[:10] - emb[:10].mean(0), axis=1).max()
    assert np.linalg.norm(emb[:10].mean(0) - emb[10:].mean(0)) > 2 * within


def test_barrier_height_is_the_rise_above_the_higher_end():
    alphas = landscape.alpha_grid(7, -1.0, 2.0)  # -1, -0.5, 0, 0.5, 1, 1.5, 2
    np.testing.assert_allclose(alphas[[2, 4]], [0, 1])
    losses = np.array([9.0, 5.0, 1.0, 4.0, 2.0, 7.0, 9.0])  # outside [0, 1] ignored
    assert landscape.barrier_height(losses, alphas) == pytest.approx(2.0)
    assert landscape.barrier_height([1.0, 0.8, 0.5, 0.3, 0.2, 5, 5], alphas) == 0.0  # monotone: no barrier
    with pytest.raises(ValueError):
        landscape.barrier_height([1.0, 2.0], [0.1, 0.9])


def test_chord_barrier_is_the_largest_rise_above_the_chord_and_can_be_negative():
    alphas = [-1.0, 0.0, 0.25, 0.5, 0.75, 1.0, 2.0]
    # ends 1 and 3: the chord is 1.5, 2, 2.5 at α = 0.25, 0.5, 0.75
    assert landscape.chord_barrier([9, 1.0, 2.0, 4.0, 2.6, 3.0, 9], alphas) == pytest.approx(2.0)
    assert landscape.chord_barrier([9, 1.0, 1.0, 1.5, 2.0, 3.0, 9], alphas) == pytest.approx(-0.5)  # convex valley
    # barrier_height would call the second one 0 and the first one 1: the rise above the higher end
    assert landscape.barrier_height([9, 1.0, 2.0, 4.0, 2.6, 3.0, 9], alphas) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        landscape.chord_barrier([1.0, 2.0], [0.0, 1.0])


def test_local_rise_is_the_mean_rise_either_side_interpolated_between_grid_points():
    alphas = np.linspace(-1, 2, 7)  # step 0.5
    losses = (alphas - 0.0) ** 2 + 3 * (alphas - 1.0) ** 2  # a parabola: rise = (1 + 3)·δ² at every α
    assert landscape.local_rise(losses, alphas, 0.0, 0.5) == pytest.approx(4 * 0.25)
    assert landscape.local_rise(losses, alphas, 1.0, 0.5) == pytest.approx(4 * 0.25)
    lopsided = np.where(alphas > 0.9, 10 * (alphas - 1.0) ** 2, alphas ** 2)
    # between grid points linearly: L(0.75) = (0.25 + 0) / 2, L(1.25) = (0 + 2.5) / 2
    assert landscape.local_rise(lopsided, alphas, 1.0, 0.25) == pytest.approx((0.125 + 1.25) / 2)
    with pytest.raises(ValueError):
        landscape.local_rise(losses, alphas, 1.0, 1.5)


# ------------------------------------------------------------------ 1-2 bonus: the perturbation slope
def _draws(power, sigmas, samples=20, linear=0.0, spread=0.2, seed=0):
    """Synthetic perturbation draws: Δ = 3σ^power·(1 + spread·ε) + linear·σ·ε' over base 1."""
    rng = np.random.default_rng(seed)
    return {"sigma": list(sigmas), "losses": [[1.0 + 3 * s ** power * (1 + spread * rng.standard_normal())
                                              + linear * s * rng.standard_normal() for _ in range(samples)]
                                             for s in sigmas]}


def test_perturbation_curve_returns_every_draw_behind_its_means():
    model = mlp64((3, 4, 2))
    x, y = regression_data(30, 3, 2)
    curve = landscape.perturbation_curve(model, x, y, [0.0, 0.1, 0.5], samples=5, seed=1)
    draws = np.asarray(curve["losses"])
    assert draws.shape == (3, 5)
    np.testing.assert_allclose(draws.mean(1), curve["mean_loss"])
    np.testing.assert_allclose(draws.std(1), curve["std_loss"])
    assert np.ptp(draws[0]) == 0 and np.ptp(draws[2]) > 0


@pytest.mark.parametrize("power", [1.0, 2.0, 3.0])
def test_perturbation_slope_recovers_the_exponent_only_from_the_smallest_sigmas(power):
    sig = [0.0, 1e-3, 3e-3, 1e-2, 0.3, 1.0]
    curve = _draws(power, sig)
    curve["losses"][-1] = [1e6] * 20  # far beyond the fitted σ: must not matter
    curve["losses"][-2] = [0.5] * 20  # a negative Δ there too
    s = landscape.perturbation_slope(curve, base=1.0, points=3)
    assert s["sigmas"] == [1e-3, 3e-3, 1e-2]
    assert s["slope"] == pytest.approx(power, abs=0.1)
    assert s["interval"][0] < s["slope"] < s["interval"][1] and s["interval"][1] - s["interval"][0] < 0.3
    fitted = np.exp(s["intercept"]) * np.asarray(s["sigmas"]) ** s["slope"]
    np.testing.assert_allclose(fitted, s["mean_delta"], rtol=0.2)
    np.testing.assert_allclose(s["mean_delta"], 3 * np.asarray(s["sigmas"]) ** power, rtol=0.2)


def test_perturbation_slope_with_exactly_cancelling_pairs_is_undefined():
    """A loss that is exactly linear along the draws: each antithetic pair's changes cancel to 0, the mean Δ
    is 0 at every σ, and the log-log slope (the curvature measure) is undefined, not a number."""
    sig = [0.0, 1e-3, 3e-3, 1e-2]
    z = np.random.default_rng(4).standard_normal(5)  # the same directions at every σ
    losses = []
    for s_ in sig:
        d = s_ * z
        losses.append(list(np.ravel(np.column_stack([1.0 + d, 1.0 - d]))))
    curve = {"sigma": sig, "losses": losses, "antithetic": True}
    out = landscape.perturbation_slope(curve, base=1.0, points=3, resamples=200)
    assert out["mean_delta"] == pytest.approx([0.0, 0.0, 0.0], abs=1e-15)
    assert np.isnan(out["slope"]) and np.isnan(out["interval"][0]) and out["draws"] == [5, 5, 5]
    # the same draws taken one by one: first order, slope 1 on the median |Δ|
    from hwutils import perturbation
    single = perturbation.single_draw_slope(curve, base=1.0, points=3)
    assert single["slope"] == pytest.approx(1.0, abs=1e-9)


def test_antithetic_pairs_cancel_the_gradient_term_exactly_on_a_quadratic():
    # linear least squares: L is exactly quadratic in θ, so each pair's mean is L(θ) + ½σ²·nᵀHn
    from hwutils import measures
    x, y = regression_data(40, 3, 1, seed=2)
    model = keras.Sequential([keras.Input((3,), dtype="float64"), keras.layers.Dense(1, dtype="float64")])
    model.compile(loss="mse")
    obj = Objective(model)
    base, grad = obj.loss_and_gradient(x, y)
    assert np.linalg.norm(grad) > 0.1  # far from the minimum: single draws carry σ·gᵀn
    h = measures.hessian(model, x, y)
    curve = landscape.perturbation_curve(model, x, y, [0.0, 0.05], samples=6, seed=3, antithetic=True)
    assert curve["antithetic"] and np.shape(curve["losses"]) == (2, 6)
    rng = np.random.default_rng(3)
    [rng.standard_normal(obj.n_params) for _ in range(3)]  # σ = 0 consumed three pairs' directions
    pairs = np.asarray(curve["losses"][1]).reshape(3, 2).mean(axis=1)
    for k in range(3):
        n = rng.standard_normal(obj.n_params)
        assert pairs[k] == pytest.approx(base + 0.5 * 0.05 ** 2 * n @ h @ n, rel=1e-10)
    single = np.asarray(curve["losses"][1]) - base
    assert single.min() < 0 < single.max() or np.ptp(single) > 10 * np.ptp(pairs)
    assert landscape.perturbation_slope(curve, base, points=1)["draws"] == [3]


# ------------------------------------------------------------------ any compiled model, any batched data (issue 22)
def _mixed(a, b, alpha):
    """The weights of θ(α), batch-norm moving statistics included (a moving variance clipped at 0)."""
    return [np.maximum(w, 0) if "moving_variance" in v.path else w
            for w, v in zip([(1 - alpha) * u + alpha * w for u, w in zip(a.get_weights(), b.get_weights())], a.weights)]


@pytest.mark.parametrize("subclassed", [False, True])
def test_interpolate_reports_the_objectives_loss_at_the_mixed_weights_of_two_input_models(subclassed):
    from hwutils import measures
    a, b, probe = two_input_model(seed=0), two_input_model(seed=3), two_input_model(seed=5)
    if subclassed:  # interpolation without clone_model, which cannot copy a subclassed model
        a, b, probe = subclassed_copy(a), subclassed_copy(b), subclassed_copy(probe)
    x, y, sw = two_input_data()
    before = [w.copy() for w in a.get_weights()]
    alphas = [-0.5, 0.0, 0.3, 1.0, 1.5]  # 1.5: a moving variance would go negative unclipped
    out = landscape.interpolate(a, b, alphas, {"train": (x, y, sw), "stream": data_sources(x, y, sw)["dataset"]})
    assert out["precision"] == "float64" and "train_accuracy" not in out  # two outputs: no single accuracy
    for i, alpha in enumerate(alphas):
        probe.set_weights(_mixed(a, b, alpha))
        expected = measures.objective(probe).loss(x, y, sw)  # the same loss definition, another model
        assert out["train_loss"][i] == pytest.approx(expected, rel=1e-12)
        assert out["stream_loss"][i] == pytest.approx(expected, rel=1e-10)
    assert out["train_loss"][1] == pytest.approx(measures.objective(a).loss(x, y, sw), rel=1e-12)
    for u, v in zip(before, a.get_weights()):
        np.testing.assert_array_equal(u, v)


def test_surfaces_and_noise_curve_on_batched_data_agree_with_arrays():
    model = two_input_model()
    x, y, sw = two_input_data()
    d1 = landscape.filter_normalized_direction(model, seed=0)
    d2 = landscape.filter_normalized_direction(model, seed=1)
    line = landscape.surface_1d(model, x, y, d1, [-0.5, 0.0, 0.5], sample_weight=sw)
    plane = landscape.surface_2d(model, x, y, d1, d2, [-0.5, 0.5], sample_weight=sw)
    noise = landscape.perturbation_curve(model, batches.of(x, y, sw), None, [0.0, 0.1], samples=2)
    for form, source in data_sources(x, y, sw).items():
        np.testing.assert_allclose(landscape.surface_1d(model, source, direction=d1, steps=[-0.5, 0.0, 0.5])["loss"],
                                   line["loss"], rtol=1e-10, err_msg=form)
        np.testing.assert_allclose(landscape.surface_2d(model, source, d1=d1, d2=d2, steps=[-0.5, 0.5])["loss"],
                                   plane["loss"], rtol=1e-10, err_msg=form)
    source = data_sources(x, y, sw)["dataset"]
    np.testing.assert_allclose(landscape.perturbation_curve(model, source, None, [0.0, 0.1], samples=2)["losses"],
                               noise["losses"], rtol=1e-10)
    assert line["loss"][1] == pytest.approx(Objective(model).loss(x, y, sw), rel=1e-12)
    assert line["precision"] == plane["precision"] == "float64"
    with pytest.raises(TypeError, match="must be None"):
        landscape.surface_1d(model, source, d1)  # a direction given where y goes


def test_filter_normalized_direction_on_a_conv_batchnorm_model_zeroes_the_batchnorm_weights():
    model = two_input_model()
    for w, d in zip(model.trainable_weights, landscape.filter_normalized_direction(model, seed=2)):
        if w.ndim == 1:  # biases, batch-norm gamma and beta
            assert not d.any()
        else:
            np.testing.assert_allclose(np.linalg.norm(d.reshape(-1, w.shape[-1]), axis=0),
                                       np.linalg.norm(w.numpy().reshape(-1, w.shape[-1]), axis=0), rtol=1e-9)
