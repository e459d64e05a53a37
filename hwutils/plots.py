"""One figure style for the whole report, and the plot helpers the notebooks share."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

DPI = 110  # on screen (inline in a notebook)
PRINT_DPI = 200  # the saved PNG, and the rasterised parts of the PDF
WIDE = (10, 4)
SQUARE = (5.5, 4.5)
PANELS = (11, 4)
# Artists with more points than this are rasterised inside the PDF (a vector file of 10^5 dots opens slowly and
# prints no better); axes, labels and lines with fewer points stay vector.
RASTER_POINTS = 2000


def use_style() -> None:
    import seaborn as sns
    sns.set_theme(style="whitegrid", context="notebook", palette="deep")
    plt.rcParams.update({"figure.dpi": DPI, "savefig.dpi": PRINT_DPI, "figure.figsize": WIDE,
                         "savefig.bbox": "tight", "axes.titleweight": "bold", "pdf.fonttype": 42})


def _dense(artist) -> bool:
    """Whether `artist` is a dense scatter, surface, filled contour or a line of many points."""
    from matplotlib.collections import Collection
    from matplotlib.lines import Line2D
    if isinstance(artist, Line2D):
        return len(artist.get_xdata()) > RASTER_POINTS
    if isinstance(artist, Collection):
        from matplotlib.collections import PathCollection
        if isinstance(artist, PathCollection):
            return len(artist.get_offsets()) > RASTER_POINTS
        if type(artist).__name__ in ("QuadContourSet", "TriContourSet", "ContourSet"):
            return bool(getattr(artist, "filled", False))  # filled contours: many polygons; contour lines stay vector
        return type(artist).__name__ in ("QuadMesh", "Poly3DCollection")
    return False


def rasterize_dense(fig) -> int:
    """Mark the dense artists of every axis for rasterisation in vector output; return how many."""
    n = 0
    for ax in fig.axes:
        for artist in list(ax.collections) + list(ax.lines):
            if _dense(artist):
                artist.set_rasterized(True)
                n += 1
    return n


def run_context(run) -> str:
    """What every saved figure names: the data, the profile and the seed of its run."""
    params = getattr(run, "params", None) or {}
    data = params.get("dataset") or ({"sinc": "sin(5πx)/(5πx)", "xcosx": "x·cos x"}.get(params.get("target"))
                                     if params.get("target") else None)
    parts = [f"data: {data}" if data else None,
             f"{params['profile']} profile" if params.get("profile") else None,
             f"seed {params['seed']}" if params.get("seed") is not None else None]
    return f"{run.stem} · " + ", ".join(p for p in parts if p) if any(parts) else run.stem


def _name_the_run(fig, context: str) -> None:
    """Put the run's context on top of the figure, above any suptitle, so no title hides it."""
    existing = fig._suptitle.get_text() if fig._suptitle is not None else ""
    if context in existing:
        return
    if existing:
        fig._suptitle.set_text(f"{existing}\n{context}")
        fig._suptitle.set(y=1.0, va="bottom")
    else:
        fig.suptitle(context, y=1.0, va="bottom", fontsize=10, fontweight="normal", color="0.25")


def save_fig(fig, run, name: str, caption: str | None = None) -> str:
    """Save `fig` as <run.out_dir>/<name>.png (PRINT_DPI) and <name>.pdf (vector; dense artists rasterised at
    PRINT_DPI), with stable metadata (no timestamps), a line on top naming the run's data, profile and seed,
    and list it in the run's results with its caption (results.json "captions"; the report page shows it).
    Returns the PNG's path."""
    _name_the_run(fig, run_context(run))
    rasterize_dense(fig)
    title = f"{run.stem}: {name}"
    path = run.out_dir / f"{name}.png"
    fig.savefig(path, dpi=PRINT_DPI, bbox_inches="tight", metadata={"Software": None, "Title": title})
    fig.savefig(run.out_dir / f"{name}.pdf", dpi=PRINT_DPI, bbox_inches="tight",
                metadata={"Creator": None, "Producer": None, "CreationDate": None, "Title": title})
    if path.name not in run.figures:
        run.figures.append(path.name)
    captions = getattr(run, "captions", None)
    if captions is not None and caption:
        captions[path.name] = caption
    return str(path)


