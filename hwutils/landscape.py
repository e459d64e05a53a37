"""Loss-landscape geometry: interpolation between minima, filter-normalised directions,
1-D and 2-D surfaces, the noise-perturbation curve and PCA of a training trajectory."""
from __future__ import annotations

from typing import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from .objective import Objective, chunks, flatten, unflatten


def alpha_grid(points: int, low: float = -1.0, high: float = 2.0) -> np.ndarray:
    """`points` values from low to high, with 0 and 1 exactly on the grid."""
    grid = np.linspace(low, high, points)
    return np.unique(np.concatenate([grid, [0.0, 1.0]]))


def _chunk_evaluator(model, loss_fn):
    """A compiled (x, y) -> (summed loss, predictions) for one chunk. The probe model keeps its
    variables while interpolate() assigns new values to them, so one trace (batch dimension
    left open) serves every α and every chunk; evaluating eagerly instead cost a Python pass
    through every layer per chunk, the slow part of interpolating on a full dataset."""
    @tf.function(reduce_retracing=True)
    def evaluate(x, y):
        pred = model(x, training=False)
        return loss_fn(y, pred) * tf.cast(tf.shape(x)[0], pred.dtype), pred
    return evaluate


def _metrics(evaluate, x, y, chunk_size=1024) -> dict:
    """Mean loss and (for classifiers) accuracy of the model behind `evaluate` as it is now."""
    total_loss, correct = 0.0, 0
    for a, b in chunks(len(x), chunk_size):
        loss_sum, pred = evaluate(tf.convert_to_tensor(x[a:b]), tf.convert_to_tensor(y[a:b]))
        total_loss += float(loss_sum)
        if pred.shape[-1] > 1:
            labels = np.argmax(y[a:b], -1) if np.ndim(y) == pred.ndim else np.ravel(y[a:b])
            correct += int(np.sum(np.argmax(pred.numpy(), -1) == labels))
    out = {"loss": total_loss / len(x)}
    if pred.shape[-1] > 1:
        out["accuracy"] = correct / len(x)
    return out


def _evaluate_all(evaluate, data: Mapping, into: dict) -> None:
    for name, (x, y) in data.items():
        for key, value in _metrics(evaluate, x, y).items():
            into.setdefault(f"{name}_{key}", []).append(value if np.isfinite(value) else float("nan"))


def interpolate(model_a, model_b, alphas: Sequence[float], data: Mapping, loss=None) -> dict:
    """Loss and accuracy along θ(α) = (1−α)θ_a + αθ_b on each named dataset.

    Every weight is interpolated, non-trainable state such as batch-norm moving statistics too
    (a moving variance is clipped at zero outside [0, 1]). Neither input model is changed.
    """
    from .objective import loss_function
    wa, wb = model_a.get_weights(), model_b.get_weights()
    if [w.shape for w in wa] != [w.shape for w in wb]:
        raise ValueError("the two models do not have the same architecture")
    names = [v.path for v in model_a.weights]
    probe = keras.models.clone_model(model_a)
    evaluate = _chunk_evaluator(probe, loss_function(model_a, loss))
    out = {"alpha": [float(a) for a in alphas]}
    for alpha in alphas:
        mixed = [(1 - alpha) * a + alpha * b for a, b in zip(wa, wb)]
        mixed = [np.maximum(w, 0) if "moving_variance" in n else w for w, n in zip(mixed, names)]
        probe.set_weights(mixed)
        _evaluate_all(evaluate, data, out)
    return out


def filter_normalized_direction(model, seed: int = 0) -> list[np.ndarray]:
    """Li et al. (2018): a Gaussian direction whose every filter (the last axis of a kernel) has
    the norm of the matching filter of θ; biases and other 1-D weights get zero."""
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


def _steps(steps) -> np.ndarray:
    return np.linspace(-1.0, 1.0, steps) if np.isscalar(steps) else np.asarray(steps, dtype=np.float64)


def surface_1d(model, x, y, direction, steps=21, loss=None, center=None) -> dict:
    """{"alpha", "loss"}: the loss at center + α·direction (center defaults to θ)."""
    obj = Objective(model, loss)
    theta = obj.get_flat()
    origin = theta if center is None else _as_flat(center, obj)
    d = _as_flat(direction, obj)
    alphas = _steps(steps)
    losses = []
    try:
        for a in alphas:
            obj.set_flat(origin + a * d)
            losses.append(obj.loss(x, y))
    finally:
        obj.set_flat(theta)
    return {"alpha": alphas.tolist(), "loss": losses}


def surface_2d(model, x, y, d1, d2, steps=21, loss=None, center=None) -> dict:
    """{"alpha", "beta", "loss"}: loss[i][j] at center + alpha[i]·d1 + beta[j]·d2."""
    obj = Objective(model, loss)
    theta = obj.get_flat()
    origin = theta if center is None else _as_flat(center, obj)
    u, v = _as_flat(d1, obj), _as_flat(d2, obj)
    alphas = _steps(steps)
    grid = np.zeros((len(alphas), len(alphas)))
    try:
        for i, a in enumerate(alphas):
            for j, b in enumerate(alphas):
                obj.set_flat(origin + a * u + b * v)
                grid[i, j] = obj.loss(x, y)
    finally:
        obj.set_flat(theta)
    return {"alpha": alphas.tolist(), "beta": alphas.tolist(), "loss": grid.tolist()}


def perturbation_curve(model, x, y, sigmas: Sequence[float], samples: int = 10, seed: int = 0, loss=None) -> dict:
    """The report's bonus: loss at θ + σ·n, n standard normal, `samples` draws per σ, every draw
    taken from the trained θ (never from the previous draw). θ is restored afterwards."""
    obj = Objective(model, loss)
    theta = obj.get_flat()
    rng = np.random.default_rng(seed)
    means, stds = [], []
    try:
        for sigma in sigmas:
            values = []
            for _ in range(samples):
                obj.set_flat(theta + sigma * rng.standard_normal(obj.n_params))
                values.append(obj.loss(x, y))
            means.append(float(np.mean(values)))
            stds.append(float(np.std(values)))
    finally:
        obj.set_flat(theta)
    return {"sigma": [float(s) for s in sigmas], "mean_loss": means, "std_loss": stds}


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


def weights_like(model, vector: np.ndarray) -> list[np.ndarray]:
    """A flat θ-ordered vector as arrays shaped like model.trainable_weights."""
    return unflatten(vector, model.trainable_weights)
