"""What each notebook keeps in results.json, assembled from the arrays its cells computed.

The results' format (key names, nesting, the keys earlier runs used) is bookkeeping a reader of the experiment
does not need; it lives here, one function per notebook, so that a notebook's last cells read
`metrics = records.<notebook>(...)` and `hwutils.report_claims` reads the same keys every time.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy import stats

FUNCTION_TARGETS = {"sinc": "sin(5πx)/(5πx)", "xcosx": "x·cos(x)"}


def function_target(target: str, n_points: int) -> tuple[str, np.ndarray, np.ndarray]:
    """The 1-1 function task: its name, and `n_points` evenly spaced samples as float32 columns x, y. sinc is
    sin(5πx)/(5πx) on (0, 1] (x = 0 left out: the formula is 0/0 there, although the limit is 1); xcosx is
    x·cos(x) on [0, 5]."""
    if target == "sinc":
        grid = np.linspace(0.0, 1.0, n_points + 1)[1:]
        values = np.sinc(5 * grid)  # np.sinc(t) = sin(πt)/(πt)
    elif target == "xcosx":
        grid = np.linspace(0.0, 5.0, n_points)
        values = grid * np.cos(grid)
    else:
        raise ValueError(f"unknown target {target!r}; known: {', '.join(FUNCTION_TARGETS)}")
    return FUNCTION_TARGETS[target], grid[:, None].astype(np.float32), values[:, None].astype(np.float32)


def simulate_function(P, title: str, level: float, x, y, archs: dict, final, curves, reach, roughness, preds,
                      ensembles) -> dict:
    """1-1-simulate-function: per model its per-seed final loss, epochs to the level, loss curves, roughness and
    predictions; `final`, `reach`, `roughness` are [seeds, models], `curves[i]` [seeds, epochs]."""
    from .models import dense_params
    names = list(archs)
    best = [int(np.argmin(np.nan_to_num(f, nan=np.inf))) for f in np.asarray(final).T]  # best seed of each model
    models = []
    for i, n in enumerate(names):
        diverged = ensembles[i].diverged
        models.append({
            "name": n, "widths": archs[n], "depth": len(archs[n]) - 2, "params": dense_params(archs[n]),
            "final_loss": float(np.nanmedian(final[:, i])), "loss": np.nanmedian(curves[i], axis=0),
            "best_seed": best[i], "diverged": int(diverged.sum()), "epochs_to_level": reach[:, i],
            "seeds": [{"seed": s, "loss": curves[i][s], "final_loss": final[s, i], "roughness": roughness[s, i],
                       "diverged": bool(diverged[s])} for s in range(len(final))],
            "prediction_best": preds[n][best[i]], "prediction_min": np.nanmin(preds[n], 0),
            "prediction_max": np.nanmax(preds[n], 0)})
    return dict(target=P.target, title=title, level=level, level_fraction=P.level_fraction, epochs=P.epochs,
                x=x[:, 0], y=y[:, 0], models=models)


def train_test_curves(runs: dict, labels: dict, key: str) -> dict:
    """1-1-actual-tasks: per model (under its label) its training and test curves of `key` ("loss", "accuracy")
    as [seeds, epochs] arrays, for `plots.train_test_bands`."""
    from .training import history_array
    return {labels[name]: {split: history_array(runs[name], f"{split}_{key}") for split in ("train", "test")}
            for name in runs}


def actual_tasks(P, n_train: int, n_test: int, names, widths: dict, params, runs: dict, final: dict) -> dict:
    """1-1-actual-tasks: the dataset and its sizes, per model its hidden layers, widths, parameter count, every
    seed's history and every seed's final loss and accuracy (`final[key]` is [seeds, models])."""
    return dict(dataset=P.dataset, n_train=n_train, n_test=n_test, models=[
        {"name": name, "hidden_layers": k, "widths": widths[k], "params": int(p), "seeds": runs[name],
         **{f"final_{key}": final[key][:, i] for key in final}}
        for i, (name, k, p) in enumerate(zip(names, P.hidden_layers, params))])


def random_labels(n_params: int, n_train: int, n_test: int, fractions, changed, i_random: int, curves: dict,
                  fits: list, budgets, train_acc, test_acc, fit_epochs, fit_threshold: float, runs: int) -> dict:
    """1-3-random-labels: the parameter count, the random-label runs per epoch (`history`), the budgets, and per
    corrupted fraction the mean over seeds with each seed's value (`train_acc` etc. are [seeds, fractions])."""
    entries = [{"fraction": fractions[i], "train_accuracy": train_acc[:, i].mean(),
                "test_accuracy": test_acc[:, i].mean(),
                "seeds": {"train_accuracy": train_acc[:, i], "test_accuracy": test_acc[:, i],
                          "epochs_to_fit": fit_epochs[:, i]}} for i in range(len(fractions))]
    return {"n_params": n_params, "n_train": n_train, "n_test": n_test, "labels_changed": float(changed[i_random]),
            "history": {k: v[:, i_random] for k, v in curves.items()},
            "diverged": any(h["diverged"] for f in fits for h in f["hist"]), "budget": budgets,
            "true_fit_epoch": [f["budget"].reference_epoch for f in fits], "fit_threshold": fit_threshold,
            "runs": runs, "corruption": entries}


