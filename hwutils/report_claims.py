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
"""
from __future__ import annotations

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
