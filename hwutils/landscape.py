"""Loss-landscape geometry: interpolation between minima, filter-normalised directions,
1-D and 2-D surfaces, the noise-perturbation curve and PCA of a training trajectory.

Every loss here is the one definition of `hwutils.loss` (the compiled loss with its loss_weights and
sample weights, plus model.losses, in inference mode), evaluated through the model's cached
`measures.objective`, on any compiled Keras model and any data `hwutils.batches.of` takes."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from . import batches
from .objective import Objective, flatten


def alpha_grid(points: int, low: float = -1.0, high: float = 2.0) -> np.ndarray:
    """`points` values from low to high, with 0 and 1 exactly on the grid."""
    grid = np.linspace(low, high, points)
    return np.unique(np.concatenate([grid, [0.0, 1.0]]))


def _data(source):
    """A named dataset of `interpolate`: a tuple is (x, y) or (x, y, sample_weight), anything else a batch
    source."""
    return batches.of(*source) if isinstance(source, tuple) and len(source) in (2, 3) else batches.of(source)


def interpolate(model_a, model_b, alphas: Sequence[float], data: Mapping, loss=None) -> dict:
    """Loss and accuracy along θ(α) = (1−α)θ_a + αθ_b on each named dataset.

    model_a, model_b: two compiled Keras models of one architecture (functional, Sequential or
    subclassed). data: {name: (x, y)}, {name: (x, y, sample_weight)} or {name: any batch source}
    (`hwutils.batches`). loss: replaces model_a's compiled loss when given.

    Every weight is interpolated, non-trainable state such as batch-norm moving statistics too
    (a moving variance is clipped at zero outside [0, 1]). The loss is the one definition every measure
    uses (`hwutils.loss`: compiled loss with loss_weights and sample weights, plus model.losses, in
    inference mode), the same as `measures.objective(model_a).loss` at the mixed weights. The mixed
    weights are written into model_a itself (no clone: clone_model fails on subclassed models) and its
    own weights restored afterwards, so neither input model is changed.

    Returns {"alpha": [...], "<name>_loss": [...], "<name>_accuracy": [...] (single-output classifiers),
    "precision": the dtype the loss was computed in}.
    """
    wa, wb = model_a.get_weights(), model_b.get_weights()
    if [w.shape for w in wa] != [w.shape for w in wb]:
        raise ValueError("the two models do not have the same architecture")
    names = [v.path for v in model_a.weights]
    obj = _objective(model_a, loss)
    sources = {name: _data(source) for name, source in data.items()}
    out = {"alpha": [float(a) for a in alphas]}
    try:
        for alpha in alphas:
            mixed = [(1 - alpha) * a + alpha * b for a, b in zip(wa, wb)]
            mixed = [np.maximum(w, 0) if "moving_variance" in n else w for w, n in zip(mixed, names)]
            model_a.set_weights(mixed)
            for name, source in sources.items():
                for key, value in obj.evaluate(source).items():
                    out.setdefault(f"{name}_{key}", []).append(value if np.isfinite(value) else float("nan"))
    finally:
        model_a.set_weights(wa)
    out["precision"] = obj.precision
    return out


def filter_normalized_direction(model, seed: int = 0) -> list[np.ndarray]:
    """Li et al. (2018): a Gaussian direction whose every filter (the last axis of a kernel) has
    the norm of the matching filter of θ; biases and other 1-D weights (batch-norm scales and offsets)
    get zero. Accepts any Keras model; returns float64 arrays shaped like `model.trainable_weights`."""
    rng = np.random.default_rng(seed)
    direction = []
    for w in model.trainable_weights:
        theta = np.asarray(w.numpy(), dtype=np.float64)
        if theta.ndim <= 1:
            direction.append(np.zeros_like(theta))
            continue
        d = rng.standard_normal(theta.shape)
        axes = tuple(range(theta.ndim - 1))
        d *= np.sqrt(np.sum(theta ** 2, axis=axes)) / (np.sqrt(np.sum(d ** 2, axis=axes)) + 1e-12)
        direction.append(d)
    return direction


def _as_flat(direction, obj: Objective) -> np.ndarray:
    flat = flatten(direction) if isinstance(direction, (list, tuple)) else np.asarray(direction, dtype=np.float64)
    if flat.shape != (obj.n_params,):
        raise ValueError(f"a direction must have {obj.n_params} entries, got {flat.shape}")
    return flat


def _objective(model, loss) -> Objective:
    """The model's cached Objective (measures.objective): its traced loss is reused by every
    surface and curve of the same model instead of being traced again per call."""
    from .measures import objective
    return objective(model, loss)


def _steps(steps) -> np.ndarray:
    return np.linspace(-1.0, 1.0, steps) if np.isscalar(steps) else np.asarray(steps, dtype=np.float64)


def surface_1d(model, x, y=None, direction=None, steps=21, loss=None, center=None, *, sample_weight=None) -> dict:
    """{"alpha", "loss", "precision"}: the loss at center + α·direction (center defaults to θ), for α in
    `steps` (a count of points in [-1, 1], or the values). direction, center: flat vectors [P] or lists of
    weight arrays (e.g. `filter_normalized_direction`). Data: arrays, or a batch source as x
    (`hwutils.measures`); with a batch source pass direction by name. θ is restored afterwards."""
    data = batches.of(x, y, sample_weight)  # first: a direction passed where y goes is reported as such
    if direction is None:
        raise TypeError("surface_1d needs a direction")
    obj = _objective(model, loss)
    theta = obj.get_flat()
    origin = theta if center is None else _as_flat(center, obj)
    d = _as_flat(direction, obj)
    alphas = _steps(steps)
    losses = []
    try:
        for a in alphas:
            obj.set_flat(origin + a * d)
            losses.append(obj.loss(data))
    finally:
        obj.set_flat(theta)
    return {"alpha": alphas.tolist(), "loss": losses, "precision": obj.precision}


def surface_2d(model, x, y=None, d1=None, d2=None, steps=21, loss=None, center=None, beta_steps=None, *,
               sample_weight=None) -> dict:
    """{"alpha", "beta", "loss", "precision"}: loss[i][j] at center + alpha[i]·d1 + beta[j]·d2; the beta
    grid is `beta_steps` when given, else the same as alpha's. Accepts what `surface_1d` accepts (with a
    batch source pass d1 and d2 by name). θ is restored afterwards."""
    data = batches.of(x, y, sample_weight)
    if d1 is None or d2 is None:
        raise TypeError("surface_2d needs two directions d1 and d2")
    obj = _objective(model, loss)
    theta = obj.get_flat()
    origin = theta if center is None else _as_flat(center, obj)
    u, v = _as_flat(d1, obj), _as_flat(d2, obj)
    alphas = _steps(steps)
    betas = alphas if beta_steps is None else _steps(beta_steps)
    grid = np.zeros((len(alphas), len(betas)))
    try:
        for i, a in enumerate(alphas):
            for j, b in enumerate(betas):
                obj.set_flat(origin + a * u + b * v)
                grid[i, j] = obj.loss(data)
    finally:
        obj.set_flat(theta)
    return {"alpha": alphas.tolist(), "beta": betas.tolist(), "loss": grid.tolist(), "precision": obj.precision}


def perturbation_curve(model, x, y, sigmas: Sequence[float], samples: int = 10, seed: int = 0, loss=None,
                       antithetic: bool = False) -> dict:
    """The report's bonus: loss at θ + σ·n, n standard normal, `samples` draws per σ, every draw
    taken from the trained θ (never from the previous draw). θ is restored afterwards.
    "losses" holds every draw: [len(sigmas), samples]. With antithetic=True the draws come in
    pairs n, −n (samples rounded up to even; "antithetic" is set in the result): the mean is still
    an unbiased estimate of E[L(θ + σn)], and each pair cancels the first-order term σ·gᵀn that a
    remaining gradient g adds to single draws."""
    obj = _objective(model, loss)
    theta = obj.get_flat()
    rng = np.random.default_rng(seed)
    means, stds, draws = [], [], []
    try:
        for sigma in sigmas:
            values = []
            for _ in range(-(-samples // 2) if antithetic else samples):
                n = rng.standard_normal(obj.n_params)
                for sign in ((1.0, -1.0) if antithetic else (1.0,)):
                    obj.set_flat(theta + sign * sigma * n)
                    values.append(obj.loss(x, y))
            means.append(float(np.mean(values)))
            stds.append(float(np.std(values)))
            draws.append(values)
    finally:
        obj.set_flat(theta)
    return {"sigma": [float(s) for s in sigmas], "mean_loss": means, "std_loss": stds, "losses": draws,
            "antithetic": bool(antithetic)}


def pca_directions(weight_snapshots, k: int = 2) -> dict:
    """PCA of a trajectory: snapshots [T, P] (or a list of weight lists) centred on their mean.

    Returns {"mean" [P], "components" [k, P] (unit vectors), "explained_variance_ratio" [k],
    "projections" [T, k]}: the coordinates of each snapshot in the plane of the components.
    """
    rows = [flatten(s) if isinstance(s, (list, tuple)) else np.ravel(s) for s in weight_snapshots]
    s = np.asarray(rows, dtype=np.float64)
    if len(s) < 2:
        raise ValueError("PCA needs at least two snapshots")
    mean = s.mean(axis=0)
    centred = s - mean
    _, sing, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(k, len(sing))
    total = float(np.sum(sing ** 2))
    ratio = (sing[:k] ** 2 / total) if total > 0 else np.zeros(k)
    return {"mean": mean, "components": vt[:k], "explained_variance_ratio": ratio,
            "projections": centred @ vt[:k].T}



# ------------------------------------------------------------------ trajectories and barriers
def trajectory_points(snapshots, columns=None) -> np.ndarray:
    """The rows that PCA and t-SNE see: snapshots [runs, T, P] (run r's θ at its T recorded epochs)
    -> [runs·T, p], run-major (row r·T + t is run r at its t-th snapshot), restricted to `columns`
    (e.g. models.layer_columns) when given."""
    s = np.asarray(snapshots, dtype=np.float64)
    if s.ndim != 3:
        raise ValueError(f"snapshots must be [runs, T, P], got shape {s.shape}")
    if columns is not None:
        s = s[:, :, columns]
    return s.reshape(s.shape[0] * s.shape[1], s.shape[2])


def tsne(points, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """2-D t-SNE embedding of the rows of `points` (scikit-learn, PCA initialisation). The perplexity
    is capped at (rows − 1) / 3, the largest scikit-learn accepts for few points. One OpenMP thread:
    on a few hundred points, more threads only spin (measured: 0.6 s CPU with one, 22 s with the
    default on a loaded 2-core machine)."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits
    points = np.asarray(points, dtype=np.float64)
    perplexity = min(float(perplexity), (len(points) - 1) / 3.0)
    with threadpool_limits(1):
        return TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(points)


def barrier_height(losses, alphas) -> float:
    """Loss barrier on the straight line between two weight vectors: max over α ∈ [0, 1] of L(θ(α))
    minus the larger of the two ends L(θ(0)), L(θ(1)). Zero when the loss never rises above both
    ends (one basin, as far as the line shows); α outside [0, 1] is ignored."""
    alphas, losses = np.asarray(alphas, dtype=float), np.asarray(losses, dtype=float)
    inside = (alphas >= 0) & (alphas <= 1)
    ends = [losses[np.isclose(alphas, a)] for a in (0.0, 1.0)]
    if any(e.size == 0 for e in ends):
        raise ValueError("the α grid must contain 0 and 1")
    return float(np.max(losses[inside]) - max(ends[0][0], ends[1][0]))


def perturbation_slope(curve: Mapping, base: float, points: int = 3, resamples: int = 2000, seed: int = 0) -> dict:
    """How the mean loss increase under noise grows at small σ: the least-squares slope of
    log(mean Δ) against log σ over the `points` smallest positive σ of a `perturbation_curve`,
    Δ = L(θ + σn) − base, base = L(θ). At a minimum (g = 0) E[Δ] = ½σ²·tr H + O(σ⁴): slope 2; a
    remaining gradient adds σ·gᵀn, whose mean over draws is zero but whose sample mean is not.

    Interval: percentile bootstrap over the noise draws (each σ's draws resampled with replacement,
    independently, as they were drawn; antithetic pairs resampled as pairs). "draws" counts the
    independent units per σ. A mean Δ ≤ 0 has no logarithm: if the data's own means are
    not all positive the slope is NaN; bootstrap resamples with a non-positive mean are counted in
    "undefined", and if more than 2.5% are undefined the interval is (NaN, NaN).

    Returns {"slope", "intercept", "interval", "sigmas", "mean_delta", "x" (σ of the fit), "draws"
    (per σ), "undefined" (fraction of resamples), "replicates"}.
    """
    sig = np.asarray(curve["sigma"], dtype=float)
    draws = [np.asarray(d, dtype=float) - base for d in curve["losses"]]
    if curve.get("antithetic"):  # the independent units are the pairs (n, −n): resample pair means
        draws = [d.reshape(-1, 2).mean(axis=1) for d in draws]
    use = [i for i in np.argsort(sig) if sig[i] > 0][:points]
    nan2 = (float("nan"), float("nan"))
    out = {"sigmas": sig[use].tolist(), "x": sig[use].tolist(), "draws": [len(draws[i]) for i in use],
           "antithetic": bool(curve.get("antithetic")),
           "mean_delta": [float(np.mean(draws[i])) for i in use]}
    if len(use) < 2:
        return {**out, "slope": float("nan"), "intercept": float("nan"), "interval": nan2, "undefined": 1.0,
                "replicates": np.zeros(0)}
    logs = np.log(sig[use])

    means = np.array(out["mean_delta"])
    with np.errstate(invalid="ignore", divide="ignore"):
        slopes, intercepts = _polyfit_rows(logs, np.log(np.where(means > 0, means, np.nan))[None])
    slope, intercept = slopes[0], intercepts[0]
    rng = np.random.default_rng(seed)
    boot = np.stack([rng.choice(draws[i], size=(resamples, len(draws[i])), replace=True).mean(axis=1)
                     for i in use], axis=1)  # [resamples, points]
    with np.errstate(invalid="ignore", divide="ignore"):
        reps, _ = _polyfit_rows(logs, np.log(np.where(boot > 0, boot, np.nan)))
    undefined = float(np.mean(~np.isfinite(reps)))
    interval = nan2 if undefined > 0.025 or not np.isfinite(slope) else \
        tuple(float(q) for q in np.quantile(reps[np.isfinite(reps)], [0.025, 0.975]))
    return {**out, "slope": float(slope), "intercept": float(intercept), "interval": interval,
            "undefined": undefined, "replicates": reps}


def _polyfit_rows(x, ys):
    """Least-squares line through (x, ys[r]) for every row r: (slopes, intercepts); NaN rows give NaN."""
    xc = x - x.mean()
    slopes = (ys - ys.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)
    return slopes, ys.mean(axis=1) - slopes * x.mean()


def chord_barrier(losses, alphas) -> float:
    """How far the loss on the straight line between two minima rises above the straight chord between
    its ends: max over 0 < α < 1 of L(θ(α)) − [(1−α)·L(θ(0)) + α·L(θ(1))] (the barrier of Frankle et
    al. 2020). Positive: a barrier separates the two minima; negative: the loss along the line stays
    below the chord (a convex valley, no barrier). Unlike `barrier_height` it can come out either way.
    The α grid must contain 0, 1 and at least one point between them."""
    alphas, losses = np.asarray(alphas, dtype=float), np.asarray(losses, dtype=float)
    inside = (alphas > 0) & (alphas < 1)
    ends = [losses[np.isclose(alphas, a)] for a in (0.0, 1.0)]
    if any(e.size == 0 for e in ends) or not inside.any():
        raise ValueError("the α grid must contain 0, 1 and a point between them")
    chord = (1 - alphas[inside]) * ends[0][0] + alphas[inside] * ends[1][0]
    return float(np.max(losses[inside] - chord))


def local_rise(losses, alphas, at: float, delta: float) -> float:
    """Mean rise of the loss a step |Δα| = delta either side of α = `at` on an interpolation curve:
    (L(at − delta) + L(at + delta)) / 2 − L(at), values between grid points interpolated linearly.
    Compared at α = 0 and α = 1, the smaller rise marks the flatter of the two minima along the line."""
    alphas, losses = np.asarray(alphas, dtype=float), np.asarray(losses, dtype=float)
    if at - delta < alphas.min() or at + delta > alphas.max() or delta <= 0:
        raise ValueError(f"α = {at} ± {delta} must lie inside the grid [{alphas.min()}, {alphas.max()}] (delta > 0)")
    below, centre, above = np.interp([at - delta, at, at + delta], alphas, losses)
    return float((below + above) / 2 - centre)


def line_summary(losses, alphas, delta: float) -> dict:
    """The interpolation curve between two minima in three numbers: its `chord_barrier`, and the
    `local_rise` a step |Δα| = delta either side of each end (rise_a at α = 0, rise_b at α = 1)."""
    return {"barrier": chord_barrier(losses, alphas), "rise_a": local_rise(losses, alphas, 0.0, delta),
            "rise_b": local_rise(losses, alphas, 1.0, delta)}