def seed_by_seed(fits: dict) -> dict:
    """1-3-flatness: the fits keyed (batch size, learning rate, seed, order), reordered seed by seed (the order the
    tables keep); within a seed, as trained."""
    return dict(sorted(fits.items(), key=_seed_of))


def _seed_of(item) -> int:
    return item[0][2]


def interpolation_splits(curves: list[dict]) -> tuple[dict, dict]:
    """1-3-flatness: the loss and the accuracy along the line, per split, one row per seed's curve."""
    loss = {split: [c[f"{split}_loss"] for c in curves] for split in ("train", "test")}
    accuracy = {split: [c[f"{split}_accuracy"] for c in curves] for split in ("train", "test")}
    return loss, accuracy


def seed_batch_grid(table, key: str):
    """1-3-flatness: column `key` of the models' table as [seeds, batch sizes] (a DataFrame, batch sizes as columns)."""
    return table.pivot(index="seed", columns="batch_size", values=key)


def _pair(curves: dict, design: str, a, b) -> dict:
    cs = curves[design, a, b]
    return {"a": {"batch_size": a[0], "learning_rate": a[1]}, "b": {"batch_size": b[0], "learning_rate": b[1]},
            **cs[0], "seeds": cs}


def flatness(P, designs: list, pairs: list, curves: dict, table, missed, controls: dict, line: dict) -> dict:
    """1-3-flatness: the keys of earlier versions (`interpolation`: seed 0's curve with its two ends, `batch_sizes`:
    one row per model) with every seed, the design, whether each model reached the target, its epochs and steps,
    the models that missed the target, the controls and the line summaries."""
    results = {"design": P.design, "designs": designs, "target_loss": P.target_loss, "epoch_cap": P.epochs,
               "interpolation": _pair(curves, designs[0], *pairs[0]), "batch_sizes": table.to_dict("records"),
               "missed_target": missed.to_dict("records"),
               "controls": [{k: v for k, v in r.items() if k != "model"} for r in controls.values()],
               "line": {d: line[d, pairs[0]].to_dict("records") for d in designs},
               "pair_batch_sizes": [pairs[0][0][0], pairs[0][1][0]]}
    if len(pairs) > 1:
        results["line_lr"] = {d: line[d, pairs[1]].to_dict("records") for d in designs}
        results["interpolation_learning_rate"] = _pair(curves, designs[0], *pairs[1])
    if "fixed_epochs" in designs[1:]:
        results["interpolation_fixed_epochs"] = _pair(curves, "fixed_epochs", *pairs[0])
    return results


def gradient_norm(traces: dict, tasks: dict, coupling: dict, observed: dict, null: dict, comoves: dict,
                  dataset: str, plateau_runs: list, examined: list) -> dict:
    """1-2-gradient-norm: per task the first run's series, every run's coupling and co-movement; the plateaus of
    the function task."""
    metrics = {name: {"model": tasks[name]["widths"],
                      "iterations": np.arange(1, len(runs[0]["grad_norm"]) + 1), **runs[0],
                      "coupling": {"rho": [rho for rho, _ in coupling[name]], "observed": observed[name],
                                   "null": null[name], "diverged": [r["diverged"] for r in runs]},
                      "comovement": comoves[name]}
               for name, runs in traces.items()}
    metrics["image"]["dataset"] = dataset
    metrics["function"].update(plateaus=plateau_runs, full_batch_grad_norm=[e["grad_norms"] for e in examined])
    return metrics


def _spearman(a, b) -> float:
    return float(stats.spearmanr(a, b).statistic) if len(a) > 2 else float("nan")


def zero_gradient(widths: Sequence[int], n_params: int, table, diverged, phase: dict, already: int,
                  spectra: list, few: Sequence[int]) -> dict:
    """1-2-zero-gradient: every run's loss, gradient norm, fractions and band, the rank correlations with the
    loss over the runs at a critical point (and over all runs), the spectra drawn. The parameter count is
    `n_params` (`params` is the run's own record of its parameters)."""
    ok = table[table.converged]
    runs = [{"seed": m, "loss": r.loss, "grad_norm": r.grad_norm, "minimal_ratio": r.positive, "index": r.negative,
             "near_zero_fraction": r.near_zero, "exact_zero_fraction": r.exact_zero,
             "minimal_ratio_live": r.minimal_ratio_live, "tau": r.tau, "converged": r.converged,
             "diverged": bool(diverged[m]), "grad_steps": phase["steps"][m]} for m, r in table.iterrows()]
    return dict(widths=list(widths), n_params=n_params, runs=runs, converged_fraction=float(table.converged.mean()),
                already_below_tolerance=already, spearman=_spearman(ok.loss, ok.positive),
                spearman_index=_spearman(ok.loss, ok.negative), spearman_all=_spearman(table.loss, table.positive),
                spearman_live=_spearman(ok.loss, ok.minimal_ratio_live),
                spectra={str(m): spectra[m]["eigenvalues"] for m in few})