def legend_note(ax, note: str, **kwargs) -> None:
    """The legend of `ax`, titled with what its lines and bands are (a median or a mean; a range or an IQR)."""
    ax.legend(title=note, title_fontsize=8, **{"fontsize": 8, **kwargs})


def _finish(ax, xlabel: str, ylabel: str, title: str | None = None, logx: bool = False) -> None:
    """The last touches every scatter-and-line helper shares: scale, labels, title, a small legend."""
    if logx:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)


def band(ax, x, runs, label: str | None = None, color=None, log: bool = False, centre: str = "mean",
         spread: str = "range"):
    """A centre line over `runs` (shape [n_runs, len(x)]) with a band. centre: "mean" (on a log axis the
    geometric mean) or "median"; spread: "range" (min to max) or "iqr" (25th to 75th percentile, which one
    collapsed run does not stretch). Non-finite values are ignored."""
    import warnings
    runs = np.asarray(runs, dtype=float)
    runs = np.where(np.isfinite(runs), runs, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if centre == "median":
            middle = np.nanmedian(runs, axis=0)
        else:
            middle = np.exp(np.nanmean(np.log(runs), axis=0)) if log else np.nanmean(runs, axis=0)
        line, = ax.plot(x, middle, label=label, color=color)
        if len(runs) > 1:
            lo, hi = ((np.nanpercentile(runs, 25, axis=0), np.nanpercentile(runs, 75, axis=0)) if spread == "iqr"
                      else (np.nanmin(runs, axis=0), np.nanmax(runs, axis=0)))
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2)
    if log:
        ax.set_yscale("log")
    return line


def band_note(n: int, centre: str = "mean", spread: str = "range", log: bool = False, what: str = "seeds") -> str:
    """What a band() line and its band are, for the legend's title."""
    middle = {"median": "median", "mean": "geometric mean" if log else "mean"}[centre]
    width = {"range": "range (min to max)", "iqr": "interquartile range"}[spread]
    return f"line: {middle} over {n} {what}; band: {width}" if n > 1 else "one run"


def loss_curves(ax, curves: Mapping[str, Sequence[float] | np.ndarray], log: bool = True,
                xlabel: str = "epoch", ylabel: str = "loss", title: str | None = None):
    """One line per name; a 2-D array is several runs, drawn as mean with a band."""
    runs = 1
    for name, values in curves.items():
        values = np.asarray(values, dtype=float)
        x = np.arange(1, values.shape[-1] + 1)
        if values.ndim == 2:
            band(ax, x, values, label=name, log=log, centre="median", spread="iqr")
            runs = max(runs, len(values))
        else:
            ax.plot(x, values, label=name)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    legend_note(ax, band_note(runs, "median", "iqr"))
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
    ax_acc.set(xlabel="epoch", ylabel="accuracy (fraction)")
    legend_note(ax_acc, "solid: train; dashed: test")
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


# ------------------------------------------------------------------ 1-1: bands over seeds, paired seeds
def train_test_bands(ax, runs: Mapping[str, Mapping[str, np.ndarray]], ylabel: str = "loss", log: bool = False,
                     xlabel: str = "epoch", title: str | None = None):
    """Per model, its training (solid) and test (dashed) curve over epochs: the median over seeds
    with an interquartile band (one collapsed seed does not stretch it), one colour per model; the legend
    says so. `runs[name]["train"]` and `runs[name]["test"]` are arrays [seeds, epochs] (a missing split is
    skipped; NaN marks epochs a diverged seed lacks)."""
    seeds = 1
    for i, (name, splits) in enumerate(runs.items()):
        for split, style in (("train", "-"), ("test", "--")):
            if split in splits and np.size(splits[split]):
                values = np.atleast_2d(np.asarray(splits[split], dtype=float))
                line = band(ax, np.arange(1, values.shape[1] + 1), values, label=f"{name} {split}",
                            color=f"C{i}", log=log, centre="median", spread="iqr")
                line.set_linestyle(style)
                seeds = max(seeds, len(values))
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if title:
        ax.set_title(title)
    legend_note(ax, band_note(seeds, "median", "iqr") + "; solid: train, dashed: test")
    return ax


