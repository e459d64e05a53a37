"""One figure style for the whole report, and the plot helpers the notebooks share."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

DPI = 110
WIDE = (10, 4)
SQUARE = (5.5, 4.5)
PANELS = (11, 4)


def use_style() -> None:
    import seaborn as sns
    sns.set_theme(style="whitegrid", context="notebook", palette="deep")
    plt.rcParams.update({"figure.dpi": DPI, "savefig.dpi": DPI, "figure.figsize": WIDE,
                         "savefig.bbox": "tight", "axes.titleweight": "bold"})


def save_fig(fig, run, name: str) -> str:
    """Save `fig` as <run.out_dir>/<name>.png with stable metadata (no timestamps) and list it
    in the run's results."""
    path = run.out_dir / f"{name}.png"
    fig.savefig(path, metadata={"Software": None, "Title": f"{run.stem}: {name}"})
    if path.name not in run.figures:
        run.figures.append(path.name)
    return str(path)


def band(ax, x, runs, label: str | None = None, color=None, log: bool = False):
    """Mean of `runs` (shape [n_runs, len(x)]) with a min-max band. Non-finite values are ignored.
    On a log axis the geometric mean is the centre line."""
    runs = np.asarray(runs, dtype=float)
    runs = np.where(np.isfinite(runs), runs, np.nan)
    centre = np.exp(np.nanmean(np.log(runs), axis=0)) if log else np.nanmean(runs, axis=0)
    line, = ax.plot(x, centre, label=label, color=color)
    if len(runs) > 1:
        ax.fill_between(x, np.nanmin(runs, axis=0), np.nanmax(runs, axis=0), color=line.get_color(), alpha=0.2)
    if log:
        ax.set_yscale("log")
    return line


def loss_curves(ax, curves: Mapping[str, Sequence[float] | np.ndarray], log: bool = True,
                xlabel: str = "epoch", ylabel: str = "loss", title: str | None = None):
    """One line per name; a 2-D array is several runs, drawn as mean with a band."""
    for name, values in curves.items():
        values = np.asarray(values, dtype=float)
        x = np.arange(1, values.shape[-1] + 1)
        if values.ndim == 2:
            band(ax, x, values, label=name, log=log)
        else:
            ax.plot(x, values, label=name)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def predictions(ax, x, truth, preds: Mapping[str, np.ndarray], title: str | None = None):
    """Each model's predicted curve against the ground truth."""
    ax.plot(x, truth, color="black", lw=2.5, label="ground truth")
    for name, y in preds.items():
        ax.plot(x, y, lw=1.3, label=name)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def history_panels(histories: Mapping[str, Mapping[str, Sequence[float]]], title: str | None = None):
    """Loss and accuracy per epoch: train solid, test dashed, one color per model.
    A diverged history is drawn up to its divergence and marked in the legend."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=PANELS)
    for i, (name, h) in enumerate(histories.items()):
        color = f"C{i}"
        label = name + (" (diverged)" if h.get("diverged") else "")
        for split, style in (("train", "-"), ("test", "--")):
            x = np.arange(1, len(h[f"{split}_loss"]) + 1)
            ax_loss.plot(x, h[f"{split}_loss"], style, color=color, label=f"{label} {split}")
            if f"{split}_accuracy" in h:
                ax_acc.plot(x, h[f"{split}_accuracy"], style, color=color, label=f"{label} {split}")
    ax_loss.set(xlabel="epoch", ylabel="loss", yscale="log")
    ax_acc.set(xlabel="epoch", ylabel="accuracy")
    ax_acc.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def metric_vs_params(params: Sequence[int], series: Mapping[str, Sequence[float]], ylabel: str, ax=None,
                     logx: bool = True):
    """Metrics (e.g. train and test loss) against the number of parameters."""
    if ax is None:
        _, ax = plt.subplots(figsize=SQUARE)
    order = np.argsort(params)
    for name, values in series.items():
        ax.plot(np.asarray(params)[order], np.asarray(values)[order], "o-", label=name)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel("number of parameters")
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax
