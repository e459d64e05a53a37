"""The claims of each report notebook, as pure functions of that notebook's results.

One function per notebook, named for it, taking the notebook's results dict — the metrics it passes to
`P.report_claims(claims, **metrics)`, which results.json keeps — and the notebook's parameters that the
verdicts depend on, and returning the `hwutils.claims.Claim` list the notebook reports. What each claim
states, tests and expects comes from `hwutils.claim_registry`; these functions pick the values out of the
results and hand them to the registered test. Keeping them here makes each claim testable on small
hand-built results whose verdict is known (tests/test_report_claims.py), including results where the
claim does not hold and results where an old design settled the verdict by itself.

The functions read the results both as the notebook holds them (numpy arrays, NaN for a missing value)
and as results.json stores them (lists, None for a missing value), so the claims can be recomputed from a
saved results.json.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from . import claims
from .claim_registry import args, for_notebook
from .claims import Claim, fmt


def ids(stem: str) -> tuple[str, ...]:
    """The registered claim ids of a notebook, in the registry's order."""
    return tuple(s.id for s in for_notebook(stem))


def _floats(values: Any) -> np.ndarray:
    """A flat float array; None (a NaN read back from results.json) becomes NaN."""
    return np.asarray([np.nan if v is None else v for v in np.ravel(np.asarray(values, dtype=object))], dtype=float)