def prediction_bands(ax, x, truth, preds: Mapping[str, np.ndarray], title: str | None = None):
    """Each model's predicted curve against the ground truth: the median over seeds as a line,
    the range over seeds as a band. `preds[name]` is [seeds, len(x)] (or one curve [len(x)])."""
    x = np.asarray(x, dtype=float)
    ax.plot(x, truth, color="black", lw=2.5, label="ground truth")
    seeds = 1
    for i, (name, y) in enumerate(preds.items()):
        y = np.atleast_2d(np.asarray(y, dtype=float))
        ax.plot(x, np.nanmedian(y, axis=0), lw=1.3, color=f"C{i}", label=name)
        if len(y) > 1:
            ax.fill_between(x, np.nanmin(y, axis=0), np.nanmax(y, axis=0), color=f"C{i}", alpha=0.15)
        seeds = max(seeds, len(y))
    ax.set(xlabel="x", ylabel="y = f(x)")
    if title:
        ax.set_title(title)
    legend_note(ax, band_note(seeds, "median", "range").replace("line: median", "line: pointwise median"))
    return ax


def paired_by_seed(ax, names: Sequence[str], values, ylabel: str, log: bool = False, title: str | None = None):
    """One measure of several models over seeds, drawn as pairs: a thin grey line per seed through
    its value for every model (values [seeds, models]; the models trained on the same batches),
    and each model's mean over seeds as a marker. NaN (a diverged seed) leaves a gap."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    pos = np.arange(len(names))
    for row in values:
        ax.plot(pos, row, "-", color="0.6", lw=0.8, marker=".", zorder=1)
    centre = np.exp(np.nanmean(np.log(values), axis=0)) if log else np.nanmean(values, axis=0)
    ax.plot(pos, centre, "D", color="C3", ms=7, zorder=2, label="geometric mean" if log else "mean")
    ax.set_xticks(pos, list(names))
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    legend_note(ax, f"grey: one line per seed ({len(values)}), through its models")
    return ax


# ------------------------------------------------------------------ 1-3 flatness: interpolation, measure vs batch size
def _nanmean(values, axis=0):
    """Mean over the finite values; NaN (quietly) where there are none."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


def _legend_both(ax, twin, note: str | None = None, **kwargs):
    """One legend for the lines of an axis and its twin, titled with `note` (what the lines and bands are)."""
    lines = [l for a in (ax, twin) if a is not None for l in a.get_lines() if not l.get_label().startswith("_")]
    if note:
        kwargs.update(title=note, title_fontsize=8)
    ax.legend(lines, [l.get_label() for l in lines], **kwargs)


def interpolation_curve(ax, alpha, loss: Mapping[str, np.ndarray], accuracy: Mapping[str, np.ndarray] | None = None,
                        ends: Sequence[str] = ("a", "b"), log: bool = True, title: str | None = None):
    """Loss along θ(α) = (1−α)θ_a + αθ_b on the left axis and accuracy on a twin right axis: one line per
    split (first solid, then dashed, dotted), the mean over seeds with a min-max band when a split is an
    array [seeds, len(alpha)] (geometric mean on the log loss axis). Dotted verticals mark α = 0 and 1;
    `ends` names the two models. Returns (ax, twin); twin is None without accuracy."""
    alpha = np.asarray(alpha, dtype=float)
    styles = ("-", "--", ":")
    for i, (name, values) in enumerate(loss.items()):
        band(ax, alpha, np.atleast_2d(np.asarray(values, dtype=float)), label=f"{name} loss", color="C0",
             log=log).set_linestyle(styles[i % 3])
    twin = None
    if accuracy:
        twin = ax.twinx()
        for i, (name, values) in enumerate(accuracy.items()):
            band(twin, alpha, np.atleast_2d(np.asarray(values, dtype=float)), label=f"{name} accuracy",
                 color="C3").set_linestyle(styles[i % 3])
        twin.set_ylabel("accuracy (fraction)", color="C3")
        twin.grid(False)
    for end in (0.0, 1.0):
        ax.axvline(end, color="0.5", ls=":", lw=1)
    ax.set(xlabel=f"α (0: {ends[0]}, 1: {ends[1]})", ylabel="cross-entropy (nats)" + (", log axis" if log else ""))
    if title:
        ax.set_title(title)
    seeds = max([len(np.atleast_2d(v)) for v in list(loss.values()) + list((accuracy or {}).values())] or [1])
    _legend_both(ax, twin, note=band_note(seeds, "mean", "range", log=log), fontsize=8, loc="upper center")
    return ax, twin