def spectrum_table(spectra: list, loss, grad_norm, converged):
    """1-2-zero-gradient: one row per run of `measures.critical_point_spectrum` results beside its loss."""
    import pandas as pd
    keys = ["negative", "near_zero", "positive", "exact_zero", "minimal_ratio_live", "tau", "tau_rounding",
            "tau_gradient"]
    return pd.DataFrame({"loss": loss, "grad_norm": grad_norm, "converged": converged,
                         **{k: [s[k] for s in spectra] for k in keys}})


def trajectories(P, widths, n_params: int, fit: dict, diverged, test_accuracy, loss, accuracy, pca: dict,
                 tsne: dict, pairs, alphas, barrier: dict, lines: dict) -> dict:
    """1-2-trajectories: every run's snapshots with their coordinates in each plane, the barriers and the loss
    along every interpolated line."""
    coords = {"pca": pca["model"]["projections"], "layer_pca": pca["layer"]["projections"],
              "tsne": tsne["model"], "layer_tsne": tsne["layer"]}
    coords = {k: np.asarray(v).reshape(P.runs, -1, 2) for k, v in coords.items()}
    runs = [{"seed": r, "diverged": bool(diverged[r]), "test_accuracy": test_accuracy[r],
             "checkpoints": [{"epoch": e, "loss": loss[r, t], "accuracy": accuracy[r, t],
                              **{k: v[r, t] for k, v in coords.items()}} for t, e in enumerate(fit["epochs"])]}
            for r in range(P.runs)]
    return dict(widths=widths, n_params=n_params, layer=P.layer, runs=runs,
                pca_explained_variance={k: v["explained_variance_ratio"] for k, v in pca.items()},
                barriers={"pairs": pairs, "alpha": alphas, **barrier,
                          "train_loss": {k: [line["train_loss"] for line in v] for k, v in lines.items()}})


def error_surface(P, history, noise, base, single, curvature, sigma_min, grads, traces, sigma_star, line, plane,
                  steps, grid, slope, proj, ev, a_steps, b_steps, path_plane) -> dict:
    """1-2-error-surface: per seed the slopes, σ_min, σ* and its parts; the surfaces and the training path."""
    i, j = np.unravel_index(np.nanargmin(grid), np.shape(grid))
    per_seed = [{"seed": s, "linear_slope": single[s]["slope"], "median_abs_delta": single[s]["median_abs_delta"],
                 "sigmas_fitted": single[s]["sigmas"], "curvature_slope": curvature[s]["slope"], "sigma_min": sigma_min,
                 "grad_norm": grads[s], "trace": float(traces[s]), "trace_se": traces[s].se,
                 "sigma_star": sigma_star[s], "base_loss": base[s]} for s in range(P.seeds)]
    return dict(history=history, perturbation=noise, base_loss=base[0], seeds=per_seed, surface_1d=line,
                surface_2d=plane, surface_2d_extent=[float(steps[0]), float(steps[-1])],
                surface_2d_min={"alpha": float(steps[i]), "beta": float(steps[j]), "loss": float(10 ** grid[i, j])},
                perturbation_slope={k: v for k, v in slope.items() if k != "replicates"},
                trajectory={"projections": proj, "explained_variance": ev, "alpha": a_steps, "beta": b_steps,
                            "loss": path_plane["loss"]})


def final_metrics(family: list, diverged, splits: dict[str, tuple]) -> dict[str, np.ndarray]:
    """1-3-parameters: every ensemble's loss and accuracy on each split, as [seeds, widths] arrays named
    `<split>_<metric>`; a diverged model is NaN."""
    out = {}
    for split, (x, y) in splits.items():
        scores = [e.metrics(x, y) for e in family]
        for key in ("loss", "accuracy"):
            out[f"{split}_{key}"] = np.where(diverged, np.nan, np.array([s[key] for s in scores]).T)
    return out


def parameters(widths: Sequence[int], params, diverged, final: dict[str, np.ndarray], classes: int,
               seeds: int) -> dict:
    """1-3-parameters: per width its parameter count, the mean of each metric over the seeds that did not diverge,
    and every seed's value."""
    def mean(v):
        return float(np.nanmean(v)) if np.isfinite(v).any() else None
    models = [{"width": w, "params": params[i], "diverged": bool(diverged[:, i].any()),
               **{k: mean(v[:, i]) for k, v in final.items()}, "seeds": {k: v[:, i] for k, v in final.items()}}
              for i, w in enumerate(widths)]
    return {"family": f"Flatten → Dense(n) → Dense(n) → Dense({classes}, softmax)", "seeds": seeds, "models": models}


def batch_stream(x, y, size: int = 128):
    """A callable that gives a fresh generator of (x, y) batches of `size`: data in the form a measure takes
    from a loader of one's own (a tf.data.Dataset or a PyDataset works the same)."""
    def batches():
        return ((x[i:i + size], y[i:i + size]) for i in range(0, len(x), size))
    return batches

