"""Each plot helper draws what it was given (the plotted data read back from the axes) and saves a file."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")


# ------------------------------------------------------------------ 1-1 helpers
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from hwutils import plots  # noqa: E402


class _Run:
    """What save_fig needs of a notebook run."""
    def __init__(self, out_dir):
        self.out_dir, self.stem, self.figures = out_dir, "test", []


def _saved(fig, tmp_path, name):
    run = _Run(tmp_path)
    path = plots.save_fig(fig, run, name)
    plt.close(fig)
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000 and run.figures == [f"{name}.png"]


def _band_limits(collection):
    """Lower and upper edge of a fill_between band, read back from its polygon."""
    verts = collection.get_paths()[0].vertices
    return verts[:, 0], verts[:, 1]


def test_train_test_bands_draws_median_and_interquartile_band_per_split(tmp_path):
    train = np.array([[4.0, 2.0, 1.0], [2.0, 1.0, 0.5]])
    test = np.array([[5.0, 3.0, 2.0], [3.0, 3.0, 4.0]])
    fig, ax = plt.subplots()
    plots.train_test_bands(ax, {"deep": {"train": train, "test": test}, "shallow": {"train": train[:1] * 2}},
                           ylabel="loss", log=False)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"deep train", "deep test", "shallow train"}
    np.testing.assert_allclose(lines["deep train"].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(lines["deep train"].get_ydata(), np.median(train, 0))
    np.testing.assert_allclose(lines["deep test"].get_ydata(), np.median(test, 0))
    assert ax.get_legend().get_title().get_text().startswith("line: median over 2 seeds; band: interquartile range")
    np.testing.assert_allclose(lines["shallow train"].get_ydata(), train[0] * 2)
    assert lines["deep train"].get_linestyle() == "-" and lines["deep test"].get_linestyle() == "--"
    assert lines["deep train"].get_color() == lines["deep test"].get_color() != lines["shallow train"].get_color()
    assert len(ax.collections) == 2  # bands for the two splits with 2 seeds; none for one seed
    _, ys = _band_limits(ax.collections[1])
    assert np.isclose(ys.max(), np.percentile(test, 75, axis=0).max())
    assert np.isclose(ys.min(), np.percentile(test, 25, axis=0).min())
    _saved(fig, tmp_path, "bands")


def test_prediction_bands_draws_truth_median_and_range(tmp_path):
    x = np.linspace(0, 1, 5)
    truth = np.sin(x)
    preds = np.stack([truth + 0.1, truth - 0.2, truth + 0.3])
    fig, ax = plt.subplots()
    plots.prediction_bands(ax, x, truth, {"deep": preds, "shallow": truth * 2})
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["ground truth"].get_ydata(), truth)
    np.testing.assert_allclose(lines["deep"].get_ydata(), np.median(preds, 0))
    np.testing.assert_allclose(lines["shallow"].get_ydata(), truth * 2)
    assert len(ax.collections) == 1
    xs, ys = _band_limits(ax.collections[0])
    np.testing.assert_allclose([xs.min(), xs.max()], [0, 1])
    np.testing.assert_allclose([ys.min(), ys.max()], [preds.min(), preds.max()])
    assert ax.get_legend().get_title().get_text() == "line: pointwise median over 3 seeds; band: range (min to max)"
    _saved(fig, tmp_path, "predictions")


def test_paired_by_seed_draws_one_line_per_seed_and_the_means(tmp_path):
    values = np.array([[1.0, 2.0, 4.0], [2.0, 8.0, np.nan]])
    fig, ax = plt.subplots()
    plots.paired_by_seed(ax, ["a", "b", "c"], values, ylabel="final loss", log=True)
    seeds = [line for line in ax.get_lines() if line.get_label().startswith("_")]
    assert len(seeds) == 2
    for line, row in zip(seeds, values):
        np.testing.assert_allclose(line.get_xdata(), [0, 1, 2])
        np.testing.assert_allclose(line.get_ydata(), row)
    mean = [line for line in ax.get_lines() if line.get_label() == "geometric mean"][0]
    np.testing.assert_allclose(mean.get_ydata(), [np.sqrt(2), 4.0, 4.0])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"] and ax.get_yscale() == "log"
    _saved(fig, tmp_path, "paired")


# ------------------------------------------------------------------ 1-3 helpers
def test_metric_vs_draws_seed_means_bands_dots_and_marks_missing(tmp_path):
    x = [1.0, 0.0, 0.5]  # unsorted on purpose: drawn in order of x
    test = np.array([[0.1, 0.9, 0.5], [0.2, 0.7, np.nan], [0.0, 0.8, 0.4]])
    fig, ax = plt.subplots()
    plots.metric_vs(ax, x, {"test": test, "train": [1.0, 1.0, 0.9]}, "fraction", "accuracy", missing_at=0.0,
                    missing_label="diverged")
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["test"].get_xdata(), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(lines["test"].get_ydata(), [0.8, 0.45, 0.1])  # NaN left out of the mean
    np.testing.assert_allclose(lines["train"].get_ydata(), [1.0, 0.9, 1.0])
    dots = lines["_test seeds"]
    assert sorted(zip(dots.get_xdata(), dots.get_ydata())) == sorted(
        (xv, yv) for row in test for xv, yv in zip(x, row) if np.isfinite(yv))
    np.testing.assert_allclose(lines["diverged"].get_xdata(), [0.5])
    np.testing.assert_allclose(lines["diverged"].get_ydata(), [0.0])
    assert len(ax.collections) == 1  # one band: the test runs (train is a single run)
    xs, ys = _band_limits(ax.collections[0])
    np.testing.assert_allclose([ys.min(), ys.max()], [0.0, 0.9])
    assert ax.get_xlabel() == "fraction" and ax.get_ylabel() == "accuracy" and ax.get_xscale() == "linear"
    _saved(fig, tmp_path, "metric_vs")


def test_metric_vs_log_axis_and_no_missing_marker_without_missing(tmp_path):
    fig, ax = plt.subplots()
    plots.metric_vs(ax, [10, 100, 1000], {"gap": [[0.1, 0.2, 0.4], [0.1, 0.3, 0.5]]}, "parameters", "gap",
                    logx=True, missing_at=1.0)
    assert ax.get_xscale() == "log"
    assert [line.get_label() for line in ax.get_lines()] == ["gap", "_gap seeds"]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [0.1, 0.25, 0.45])
    _saved(fig, tmp_path, "metric_vs_log")


# ------------------------------------------------------------------ 1-3 flatness helpers
def test_interpolation_curve_draws_the_loss_and_accuracy_given_on_two_axes(tmp_path):
    alpha = [-1.0, 0.0, 0.5, 1.0, 2.0]
    train = np.array([[4.0, 0.1, 0.5, 0.2, 3.0], [1.0, 0.4, 2.0, 0.2, 12.0]])
    test = np.array([5.0, 0.3, 0.9, 0.4, 4.0])
    acc = np.array([[0.1, 0.99, 0.7, 0.98, 0.2], [0.3, 0.97, 0.5, 0.96, 0.2]])
    fig, ax = plt.subplots()
    ax_, twin = plots.interpolation_curve(ax, alpha, {"train": train, "test": test}, {"train": acc}, ends=("b64", "b1024"))
    lines = {l.get_label(): l for l in ax.get_lines()}
    np.testing.assert_allclose(lines["train loss"].get_xdata(), alpha)
    np.testing.assert_allclose(lines["train loss"].get_ydata(), np.sqrt(train[0] * train[1]))  # geometric mean
    np.testing.assert_allclose(lines["test loss"].get_ydata(), test)
    assert lines["test loss"].get_linestyle() == "--" and ax.get_yscale() == "log"
    xs, ys = _band_limits(ax.collections[0])  # the band spans the seeds' range
    np.testing.assert_allclose([ys.min(), ys.max()], [train.min(), train.max()])
    acc_line = [l for l in twin.get_lines() if l.get_label() == "train accuracy"][0]
    np.testing.assert_allclose(acc_line.get_ydata(), acc.mean(axis=0))
    verticals = sorted(l.get_xdata()[0] for l in ax.get_lines() if l.get_label().startswith("_"))
    assert verticals == [0.0, 1.0] and "b1024" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train loss", "test loss", "train accuracy"]
    _saved(fig, tmp_path, "interpolation_curve")


def test_measure_vs_batch_means_the_models_that_reached_the_target_and_marks_the_others(tmp_path):
    bs = [1024, 16, 128]  # unsorted on purpose
    sharp = np.array([[9.0, 1.0, 4.0], [7.0, 3.0, 2.0], [8.0, 2.0, 6.0]])
    reached = np.array([[True, True, True], [False, True, True], [True, True, False]])
    train = np.array([[0.1, 0.1, 0.1], [0.9, 0.1, 0.1], [0.1, 0.1, 0.7]])
    fig, ax = plt.subplots()
    _, twin = plots.measure_vs_batch(ax, bs, sharp, "sharpness", reached=reached, loss={"train": train})
    lines = {l.get_label(): l for l in ax.get_lines()}
    np.testing.assert_allclose(lines["sharpness"].get_xdata(), [16, 128, 1024])
    np.testing.assert_allclose(lines["sharpness"].get_ydata(), [2.0, 3.0, 8.5])  # missed models left out
    missed = lines["missed the loss target"]
    assert sorted(zip(missed.get_xdata(), missed.get_ydata())) == [(128.0, 6.0), (1024.0, 7.0)]
    assert missed.get_markerfacecolor() == "none"
    dots = lines["_sharpness models"]
    assert len(dots.get_xdata()) == int(reached.sum())
    np.testing.assert_allclose(twin.get_lines()[0].get_ydata(), [0.1, 0.1, 0.1])
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "sharpness" and twin.get_ylabel() == "loss (cross-entropy, nats)"
    _saved(fig, tmp_path, "measure_vs_batch")


# ------------------------------------------------------------------ 1-2 helpers: trajectory, twin curve
def test_trajectory_draws_each_run_through_its_points_coloured_by_value(tmp_path):
    coords = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2) ** 1.5
    acc = np.array([[0.1, 0.5, 0.9], [0.2, 0.6, 0.8]])
    fig, ax = plt.subplots()
    points = plots.trajectory(ax, coords, acc, labels=["a", "b"], color_label="accuracy", xlabel="PC1")
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["a"].get_xdata(), coords[0, :, 0])
    np.testing.assert_allclose(lines["b"].get_ydata(), coords[1, :, 1])
    np.testing.assert_allclose(points.get_offsets(), coords.reshape(-1, 2))
    np.testing.assert_allclose(points.get_array(), acc.reshape(-1))  # colour follows the value at each point
    np.testing.assert_allclose(lines["_end 1"].get_xydata(), coords[1, -1:])  # the last point is marked
    assert ax.get_xlabel() == "PC1" and fig.axes[-1].get_ylabel() == "accuracy"  # colour bar
    _saved(fig, tmp_path, "trajectory")


def test_twin_curve_puts_each_series_on_its_own_axis(tmp_path):
    x = np.arange(1, 6)
    left, right = np.array([5.0, 4, 3, 2, 1]), np.array([0.1, 0.3, 0.2, 0.5, 0.4])
    fig, ax = plt.subplots()
    ax, twin = plots.twin_curve(ax, x, left, right, "gradient norm", "loss", right_log=False)
    (l,), (r,) = ax.get_lines(), twin.get_lines()
    np.testing.assert_allclose(l.get_xdata(), x)
    np.testing.assert_allclose(l.get_ydata(), left)
    np.testing.assert_allclose(r.get_ydata(), right)
    assert ax.get_yscale() == "log" and twin.get_yscale() == "linear"
    assert (ax.get_ylabel(), twin.get_ylabel()) == ("gradient norm", "loss")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["gradient norm", "loss"]
    _saved(fig, tmp_path, "twin")


# ------------------------------------------------------------------ 1-2 critical points, noise, surfaces
def test_scatter_marked_draws_kept_points_and_crosses_for_the_rest(tmp_path):
    x, y = np.array([1e-3, 1e-2, 1e-1, 1.0]), np.array([0.9, 0.5, 0.4, 0.1])
    kept = np.array([True, False, True, True])
    fig, ax = plt.subplots()
    plots.scatter_marked(ax, x, y, color=[1, 2, 3, 4], kept=kept, color_label="c", excluded_label="above tol",
                         logx=True)
    dots, crosses = ax.collections[:2]
    np.testing.assert_allclose(dots.get_offsets(), np.c_[x[kept], y[kept]])
    np.testing.assert_allclose(dots.get_array(), [1, 3, 4])
    np.testing.assert_allclose(crosses.get_offsets(), [[1e-2, 0.5]])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["kept (3)", "above tol (1)"]
    assert ax.get_xscale() == "log"
    _saved(fig, tmp_path, "scatter")


def test_spectrum_sorts_each_spectrum_and_shades_the_band(tmp_path):
    fig, ax = plt.subplots()
    plots.spectrum(ax, {"run 3": [2.0, -1.0, 0.0, 1e-9], "run 7": [5.0, 4.0]}, band=1e-6)
    lines = {l.get_label(): l for l in ax.get_lines()}
    np.testing.assert_allclose(lines["run 3"].get_ydata(), [-1.0, 0.0, 1e-9, 2.0])
    np.testing.assert_allclose(lines["run 3"].get_xdata(), [0, 1, 2, 3])
    np.testing.assert_allclose(lines["run 7"].get_ydata(), [4.0, 5.0])
    band = ax.patches[0]  # axhspan: a rectangle in (axes x, data y)
    assert band.get_y() == pytest.approx(-1e-6) and band.get_y() + band.get_height() == pytest.approx(1e-6)
    assert ax.get_yscale() == "symlog"
    _saved(fig, tmp_path, "spectrum")


def test_power_law_draws_positive_points_and_the_fitted_line(tmp_path):
    x = np.array([0.0, 0.01, 0.1, 1.0])
    y = np.array([0.0, 2e-4, 2e-2, 2.0])
    fig, ax = plt.subplots()
    plots.power_law(ax, x, y, yerr=[0, 1e-5, 1e-3, 0.1], fit={"slope": 2.0, "intercept": np.log(2.0),
                                                                "x": [0.01, 1.0], "interval": (1.9, 2.1)})
    lines = {l.get_label(): l for l in ax.get_lines()}
    data_line = ax.containers[0].lines[0]  # the errorbar's data line
    fit_line = lines["fit: slope 2.00 [1.90, 2.10]"]
    np.testing.assert_allclose(data_line.get_xdata(), x[1:])
    np.testing.assert_allclose(data_line.get_ydata(), y[1:])
    np.testing.assert_allclose(fit_line.get_ydata(), [2e-4, 2.0])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["fit: slope 2.00 [1.90, 2.10]", "data (1 not positive, not shown)"] or \
        set(labels) == {"fit: slope 2.00 [1.90, 2.10]", "data (1 not positive, not shown)"}
    assert ax.get_xscale() == ax.get_yscale() == "log"
    _saved(fig, tmp_path, "power_law")


def test_curve_draws_the_line_and_marks_the_trained_point(tmp_path):
    fig, ax = plt.subplots()
    plots.curve(ax, [-1, 0, 1, 2], [3.0, 1.0, 2.0, 5.0], mark=0.0, log=True)
    line, vline = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), [3.0, 1.0, 2.0, 5.0])
    np.testing.assert_allclose(vline.get_xdata(), [0.0, 0.0])
    assert ax.get_yscale() == "log"
    _saved(fig, tmp_path, "curve")


def test_contour_puts_z_first_axis_along_x_and_draws_the_path(tmp_path):
    a, b = np.linspace(0, 3, 7), np.linspace(-1, 1, 4)  # different lengths: a transposed grid would fail
    z = np.repeat(a[:, None], len(b), axis=1)  # depends on a only: its contours are vertical lines
    path = np.array([[0.5, -0.5], [1.0, 0.0], [2.0, 0.5]])
    fig, ax = plt.subplots()
    cs = plots.contour(ax, a, b, z, path=path, mark=(2.0, 0.5), filled=False, levels=[0.7, 1.5, 2.2])
    for level, segs in zip(cs.levels, cs.allsegs):
        verts = np.concatenate(segs)
        np.testing.assert_allclose(verts[:, 0], level, atol=1e-9)  # vertical: x = level everywhere
        assert np.ptp(verts[:, 1]) == pytest.approx(2.0)
    lines = {l.get_label(): l for l in ax.get_lines()}
    np.testing.assert_allclose(np.c_[lines["path"].get_xdata(), lines["path"].get_ydata()], path)
    np.testing.assert_allclose([lines["_mark"].get_xdata()[0], lines["_mark"].get_ydata()[0]], [2.0, 0.5])
    with pytest.raises(ValueError, match="len"):
        plots.contour(ax, a, b, z.T)
    _saved(fig, tmp_path, "contour")


def test_surface_3d_draws_z_over_the_ij_grid(tmp_path):
    a, b = np.array([0.0, 1.0, 2.0]), np.array([10.0, 20.0])
    z = a[:, None] * 100 + b[None, :]
    fig = plt.figure()
    ax = fig.add_subplot(projection="3d")
    plots.surface_3d(ax, a, b, z)
    assert ax.get_zlim()[0] <= z.min() and ax.get_zlim()[1] >= z.max()
    assert ax.get_xlim()[0] <= 0 and ax.get_xlim()[1] >= 2 and ax.get_ylim()[1] >= 20
    _saved(fig, tmp_path, "surface3d")


def test_null_histogram_draws_the_null_counts_and_the_observed_line(tmp_path):
    null = np.array([0.1, 0.2, 0.2, 0.3, 0.3, 0.3, 0.9])
    fig, ax = plt.subplots()
    bars = plots.null_histogram(ax, null, 0.5, "Spearman ρ", bins=4)
    counts, edges = np.histogram(null, bins=4)
    np.testing.assert_allclose([b.get_height() for b in bars], counts)
    np.testing.assert_allclose([b.get_x() for b in bars], edges[:-1])
    (line,) = [l for l in ax.get_lines() if l.get_label().startswith("observed")]
    np.testing.assert_allclose(line.get_xdata(), [0.5, 0.5])
    span = [p for p in ax.patches if p not in bars.patches][0]
    x0, x1 = sorted(np.asarray(span.get_path().transformed(span.get_patch_transform()).vertices)[:, 0][[0, 2]])
    np.testing.assert_allclose([x0, x1], np.quantile(null, [0.025, 0.975]))
    _saved(fig, tmp_path, "null")


# ------------------------------------------------------------------ 1-1: loss_curves (used by 1-1 simulate function)
def test_loss_curves_draws_a_median_and_interquartile_band_for_runs_and_a_line_for_one_curve(tmp_path):
    runs = np.array([[1.0, 0.1, 0.01], [4.0, 0.4, 0.04], [2.0, 0.3, 100.0]])  # seed 3 collapses at the end
    fig, ax = plt.subplots()
    plots.loss_curves(ax, {"deep": runs, "one run": [3.0, 2.0, 1.0]}, ylabel="MSE", title="t")
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["deep"].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(lines["deep"].get_ydata(), [2.0, 0.3, 0.04])  # the median: the outlier moves nothing
    np.testing.assert_allclose(lines["one run"].get_ydata(), [3.0, 2.0, 1.0])
    assert len(ax.collections) == 1
    _, ys = _band_limits(ax.collections[0])
    np.testing.assert_allclose([ys.min(), ys.max()], [np.percentile(runs, 25, axis=0).min(),
                                                      np.percentile(runs, 75, axis=0).max()])
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "MSE"
    assert ax.get_legend().get_title().get_text() == "line: median over 3 seeds; band: interquartile range"
    _saved(fig, tmp_path, "loss_curves")


# ------------------------------------------------------------------ saving: PNG ≥ 200 dpi and PDF, named, captioned
class _NamedRun(_Run):
    def __init__(self, out_dir):
        super().__init__(out_dir)
        self.params, self.captions = {"dataset": "mnist", "profile": "standard", "seed": 3}, {}


def test_save_fig_writes_a_200_dpi_png_and_a_pdf_names_the_run_and_keeps_the_caption(tmp_path):
    from PIL import Image
    run = _NamedRun(tmp_path)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1])
    ax.set_title("a panel title")
    plots.save_fig(fig, run, "f", caption="What the figure shows.")
    with Image.open(tmp_path / "f.png") as png:
        assert png.info["dpi"][0] >= 199.5 and png.size[0] >= 4 * 200 * 0.9
    assert (tmp_path / "f.pdf").read_bytes()[:5] == b"%PDF-"
    assert run.figures == ["f.png"] and run.captions == {"f.png": "What the figure shows."}
    top = fig._suptitle.get_text()
    assert "mnist" in top and "standard profile" in top and "seed 3" in top
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert not fig._suptitle.get_window_extent(renderer).overlaps(ax.title.get_window_extent(renderer))
    plt.close(fig)


def test_dense_scatters_and_surfaces_are_rasterised_in_the_pdf_and_few_points_stay_vector(tmp_path):
    rng = np.random.default_rng(0)
    fig, (ax1, ax2) = plt.subplots(1, 2)
    dense = ax1.scatter(*rng.standard_normal((2, 5000)), s=2)
    sparse = ax1.scatter([0, 1], [0, 1])
    a = np.linspace(-1, 1, 40)
    cs = plots.contour(ax2, a, a, a[:, None] ** 2 + a[None, :] ** 2, levels=20)
    plots.save_fig(fig, _NamedRun(tmp_path), "dense")
    assert dense.get_rasterized() and cs.get_rasterized() and not sparse.get_rasterized()
    assert b"/Subtype /Image" in (tmp_path / "dense.pdf").read_bytes()  # the rasterised parts are images
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [1, 0, 1])
    plots.save_fig(fig, _NamedRun(tmp_path), "vector")
    assert b"/Subtype /Image" not in (tmp_path / "vector.pdf").read_bytes()
    plt.close("all")


@pytest.mark.parametrize("band", [1e-7, 4.8e-4])  # a decade exactly; a band whose decade lies inside it
def test_spectrum_tick_labels_do_not_overlap_over_many_decades(tmp_path, band):
    fig, ax = plt.subplots(figsize=plots.WIDE)
    eig = np.concatenate([-np.logspace(-6, 1, 30), np.zeros(5), np.logspace(-7, 2, 60)])
    plots.spectrum(ax, {"run": eig}, band=band)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.get_yticklabels() if t.get_text()]
    assert len(boxes) >= 5 and all(t == 0 or abs(t) >= 2 * band for t in ax.get_yticks())
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert 0.0 in list(ax.get_yticks())
    plt.close(fig)


def test_scatter_panels_title_every_panel_and_share_one_colour_bar(tmp_path):
    fig, axes = plt.subplots(1, 3)
    x, colour = np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 2.0])
    plots.scatter_panels(fig, axes, x, {"minimal ratio": (x * 0.1, "fraction"), "index": (x * 0.2, "fraction"),
                                        "live": (x * 0.3, "fraction")}, color=colour, color_label="log10 ‖∇L‖")
    assert [ax.get_title() for ax in axes] == ["minimal ratio", "index", "live"]
    assert len(fig.axes) == 4  # three panels and one colour bar
    np.testing.assert_allclose(axes[2].collections[0].get_offsets()[:, 1], x * 0.3)
    plt.close(fig)


def test_null_histogram_labels_the_effect_as_observed_minus_the_null_median():
    fig, ax = plt.subplots()
    plots.null_histogram(ax, [0.0, 0.01, 0.02, 0.03, 0.04], -0.116, "ρ")
    (line,) = [l for l in ax.get_lines() if l.get_label().startswith("observed")]
    assert line.get_label() == "observed -0.116; effect = observed − null median = -0.136"
    (median,) = [l for l in ax.get_lines() if l.get_label().startswith("null median")]
    np.testing.assert_allclose(median.get_xdata(), [0.02, 0.02])
    plt.close(fig)
