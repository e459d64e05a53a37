"""1-2 Bonus: the loss under parameter noise, and the loss landscape around the trained minimum."""
from __future__ import annotations

import keras
import matplotlib.pyplot as plt
import numpy as np

from ..landscape import filter_normalized_direction, pca_directions, perturbation_curve, surface_1d, surface_2d
from ..models import image_mlp
from ..objective import flatten
from ..plots import save_fig
from ..training import compile_classifier, fit
from .common import fmt, image_data

EVAL_POINTS = 1000  # the surfaces are evaluated on at most this many training points


class _Snapshots(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_train_begin(self, logs=None):
        self.weights.append(flatten([w.numpy() for w in self.model.trainable_weights]))

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(flatten([w.numpy() for w in self.model.trainable_weights]))


def run(P) -> dict:
    train, test = image_data(P)
    model = compile_classifier(image_mlp(train[0].shape[1:], P.hidden, name="mlp"), "adam", P.learning_rate)
    snaps = _Snapshots()
    history = fit(model, train, test, P.epochs, P.batch_size, label="training", callbacks=[snaps])
    x, y = train[0][:EVAL_POINTS], train[1][:EVAL_POINTS]
    noise = perturbation_curve(model, x, y, P.sigmas, P.noise_samples, seed=P.seed)
    d1 = filter_normalized_direction(model, seed=P.seed)
    d2 = filter_normalized_direction(model, seed=P.seed + 1)
    steps = np.linspace(-P.span, P.span, P.grid)
    line = surface_1d(model, x, y, d1, steps)
    plane = surface_2d(model, x, y, d1, d2, steps)
    # The trajectory's own plane: PCA of the snapshots, the surface spanned around their mean.
    pca = pca_directions(snaps.weights, k=2)
    proj = pca["projections"]
    lo, hi = proj.min(0), proj.max(0)
    margin = 0.25 * (hi - lo) + 1e-8
    a_steps = np.linspace(lo[0] - margin[0], hi[0] + margin[0], P.grid)
    b_steps = np.linspace(lo[1] - margin[1], hi[1] + margin[1], P.grid)
    traj = _plane_surface(model, x, y, pca, a_steps, b_steps)
    grid = np.asarray(plane["loss"])
    i, j = np.unravel_index(np.nanargmin(grid), grid.shape)
    return {"history": history, "perturbation": noise, "surface_1d": line, "surface_2d": plane,
            "surface_2d_extent": [float(steps[0]), float(steps[-1])],
            "surface_2d_min": {"alpha": float(steps[i]), "beta": float(steps[j]), "loss": float(grid[i, j])},
            "trajectory": {"projections": proj, "explained_variance": pca["explained_variance_ratio"],
                           "alpha": a_steps, "beta": b_steps, "loss": traj}}


def _plane_surface(model, x, y, pca, a_steps, b_steps):
    u, v = pca["components"]
    grid = np.zeros((len(a_steps), len(b_steps)))
    for i, a in enumerate(a_steps):  # one row at a time: surface_1d along v from mean + a·u
        grid[i] = surface_1d(model, x, y, v, b_steps, center=pca["mean"] + a * u)["loss"]
    return grid


def plot(P, results) -> None:
    noise = results["perturbation"]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 4.2))
    ax0.errorbar(noise["sigma"], noise["mean_loss"], yerr=noise["std_loss"], marker="o", capsize=3)
    ax0.set(xscale="symlog", xlabel="noise scale σ", ylabel="training loss",
            title="Loss at θ + σ·n (every draw from the trained θ)")
    ax0.set_xscale("symlog", linthresh=min([s for s in noise["sigma"] if s > 0] or [1e-3]))
    line = results["surface_1d"]
    ax1.plot(line["alpha"], line["loss"])
    ax1.set(xlabel="α along a filter-normalised direction", ylabel="training loss", title="1-D loss landscape")
    fig.tight_layout()
    save_fig(fig, P, "noise_and_1d")
    plt.show()

    plane = results["surface_2d"]
    a, b = np.meshgrid(plane["alpha"], plane["beta"], indexing="ij")
    z = np.log10(np.asarray(plane["loss"]))
    fig = plt.figure(figsize=(12, 5))
    ax = fig.add_subplot(1, 2, 1)
    cs = ax.contour(a, b, z, levels=20, cmap="viridis")
    ax.clabel(cs, fontsize=7)
    ax.plot(0, 0, "r*", ms=12)
    ax.set(xlabel="direction 1", ylabel="direction 2", title="log10 loss, filter-normalised plane")
    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    ax3.plot_surface(a, b, z, cmap="viridis", linewidth=0)
    ax3.set(xlabel="direction 1", ylabel="direction 2", zlabel="log10 loss")
    save_fig(fig, P, "surface_2d")
    plt.show()

    t = results["trajectory"]
    a, b = np.meshgrid(t["alpha"], t["beta"], indexing="ij")
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    cs = ax.contourf(a, b, np.log10(np.asarray(t["loss"])), levels=25, cmap="viridis")
    fig.colorbar(cs, label="log10 training loss")
    proj = np.asarray(t["projections"])
    ax.plot(proj[:, 0], proj[:, 1], "w.-")
    ax.plot(*proj[-1], "r*", ms=12)
    ev = t["explained_variance"]
    ax.set(xlabel=f"PC1 ({ev[0]:.0%} of the path's variance)", ylabel=f"PC2 ({ev[1]:.0%})",
           title="Training path in its own PCA plane")
    save_fig(fig, P, "trajectory_plane")
    plt.show()


def loglog_slope(sigmas, losses, base: float) -> float:
    """Slope of log(mean loss − trained loss) against log σ over the two smallest positive σ."""
    pts = [(s, l - base) for s, l in zip(sigmas, losses) if s > 0 and l - base > 0][:2]
    if len(pts) < 2:
        return float("nan")
    (s1, d1), (s2, d2) = pts
    return float(np.log(d2 / d1) / np.log(s2 / s1))


def findings(results) -> list[str]:
    noise = results["perturbation"]
    sig, mean = noise["sigma"], noise["mean_loss"]
    base = mean[sig.index(0.0)] if 0.0 in sig else results["surface_1d"]["loss"][len(results["surface_1d"]["loss"]) // 2]
    slope = loglog_slope(sig, mean, base)
    lines = [f"Trained loss {fmt(base)}; at the largest noise σ = {sig[-1]:g} the mean loss is {fmt(mean[-1])} "
             f"({fmt(mean[-1] / base)}× the trained loss).",
             f"At small σ the loss increase grows like σ^{fmt(slope, 2)}: " +
             ("close to linear, as the report described." if abs(slope - 1) < 0.5 else
              "close to quadratic, as the curvature of a minimum predicts (the report saw near-linear growth)."
              if abs(slope - 2) < 0.5 else "neither clearly linear nor quadratic.")]
    m = results["surface_2d_min"]
    lines.append(f"The lowest point of the filter-normalised plane is at ({m['alpha']:.2f}, {m['beta']:.2f}) with loss "
                 f"{fmt(m['loss'])}" + (": the trained weights sit at the minimum of that plane." if
                                         abs(m["alpha"]) < 1e-9 and abs(m["beta"]) < 1e-9 else
                                         ", off the trained point: the minimum of the plane is not exactly θ."))
    ev = results["trajectory"]["explained_variance"]
    lines.append(f"The first two PCA directions explain {sum(ev):.0%} of the training path's variance.")
    return lines