def measure_vs_batch(ax, batch_sizes: Sequence[int], values, ylabel: str, reached=None,
                     loss: Mapping[str, np.ndarray] | None = None, title: str | None = None):
    """A measure of every model against its batch size (log₂ axis), with the losses on a twin right axis.

    `values` is [seeds, len(batch_sizes)] (or one row); `reached` (same shape, bool) marks the models that
    reached the training-loss target: they are filled dots and their mean over seeds is the line; models
    that missed it are hollow and left out of the mean. `loss` maps a name ("train", "test") to an array of
    the same shape, drawn as its mean over the same models, grey, on the twin axis. Returns (ax, twin)."""
    bs = np.asarray(batch_sizes, dtype=float)
    order = np.argsort(bs)
    bs = bs[order]
    v = np.atleast_2d(np.asarray(values, dtype=float))[:, order]
    ok = np.ones_like(v, dtype=bool) if reached is None else np.atleast_2d(np.asarray(reached, dtype=bool))[:, order]
    xs = np.broadcast_to(bs, v.shape)
    kept = np.where(ok, v, np.nan)
    ax.plot(bs, _nanmean(kept), "-", color="C3", label=ylabel)
    ax.plot(xs[ok], v[ok], "o", color="C3", ms=4, alpha=0.7, label=f"_{ylabel} models")
    if (~ok).any():
        ax.plot(xs[~ok], v[~ok], "o", mfc="none", color="C3", ms=6, label="missed the loss target")
    ax.set_xscale("log", base=2)
    ax.set(xlabel="batch size", ylabel=ylabel)
    twin = None
    if loss:
        twin = ax.twinx()
        for i, (name, values_) in enumerate(loss.items()):
            w = np.where(ok, np.atleast_2d(np.asarray(values_, dtype=float))[:, order], np.nan)
            twin.plot(bs, _nanmean(w), ("-", "--", ":")[i % 3], color="0.45", marker=".", label=f"{name} loss")
        twin.set_ylabel("loss (cross-entropy, nats)", color="0.45")
        twin.grid(False)
    if title:
        ax.set_title(title)
    _legend_both(ax, twin, note=f"line: mean over the included models; dots: one model each ({v.shape[0]} seeds)",
                 fontsize=8)
    return ax, twin


