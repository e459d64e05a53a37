"""1-2 Visualise the optimisation process: weight trajectories of repeated runs, reduced to 2-D."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..ensemble import Ensemble
from ..landscape import pca_directions
from ..plots import save_fig
from .common import fmt, image_data


def layer_columns(widths, layer: int) -> slice:
    """Columns of Dense layer `layer` (kernel then bias) in a member's flattened θ."""
    sizes = [(a + 1) * b for a, b in zip(widths[:-1], widths[1:])]
    if not 0 <= layer < len(sizes):
        raise ValueError(f"layer must be between 0 and {len(sizes) - 1} for widths {widths}")
    start = sum(sizes[:layer])
    return slice(start, start + sizes[layer])


def tsne(points: np.ndarray, perplexity: float, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE
    perplexity = min(perplexity, (len(points) - 1) / 3.0)
    return TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(points)


def run(P) -> dict:
    (x, y), _ = image_data(P, flat=True)
    widths = [x.shape[1], *P.hidden, 10]
    ens = Ensemble(widths, P.runs, loss="sparse_categorical_crossentropy", optimizer="sgd",
                   learning_rate=P.learning_rate, seed=P.seed)
    hist = ens.fit(x, y, P.epochs, P.batch_size, shuffle_seed=P.seed, record_every=P.record_every,
                   label="trajectories")
    epochs = [e for e, _ in hist["snapshots"]]
    weights = np.stack([w for _, w in hist["snapshots"]], axis=1)  # [runs, T, P]
    runs, steps, p = weights.shape
    cols = layer_columns(widths, P.layer)
    spaces = {"model": weights.reshape(runs * steps, p), "layer": weights[:, :, cols].reshape(runs * steps, -1)}
    coords, explained = {}, {}
    for name, points in spaces.items():
        pca = pca_directions(points, k=2)
        coords[f"pca_{name}"] = pca["projections"].reshape(runs, steps, 2)
        explained[name] = pca["explained_variance_ratio"]
        coords[f"tsne_{name}"] = tsne(points, P.tsne_perplexity, P.seed).reshape(runs, steps, 2)
    out_runs = []
    for r in range(runs):
        checkpoints = [{"epoch": epochs[t], "loss": hist["snapshot_metrics"][t]["loss"][r],
                        "accuracy": hist["snapshot_metrics"][t]["accuracy"][r],
                        "pca": coords["pca_model"][r, t], "tsne": coords["tsne_model"][r, t],
                        "layer_pca": coords["pca_layer"][r, t], "layer_tsne": coords["tsne_layer"][r, t]}
                       for t in range(steps)]
        out_runs.append({"seed": r, "diverged": bool(ens.diverged[r]), "checkpoints": checkpoints})
    return {"widths": widths, "params": ens.n_params, "layer": P.layer, "runs": out_runs,
            "pca_explained_variance": {k: v for k, v in explained.items()},
            "final_weights_distance": _mean_pairwise(weights[:, -1]), "initial_weights_distance": _mean_pairwise(weights[:, 0])}


def _mean_pairwise(points: np.ndarray) -> float:
    d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    return float(d[np.triu_indices(len(points), 1)].mean())


def plot(P, results) -> None:
    fig, axes = plt.subplots(2, 2, figsize=(12, 10))
    acc = np.array([[c["accuracy"] for c in r["checkpoints"]] for r in results["runs"]])
    panels = [("pca", "whole model, PCA"), ("layer_pca", f"layer {results['layer']}, PCA"),
              ("tsne", "whole model, t-SNE"), ("layer_tsne", f"layer {results['layer']}, t-SNE")]
    for ax, (key, title) in zip(axes.flat, panels):
        for i, r in enumerate(results["runs"]):
            xy = np.array([c[key] for c in r["checkpoints"]])
            ax.plot(xy[:, 0], xy[:, 1], "-", color=f"C{i % 10}", lw=1, alpha=0.7, label=f"run {r['seed']}")
            points = ax.scatter(xy[:, 0], xy[:, 1], c=acc[i], cmap="viridis", vmin=np.nanmin(acc), vmax=np.nanmax(acc),
                                s=18, zorder=3)
            ax.annotate(f"{acc[i, -1]:.0%}", xy[-1], fontsize=8)
        if key.endswith("pca"):
            ev = results["pca_explained_variance"]["model" if key == "pca" else "layer"]
            ax.set_xlabel(f"PC1 ({ev[0]:.0%} of variance)")
            ax.set_ylabel(f"PC2 ({ev[1]:.0%})")
        ax.set_title(title)
    fig.colorbar(points, ax=axes, label="training accuracy", shrink=0.6)
    axes[0, 0].legend(fontsize=7, ncol=2)
    fig.suptitle(f"Weights every {P.record_every} epochs of {len(results['runs'])} SGD runs (label: final accuracy)")
    save_fig(fig, P, "trajectories")
    plt.show()


def findings(results) -> list[str]:
    final_acc = np.array([r["checkpoints"][-1]["accuracy"] for r in results["runs"]])
    ev = results["pca_explained_variance"]
    lines = [f"Final training accuracy of the {len(final_acc)} runs: {final_acc.min():.1%} to {final_acc.max():.1%} "
             f"(median {np.median(final_acc):.1%}).",
             f"The first two principal components explain {sum(ev['model']):.0%} of the variance of the whole-model "
             f"trajectories and {sum(ev['layer']):.0%} for layer {results['layer']}.",
             f"Mean distance between the runs' weights: {fmt(results['initial_weights_distance'])} at initialisation, "
             f"{fmt(results['final_weights_distance'])} at the end: "
             + ("the runs ended far apart, at different minima, all with similar accuracy — the report's reading "
                "(many local minima) is consistent with this run."
                if results["final_weights_distance"] >= 0.5 * results["initial_weights_distance"]
                else "the runs converged towards one another.")]
    return lines
