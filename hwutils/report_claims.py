"""The claims of each report notebook, as pure functions of that notebook's results.

One function per notebook, named for it, taking the notebook's results dict — the metrics it passes to
`P.report_claims(claims, **metrics)`, which results.json keeps — and the notebook's parameters that the
verdicts depend on, and returning the `hwutils.claims.Claim` list the notebook reports. Keeping them here
(and not inline in the notebook's last cell) makes each claim's extraction testable on small hand-built
results whose verdict is known (tests/test_report_claims.py), including results where the report's claim
does not hold. The notebook's last code cell then is `claims = report_claims.<notebook>(metrics, ...)`
followed by `P.report_claims(claims, **metrics)`.

The functions read the results both as the notebook holds them (numpy arrays, NaN for a missing value)
and as results.json stores them (lists, None for a missing value), so the claims can be recomputed from a
saved results.json.

Functions, one section each (add one per notebook, in the report's order):

- `random_labels`  notebooks/1-3-random-labels.ipynb   1-3.random-labels-fit, 1-3.random-labels-chance,
                                                        1-3.random-labels-slower, 1-3.corruption-hurts
- `parameters`     notebooks/1-3-parameters.ipynb       1-3.params-gap, 1-3.params-gap-accuracy
- `zero_gradient`  notebooks/1-2-zero-gradient.ipynb    1-2.minimal-ratio-vs-loss
- `error_surface`  notebooks/1-2-error-surface.ipynb    1-2.perturbation-slope
- `trajectories`   notebooks/1-2-trajectories.ipynb     1-2.runs-accurate, 1-2.distinct-minima
- `gradient_norm`  notebooks/1-2-gradient-norm.ipynb    1-2.gradnorm-oscillation, 1-2.gradnorm-oscillation-image
- `simulate_function` notebooks/1-1-simulate-function.ipynb  1-1.deeper-lower-loss, 1-1.deeper-earlier,
                                                        1-1.depth-rank-loss
- `actual_tasks`   notebooks/1-1-actual-tasks.ipynb     1-1.deeper-better-test, 1-1.depth-rank-test
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np

from . import claims
from .claims import Claim


def _column(entries: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    """entries[i]["seeds"][key] (one value per seed) as a float array [seeds, entries]; None becomes NaN."""
    cols = [np.asarray([np.nan if v is None else v for v in np.ravel(e["seeds"][key])], dtype=float)
            for e in entries]
    if len({len(c) for c in cols}) > 1:
        raise ValueError(f"every entry needs the same number of seeds for {key!r}: {[len(c) for c in cols]}")
    return np.stack(cols, axis=1) if cols else np.zeros((0, 0))


# ---------------------------------------------------------------------------------------------------------
# notebooks/1-3-random-labels.ipynb

RANDOM_LABELS_IDS = ("1-3.random-labels-fit", "1-3.random-labels-chance", "1-3.random-labels-slower",
                     "1-3.corruption-hurts")


def random_labels(results: Mapping[str, Any], fit_threshold: float, chance_margin: float, classes: int,
                  seed: int = 0) -> list[Claim]:
    """The four claims of 1-3 random labels (Zhang et al. 2017), from the notebook's results.

    `results["corruption"]` holds one entry per corrupted fraction (0 = true labels, 1 = random labels), each
    with `fraction` and `seeds`: `train_accuracy` (final, against the run's own labels), `test_accuracy`
    (final, true test labels) and `epochs_to_fit` (first epoch at which the run's training accuracy reached
    `fit_threshold`; NaN/None when it never did). `results["epochs_trained"]` is the epoch budget actually
    used. Seed s of every fraction is run s (same initial weights), so the runs pair up by seed.

    - `1-3.random-labels-fit`: mean final training accuracy on random labels against `fit_threshold`
      (`claims.mean`, claimed above).
    - `1-3.random-labels-chance`: the mean test accuracy on random labels equals 1/`classes` within
      ± `chance_margin` (`claims.equivalence`).
    - `1-3.random-labels-slower`: per seed, log(epochs to fit random / true labels) (`claims.paired`, claimed
      positive). A random-label run that never fitted counts at the budget (a lower bound, which can only
      understate the slowdown) and the note says how many; the note also gives the factor exp(effect).
    - `1-3.corruption-hurts`: Spearman ρ of test accuracy against the corrupted fraction over all
      fractions × seeds pooled (`claims.correlation`, claimed negative; `seed` seeds its resampling).
    """
    entries = list(results["corruption"])
    fractions = [float(e["fraction"]) for e in entries]
    source = "Zhang et al. 2017"
    statements = {
        "1-3.random-labels-fit": f"A network fits random labels: training accuracy ≥ {fit_threshold:.0%}",
        "1-3.random-labels-chance": f"Test accuracy after fitting random labels is chance (1/{classes})",
        "1-3.random-labels-slower": "Random labels take longer to fit than true labels, by a small constant factor",
        "1-3.corruption-hurts": "Test accuracy falls as the fraction of corrupted labels grows",
    }
    train_acc, test_acc, fit_epochs = (_column(entries, k) for k in ("train_accuracy", "test_accuracy",
                                                                      "epochs_to_fit"))
    n_seeds = test_acc.shape[0]
    budget = results["epochs_trained"]
    found = []
    if 1.0 not in fractions:
        why = "no run with random labels (corrupted fraction 1) in the results"
        found += [claims.inconclusive("1-3.random-labels-fit", statements["1-3.random-labels-fit"],
                                      "report 1-3; " + source, why, unit="accuracy − threshold"),
                  claims.inconclusive("1-3.random-labels-chance", statements["1-3.random-labels-chance"], source,
                                      why, unit="accuracy − chance"),
                  claims.inconclusive("1-3.random-labels-slower", statements["1-3.random-labels-slower"], source,
                                      why, unit="log(epochs random / true)")]
    else:
        i_random = fractions.index(1.0)
        found += [claims.mean("1-3.random-labels-fit", statements["1-3.random-labels-fit"], "report 1-3; " + source,
                              train_acc[:, i_random], null=fit_threshold, unit="accuracy − threshold"),
                  claims.equivalence("1-3.random-labels-chance", statements["1-3.random-labels-chance"], source,
                                     test_acc[:, i_random], 1 / classes, chance_margin, unit="accuracy − chance")]
        if 0.0 not in fractions:
            found.append(claims.inconclusive("1-3.random-labels-slower", statements["1-3.random-labels-slower"],
                                             source, "no run with true labels (corrupted fraction 0) in the results",
                                             unit="log(epochs random / true)"))
        else:
            i_true = fractions.index(0.0)
            unfit = int(np.isnan(fit_epochs[:, i_random]).sum())
            random_fit = np.where(np.isnan(fit_epochs[:, i_random]), budget, fit_epochs[:, i_random])
            slower = claims.paired("1-3.random-labels-slower", statements["1-3.random-labels-slower"], source,
                                   random_fit, fit_epochs[:, i_true], transform="log_ratio",
                                   unit="log(epochs random / true)",
                                   note=f"{unfit} random-label run(s) not fitted within {budget} epochs, counted at "
                                        f"the budget (a lower bound)" if unfit else "")
            if np.isfinite(slower.effect):  # the slowdown as a factor: exp of the mean log ratio, with its interval
                slower.note = "; ".join(filter(None, [slower.note, "factor {:.3g}× [{:.3g}, {:.3g}]".format(
                    *np.exp([slower.effect, *slower.interval]))]))
            found.append(slower)
    found.append(claims.correlation("1-3.corruption-hurts", statements["1-3.corruption-hurts"], source,
                                    np.broadcast_to(fractions, test_acc.shape), test_acc, direction=-1,
                                    note=f"{len(fractions)} fractions × {n_seeds} seeds pooled", seed=seed))
    return found


# ---------------------------------------------------------------------------------------------------------
# notebooks/1-3-parameters.ipynb

PARAMETERS_IDS = ("1-3.params-gap", "1-3.params-gap-accuracy")


def parameters(results: Mapping[str, Any], seed: int = 0) -> list[Claim]:
    """The two claims of 1-3 number of parameters (the report's observation), from the notebook's results.

    `results["models"]` holds one entry per width, each with `params` (the parameter count) and `seeds`:
    the final `train_loss`, `test_loss`, `train_accuracy`, `test_accuracy` of every seed's model (NaN/None
    for a diverged model, which the claims drop and count in the note).

    - `1-3.params-gap`: Spearman ρ of (test − train loss) against the parameter count, claimed positive;
    - `1-3.params-gap-accuracy`: the same for (train − test accuracy).
    Every (width, seed) model is its own training run, so the pairs are pooled over widths × seeds; the
    seeds of one width share its parameter count, a tie the ranks handle. `seed` seeds the resampling.
    """
    models = list(results["models"])
    final = {k: _column(models, k) for k in ("train_loss", "test_loss", "train_accuracy", "test_accuracy")}
    gap_loss = final["test_loss"] - final["train_loss"]
    gap_accuracy = final["train_accuracy"] - final["test_accuracy"]
    x = np.broadcast_to(np.asarray([m["params"] for m in models], dtype=float), gap_loss.shape)
    note = f"{len(models)} widths × {gap_loss.shape[0]} seeds pooled, each model its own run"
    return [claims.correlation("1-3.params-gap", "The gap between test and training loss grows with the number of "
                               "parameters", "report 1-3", x, gap_loss, note=note, seed=seed),
            claims.correlation("1-3.params-gap-accuracy", "The gap between training and test accuracy grows with the "
                               "number of parameters", "report 1-3", x, gap_accuracy, note=note, seed=seed)]


# ---------------------------------------------------------------------------------------------------------
# notebooks/1-2-zero-gradient.ipynb

ZERO_GRADIENT_IDS = ("1-2.minimal-ratio-vs-loss",)


def _run_values(runs: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    """runs[i][key] as a float array; None (a NaN read back from results.json) becomes NaN."""
    return np.asarray([np.nan if r.get(key) is None else r[key] for r in runs], dtype=float)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman ρ over the finite pairs; NaN with fewer than 3 of them or a constant side (no warning)."""
    from scipy import stats
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan")
    return float(stats.spearmanr(x[ok], y[ok]).statistic)


def _f(value: float, spec: str) -> str:
    return format(value, spec) if np.isfinite(value) else "—"


def zero_gradient(results: Mapping[str, Any], grad_tol: float, seed: int = 0) -> list[Claim]:
    """The claim of 1-2 zero gradient (Dauphin et al. 2014), from the notebook's results.

    `results["runs"]` holds one entry per run: its final `loss`, `converged` (the gradient norm reached
    `grad_tol` in the gradient-norm phase), `diverged`, `minimal_ratio` (fraction of eigenvalues > τ over
    all P, the report's ratio), `minimal_ratio_live` (the same over the directions that are not degenerate),
    `index` (fraction < −τ), `exact_zero_fraction` (dead-unit zeros) and `tau`;
    `results["already_below_tolerance"]` counts the runs below `grad_tol` before the gradient-norm phase.

    - `1-2.minimal-ratio-vs-loss`: Spearman ρ(loss, minimal_ratio_live) over the runs at a critical point
      (converged and not diverged), claimed negative: lower loss, higher minimal ratio (`claims.correlation`,
      permutation p and bootstrap interval; `seed` seeds them). Runs that did not reach the tolerance are
      left out and counted in the note, which also gives ρ for the report's ratio over all P and for the
      index, the median exact-zero fraction and the median band τ of the runs kept.
    The claim is decided on the non-degenerate ratio because a run with more dead units has both a higher
    loss and more exact zeros, which lowers the ratio over all P by capacity alone.
    """
    runs = list(results["runs"])
    converged = np.asarray([bool(r["converged"]) and not bool(r.get("diverged", False)) for r in runs], dtype=bool)
    loss, live, ratio, index, exact, tau = (_run_values(runs, k)[converged] for k in (
        "loss", "minimal_ratio_live", "minimal_ratio", "index", "exact_zero_fraction", "tau"))
    median = {k: float(np.median(v[np.isfinite(v)])) if np.isfinite(v).any() else float("nan")
              for k, v in (("exact", exact), ("tau", tau))}
    note = (f"{int((~converged).sum())} of {len(runs)} runs did not reach ‖∇L‖ < {grad_tol:g} and are left out; "
            f"{int(results['already_below_tolerance'])} were below it before the gradient-norm phase; over all P "
            f"(the report) ρ = {_f(_spearman(loss, ratio), '.2f')}, index ρ = {_f(_spearman(loss, index), '.2f')}; "
            f"median exact-zero fraction {_f(median['exact'], '.2f')}, τ {_f(median['tau'], '.2g')}")
    return [claims.correlation("1-2.minimal-ratio-vs-loss", "At critical points, lower loss goes with a higher "
                               "minimal ratio", "Dauphin et al. 2014", loss, live, direction=-1, note=note,
                               control="dead-unit degeneracy removed; no association (permutation test)", seed=seed)]


# ---------------------------------------------------------------------------------------------------------
# notebooks/1-2-error-surface.ipynb

ERROR_SURFACE_IDS = ("1-2.perturbation-slope",)


def error_surface(results: Mapping[str, Any], points: int, margin: float, target: float = 2.0,
                  linear: float = 1.0, min_draws: int = 3, seed: int = 0) -> list[Claim]:
    """The claim of 1-2 error surface (the report's bonus), from the notebook's results.

    `results["perturbation"]` is the `landscape.perturbation_curve` (every draw's loss at θ + σ·n per σ, and
    whether the draws are antithetic pairs), `results["base_loss"]` the loss L(θ) at the trained weights on
    the same points.

    - `1-2.perturbation-slope`: the slope of log mean Δloss against log σ over the `points` smallest positive
      σ, with its bootstrap interval over the draws (`landscape.perturbation_slope`, seeded by `seed`),
      decided by equivalence around `target` ± `margin` (`landscape.perturbation_slope_claim`); the note
      says whether the interval excludes the report's `linear` slope.
    Too few valid data give an inconclusive claim with the reason: fewer than 2 positive σ (no slope), or
    fewer than `min_draws` independent draws (antithetic pairs count once) at a fitted σ — a bootstrap over
    one or two draws has next to no spread, and a zero-width interval would let a single draw decide.
    """
    from . import landscape
    curve, base = results["perturbation"], float(results["base_loss"])
    slope = landscape.perturbation_slope(curve, base, points=points, seed=seed)
    claim = landscape.perturbation_slope_claim(slope, target=target, margin=margin, linear=linear)
    unit = "antithetic pairs" if slope["antithetic"] else "draws"
    why = (f"only {len(slope['sigmas'])} positive σ: a log-log slope needs at least 2" if len(slope["sigmas"]) < 2
           else f"too few noise {unit} per σ: {min(slope['draws'])} < {min_draws}"
           if min(slope["draws"]) < min_draws else "")
    if why:  # the slope (if any) stays as the effect, without an interval or p
        claim = replace(claim, interval=(float("nan"), float("nan")), p=float("nan"), verdict="inconclusive", note=why)
    return [claim]


# ---------------------------------------------------------------------------------------------------------
# notebooks/1-2-trajectories.ipynb

TRAJECTORIES_IDS = ("1-2.runs-accurate", "1-2.distinct-minima")


def _floats(values: Any) -> np.ndarray:
    """A flat float array; None (a NaN read back from results.json) becomes NaN."""
    return np.asarray([np.nan if v is None else v for v in np.ravel(np.asarray(values, dtype=object))], dtype=float)


def trajectories(results: Mapping[str, Any], accuracy_threshold: float) -> list[Claim]:
    """The two claims of 1-2 trajectories (the report's observation), from the notebook's results.

    `results["runs"]` holds one entry per run: `diverged`, `test_accuracy` (final weights) and `checkpoints`,
    one per weight snapshot in epoch order, each with the training `accuracy` there (the last is the final
    one). `results["barriers"]` holds the disjoint `pairs` of runs, the `alpha` grid on [0, 1] and per pair
    `chord` (`landscape.chord_barrier`: the most the training loss on the straight line between the two runs'
    final weights rises above the chord between its ends; negative when the line stays below it) and `control`
    (the same between run a's final weights and its own snapshot `record_every` epochs earlier: one basin by
    construction). `height` (`landscape.barrier_height`, never negative) is kept for the figure and record only.

    - `1-2.runs-accurate`: mean final training accuracy over runs against `accuracy_threshold` (`claims.mean`,
      claimed above: a Student-t interval over runs wholly above the threshold is reproduced, wholly below
      contradicted); the note counts the runs below it and the diverged runs and gives the mean test accuracy.
    - `1-2.distinct-minima`: per pair, the chord barrier between the runs minus the same-basin control
      (`claims.paired`, claimed positive). Reproduced when the loss between two runs rises above the chord
      clearly more than between a run and its own late snapshot; contradicted when clearly less (the runs
      look no more separated than one basin); inconclusive in between. A bare barrier against 0 would be
      reproduced by any consistent tiny rise and could never be contradicted.
    Fewer than 3 valid (finite) runs or pairs leave a claim inconclusive, and the note says why.
    """
    runs = list(results["runs"])
    final = _floats([r["checkpoints"][-1]["accuracy"] if r["checkpoints"] else None for r in runs])
    test = _floats([r.get("test_accuracy") for r in runs])
    diverged = sum(bool(r.get("diverged", False)) for r in runs)
    barriers = results["barriers"]
    chord, control = _floats(barriers["chord"]), _floats(barriers["control"])
    below = int((final < accuracy_threshold).sum())
    mean_test = float(np.mean(test[np.isfinite(test)])) if np.isfinite(test).any() else float("nan")
    pairs = len(barriers["pairs"])
    accurate_note = (f"{below} of {len(runs)} runs below the threshold" + (f"; {diverged} diverged" if diverged else "")
                     + f"; mean test accuracy {_f(mean_test, '.1%')}")
    return [
        claims.mean("1-2.runs-accurate", f"Every run reaches high training accuracy (≥ {accuracy_threshold:.0%}).",
                    "report 1-2", final, null=accuracy_threshold, unit="accuracy − threshold",
                    note=accurate_note),
        claims.paired("1-2.distinct-minima", "The runs end in different minima: the loss rises between them.",
                      "report 1-2", chord, control, unit="training loss above the chord (runs − control)",
                      control="chord barrier between a run and its own snapshot a few epochs earlier (one basin)",
                      note=f"{pairs} disjoint pair{'s' if pairs != 1 else ''} of runs; α grid of "
                           f"{len(_floats(barriers['alpha']))} points on [0, 1]; mean chord barrier between runs "
                           f"{_f(float(np.nanmean(chord)) if np.isfinite(chord).any() else float('nan'), '.3g')}"),
    ]


# ---------------------------------------------------------------------------------------------------------
# notebooks/1-2-gradient-norm.ipynb

GRADIENT_NORM_IDS = ("1-2.gradnorm-oscillation", "1-2.gradnorm-oscillation-image")
GRADIENT_NORM_TASKS = (("1-2.gradnorm-oscillation", "function"), ("1-2.gradnorm-oscillation-image", "image"))


def gradient_norm(results: Mapping[str, Any], window: int, horizon: int, min_runs: int = 1) -> list[Claim]:
    """The two claims of 1-2 gradient norm (the report's observation), from the notebook's results.

    `results["function"]` and `results["image"]` (one per task) each hold `coupling`: `rho`, one Spearman ρ per
    run that did not diverge (`measures.oscillation_coupling`: detrended log gradient norm at t against the
    log spread of the detrended log loss over the next `horizon` iterations), `observed` (their mean), `null` (the
    same mean at each circular lag of `measures.oscillation_lags`: the null samples) and `diverged` (one flag
    per run, all runs).

    - `1-2.gradnorm-oscillation` (function task) and `1-2.gradnorm-oscillation-image`: the observed mean ρ
      against its circular-shift null (`claims.against_null`, claimed positive): reproduced above the null's
      upper 2.5%, contradicted below its lower 2.5%, inconclusive inside.
    A task with fewer than `min_runs` runs left (every run diverged) is inconclusive and says how many diverged;
    fewer than 39 null samples (a series too short for the lags) leave the claim inconclusive too (`against_null`).
    `window` and `horizon` (the notebook's parameters) go into the note.
    """
    statement = "When the gradient norm is larger, the loss oscillates more (beyond trend and batch sampling)."
    found = []
    for cid, name in GRADIENT_NORM_TASKS:
        coupling = results[name]["coupling"]
        rho = _floats(coupling["rho"])
        flags = coupling.get("diverged")
        n_runs = len(flags) if flags is not None else len(rho)
        n_diverged = sum(map(bool, flags)) if flags is not None else 0
        diverged = f"{n_diverged} of {n_runs} runs diverged and are left out" if n_diverged else ""
        kwargs = dict(unit="Spearman ρ", control="circular shift")
        if len(rho) < min_runs:
            found.append(claims.inconclusive(cid, statement, "report 1-2", n=len(rho), note=diverged,
                                             why=f"too few valid runs: {len(rho)} < {min_runs}", **kwargs))
            continue
        observed = coupling["observed"]
        found.append(claims.against_null(
            cid, statement, "report 1-2", float("nan") if observed is None else observed, _floats(coupling["null"]),
            note="; ".join(filter(None, [f"{name} task, mean over {len(rho)} run{'s' if len(rho) != 1 else ''}; "
                                         f"window {window}, horizon {horizon}", diverged])), **kwargs))
    return found


# ---------------------------------------------------------------------------------------------------------
# notebooks/1-1-simulate-function.ipynb

SIMULATE_FUNCTION_IDS = ("1-1.deeper-lower-loss", "1-1.deeper-earlier", "1-1.depth-rank-loss")


def _deepest_shallowest(depths: Sequence[int]) -> tuple[int, int]:
    """Indices of the deepest and the shallowest model (the first of each on a tie); they must differ."""
    deep, shallow = int(np.argmax(depths)), int(np.argmin(depths))
    if depths[deep] == depths[shallow]:
        raise ValueError(f"the models need different depths to compare deeper with shallower: {list(depths)}")
    return deep, shallow


def simulate_function(results: Mapping[str, Any], seed: int = 0) -> list[Claim]:
    """The three claims of 1-1 simulate a function (the report's observation), from the notebook's results.

    `results["models"]` holds one entry per architecture: `name`, `depth` (hidden layers), `epochs_to_level`
    (per seed, the first epoch whose loss is at or below that seed's common level — the worst last-epoch loss
    among the models; NaN/None if never) and `seeds`, one entry per seed with its `final_loss` (NaN/None for a
    diverged member). Seed s of every model saw the same batches, so the models pair up by seed.
    `results["title"]` names the function in the statements (`results["target"]` when it is missing).

    "Deeper" is the deepest against the shallowest model, paired by seed (`claims.paired`, log ratio, claimed
    negative: exp(effect) is the geometric-mean ratio deepest / shallowest):
    - `1-1.deeper-lower-loss`: final training loss;
    - `1-1.deeper-earlier`: epochs to reach the common level;
    - `1-1.depth-rank-loss`: Spearman ρ of depth against log final loss over all models × seeds pooled
      (`claims.correlation`, claimed negative; `seed` seeds its resampling).
    Fewer than 3 valid pairs (seeds) leave a paired claim inconclusive, and the note says why.
    """
    models = list(results["models"])
    names = [m["name"] for m in models]
    depth = [int(m["depth"]) for m in models]
    final = np.stack([_floats([s["final_loss"] for s in m["seeds"]]) for m in models], axis=1)  # [seeds, models]
    reach = np.stack([_floats(m["epochs_to_level"]) for m in models], axis=1)
    deep, shallow = _deepest_shallowest(depth)
    title = results.get("title") or results["target"]
    pair = f"{names[deep]} ({depth[deep]} hidden) vs {names[shallow]} ({depth[shallow]})"
    with np.errstate(divide="ignore", invalid="ignore"):
        log_final = np.log(final)
    return [
        claims.paired("1-1.deeper-lower-loss", f"At about equal parameter count the deeper net ends with a lower "
                      f"training loss ({title})", "report 1-1", final[:, deep], final[:, shallow], direction=-1,
                      transform="log_ratio", unit=f"log loss ratio, {pair}", note="paired over seeds"),
        claims.paired("1-1.deeper-earlier", f"The deeper net's loss falls earlier: it reaches the common level in "
                      f"fewer epochs ({title})", "report 1-1", reach[:, deep], reach[:, shallow], direction=-1,
                      transform="log_ratio", unit=f"log epoch ratio, {pair}",
                      note="level per seed: the worst last-epoch loss among the models"),
        claims.correlation("1-1.depth-rank-loss", f"Final training loss falls with depth, all models and seeds "
                           f"({title})", "report 1-1", np.broadcast_to(depth, final.shape).ravel(), log_final.ravel(),
                           direction=-1, seed=seed),
    ]


# ---------------------------------------------------------------------------------------------------------
# notebooks/1-1-actual-tasks.ipynb

ACTUAL_TASKS_IDS = ("1-1.deeper-better-test", "1-1.depth-rank-test")


def actual_tasks(results: Mapping[str, Any], seed: int = 0) -> list[Claim]:
    """The two claims of 1-1 train on actual tasks (the report's observation), from the notebook's results.

    `results["dataset"]` names the data; `results["models"]` holds one entry per model: `name`, `hidden_layers`
    and `final_test_accuracy`, one value per seed (NaN/None for a diverged seed). Every model × seed was a member
    of one stacked model, so seed s of every model saw the same batches and the models pair up by seed.

    - `1-1.deeper-better-test`: (deepest − shallowest) final test accuracy, paired by seed (`claims.paired`,
      claimed positive). The report: yes on CIFAR-10; on MNIST 1 ≈ 2 hidden layers and 4 worse, which reads
      here as contradicted.
    - `1-1.depth-rank-test`: Spearman ρ of depth against final test accuracy over all models × seeds pooled
      (`claims.correlation`, claimed positive; `seed` seeds its resampling), as context.
    Fewer than 3 valid pairs (seeds) leave the paired claim inconclusive, and the note says why.
    """
    models = list(results["models"])
    names = [m["name"] for m in models]
    hidden = [int(m["hidden_layers"]) for m in models]
    accuracy = np.stack([_floats(m["final_test_accuracy"]) for m in models], axis=1)  # [seeds, models]
    deep, shallow = _deepest_shallowest(hidden)
    return [
        claims.paired("1-1.deeper-better-test", "At about equal parameter count the deeper model reaches a higher "
                      "test accuracy (report 1-1: yes on CIFAR-10; on MNIST 4 hidden layers did worse)", "report 1-1",
                      accuracy[:, deep], accuracy[:, shallow], direction=+1,
                      unit=f"test accuracy, {names[deep]} − {names[shallow]}",
                      note=f"{results['dataset']}, paired over seeds"),
        claims.correlation("1-1.depth-rank-test", "Test accuracy rises with depth (all models and seeds)", "report 1-1",
                           np.broadcast_to(hidden, accuracy.shape).ravel(), accuracy.ravel(), direction=+1, seed=seed,
                           note="context for 1-1.deeper-better-test; models of one seed share their batches"),
    ]