# ------------------------------------------------------------------ 1-3: a metric against a swept variable
def metric_vs(ax, x, runs: Mapping[str, np.ndarray], xlabel: str, ylabel: str, logx: bool = False,
              missing_at: float | None = None, missing_label: str = "not reached", title: str | None = None):
    """Each named metric against a swept variable x (a corrupted fraction, a parameter count): the
    mean over seeds as a line with markers, the min-max band over seeds, each seed's value as a dot.
    `runs[name]` is [seeds, len(x)] (or one run [len(x)]); NaN marks a seed without a value there
    (a run that never fitted, a diverged one): left out of the mean and, with `missing_at`, drawn
    as a red × at that height (e.g. the epoch budget) so it is not silently dropped."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    missing = []
    for i, (name, values) in enumerate(runs.items()):
        v = np.atleast_2d(np.asarray(values, dtype=float))[:, order]
        ok = np.isfinite(v)
        centre = np.where(ok.any(0), np.where(ok, v, 0).sum(0) / np.maximum(ok.sum(0), 1), np.nan)
        ax.plot(xs, centre, "o-", color=f"C{i}", label=name)
        if len(v) > 1:
            lo = np.where(ok.any(0), np.where(ok, v, np.inf).min(0), np.nan)
            hi = np.where(ok.any(0), np.where(ok, v, -np.inf).max(0), np.nan)
            ax.fill_between(xs, lo, hi, color=f"C{i}", alpha=0.15)
            ax.plot(np.broadcast_to(xs, v.shape)[ok], v[ok], ".", color=f"C{i}", alpha=0.5, label=f"_{name} seeds")
        missing += list(np.broadcast_to(xs, v.shape)[~ok])
    if missing_at is not None and missing:
        ax.plot(missing, [missing_at] * len(missing), "x", color="red", ms=9, mew=2, label=missing_label)
    _finish(ax, xlabel, ylabel, title, logx)
    seeds = max(len(np.atleast_2d(v)) for v in runs.values()) if runs else 1
    legend_note(ax, band_note(seeds) + "; dots: one seed each" if seeds > 1 else "one run")
    return ax


# ------------------------------------------------------------------ 1-2: trajectories, series on twin axes
def trajectory(ax, coords, color=None, labels: Sequence[str] | None = None, color_label: str = "",
               xlabel: str = "", ylabel: str = "", title: str | None = None, vmin=None, vmax=None):
    """Trajectories in a plane: coords [runs, T, 2] (run r's points in order), one line per run through
    its points, the points coloured by `color` [runs, T] (e.g. accuracy at each snapshot) with a
    colour bar, the last point of each run circled. Returns the scatter of all points."""
    coords = np.asarray(coords, dtype=float)
    values = None if color is None else np.asarray(color, dtype=float)
    lo = np.nanmin(values) if values is not None and vmin is None else vmin
    hi = np.nanmax(values) if values is not None and vmax is None else vmax
    points = None
    for r, xy in enumerate(coords):
        ax.plot(xy[:, 0], xy[:, 1], "-", color=f"C{r % 10}", lw=1, alpha=0.7,
                label=labels[r] if labels is not None else f"run {r}")
        ax.plot(xy[-1, 0], xy[-1, 1], "o", mfc="none", color=f"C{r % 10}", ms=9, label=f"_end {r}")
    flat = coords.reshape(-1, 2)
    points = ax.scatter(flat[:, 0], flat[:, 1], c=None if values is None else values.reshape(-1),
                        cmap="viridis", vmin=lo, vmax=hi, s=16, zorder=3)
    if values is not None:
        ax.figure.colorbar(points, ax=ax, label=color_label)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if title:
        ax.set_title(title)
    return points


def twin_curve(ax, x, left, right, left_label: str, right_label: str, left_log: bool = True,
               right_log: bool = True, xlabel: str = "iteration", title: str | None = None, lw: float = 0.8):
    """Two series against the same x: `left` on the left axis (C0), `right` on a twin right axis (C1),
    each optionally on a log scale, with one legend. Returns (ax, twin)."""
    ax.plot(x, left, color="C0", lw=lw, label=left_label)
    twin = ax.twinx()
    twin.plot(x, right, color="C1", lw=lw, label=right_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(left_label, color="C0")
    twin.set_ylabel(right_label, color="C1")
    if left_log:
        ax.set_yscale("log")
    if right_log:
        twin.set_yscale("log")
    twin.grid(False)
    if title:
        ax.set_title(title)
    _legend_both(ax, twin, fontsize=8, loc="upper right")
    return ax, twin


# ------------------------------------------------------------------ 1-2: critical points, noise, loss surfaces
def scatter_marked(ax, x, y, color=None, kept=None, color_label: str = "", excluded_label: str = "left out",
                   xlabel: str = "", ylabel: str = "", logx: bool = False, title: str | None = None,
                   colorbar: bool = True):
    """Points (x, y), coloured by `color` (one colour scale for all points, with a colour bar); points with
    kept=False are drawn as crosses and counted in the legend. Returns the scatter of the kept points."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    kept = np.ones(len(x), dtype=bool) if kept is None else np.asarray(kept, dtype=bool)
    c = None if color is None else np.asarray(color, dtype=float)
    lo, hi = (np.nanmin(c), np.nanmax(c)) if c is not None and np.isfinite(c).any() else (None, None)
    points = ax.scatter(x[kept], y[kept], c=None if c is None else c[kept], cmap="viridis", vmin=lo, vmax=hi,
                        s=22, label=f"kept ({int(kept.sum())})")
    if (~kept).any():
        ax.scatter(x[~kept], y[~kept], c=None if c is None else c[~kept], cmap="viridis", vmin=lo, vmax=hi,
                   marker="x", s=30, label=f"{excluded_label} ({int((~kept).sum())})")
    if c is not None and colorbar:
        ax.figure.colorbar(points, ax=ax, label=color_label)
    _finish(ax, xlabel, ylabel, title, logx)
    return points


def symlog_ticks(linthresh: float, largest: float, per_side: int = 3) -> list[float]:
    """Ticks for a symlog axis from -largest to largest: 0 and at most `per_side` decades beyond ±linthresh on each
    side (every k-th decade), so that the labels of a span of many decades do not overlap."""
    if not (linthresh > 0 and largest > 2 * linthresh):
        return [-linthresh, 0.0, linthresh] if linthresh > 0 else [0.0]
    # The first decade labelled lies at least 2τ out: one inside the linear part ±τ would sit on the label of 0.
    low, high = int(np.ceil(np.log10(2 * linthresh))), int(np.ceil(np.log10(largest)))
    step = max(1, int(np.ceil((high - low) / per_side)))
    decades = [10.0 ** e for e in range(low, high + 1, step)]
    return sorted({0.0, *decades, *(-d for d in decades)})


def _power_of_ten(value, _pos=None) -> str:
    if value == 0:
        return "0"
    e = int(round(np.log10(abs(value))))
    return ("−" if value < 0 else "") + f"$10^{{{e}}}$"


def spectrum(ax, spectra: Mapping[str, Sequence[float]], band: float | None = None, title: str | None = None):
    """Each named eigenvalue spectrum sorted ascending against its index, one marker line per name, on a
    symlog axis whose linear part is the band ±`band` (shaded): eigenvalues inside it are "near zero". The axis
    is labelled at 0, ±τ's decade and a few decades beyond, in powers of ten, so no two labels overlap."""
    from matplotlib.ticker import FuncFormatter, NullLocator
    largest = 0.0
    for name, eig in spectra.items():
        eig = np.sort(np.asarray(eig, dtype=float))
        ax.plot(np.arange(len(eig)), eig, ".", ms=4, label=name)
        largest = max(largest, float(np.max(np.abs(eig))) if len(eig) else 0.0)
    if band is not None and band > 0:
        ax.axhspan(-band, band, color="0.5", alpha=0.2, label=f"near zero: |λ| ≤ τ = {band:.2g}")
        ax.set_yscale("symlog", linthresh=band)
        ax.set_yticks(symlog_ticks(band, largest))
        ax.yaxis.set_major_formatter(FuncFormatter(_power_of_ten))
        ax.yaxis.set_minor_locator(NullLocator())
    ax.set(xlabel="eigenvalue index (ascending)", ylabel="Hessian eigenvalue λ (loss units)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def scatter_panels(fig, axes, x, panels: Mapping[str, tuple], color=None, kept=None, color_label: str = "",
                   excluded_label: str = "left out", xlabel: str = "", logx: bool = False):
    """Several scatter_marked panels of the same points, one per (title: (y, ylabel)) in `panels`, each with its
    title, and one colour bar for all of them (the same colour scale). Returns the last panel's scatter."""
    points = None
    for ax, (title, (y, ylabel)) in zip(axes, panels.items()):
        points = scatter_marked(ax, x, y, color=color, kept=kept, excluded_label=excluded_label, xlabel=xlabel,
                                ylabel=ylabel, logx=logx, title=title, colorbar=False)
    if color is not None and points is not None:
        fig.colorbar(points, ax=list(axes), label=color_label, fraction=0.03, pad=0.02)
    return points


def power_law(ax, x, y, yerr=None, fit: Mapping | None = None, xlabel: str = "", ylabel: str = "",
              label: str = "data", title: str | None = None):
    """y against x on log-log axes, with error bars `yerr` when given; points where x or y is not positive
    cannot be drawn on log axes and are left out (counted in the legend). `fit` = {"slope", "intercept",
    "x"} draws the fitted line exp(intercept)·x^slope over its x, labelled with the slope (and its
    "interval" when given)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = (x > 0) & (y > 0) & np.isfinite(y)
    err = None if yerr is None else np.asarray(yerr, dtype=float)[ok]
    dropped = int((~ok).sum())
    ax.errorbar(x[ok], y[ok], yerr=err, fmt="o", capsize=3,
                label=label + (f" ({dropped} not positive, not shown)" if dropped else ""))
    if fit is not None:
        fx = np.asarray(fit["x"], dtype=float)
        text = f"fit: slope {fit['slope']:.2f}"
        if fit.get("interval") is not None:
            text += f" [{fit['interval'][0]:.2f}, {fit['interval'][1]:.2f}]"
        ax.plot(fx, np.exp(fit["intercept"]) * fx ** fit["slope"], "-", color="C3", label=text)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def curve(ax, x, y, xlabel: str = "", ylabel: str = "", mark: float | None = None, log: bool = False,
          label: str | None = None, title: str | None = None):
    """One line y(x) (a loss along a direction); a dotted vertical at x = mark (the trained point)."""
    line, = ax.plot(np.asarray(x, dtype=float), np.asarray(y, dtype=float), "-", label=label)
    if mark is not None:
        ax.axvline(mark, color="0.5", ls=":", lw=1)
    if log:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if title:
        ax.set_title(title)
    return line


def contour(ax, a, b, z, path=None, mark=None, filled: bool = True, levels: int = 20, color_label: str | None = None,
            xlabel: str = "", ylabel: str = "", title: str | None = None):
    """Contours of z[i][j], the value at (a[i], b[j]): z's first axis runs along the x axis. With `path`
    [T, 2], a white line through its points with the last one circled; `mark` (x, y) is a red star.
    Returns the contour set."""
    a, b, z = np.asarray(a, dtype=float), np.asarray(b, dtype=float), np.asarray(z, dtype=float)
    if z.shape != (len(a), len(b)):
        raise ValueError(f"z must be [len(a), len(b)] = {(len(a), len(b))}, got {z.shape}")
    grid_a, grid_b = np.meshgrid(a, b, indexing="ij")
    cs = (ax.contourf if filled else ax.contour)(grid_a, grid_b, z, levels=levels, cmap="viridis")
    if filled:
        ax.figure.colorbar(cs, ax=ax, label=color_label or "")
    else:
        ax.clabel(cs, fontsize=7)
    if path is not None:
        path = np.asarray(path, dtype=float)
        ax.plot(path[:, 0], path[:, 1], ".-", color="white", label="path")
        ax.plot(path[-1, 0], path[-1, 1], "o", mfc="none", color="white", ms=10, label="_end")
    if mark is not None:
        ax.plot(mark[0], mark[1], "*", color="red", ms=12, label="_mark")
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if title:
        ax.set_title(title)
    return cs


def surface_3d(ax, a, b, z, xlabel: str = "", ylabel: str = "", zlabel: str = "", title: str | None = None):
    """z[i][j] at (a[i], b[j]) as a 3-D surface on `ax` (an axis made with projection="3d")."""
    grid_a, grid_b = np.meshgrid(np.asarray(a, dtype=float), np.asarray(b, dtype=float), indexing="ij")
    surf = ax.plot_surface(grid_a, grid_b, np.asarray(z, dtype=float), cmap="viridis", linewidth=0)
    ax.set(xlabel=xlabel, ylabel=ylabel, zlabel=zlabel)
    if title:
        ax.set_title(title)
    return surf


def null_histogram(ax, null, observed: float, xlabel: str, label: str = "observed", bins: int = 30,
                   title: str | None = None):
    """A statistic's samples under a control null as a histogram, the observed value as a vertical line, the
    null's median dashed and its central 95% shaded. The observed line's label gives the claim's effect too —
    observed minus the null median — which is the number the claims table shows. Returns the bar container."""
    null = np.asarray(null, dtype=float)
    null = null[np.isfinite(null)]
    _, _, bars = ax.hist(null, bins=bins, color="0.6", label=f"null ({len(null)} samples)")
    text = f"{label} {observed:.3g}"
    if len(null):
        lo, hi = np.quantile(null, [0.025, 0.975])
        median = float(np.median(null))
        ax.axvspan(lo, hi, color="0.85", zorder=0, label="null's central 95%")
        ax.axvline(median, color="0.2", ls="--", lw=1.2, label=f"null median {median:.3g}")
        text += f"; effect = observed − null median = {observed - median:.3g}"
    ax.axvline(observed, color="C3", lw=2, label=text)
    from matplotlib.ticker import MaxNLocator
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: whole numbers
    ax.set(xlabel=xlabel, ylabel="count (null samples)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return bars