def _column(entries: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    """entries[i]["seeds"][key] (one value per seed) as a float array [seeds, entries]; None becomes NaN."""
    cols = [_floats(e["seeds"][key]) for e in entries]
    if len({len(c) for c in cols}) > 1:
        raise ValueError(f"every entry needs the same number of seeds for {key!r}: {[len(c) for c in cols]}")
    return np.stack(cols, axis=1) if cols else np.zeros((0, 0))


def _by_seed(x: Sequence[float], table: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(x, row s of table) per seed: the groups of a within-seed correlation."""
    return [(np.asarray(x, dtype=float), row) for row in np.asarray(table, dtype=float)]


def _f(value: float, spec: str) -> str:
    return format(value, spec) if np.isfinite(value) else "—"


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman ρ over the finite pairs; NaN with fewer than 3 of them or a constant side (no warning)."""
    from scipy import stats
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan")
    return float(stats.spearmanr(x[ok], y[ok]).statistic)


# ---------------------------------------------------------------------------------------------------------
# notebooks/1-1-simulate-function.ipynb

SIMULATE_FUNCTION_IDS = ids("1-1-simulate-function")


def _deepest_shallowest(depths: Sequence[int]) -> tuple[int, int]:
    """Indices of the deepest and the shallowest model (the first of each on a tie); they must differ."""
    deep, shallow = int(np.argmax(depths)), int(np.argmin(depths))
    if depths[deep] == depths[shallow]:
        raise ValueError(f"the models need different depths to compare deeper with shallower: {list(depths)}")
    return deep, shallow


def simulate_function(results: Mapping[str, Any], seed: int = 0) -> list[Claim]:
    """The claims of 1-1 simulate a function, from the notebook's results.

    `results["models"]`: one entry per architecture with `name`, `depth` (hidden layers), `epochs_to_level`
    (per seed, the first epoch whose loss is at or below `results["level"]`; NaN/None when never within the
    `results["epochs"]` trained) and `seeds` (per seed its `final_loss`, NaN/None for a diverged member).
    The level is a fixed fraction of the best constant prediction's loss (`results["level_fraction"]`):
    it does not depend on any run's final loss. Seed s of every model is one unit (its own batches), so
    the models pair up by seed.

    - `1-1.deeper-lower-loss`: paired t on log(final loss deepest / shallowest).
    - `1-1.deeper-earlier`: the sign test on the epochs to the level, a net that never reached it censored at
      the budget; identical curves tie in every pair and cannot decide.
    - `1-1.depth-rank-loss`: Spearman ρ of depth against log final loss within each seed, over seeds.
    - `1-1.deeper-smoother`: paired t on log(roughness deepest / shallowest), roughness (per seed, `seeds`' 
      `roughness`) = root-mean-square second difference of the fit's error on the grid over the target's own
      (`measures.prediction_roughness`).
    """
    models = list(results["models"])
    names = [m["name"] for m in models]
    depth = [int(m["depth"]) for m in models]
    final = np.stack([_floats([s["final_loss"] for s in m["seeds"]]) for m in models], axis=1)  # [seeds, models]
    reach = np.stack([_floats(m["epochs_to_level"]) for m in models], axis=1)
    deep, shallow = _deepest_shallowest(depth)
    fill = {"title": results.get("title") or results["target"]}
    pair = f"{names[deep]} ({depth[deep]} hidden) vs {names[shallow]} ({depth[shallow]})"
    budget = float(results["epochs"])
    censored = ~np.isfinite(reach)
    rough = np.stack([_floats([s.get("roughness") for s in m["seeds"]]) for m in models], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_final = np.log(final)
    lower = args("1-1.deeper-lower-loss", **fill)
    earlier = args("1-1.deeper-earlier", **fill)
    return [
        claims.paired(**{**lower, "unit": f"log loss ratio, {pair}"}, a=final[:, deep], b=final[:, shallow],
                      direction=-1, transform="log_ratio", note="paired over seeds"),
        claims.paired_censored(**{**earlier, "unit": f"median log epoch ratio, {pair}"},
                               a=np.where(censored[:, deep], budget, reach[:, deep]),
                               b=np.where(censored[:, shallow], budget, reach[:, shallow]),
                               a_censored=censored[:, deep], b_censored=censored[:, shallow], direction=-1,
                               note=f"level {fmt(results['level'])} = {fmt(results['level_fraction'])} × the loss of "
                                    f"the best constant prediction; budget {int(budget)} epochs"),
        claims.within_correlation(**args("1-1.depth-rank-loss", **fill), groups=_by_seed(depth, log_final),
                                  direction=-1, seed=seed, note=f"{len(models)} depths per seed"),
        claims.paired(**{**args("1-1.deeper-smoother", **fill), "unit": f"log roughness ratio, {pair}"},
                      a=rough[:, deep], b=rough[:, shallow], direction=-1, transform="log_ratio",
                      note="roughness: root-mean-square second difference of the fit's error over the target's own "
                           f"(0: the function's curvature exactly; 1: none of it); median deepest {fmt(float(np.nanmedian(rough[:, deep])))}, "
                           f"shallowest {fmt(float(np.nanmedian(rough[:, shallow])))}"),
    ]


# ---------------------------------------------------------------------------------------------------------
# notebooks/1-1-actual-tasks.ipynb

ACTUAL_TASKS_IDS = ids("1-1-actual-tasks")


def actual_tasks(results: Mapping[str, Any], seed: int = 0) -> list[Claim]:
    """The claims of 1-1 train on actual tasks, from the notebook's results.

    `results["dataset"]` names the data; `results["models"]` holds one entry per model: `name`, `hidden_layers`,
    `widths` (its hidden widths) and `final_test_accuracy`, one value per seed (NaN/None for a diverged seed).
    The models of seed s saw seed s's batches, so they pair up by seed.

    One id, one expectation (the report's, per dataset):
    - CIFAR-10, `1-1.deeper-better-test.cifar10`: deepest − shallowest test accuracy above 0 (paired t).
    - MNIST and the datasets with its design (digits, Fashion-MNIST: the claim id names the dataset, the note
      says it tests MNIST's expectation), `1-1.deeper-better-test.<dataset>`: deepest − shallowest below 0; and
      `1-1.one-two-equal.<dataset>`: 2 hidden − 1 hidden inside ± 0.02 (equivalence).
    - `1-1.depth-rank-test`: Spearman ρ of depth against test accuracy within each seed, over seeds.
    The note gives every model's narrowest hidden layer (a layer narrower than the classes would cap the
    accuracy whatever the depth).
    """
    models = list(results["models"])
    names = [m["name"] for m in models]
    hidden = [int(m["hidden_layers"]) for m in models]
    accuracy = np.stack([_floats(m["final_test_accuracy"]) for m in models], axis=1)  # [seeds, models]
    deep, shallow = _deepest_shallowest(hidden)
    dataset = results["dataset"]
    fill = {"dataset": dataset}
    narrow = "narrowest hidden layer: " + ", ".join(f"{m['name']} {min(m['widths'])}" for m in models if m.get("widths"))
    if dataset not in ("cifar10", "mnist", "fashion_mnist", "digits"):
        raise ValueError(f"no expectation of the report for dataset {dataset!r}: say in the registry which one "
                         "its 1-1 claims test")
    mnist_like = dataset != "cifar10"
    spec_id = "1-1.deeper-better-test." + ("mnist" if mnist_like else "cifar10")
    better = {**args(spec_id, **fill), "id": f"1-1.deeper-better-test.{dataset}",
              "unit": f"test accuracy, {names[deep]} − {names[shallow]}"}
    expectation = ("tests the report's MNIST expectation (deeper worse)" if dataset not in ("mnist", "cifar10") else "")
    found = [claims.paired(**better, a=accuracy[:, deep], b=accuracy[:, shallow], direction=-1 if mnist_like else +1,
                           note=_join_notes(f"{dataset}, paired over seeds", expectation, narrow))]
    if mnist_like:
        one, two = (hidden.index(k) if k in hidden else None for k in (1, 2))
        equal = {**args("1-1.one-two-equal.mnist", **fill), "id": f"1-1.one-two-equal.{dataset}"}
        if one is None or two is None:
            found.append(claims.inconclusive(**equal, why="no model with 1 and 2 hidden layers in this run"))
        else:
            found.append(claims.equivalence(**equal, values=accuracy[:, two] - accuracy[:, one], target=0.0,
                                            margin=ONE_TWO_MARGIN, note=_join_notes(expectation, narrow)))
    found.append(claims.within_correlation(**args("1-1.depth-rank-test", **fill), groups=_by_seed(hidden, accuracy),
                                           direction=+1, seed=seed, note=f"{len(models)} depths per seed; {narrow}"))
    return found


ONE_TWO_MARGIN = 0.02  # the registry's margin of 1-1.one-two-equal: two accuracy points


def _join_notes(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


# ---------------------------------------------------------------------------------------------------------
# notebooks/1-2-trajectories.ipynb

TRAJECTORIES_IDS = ids("1-2-trajectories")


def trajectories(results: Mapping[str, Any], accuracy_threshold: float) -> list[Claim]:
    """The claims of 1-2 trajectories, from the notebook's results.

    `results["runs"]`: one entry per run with `diverged`, `test_accuracy` and `checkpoints` (the training
    `accuracy` at each snapshot; the last is the final one). `results["barriers"]`: the disjoint `pairs` (a, b)
    of runs from different initialisations, the `alpha` grid on [0, 1] and per pair the chord barrier
    (`landscape.chord_barrier`) of the training loss on the straight line between
    - `chord`: run a and run b;
    - `control`: run a and its matched control a′ (a's initial weights, another batch order);
    - `chord_matched`, `control_matched`: the same after weight matching b (and a′) to a;
    - `null_matched`: run a and its own hidden units permuted at random, after matching (0 if matching works).
    `results["widths"]` gives the layer widths (narrow networks keep barriers after matching).

    - `1-2.runs-accurate`: every run's final training accuracy ≥ threshold, as a count.
    - `1-2.linear-barrier`: paired t over pairs, chord − control.
    - `1-2.barrier-after-matching`: paired t over pairs, chord_matched − control_matched.
    """
    runs = list(results["runs"])
    final = _floats([r["checkpoints"][-1]["accuracy"] if r["checkpoints"] else None for r in runs])
    test = _floats([r.get("test_accuracy") for r in runs])
    diverged = sum(bool(r.get("diverged", False)) for r in runs)
    b = results["barriers"]
    chord, control = _floats(b["chord"]), _floats(b["control"])
    matched, control_matched = _floats(b["chord_matched"]), _floats(b["control_matched"])
    null = _floats(b.get("null_matched", []))
    pairs = len(b["pairs"])
    mean_test = float(np.nanmean(test)) if np.isfinite(test).any() else float("nan")
    widths = " → ".join(map(str, results.get("widths", [])))
    grid = f"{pairs} disjoint pair{'s' if pairs != 1 else ''}; α grid of {len(_floats(b['alpha']))} points"
    null_note = (f"null (a run against its own permuted copy, after matching): {_f(float(np.nanmax(np.abs(null))), '.2g')}"
                 if np.isfinite(null).any() else "")
    return [
        claims.every_run(**args("1-2.runs-accurate", threshold=accuracy_threshold), values=final,
                         threshold=accuracy_threshold, note=(f"{diverged} diverged; " if diverged else "")
                         + f"mean test accuracy {_f(mean_test, '.1%')}"),
        claims.paired(**args("1-2.linear-barrier"), a=chord, b=control, direction=+1,
                      note=f"{grid}; mean chord barrier between runs {_f(float(np.nanmean(chord)), '.3g')}, "
                           f"against the matched control {_f(float(np.nanmean(control)), '.3g')}"),
        claims.paired(**args("1-2.barrier-after-matching"), a=matched, b=control_matched, direction=+1,
                      note=f"{grid}; widths {widths}; after matching: between runs "
                           f"{_f(float(np.nanmean(matched)), '.3g')}, against the control "
                           f"{_f(float(np.nanmean(control_matched)), '.3g')}; {null_note}"),
    ]


# ---------------------------------------------------------------------------------------------------------
# notebooks/1-2-gradient-norm.ipynb

GRADIENT_NORM_IDS = ids("1-2-gradient-norm")
GRADIENT_NORM_TASKS = (("function", "1-2.gradnorm-oscillation", "1-2.gradnorm-lagged"),
                       ("image", "1-2.gradnorm-oscillation-image", "1-2.gradnorm-lagged-image"))


def gradient_norm(results: Mapping[str, Any], window: int, horizon: int, comove_window: int) -> list[Claim]:
    """The claims of 1-2 gradient norm, from the notebook's results.

    `results["function"]` and `results["image"]` each hold, over the runs that did not diverge,
    - `comovement`: `matrix`, the R × R matrix of `comovement.cross_run_matrix` (run i's window gradient
      norms against run j's window loss spreads, `comove_window` iterations a window), and `diverged`;
    - `coupling`: `rho` (each run's lagged, detrended coupling), `observed` (their mean) and `null` (the same
      mean at each circular lag).

    - `1-2.gradnorm-oscillation` (and `-image`): the mean over runs of M[i, i] against its cross-run null (the
      mean of M[i, π(i)] over the derangements π); n = runs; each run's excess over its cross pairs gives
      `n_needed`.
    - `1-2.gradnorm-lagged` (and `-image`): the mean lagged ρ against its circular-shift null; n = runs.
    """
    from . import comovement
    found = []
    for task, comove_id, lagged_id in GRADIENT_NORM_TASKS:
        entry = results[task]
        flags = entry["comovement"].get("diverged") or []
        diverged = f"{sum(map(bool, flags))} of {len(flags)} runs diverged and are left out" if any(flags) else ""
        matrix = np.asarray(entry["comovement"]["matrix"], dtype=float)
        r = len(matrix)
        if r < 2:
            found.append(claims.inconclusive(**args(comove_id), n=r, why=f"too few valid runs for a cross-run null: {r} < 2",
                                             note=diverged))
        elif not np.isfinite(matrix).all():
            found.append(claims.inconclusive(**args(comove_id), n=r, note=diverged,
                                             why=f"fewer than 3 windows of {comove_window} iterations per run: no rank correlation"))
        else:
            null = comovement.cross_run_null(matrix)
            found.append(claims.against_null(
                **args(comove_id), observed=null["observed"], null_samples=null["null"], direction=+1, replicates=r,
                replicate_values=null["excess"],
                note="; ".join(filter(None, [
                    f"{task} task, {r} runs, windows of {comove_window} iterations, each series detrended within "
                    f"its run (log against a running median over {comovement.SPAN} windows); "
                    f"{'every permutation' if null['exact'] else 'random permutations'} of the pairing of the {r} runs",
                    f"mean within-run ρ {fmt(null['observed'])} against the null median {fmt(float(np.median(null['null'])))}",
                    diverged]))))
        coupling = entry["coupling"]
        rho = _floats(coupling["rho"])
        if len(rho) < 1:
            found.append(claims.inconclusive(**args(lagged_id), n=0, why="every run diverged", note=diverged))
            continue
        observed = coupling["observed"]
        nulls = _floats(coupling["null"])
        found.append(claims.against_null(
            **args(lagged_id), observed=float("nan") if observed is None else observed, null_samples=nulls,
            direction=+1, replicates=len(rho),
            replicate_values=rho - (np.median(nulls) if len(nulls) else np.nan),
            note="; ".join(filter(None, [f"{task} task, mean over {len(rho)} runs; window {window}, horizon {horizon}",
                                         diverged]))))
    found.append(_no_saddle(results["function"].get("plateaus")))
    return found


def _no_saddle(runs) -> Claim:
    """`1-2.no-saddle-during-training` from the function task's runs (`results["function"]["plateaus"]`):
    per run, `found` (its plateaus) and `examined` (the lowest ones, each with the `index` of the exact Hessian
    there). The unit is the run — its plateaus come from one trajectory: a run passes when none of its
    examined plateaus has negative curvature beyond τ; a run with no plateau says nothing and is left out."""
    cid = "1-2.no-saddle-during-training"
    if runs is None:
        return claims.inconclusive(**args(cid), why="no plateaus were searched in this run")
    runs = list(runs)
    with_plateaus = [r for r in runs if r["examined"]]
    if not with_plateaus:
        return claims.inconclusive(**args(cid), why="no plateau in any run: the gradient norm never fell to one, "
                                                    "so no saddle could be met and nothing was examined")
    # NaN (no spectrum) is not shown free of negative curvature
    clean = np.array([all(p["index"] is not None and np.isfinite(p["index"]) and p["index"] <= 0 for p in r["examined"])
                      for r in with_plateaus])
    examined = [p for r in with_plateaus for p in r["examined"]]
    index = _floats([p["index"] for p in examined])
    describe = (f"{int(clean.sum())} of {len(with_plateaus)} runs without negative curvature beyond τ at any "
                f"examined plateau ({len(examined)} examined of {sum(r['found'] for r in runs)} found; "
                f"{len(runs) - len(with_plateaus)} runs without a plateau left out); largest index "
                f"{fmt(float(np.nanmax(index)) if np.isfinite(index).any() else float('nan'))}")
    return claims.every_run(**args(cid), values=clean.astype(float), threshold=1.0, describe=describe)


# ---------------------------------------------------------------------------------------------------------
# notebooks/1-2-zero-gradient.ipynb

ZERO_GRADIENT_IDS = ids("1-2-zero-gradient")


def _run_values(runs: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    return np.asarray([np.nan if r.get(key) is None else r[key] for r in runs], dtype=float)


def zero_gradient(results: Mapping[str, Any], grad_tol: float, seed: int = 0) -> list[Claim]:
    """The claim of 1-2 zero gradient (Dauphin et al. 2014), from the notebook's results.

    `results["runs"]`: one entry per run with its final `loss`, `converged` (‖∇L‖ < `grad_tol` after the
    gradient-norm phase), `diverged`, `index` (fraction of eigenvalues < −τ), `minimal_ratio` (> τ over all
    P, the report's ratio), `minimal_ratio_live` (over the non-degenerate directions), `exact_zero_fraction`
    and `tau`; `results["already_below_tolerance"]` counts runs below `grad_tol` before the phase.

    - `1-2.index-vs-loss`: Spearman ρ(loss, index) over the runs at a critical point, claimed positive.
      Runs not at a critical point are left out and counted; the note gives the report's minimal ratio's ρ.
    """
    runs = list(results["runs"])
    at = np.asarray([bool(r["converged"]) and not bool(r.get("diverged", False)) for r in runs], dtype=bool)
    loss, index, ratio, live, exact, tau = (_run_values(runs, k)[at] for k in (
        "loss", "index", "minimal_ratio", "minimal_ratio_live", "exact_zero_fraction", "tau"))
    median = {k: float(np.median(v[np.isfinite(v)])) if np.isfinite(v).any() else float("nan")
              for k, v in (("exact", exact), ("tau", tau), ("index", index))}
    note = (f"{int((~at).sum())} of {len(runs)} runs did not reach ‖∇L‖ < {grad_tol:g} and are left out; "
            f"{int(results['already_below_tolerance'])} were below it before the gradient-norm phase; the report's "
            f"minimal ratio: ρ = {_f(_spearman(loss, ratio), '.2f')} over all P, "
            f"{_f(_spearman(loss, live), '.2f')} over the non-degenerate directions; median index "
            f"{_f(median['index'], '.3f')}, exact-zero fraction {_f(median['exact'], '.2f')}, τ {_f(median['tau'], '.2g')}")
    return [claims.correlation(**args("1-2.index-vs-loss"), x=loss, y=index, direction=+1, note=note, seed=seed)]


# ---------------------------------------------------------------------------------------------------------
# notebooks/1-2-error-surface.ipynb

ERROR_SURFACE_IDS = ids("1-2-error-surface")


def error_surface(results: Mapping[str, Any], margin: float, seed: int = 0) -> list[Claim]:
    """The claims of 1-2 error surface, from the notebook's results.

    `results["seeds"]`: one entry per independently trained model with `linear_slope`
    (`perturbation.single_draw_slope` over the smallest σ), `sigma_min` (the smallest positive σ measured),
    `sigma_star` (`perturbation.critical_scale` from the exact `grad_norm` and the Hutchinson `trace`, with its
    `trace_se`) and `curvature_slope` (the antithetic slope, a measure).

    - `1-2.perturbation-linear`: the single-draw slopes, equivalence to 1 within ± `margin`, over seeds.
    - `1-2.at-critical-point`: log(σ_min / σ*) over seeds against 0, claimed positive.
    """
    seeds = list(results["seeds"])
    slopes = _floats([s["linear_slope"] for s in seeds])
    sigma_min, sigma_star = _floats([s["sigma_min"] for s in seeds]), _floats([s["sigma_star"] for s in seeds])
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(sigma_min / sigma_star)
    curvature = _floats([s.get("curvature_slope") for s in seeds])
    grad, trace, se = (_floats([s.get(k) for s in seeds]) for k in ("grad_norm", "trace", "trace_se"))
    sig = ", ".join(fmt(v) for v in seeds[0].get("sigmas_fitted", [])) if seeds else ""
    return [
        claims.equivalence(**args("1-2.perturbation-linear"), values=slopes, target=1.0, margin=margin,
                           note=f"σ = {sig}; the antithetic (curvature) slope: mean "
                                f"{_f(float(np.nanmean(curvature)), '.3g')}, 2 at any θ by construction"),
        claims.mean(**args("1-2.at-critical-point"), values=log_ratio, direction=+1,
                    note=f"σ* per seed {', '.join(fmt(v) for v in sigma_star)} against σ_min {fmt(sigma_min[0]) if len(sigma_min) else '—'}; "
                         f"‖∇L‖ median {fmt(float(np.nanmedian(grad)))}, tr H median {fmt(float(np.nanmedian(trace)))} "
                         f"(Hutchinson standard error median {fmt(float(np.nanmedian(se)))})"),
    ]


# ---------------------------------------------------------------------------------------------------------
# notebooks/1-3-random-labels.ipynb

RANDOM_LABELS_IDS = ids("1-3-random-labels")
FIT_LEVEL = 0.99  # Zhang et al.'s "fits perfectly", fixed in the registry's entry


def random_labels(results: Mapping[str, Any], chance_margin: float, classes: int, seed: int = 0) -> list[Claim]:
    """The claims of 1-3 random labels (Zhang et al. 2017), from the notebook's results.

    `results["corruption"]`: one entry per corrupted fraction (0 = true, 1 = random labels), each with
    `fraction` and `seeds`: `train_accuracy` (in a pass over the training set after training, against the
    run's own labels), `test_accuracy` (true test labels), `epochs_to_fit` (the first epoch at which the run's
    training accuracy reached `results["fit_threshold"]`; NaN/None when not within its budget).
    `results["budget"]`: per seed, the epochs every run of that seed trained — budget_factor × the epochs the
    seed's true-label run took to fit (capped), fixed before any random-label run is looked at. Seed s of
    every fraction shares its initial weights and batch order, so the runs pair up by seed.
    """
    entries = list(results["corruption"])
    fractions = [float(e["fraction"]) for e in entries]
    train_acc, test_acc, fit_epochs = (_column(entries, k) for k in ("train_accuracy", "test_accuracy",
                                                                      "epochs_to_fit"))
    budget = _floats(results["budget"])
    fill = {"classes": classes}
    found = []
    if 1.0 not in fractions:
        why = "no run with random labels (corrupted fraction 1) in the results"
        found += [claims.inconclusive(**args(i, **fill), why=why) for i in
                  ("1-3.random-labels-fit", "1-3.random-labels-chance", "1-3.random-labels-slower")]
    else:
        i_random = fractions.index(1.0)
        found += [claims.every_run(**args("1-3.random-labels-fit"), values=train_acc[:, i_random], threshold=FIT_LEVEL,
                                   note=f"budget {', '.join(_f(b, '.0f') for b in budget)} epochs per seed"),
                  claims.equivalence(**args("1-3.random-labels-chance", **fill), values=test_acc[:, i_random],
                                     target=1 / classes, margin=chance_margin)]
        if 0.0 not in fractions:
            found.append(claims.inconclusive(**args("1-3.random-labels-slower"),
                                             why="no run with true labels (corrupted fraction 0) in the results"))
        else:
            i_true = fractions.index(0.0)
            unfit = int(np.isnan(fit_epochs[:, i_random]).sum())
            random_fit = np.where(np.isnan(fit_epochs[:, i_random]), budget, fit_epochs[:, i_random])
            slower = claims.paired(**args("1-3.random-labels-slower"), a=random_fit, b=fit_epochs[:, i_true],
                                   direction=+1, transform="log_ratio",
                                   note=f"{unfit} random-label run(s) not fitted within the budget, counted at it "
                                        "(a lower bound)" if unfit else "")
            if np.isfinite(slower.effect):  # the slowdown as a factor: exp of the mean log ratio
                slower.note = "; ".join(filter(None, [slower.note, "factor {:.3g}× [{:.3g}, {:.3g}]".format(
                    *np.exp([slower.effect, *slower.interval]))]))
            found.append(slower)
    found.append(claims.within_correlation(**args("1-3.corruption-hurts"), groups=_by_seed(fractions, test_acc),
                                           direction=-1, seed=seed, note=f"{len(fractions)} fractions per seed"))
    return found


# ---------------------------------------------------------------------------------------------------------
# notebooks/1-3-parameters.ipynb

PARAMETERS_IDS = ids("1-3-parameters")


def parameters(results: Mapping[str, Any], seed: int = 0) -> list[Claim]:
    """The claims of 1-3 number of parameters, from the notebook's results.

    `results["models"]`: one entry per width with `params` and `seeds`: the final `train_loss`, `test_loss`,
    `train_accuracy`, `test_accuracy` of every seed's model (NaN/None for a diverged model). The models of one
    seed share that seed's batch order; seeds are independent.

    - `1-3.params-gap`: Spearman ρ of the parameter count against (test − train loss), within each seed.
    - `1-3.params-gap-accuracy`: the same for (train − test accuracy).
    """
    models = list(results["models"])
    final = {k: _column(models, k) for k in ("train_loss", "test_loss", "train_accuracy", "test_accuracy")}
    count = [float(m["params"]) for m in models]
    note = f"{len(models)} widths per seed"
    return [claims.within_correlation(**args("1-3.params-gap"), groups=_by_seed(count, final["test_loss"] - final["train_loss"]),
                                      direction=+1, seed=seed, note=note),
            claims.within_correlation(**args("1-3.params-gap-accuracy"),
                                      groups=_by_seed(count, final["train_accuracy"] - final["test_accuracy"]),
                                      direction=+1, seed=seed, note=note)]


# ---------------------------------------------------------------------------------------------------------
# notebooks/1-3-flatness.ipynb

FLATNESS_IDS = ids("1-3-flatness")


def _pairs_by_seed(rows, x_key: str, y_key: str, only_included: bool) -> list[tuple]:
    """(x, y) per seed from the per-model records of one design and learning rate: the groups of a
    within-seed correlation (only the models in the claims, or all of them)."""
    seeds = sorted({int(r["seed"]) for r in rows})
    out = []
    for s in seeds:
        mine = [r for r in rows if int(r["seed"]) == s and (r.get("included", True) or not only_included)]
        out.append((_floats([r.get(x_key) for r in mine]), _floats([r.get(y_key) for r in mine])))
    return out


def flatness(results: Mapping[str, Any], learning_rate: float, flatness_delta: float, seed: int = 0) -> list[Claim]:
    """The claims of 1-3 flatness, from the notebook's results, per design (the first without a suffix,
    the report's fixed epochs as `.fixed-epochs` when both ran).

    `results["line"][design]`: per seed whose pair is in the claims, `barrier` (chord barrier between the
    small- and large-batch models), `control` (the small-batch model against its matched control: the same
    initialisation and batch size, another batch order), `barrier_matched` and `control_matched` (after
    weight matching), `rise_a`, `rise_b` (the loss rise |Δα| = `flatness_delta` either side of each end).
    `results["batch_sizes"]`: one record per model with `design`, `batch_size`, `learning_rate`, `seed`,
    `included` (reached the target; fixed epochs: did not diverge), `sharpness`, `sensitivity`, `gap`.

    `results["line_lr"][design]` (when a learning-rate pair ran): the same barriers for the pair that differs
    in learning rate. `results["pair_batch_sizes"]`: the interpolated batch-size pair (small, large).

    The correlations over batch sizes are within each seed (each seed has its own batch order) and tested
    over seeds; the note says what including the models that missed the target would give. Beside the
    report's and Keskar's sharpness claims: `1-3.large-batch-gap` (the pair's test accuracy, small − large),
    `1-3.batch64-best-test` (an intersection-union test against every other batch size) and
    `1-3.sensitivity-sharpness-unrelated` (equivalence of the within-seed ρ within ± 0.5).
    """
    found = []
    designs = list(results["designs"])
    for design in designs:
        suffix = "" if design == designs[0] else "." + design.replace("_", "-")
        line = list(results["line"][design])
        rows = [r for r in results["batch_sizes"] if r["design"] == design and float(r["learning_rate"]) == learning_rate]
        out = sum(not r.get("included", True) for r in results["batch_sizes"] if r["design"] == design)
        why = f"design {design}: {sum(r.get('included', True) for r in rows)} models in the claims, {out} left out" + (
            " (missed the target)" if out and design == "loss_target" else "")
        col = {key: _floats([r.get(key) for r in line]) for key in
               ("barrier", "control", "barrier_matched", "control_matched", "rise_a", "rise_b")}
        found += [claims.paired(**args("1-3.linear-barrier", suffix), a=col["barrier"], b=col["control"], direction=+1,
                                note=why),
                  claims.paired(**args("1-3.barrier-after-matching", suffix), a=col["barrier_matched"],
                                b=col["control_matched"], direction=+1, note=why),
                  claims.paired(**args("1-3.small-batch-flatter", suffix), a=col["rise_b"], b=col["rise_a"],
                                direction=+1, note=f"|Δα| = {flatness_delta}; " + why)]
        for cid, (x_key, y_key), direction in (("1-3.sharpness-vs-batch", ("batch_size", "sharpness"), +1),
                                               ("1-3.sensitivity-vs-gap", ("sensitivity", "gap"), +1),
                                               ("1-3.small-batch-sensitive", ("batch_size", "sensitivity"), -1)):
            claim = claims.within_correlation(**args(cid, suffix), groups=_pairs_by_seed(rows, x_key, y_key, True),
                                              direction=direction, seed=seed, note=why)
            if out:
                every = claims.within_correlation(**args(cid, suffix), groups=_pairs_by_seed(rows, x_key, y_key, False),
                                                  direction=direction, seed=seed)
                claim.note = f"{claim.note}; with the {out} left out included: {claims.effect_text(every.as_dict())}, " \
                             f"{every.verdict}"
            found.append(claim)
        found += _flatness_extra(results, design, suffix, rows, why)
    return found


UNRELATED_MARGIN = 0.5  # the registry's margin of 1-3.sensitivity-sharpness-unrelated


def _flatness_extra(results, design: str, suffix: str, rows, why: str) -> list[Claim]:
    """The learning-rate pair's barriers, Keskar's generalisation gap, the report's best batch size and its
    'sensitivity and sharpness seem unrelated', for one design."""
    out = []
    line_lr = (results.get("line_lr") or {}).get(design)
    for cid, a_key, b_key in (("1-3.lr-pair-barrier", "barrier", "control"),
                              ("1-3.lr-pair-barrier-after-matching", "barrier_matched", "control_matched")):
        if not line_lr:
            out.append(claims.inconclusive(**args(cid, suffix), why="no learning-rate pair in this run "
                                                                   "(learning_rate_pair is empty)"))
        else:
            out.append(claims.paired(**args(cid, suffix), a=_floats([r[a_key] for r in line_lr]),
                                     b=_floats([r[b_key] for r in line_lr]), direction=+1, note=why))
    kept = [r for r in rows if r.get("included", True)]
    seeds = sorted({int(r["seed"]) for r in rows})

    def per_seed(batch_size, key="test_accuracy"):
        found = {int(r["seed"]): r.get(key) for r in kept if int(r["batch_size"]) == int(batch_size)}
        return _floats([found.get(s) for s in seeds])

    pair = [int(b) for b in results.get("pair_batch_sizes") or []]
    if len(pair) < 2 or pair[0] == pair[-1]:
        out.append(claims.inconclusive(**args("1-3.large-batch-gap", suffix), why="no small- and large-batch pair"))
    else:
        small, large = pair[0], pair[-1]
        out.append(claims.paired(**args("1-3.large-batch-gap", suffix), a=per_seed(small), b=per_seed(large),
                                 direction=+1, note=f"batch {small} against {large}; {why}"))
    sizes = sorted({int(r["batch_size"]) for r in rows})
    if 64 not in sizes:
        out.append(claims.inconclusive(**args("1-3.batch64-best-test", suffix),
                                       why=f"batch size 64 is not among those trained ({sizes})"))
    else:
        out.append(claims.beats_every(**args("1-3.batch64-best-test", suffix), best=per_seed(64),
                                      others={f"batch {b}": per_seed(b) for b in sizes if b != 64}, note=why))
    rhos = claims.within_rhos(_pairs_by_seed(rows, "sensitivity", "sharpness", True))
    out.append(claims.equivalence(**args("1-3.sensitivity-sharpness-unrelated", suffix), values=rhos, target=0.0,
                                  margin=UNRELATED_MARGIN,
                                  note=f"ρ per seed: {', '.join(fmt(r, 2) for r in rhos)}; {why}"))
    return out
