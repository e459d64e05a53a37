"""hwutils.report_claims on small hand-built results whose verdicts are known: for each claim a case where
it is reproduced, one where the report's (or the paper's) claim does not hold (contradicted), and one with
too few valid runs (inconclusive, with the reason). The results dicts have the shape the notebooks pass to
P.report_claims (numpy arrays, NaN for missing) and the shape results.json stores (lists, None)."""
import json
import re

import numpy as np
import pytest

from hwutils import report_claims
from hwutils.run import to_jsonable

CLASSES = 10


def by_id(found):
    return {c.id: c for c in found}


# ------------------------------------------------------------------------------------------ 1-3 random labels

def rl_results(train, test, fit, epochs_trained=80):
    """Random-labels results from per-fraction lists of per-seed values: {fraction: [seed values]}."""
    return {"epochs_trained": epochs_trained, "params": 1234, "corruption": [
        {"fraction": f, "train_accuracy": float(np.nanmean(train[f])), "test_accuracy": float(np.nanmean(test[f])),
         "seeds": {"train_accuracy": np.asarray(train[f], float), "test_accuracy": np.asarray(test[f], float),
                   "epochs_to_fit": np.asarray(fit[f], float)}}
        for f in sorted(train)]}


def rl(results, **kw):
    return by_id(report_claims.random_labels(results, fit_threshold=0.95, chance_margin=0.05, classes=CLASSES, **kw))


# What Zhang et al. saw: random labels fitted (train ≈ 1), test at chance, fitted a few times later than true
# labels, test accuracy falling with the corrupted fraction. 3 fractions × 3 seeds.
ZHANG = dict(train={0.0: [1.0, 1.0, 0.999], 0.5: [0.99, 1.0, 0.995], 1.0: [0.99, 0.985, 0.995]},
             test={0.0: [0.95, 0.94, 0.96], 0.5: [0.55, 0.52, 0.58], 1.0: [0.10, 0.11, 0.095]},
             fit={0.0: [5, 6, 5], 0.5: [20, 22, 21], 1.0: [30, 33, 36]})


def test_random_labels_reproduced():
    c = rl(rl_results(**ZHANG))
    assert list(c) == list(report_claims.RANDOM_LABELS_IDS)
    assert all(x.verdict == "reproduced" for x in c.values()), {k: (x.verdict, x.note) for k, x in c.items()}
    assert c["1-3.random-labels-fit"].effect == pytest.approx(np.mean([0.99, 0.985, 0.995]) - 0.95)
    assert c["1-3.random-labels-chance"].effect == pytest.approx(np.mean([0.10, 0.11, 0.095]) - 0.1)
    slow = c["1-3.random-labels-slower"]
    assert slow.effect == pytest.approx(np.mean(np.log([30 / 5, 33 / 6, 36 / 5])))
    assert f"factor {np.exp(slow.effect):.3g}×" in slow.note and "not fitted" not in slow.note
    hurts = c["1-3.corruption-hurts"]
    assert hurts.effect < -0.8 and hurts.n == 9 and "3 fractions × 3 seeds pooled" in hurts.note
    assert c["1-3.random-labels-fit"].source == "report 1-3; Zhang et al. 2017"


def test_random_labels_contradicted():
    """Random labels not fitted, test accuracy far above chance, random labels fitted *faster* than true ones,
    test accuracy rising with corruption: every claim comes out contradicted."""
    res = rl_results(train={0.0: [1.0, 1.0, 1.0], 0.5: [0.6, 0.62, 0.58], 1.0: [0.40, 0.35, 0.45]},
                     test={0.0: [0.30, 0.28, 0.31], 0.5: [0.50, 0.52, 0.49], 1.0: [0.70, 0.72, 0.69]},
                     fit={0.0: [30, 33, 36], 0.5: [20, 22, 21], 1.0: [5, 6, 5]})
    c = rl(res)
    assert {k: x.verdict for k, x in c.items()} == dict.fromkeys(report_claims.RANDOM_LABELS_IDS, "contradicted")
    assert c["1-3.random-labels-slower"].effect < 0 and c["1-3.corruption-hurts"].effect > 0


def test_random_labels_too_few_runs():
    """One seed: no claim can be decided, and each says why."""
    res = rl_results(train={0.0: [1.0], 1.0: [0.99]}, test={0.0: [0.9], 1.0: [0.1]}, fit={0.0: [5], 1.0: [30]})
    c = rl(res)
    assert all(x.verdict == "inconclusive" for x in c.values())
    assert "too few valid values: 1 < 3" in c["1-3.random-labels-fit"].note
    assert "too few valid values: 1 < 2" in c["1-3.random-labels-chance"].note
    assert "too few valid pairs: 1 < 3" in c["1-3.random-labels-slower"].note
    assert "too few valid pairs: 2 < 3" in c["1-3.corruption-hurts"].note


def test_random_labels_unfitted_runs_count_at_the_budget_and_true_failures_drop():
    """A random-label run that never fitted counts at the budget (said in the note); a true-label run that never
    fitted leaves no pair; a diverged (NaN) run is dropped. Results read back from JSON (None) give the same."""
    train = {0.0: [1.0, 1.0, 1.0, 1.0], 1.0: [0.99, np.nan, 0.97, 0.98]}
    test = {0.0: [0.9, 0.91, 0.92, 0.9], 1.0: [0.1, np.nan, 0.11, 0.09]}
    fit = {0.0: [5, 6, np.nan, 5], 1.0: [30, np.nan, 40, np.nan]}
    res = rl_results(train, test, fit, epochs_trained=50)
    c = rl(res)
    slow = c["1-3.random-labels-slower"]
    assert slow.n == 3 and "2 random-label run(s) not fitted within 50 epochs" in slow.note
    assert "1 pair with a non-finite value dropped" in slow.note
    assert slow.effect == pytest.approx(np.mean(np.log([30 / 5, 50 / 6, 50 / 5])))
    assert c["1-3.random-labels-fit"].n == 3 and "1 non-finite value dropped" in c["1-3.random-labels-fit"].note
    assert c["1-3.corruption-hurts"].n == 7
    saved = json.loads(json.dumps(to_jsonable(res)))
    assert saved["corruption"][1]["seeds"]["epochs_to_fit"][1] is None
    again = rl(saved)
    assert [x.as_dict() for x in again.values()] == [x.as_dict() for x in c.values()]


def test_random_labels_without_random_or_true_runs():
    res = rl_results(train={0.0: [1.0] * 3, 0.5: [0.9] * 3}, test={0.0: [0.9] * 3, 0.5: [0.5] * 3},
                     fit={0.0: [5] * 3, 0.5: [9] * 3})
    c = rl(res)
    assert list(c) == list(report_claims.RANDOM_LABELS_IDS)
    assert all("no run with random labels" in c[k].note for k in report_claims.RANDOM_LABELS_IDS[:3])
    res = rl_results(train={0.5: [0.9] * 3, 1.0: [0.99, 0.98, 0.99]}, test={0.5: [0.5] * 3, 1.0: [0.1, 0.11, 0.09]},
                     fit={0.5: [9] * 3, 1.0: [30] * 3})
    assert "no run with true labels" in rl(res)["1-3.random-labels-slower"].note


def test_random_labels_chance_is_one_over_classes_and_margin_matters():
    res = rl_results(**{**ZHANG, "test": {**ZHANG["test"], 1.0: [0.19, 0.20, 0.21]}})
    c = report_claims.random_labels(res, 0.95, 0.05, classes=5)
    assert c[1].effect == pytest.approx(0.0) and c[1].verdict == "reproduced"   # 1/5 = 0.2
    assert rl(res)["1-3.random-labels-chance"].verdict == "contradicted"         # 1/10 ± 0.05
    assert report_claims.random_labels(res, 0.95, 0.12, classes=10)[1].verdict == "inconclusive"  # straddles


# ------------------------------------------------------------------------------------------ 1-3 parameters

def par_results(params, train_loss, test_loss, train_acc, test_acc):
    """Parameters results from per-width lists of per-seed values ([widths][seeds])."""
    return {"family": "Flatten → Dense(n) → Dense(n) → Dense(10, softmax)", "seeds": len(train_loss[0]),
            "models": [{"width": i, "params": p, "diverged": False,
                        "seeds": {"train_loss": np.asarray(train_loss[i], float),
                                  "test_loss": np.asarray(test_loss[i], float),
                                  "train_accuracy": np.asarray(train_acc[i], float),
                                  "test_accuracy": np.asarray(test_acc[i], float)}}
                       for i, p in enumerate(params)]}


PARAMS = [100, 400, 1600, 6400]
JITTER = np.array([0.0, 0.01, -0.01])  # three seeds


def growing_gap(sign=+1):
    """Training loss falls with size; the test loss stays (sign=+1: the gap grows) or falls faster (-1)."""
    train_loss = [list(1.0 - 0.2 * i + JITTER) for i in range(4)]
    test_loss = [list(1.2 - 0.2 * i + sign * 0.3 * i + 2 * JITTER[::-1]) for i in range(4)]
    train_acc = [list(0.6 + 0.1 * i + JITTER) for i in range(4)]
    test_acc = [list(0.55 + 0.1 * i - sign * 0.04 * i - JITTER) for i in range(4)]
    return par_results(PARAMS, train_loss, test_loss, train_acc, test_acc)


def test_parameters_reproduced():
    c = by_id(report_claims.parameters(growing_gap(+1), seed=3))
    assert list(c) == list(report_claims.PARAMETERS_IDS)
    for x in c.values():
        assert x.verdict == "reproduced" and x.effect > 0.8 and x.n == 12, (x.id, x.verdict, x.note)
        assert x.note.startswith("4 widths × 3 seeds pooled") and x.source == "report 1-3"


def test_parameters_contradicted_when_the_gap_shrinks():
    c = by_id(report_claims.parameters(growing_gap(-1)))
    assert {k: x.verdict for k, x in c.items()} == dict.fromkeys(report_claims.PARAMETERS_IDS, "contradicted")
    assert all(x.effect < -0.8 for x in c.values())


def test_parameters_loss_and_accuracy_gaps_are_separate():
    """The loss gap grows while the accuracy gap shrinks: one claim reproduced, the other contradicted."""
    up, down = growing_gap(+1), growing_gap(-1)
    for m_up, m_down in zip(up["models"], down["models"]):
        m_up["seeds"]["train_accuracy"] = m_down["seeds"]["train_accuracy"]
        m_up["seeds"]["test_accuracy"] = m_down["seeds"]["test_accuracy"]
    c = by_id(report_claims.parameters(up))
    assert c["1-3.params-gap"].verdict == "reproduced"
    assert c["1-3.params-gap-accuracy"].verdict == "contradicted"


def test_parameters_too_few_valid_runs():
    """Two widths × one seed, or diverged models leaving too few: inconclusive, and the note says why."""
    small = par_results([100, 400], [[1.0], [0.5]], [[1.1], [1.5]], [[0.6], [0.9]], [[0.55], [0.6]])
    for x in report_claims.parameters(small):
        assert x.verdict == "inconclusive" and "too few valid pairs: 2 < 3" in x.note
    res = growing_gap(+1)
    for m in res["models"][1:]:
        m["seeds"]["test_loss"] = np.full(3, np.nan)   # every model but the smallest width diverged
    c = by_id(report_claims.parameters(res))
    assert c["1-3.params-gap"].verdict == "inconclusive" and c["1-3.params-gap"].n == 3
    assert re.search(r"\b9 pairs? with a non-finite values? dropped", c["1-3.params-gap"].note)
    assert "x is constant" in c["1-3.params-gap"].note
    assert c["1-3.params-gap-accuracy"].verdict == "reproduced"


def test_parameters_from_saved_json_equal_in_memory():
    res = growing_gap(+1)
    res["models"][2]["seeds"]["test_loss"][1] = np.nan
    saved = json.loads(json.dumps(to_jsonable(res)))
    assert saved["models"][2]["seeds"]["test_loss"][1] is None
    assert ([c.as_dict() for c in report_claims.parameters(saved, seed=1)]
            == [c.as_dict() for c in report_claims.parameters(res, seed=1)])


# ------------------------------------------------------------------------------------------ 1-2 zero gradient

def zg_results(loss, live, converged, ratio=None, index=None, diverged=None, already=0):
    """Zero-gradient results from per-run lists (the runs' dicts the notebook saves)."""
    n = len(loss)
    ratio = live if ratio is None else ratio
    index = [0.5 * (1 - v) for v in live] if index is None else index
    diverged = [False] * n if diverged is None else diverged
    runs = [{"seed": m, "loss": loss[m], "grad_norm": 1e-4 if converged[m] else 1e-2, "minimal_ratio": ratio[m],
             "index": index[m], "near_zero_fraction": 0.2, "exact_zero_fraction": 0.05 * (m % 3),
             "minimal_ratio_live": live[m], "tau": 1e-7 * (1 + m), "converged": converged[m],
             "diverged": diverged[m], "grad_steps": 50} for m in range(n)]
    return {"widths": [1, 8, 8, 1], "params": 97, "runs": runs, "converged_fraction": float(np.mean(converged)),
            "already_below_tolerance": already}


def zg(results, **kw):
    return by_id(report_claims.zero_gradient(results, grad_tol=1e-3, **kw))


LOSSES = list(np.logspace(-4, -2, 12))
FALLING = [0.9 - 0.03 * i + 0.005 * (-1) ** i for i in range(12)]  # minimal ratio falling as the loss rises


def test_zero_gradient_reproduced_on_the_non_degenerate_ratio():
    """Lower loss, higher non-degenerate ratio: reproduced, even though the report's ratio over all P (here made to
    rise with the loss, as dead units can make it) goes the other way; the note gives that ρ and the index's."""
    res = zg_results(LOSSES, FALLING, [True] * 12, ratio=[0.3 + 0.02 * i for i in range(12)], already=2)
    c = zg(res)
    assert list(c) == list(report_claims.ZERO_GRADIENT_IDS)
    x = c["1-2.minimal-ratio-vs-loss"]
    assert x.verdict == "reproduced" and x.effect == pytest.approx(-1.0) and x.n == 12, x.note
    assert x.interval[1] < 0 and x.p < 0.05 and x.source == "Dauphin et al. 2014"
    assert x.note.startswith("0 of 12 runs did not reach ‖∇L‖ < 0.001 and are left out; 2 were below it before")
    assert "over all P (the report) ρ = 1.00, index ρ = 1.00" in x.note
    assert "median exact-zero fraction 0.05, τ 6.5e-07" in x.note


def test_zero_gradient_contradicted_when_the_ratio_rises_with_loss():
    c = zg(zg_results(LOSSES, FALLING[::-1], [True] * 12))["1-2.minimal-ratio-vs-loss"]
    assert c.verdict == "contradicted" and c.effect == pytest.approx(1.0) and c.interval[0] > 0


def test_zero_gradient_leaves_out_runs_not_at_a_critical_point():
    """12 runs at a critical point follow the claim; 12 that missed the tolerance (and one diverged run flagged
    converged) go the other way, strongly enough to reverse ρ if they were counted."""
    loss = LOSSES + list(np.logspace(-4, -2, 12)) + [1e-3]
    live = FALLING + [0.3 + 0.05 * i for i in range(12)] + [0.0]
    res = zg_results(loss, live, [True] * 12 + [False] * 12 + [True], diverged=[False] * 24 + [True])
    c = zg(res)["1-2.minimal-ratio-vs-loss"]
    assert c.verdict == "reproduced" and c.n == 12 and c.effect == pytest.approx(-1.0)
    assert c.note.startswith("13 of 25 runs did not reach")


def test_zero_gradient_too_few_runs_at_a_critical_point():
    """Most runs did not converge: two left, no correlation can be decided, and the note says why."""
    res = zg_results(LOSSES, FALLING, [True, True] + [False] * 10)
    c = zg(res)["1-2.minimal-ratio-vs-loss"]
    assert c.verdict == "inconclusive" and c.n == 2 and np.isnan(c.effect)
    assert "too few valid pairs: 2 < 3" in c.note and "10 of 12 runs did not reach ‖∇L‖ < 0.001" in c.note
    assert "over all P (the report) ρ = —, index ρ = —" in c.note
    c = zg(zg_results(LOSSES[:4], FALLING[:4], [True] * 4))["1-2.minimal-ratio-vs-loss"]
    assert c.verdict == "inconclusive" and "at n = 4 no rank correlation can be significant" in c.note


def test_zero_gradient_from_saved_json_equal_in_memory():
    res = zg_results(LOSSES, FALLING, [True] * 12)
    res["runs"][3]["minimal_ratio_live"] = np.nan
    saved = json.loads(json.dumps(to_jsonable(res)))
    assert saved["runs"][3]["minimal_ratio_live"] is None
    c = zg(res, seed=2)["1-2.minimal-ratio-vs-loss"]
    assert c.n == 11 and "1 pair with a non-finite value dropped" in c.note
    assert zg(saved, seed=2)["1-2.minimal-ratio-vs-loss"].as_dict() == c.as_dict()


# ------------------------------------------------------------------------------------------ 1-2 error surface

SIGMAS = [0.0, 1e-3, 3e-3, 1e-2, 0.3]


def es_results(power, sigmas=SIGMAS, pairs=10, linear=0.0, spread=0.2, base=0.5, antithetic=True, seed=0):
    """Error-surface results: per σ, `pairs` antithetic pairs of losses base + 3σ^power·(1 + spread·ε) ± linear·σ·ε'
    (the ± is the first-order term a remaining gradient adds; a pair cancels it), as perturbation_curve returns."""
    rng = np.random.default_rng(seed)
    losses = []
    for s in sigmas:
        mid = base + 3 * s ** power * (1 + spread * rng.standard_normal(pairs))
        g = linear * s * rng.standard_normal(pairs)
        losses.append(np.stack([mid + g, mid - g], axis=1).ravel().tolist())
    return {"perturbation": {"sigma": list(sigmas), "losses": losses, "mean_loss": np.mean(losses, 1).tolist(),
                             "std_loss": np.std(losses, 1).tolist(), "antithetic": antithetic},
            "base_loss": base}


def es(results, **kw):
    return by_id(report_claims.error_surface(results, **{"points": 3, "margin": 0.5, **kw}))


def test_error_surface_reproduced_at_a_minimum():
    """Δ ∝ σ² at the three smallest σ (σ = 0.3 beyond them is made wild and must not matter); a remaining gradient
    whose linear term swamps σ² in single draws cancels within the antithetic pairs."""
    res = es_results(2.0, linear=0.05)
    res["perturbation"]["losses"][-1] = [1e6] * 20
    c = es(res)
    assert list(c) == list(report_claims.ERROR_SURFACE_IDS)
    x = c["1-2.perturbation-slope"]
    assert x.verdict == "reproduced" and x.effect == pytest.approx(2.0, abs=0.1) and x.n == 10, x.note
    assert 1.5 <= x.interval[0] < x.interval[1] <= 2.5 and "excludes the report's slope 1" in x.note
    assert "10 antithetic pairs each" in x.note
    from hwutils import landscape
    direct = landscape.perturbation_slope_claim(landscape.perturbation_slope(res["perturbation"], 0.5, points=3))
    assert x.as_dict() == direct.as_dict()
    res["perturbation"]["antithetic"] = False  # the same draws taken singly: the gradient term is not cancelled
    assert es(res)["1-2.perturbation-slope"].verdict == "inconclusive"


def test_error_surface_contradicted_when_the_loss_rises_linearly():
    """What the report saw: slope clearly 1, far outside 2 ± 0.5."""
    x = es(es_results(1.0))["1-2.perturbation-slope"]
    assert x.verdict == "contradicted" and x.effect == pytest.approx(1.0, abs=0.1)
    assert x.interval[1] < 1.5 and "includes the report's slope 1" in x.note


def test_error_surface_reads_the_base_loss_and_the_margin():
    res = es_results(2.0)
    assert es(res, margin=0.01)["1-2.perturbation-slope"].verdict != "reproduced"
    res["base_loss"] = 0.5 + 3 * 1e-3 ** 2 * 2   # a base above the mean loss at the smallest σ: no slope
    x = es(res)["1-2.perturbation-slope"]
    assert x.verdict == "inconclusive" and "log-log slope is undefined" in x.note


def test_error_surface_too_few_draws_or_sigmas():
    """Two antithetic pairs per σ (the smoke profile's 4 draws), one draw per σ, or a single positive σ:
    inconclusive with the reason, even though the slope itself is 2."""
    x = es(es_results(2.0, pairs=2))["1-2.perturbation-slope"]
    assert x.verdict == "inconclusive" and x.n == 2 and x.note == "too few noise antithetic pairs per σ: 2 < 3"
    assert x.effect == pytest.approx(2.0, abs=0.3) and np.isnan(x.interval[0]) and np.isnan(x.p)
    single = es_results(2.0, pairs=1, spread=0.0)
    single["perturbation"]["losses"] = [d[:1] for d in single["perturbation"]["losses"]]
    single["perturbation"]["antithetic"] = False
    x = es(single)["1-2.perturbation-slope"]
    assert x.verdict == "inconclusive" and x.note == "too few noise draws per σ: 1 < 3"
    x = es(es_results(2.0, sigmas=[0.0, 1e-3]))["1-2.perturbation-slope"]
    assert x.verdict == "inconclusive" and x.note == "only 1 positive σ: a log-log slope needs at least 2"


def test_error_surface_from_saved_json_equal_in_memory():
    res = es_results(2.0)
    saved = json.loads(json.dumps(to_jsonable(res)))
    assert es(saved, seed=4)["1-2.perturbation-slope"].as_dict() == es(res, seed=4)["1-2.perturbation-slope"].as_dict()


# ------------------------------------------------------------------------------------------ 1-2 trajectories

def traj_results(final_accuracy, barriers, test_accuracy=None, diverged=(), alpha_points=11, control=None):
    """Trajectories results: per run a first (epoch 0) and a final checkpoint with the given final training
    accuracy; per disjoint pair (0, 1), (2, 3), … the given chord barrier between the runs and the same-basin
    control barrier (default: a slightly negative one, a convex valley along a run's own late path)."""
    test_accuracy = final_accuracy if test_accuracy is None else test_accuracy
    control = [-0.01 - 0.002 * i for i in range(len(barriers))] if control is None else control
    alphas = np.linspace(0.0, 1.0, alpha_points)
    runs = [{"seed": r, "diverged": r in diverged, "test_accuracy": t,
             "checkpoints": [{"epoch": 0, "loss": 2.3, "accuracy": 0.1, "pca": np.zeros(2)},
                             {"epoch": 45, "loss": 0.05, "accuracy": a, "pca": np.ones(2)}]}
            for r, (a, t) in enumerate(zip(final_accuracy, test_accuracy))]
    return {"runs": runs, "layer": 0, "barriers": {
        "pairs": [(2 * i, 2 * i + 1) for i in range(len(barriers))], "alpha": alphas,
        "chord": np.asarray(barriers, float), "control": np.asarray(control, float),
        "height": np.maximum(np.asarray(barriers, float), 0),
        "train_loss": [0.05 + h * np.sin(np.pi * alphas) for h in np.nan_to_num(barriers)]}}


def traj(results, threshold=0.97):
    return by_id(report_claims.trajectories(results, accuracy_threshold=threshold))


ACCURATE = [0.99, 0.985, 0.995, 0.992, 0.988, 0.991]   # six runs, all above 97%
BARRIERS = [0.45, 0.6, 0.52]                            # three disjoint pairs, a clear barrier each


def test_trajectories_reproduced():
    c = traj(traj_results(ACCURATE, BARRIERS, test_accuracy=[0.96] * 6))
    assert list(c) == list(report_claims.TRAJECTORIES_IDS)
    acc, minima = c["1-2.runs-accurate"], c["1-2.distinct-minima"]
    assert acc.verdict == "reproduced" and acc.n == 6 and acc.interval[0] > 0
    assert acc.effect == pytest.approx(np.mean(ACCURATE) - 0.97)          # the final checkpoint, not the first
    assert acc.note == "0 of 6 runs below the threshold; mean test accuracy 96.0%"
    assert acc.statement == "Every run reaches high training accuracy (≥ 97%)." and acc.source == "report 1-2"
    assert minima.verdict == "reproduced" and minima.n == 3 and minima.interval[0] > 0
    assert minima.effect == pytest.approx(np.mean(BARRIERS) - np.mean([-0.01, -0.012, -0.014]))  # runs − control
    assert minima.note.startswith("3 disjoint pairs of runs; α grid of 11 points on [0, 1]; mean chord barrier")
    assert "one basin" in minima.control


def test_trajectories_runs_accurate_contradicted_below_the_threshold():
    """Every run ends clearly below 97% (say 90-93%): the report's "all with high accuracy" does not hold."""
    c = traj(traj_results([0.90, 0.92, 0.91, 0.93], [0.5, 0.55]))
    acc = c["1-2.runs-accurate"]
    assert acc.verdict == "contradicted" and acc.interval[1] < 0
    assert acc.note.startswith("4 of 4 runs below the threshold")
    # the threshold is a parameter: the same runs reproduce the claim against 85%
    again = traj(traj_results([0.90, 0.92, 0.91, 0.93], [0.5, 0.55]), threshold=0.85)["1-2.runs-accurate"]
    assert again.verdict == "reproduced" and again.statement.endswith("(≥ 85%).")


def test_trajectories_one_basin_is_contradicted():
    """Runs in one basin: the line between two runs stays below its chord (negative chord barrier), clearly
    more so than between a run and its own late snapshot. The claim can now come out contradicted."""
    c = traj(traj_results(ACCURATE, [-0.08, -0.1, -0.09], control=[-0.01, -0.012, -0.011]))["1-2.distinct-minima"]
    assert c.verdict == "contradicted" and c.interval[1] < 0 and c.effect < 0


def test_trajectories_tiny_consistent_barriers_are_not_reproduced_by_construction():
    """Consistently tiny positive barriers ([1e-7, 1.1e-7, 1.2e-7]) against 0 came out reproduced (the old
    claims.mean on barrier_height). Against the same-basin control, which rises as little, they do not."""
    c = traj(traj_results(ACCURATE, [1e-7, 1.1e-7, 1.2e-7], control=[1.2e-7, 1e-7, 1.1e-7]))["1-2.distinct-minima"]
    assert c.verdict == "inconclusive" and c.interval[0] < 0 < c.interval[1]
    assert "interval includes no effect" in c.note


def test_trajectories_too_few_valid_runs():
    """Two runs (one pair), or diverged runs whose accuracy and barrier are NaN: inconclusive, saying why."""
    c = traj(traj_results([0.99, 0.98], [0.5]))
    assert c["1-2.runs-accurate"].verdict == "inconclusive"
    assert "too few valid values: 2 < 3" in c["1-2.runs-accurate"].note
    assert c["1-2.distinct-minima"].verdict == "inconclusive"
    assert "too few valid pairs: 1 < 3" in c["1-2.distinct-minima"].note
    assert "1 disjoint pair of runs" in c["1-2.distinct-minima"].note
    res = traj_results([0.99, np.nan, 0.98, np.nan], [np.nan, np.nan], diverged=(1, 3))
    c = traj(res)
    assert all(x.verdict == "inconclusive" for x in c.values())
    acc = c["1-2.runs-accurate"]
    assert acc.n == 2 and "2 non-finite values dropped" in acc.note and "; 2 diverged" in acc.note
    assert c["1-2.distinct-minima"].n == 0 and "too few valid pairs: 0 < 3" in c["1-2.distinct-minima"].note


def test_trajectories_from_saved_json_equal_in_memory():
    res = traj_results(ACCURATE + [np.nan], BARRIERS, diverged=(6,))
    saved = json.loads(json.dumps(to_jsonable(res)))
    assert saved["runs"][6]["checkpoints"][-1]["accuracy"] is None
    c = report_claims.trajectories(res, 0.97)
    assert [x.as_dict() for x in report_claims.trajectories(saved, 0.97)] == [x.as_dict() for x in c]
    assert c[0].verdict == "reproduced" and c[0].n == 6 and "1 non-finite value dropped" in c[0].note


# ------------------------------------------------------------------------------------------ 1-2 gradient norm

NULL = np.linspace(-0.1, 0.1, 199)  # the mean ρ at 199 circular lags: centred on 0, central 95% within ±0.095


def gn_task(observed, rho=None, null=NULL, diverged=None):
    rho = [observed] * 3 if rho is None else rho
    diverged = [False] * len(rho) if diverged is None else diverged
    return {"model": [1, 5, 1], "iterations": np.arange(1, 11), "grad_norm": np.ones(10), "loss": np.ones(10),
            "coupling": {"rho": np.asarray(rho, float), "observed": observed, "null": np.asarray(null, float),
                         "diverged": list(diverged)}}


def gn(function, image, **kw):
    return by_id(report_claims.gradient_norm({"function": function, "image": image}, window=101, horizon=10, **kw))


def test_gradient_norm_reproduced():
    c = gn(gn_task(0.3, rho=[0.25, 0.3, 0.35]), gn_task(0.2))
    assert list(c) == list(report_claims.GRADIENT_NORM_IDS)
    fn, img = c["1-2.gradnorm-oscillation"], c["1-2.gradnorm-oscillation-image"]
    assert fn.verdict == "reproduced" and img.verdict == "reproduced"
    assert fn.effect == pytest.approx(0.3 - np.median(NULL)) and fn.n == 199 and fn.p == pytest.approx(1 / 200)
    assert fn.note.startswith("function task, mean over 3 runs; window 101, horizon 10")
    assert img.note.startswith("image task") and fn.control == "circular shift" and fn.unit == "Spearman ρ"


def test_gradient_norm_contradicted_below_the_null():
    """A larger gradient norm followed by *less* oscillation than any circular shift gives: contradicted. Inside the
    null's central 95% (what trend and batch sampling alone give): inconclusive. The tasks are decided apart."""
    c = gn(gn_task(-0.3), gn_task(0.05))
    assert c["1-2.gradnorm-oscillation"].verdict == "contradicted" and c["1-2.gradnorm-oscillation"].effect < 0
    img = c["1-2.gradnorm-oscillation-image"]
    assert img.verdict == "inconclusive" and "within the null's central 95%" in img.note


def test_gradient_norm_is_decided_against_the_null_not_zero():
    """A clearly positive ρ is not enough: a null shifted up as far (the shared trend) leaves it inconclusive."""
    c = gn(gn_task(0.3), gn_task(0.3, null=NULL + 0.3))
    assert c["1-2.gradnorm-oscillation"].verdict == "reproduced"
    assert c["1-2.gradnorm-oscillation-image"].verdict == "inconclusive"


def test_gradient_norm_too_few_valid_runs():
    """Every run of a task diverged: no coupling measured, inconclusive, and the note says how many diverged.
    A series too short for 39 circular lags leaves too few null samples: inconclusive too."""
    c = gn(gn_task(float("nan"), rho=[], null=[], diverged=[True, True, True]), gn_task(0.3, null=NULL[::10]))
    fn = c["1-2.gradnorm-oscillation"]
    assert fn.verdict == "inconclusive" and fn.n == 0
    assert fn.note == "too few valid runs: 0 < 1; 3 of 3 runs diverged and are left out"
    img = c["1-2.gradnorm-oscillation-image"]
    assert img.verdict == "inconclusive" and "too few null samples: 20 < 39" in img.note
    two_left = gn(gn_task(0.3, rho=[0.3, 0.3], diverged=[False, True, False]), gn_task(0.3), min_runs=3)
    assert two_left["1-2.gradnorm-oscillation"].verdict == "inconclusive"
    assert two_left["1-2.gradnorm-oscillation"].note.startswith("too few valid runs: 2 < 3; 1 of 3 runs diverged")
    assert two_left["1-2.gradnorm-oscillation-image"].verdict == "reproduced"


def test_gradient_norm_from_saved_json_equal_in_memory():
    res = {"function": gn_task(float("nan"), rho=[], null=[], diverged=[True] * 3),
           "image": gn_task(0.2, null=np.r_[NULL, np.nan])}
    saved = json.loads(json.dumps(to_jsonable(res)))
    assert saved["function"]["coupling"]["observed"] is None and saved["image"]["coupling"]["null"][-1] is None
    found = report_claims.gradient_norm(res, 101, 10)
    assert [x.as_dict() for x in report_claims.gradient_norm(saved, 101, 10)] == [x.as_dict() for x in found]
    assert found[1].verdict == "reproduced" and "1 non-finite null sample dropped" in found[1].note


# ------------------------------------------------------------------------------------------ 1-1 simulate function

def spearman(depths, per_model):
    """scipy's Spearman ρ of depth against the values, pooled over models × seeds (ties in depth: |ρ| < 1)."""
    from scipy import stats
    return stats.spearmanr(np.repeat(depths, [len(v) for v in per_model]), np.concatenate(per_model)).statistic


def sf_results(final, reach, depths=(6, 4, 2), names=("deep", "middle", "shallow"), title="sin(5πx)/(5πx)"):
    """Simulate-function results from per-model lists of per-seed values (NaN: a diverged member), as the
    notebook's metrics hold them: `final[i][s]` the final loss, `reach[i][s]` the epochs to the common level."""
    res = {"target": "sinc", "models": [
        {"name": n, "widths": [1, 10, 1], "depth": d, "params": 460, "epochs_to_level": np.asarray(r, float),
         "diverged": int(np.isnan(f).sum()),
         "seeds": [{"seed": s, "loss": np.full(4, v), "final_loss": v, "diverged": bool(np.isnan(v))}
                   for s, v in enumerate(np.asarray(f, float))]}
        for n, d, f, r in zip(names, depths, final, reach)]}
    if title is not None:
        res["title"] = title
    return res


def sf(results, **kw):
    return by_id(report_claims.simulate_function(results, **kw))


# What the report saw: the deeper net ends lower (about 10× per step of depth) and gets there earlier. 5 seeds.
DEEP_LOSS = [1e-4, 2e-4, 1.5e-4, 1.2e-4, 3e-4]
MID_LOSS = [1e-3, 1.5e-3, 0.8e-3, 2e-3, 1.2e-3]
SHALLOW_LOSS = [5e-3, 4e-3, 6e-3, 1e-2, 3e-3]
DEEP_REACH, MID_REACH, SHALLOW_REACH = [200, 250, 180, 300, 220], [900, 1100, 800, 1000, 950], [2900, 3000, 2800,
                                                                                                 3000, 2950]


def test_simulate_function_reproduced():
    c = sf(sf_results([DEEP_LOSS, MID_LOSS, SHALLOW_LOSS], [DEEP_REACH, MID_REACH, SHALLOW_REACH]))
    assert list(c) == list(report_claims.SIMULATE_FUNCTION_IDS)
    loss, earlier, rank = c["1-1.deeper-lower-loss"], c["1-1.deeper-earlier"], c["1-1.depth-rank-loss"]
    assert all(x.verdict == "reproduced" for x in c.values()), [x.sentence() for x in c.values()]
    assert loss.effect == pytest.approx(np.mean(np.log(np.divide(DEEP_LOSS, SHALLOW_LOSS)))) and loss.n == 5
    assert loss.interval[1] < 0 and loss.unit == "log loss ratio, deep (6 hidden) vs shallow (2)"
    assert loss.statement.endswith("(sin(5πx)/(5πx))") and loss.source == "report 1-1"
    assert earlier.effect == pytest.approx(np.mean(np.log(np.divide(DEEP_REACH, SHALLOW_REACH)))) and earlier.n == 5
    assert rank.effect < -0.9 and rank.effect == pytest.approx(spearman([6, 4, 2], [DEEP_LOSS, MID_LOSS, SHALLOW_LOSS]))
    assert rank.n == 15 and rank.p < 0.05


def test_simulate_function_deepest_and_shallowest_by_depth_not_position():
    """The models listed shallow first: "deeper" still means the most hidden layers."""
    c = sf(sf_results([SHALLOW_LOSS, DEEP_LOSS, MID_LOSS], [SHALLOW_REACH, DEEP_REACH, MID_REACH],
                      depths=(1, 4, 2), names=("wide", "deep", "middle"), title=None))
    assert all(x.verdict == "reproduced" for x in c.values())
    assert c["1-1.deeper-lower-loss"].unit == "log loss ratio, deep (4 hidden) vs wide (1)"
    assert c["1-1.deeper-lower-loss"].statement.endswith("(sinc)")  # no title saved: the target's name
    with pytest.raises(ValueError, match="different depths"):
        report_claims.simulate_function(sf_results([DEEP_LOSS, SHALLOW_LOSS], [DEEP_REACH, SHALLOW_REACH],
                                                   depths=(2, 2), names=("a", "b")))


def test_simulate_function_contradicted_when_the_deeper_net_ends_higher():
    """The deeper net's loss is higher on every seed and it reaches the level later: all three contradicted."""
    c = sf(sf_results([SHALLOW_LOSS, MID_LOSS, DEEP_LOSS], [SHALLOW_REACH, MID_REACH, DEEP_REACH]))
    assert all(x.verdict == "contradicted" for x in c.values()), [x.sentence() for x in c.values()]
    assert c["1-1.deeper-lower-loss"].interval[0] > 0 and c["1-1.deeper-earlier"].interval[0] > 0
    rank = c["1-1.depth-rank-loss"]
    assert rank.effect > 0.9 and rank.effect == pytest.approx(spearman([6, 4, 2], [SHALLOW_LOSS, MID_LOSS, DEEP_LOSS]))


def test_simulate_function_too_few_seeds():
    """Two seeds, or three with a diverged deep member (NaN), leave two pairs: the paired claims are inconclusive and
    say why; one seed leaves three pooled values, at which no rank correlation can be significant."""
    two = sf(sf_results([DEEP_LOSS[:2], MID_LOSS[:2], SHALLOW_LOSS[:2]], [DEEP_REACH[:2], MID_REACH[:2],
                                                                           SHALLOW_REACH[:2]]))
    for cid in ("1-1.deeper-lower-loss", "1-1.deeper-earlier"):
        assert two[cid].verdict == "inconclusive" and two[cid].n == 2
        assert two[cid].note.startswith("too few valid pairs: 2 < 3")
    diverged = sf(sf_results([[np.nan] + DEEP_LOSS[1:3], MID_LOSS[:3], SHALLOW_LOSS[:3]],
                             [[np.nan] + DEEP_REACH[1:3], MID_REACH[:3], SHALLOW_REACH[:3]]))
    x = diverged["1-1.deeper-lower-loss"]
    assert x.verdict == "inconclusive" and x.n == 2 and "1 pair with a non-finite value dropped" in x.note
    assert "too few valid pairs: 2 < 3" in x.note and diverged["1-1.depth-rank-loss"].n == 8
    one = sf(sf_results([DEEP_LOSS[:1], MID_LOSS[:1], SHALLOW_LOSS[:1]], [DEEP_REACH[:1], MID_REACH[:1],
                                                                          SHALLOW_REACH[:1]]))
    rank = one["1-1.depth-rank-loss"]
    assert rank.verdict == "inconclusive" and rank.n == 3 and rank.effect == pytest.approx(-1.0)
    assert "at n = 3 no rank correlation can be significant" in rank.note


def test_simulate_function_from_saved_json_equal_in_memory():
    res = sf_results([[np.nan] + DEEP_LOSS[1:], MID_LOSS, SHALLOW_LOSS], [[np.nan] + DEEP_REACH[1:], MID_REACH,
                                                                          SHALLOW_REACH])
    saved = json.loads(json.dumps(to_jsonable(res)))
    assert saved["models"][0]["seeds"][0]["final_loss"] is None and saved["models"][0]["epochs_to_level"][0] is None
    found = report_claims.simulate_function(res, seed=3)
    assert [x.as_dict() for x in report_claims.simulate_function(saved, seed=3)] == [x.as_dict() for x in found]
    assert found[0].verdict == "reproduced" and found[0].n == 4 and found[2].n == 14


# ------------------------------------------------------------------------------------------ 1-1 actual tasks

def at_results(accuracy, hidden=(1, 2, 4), dataset="digits"):
    """Actual-tasks results from per-model lists of per-seed final test accuracies (NaN: a diverged seed)."""
    return {"dataset": dataset, "n_train": 1000, "n_test": 300, "models": [
        {"name": f"{k} hidden", "hidden_layers": k, "widths": [8] * k, "params": 2065, "seeds": [],
         **{f"final_{key}": np.asarray(a, float) for key in ("train_loss", "train_accuracy", "test_loss")},
         "final_test_accuracy": np.asarray(a, float)}
        for k, a in zip(hidden, accuracy)]}


def at(results, **kw):
    return by_id(report_claims.actual_tasks(results, **kw))


ONE = [0.900, 0.905, 0.895, 0.910, 0.902]      # what the report saw on CIFAR-10: deeper is better, seed by seed
TWO = [0.915, 0.918, 0.910, 0.925, 0.914]
FOUR = [0.930, 0.940, 0.925, 0.935, 0.945]


def test_actual_tasks_reproduced():
    c = at(at_results([ONE, TWO, FOUR], dataset="cifar10"))
    assert list(c) == list(report_claims.ACTUAL_TASKS_IDS)
    better, rank = c["1-1.deeper-better-test"], c["1-1.depth-rank-test"]
    assert better.verdict == "reproduced" and rank.verdict == "reproduced", [x.sentence() for x in c.values()]
    assert better.effect == pytest.approx(np.mean(np.subtract(FOUR, ONE))) and better.n == 5
    assert better.interval[0] > 0 and better.unit == "test accuracy, 4 hidden − 1 hidden"
    assert better.note == "cifar10, paired over seeds"
    assert rank.effect > 0.9 and rank.effect == pytest.approx(spearman([1, 2, 4], [ONE, TWO, FOUR]))
    assert rank.n == 15 and rank.note.startswith("context for")
    # "deeper" is read from hidden_layers, not from the order of the models
    again = at(at_results([FOUR, ONE, TWO], hidden=(4, 1, 2)))
    assert again["1-1.deeper-better-test"].as_dict()["effect"] == pytest.approx(better.effect)
    assert again["1-1.deeper-better-test"].verdict == "reproduced"


def test_actual_tasks_contradicted_when_test_accuracy_falls_with_depth():
    """What the report saw on MNIST, made clear: 4 hidden layers worse than 1 on every seed."""
    c = at(at_results([FOUR, TWO, ONE], dataset="mnist"))
    better, rank = c["1-1.deeper-better-test"], c["1-1.depth-rank-test"]
    assert better.verdict == "contradicted" and better.interval[1] < 0, better.sentence()
    assert rank.verdict == "contradicted" and rank.effect < -0.9
    assert rank.effect == pytest.approx(spearman([1, 2, 4], [FOUR, TWO, ONE]))


def test_actual_tasks_too_few_seeds():
    c = at(at_results([ONE[:2], TWO[:2], FOUR[:2]]))
    assert c["1-1.deeper-better-test"].verdict == "inconclusive" and c["1-1.deeper-better-test"].n == 2
    assert c["1-1.deeper-better-test"].note.startswith("too few valid pairs: 2 < 3")
    rank = at(at_results([ONE[:1], TWO[:1], FOUR[:1]]))["1-1.depth-rank-test"]
    assert rank.verdict == "inconclusive" and rank.n == 3
    assert "at n = 3 no rank correlation can be significant" in rank.note
    diverged = at(at_results([ONE[:3], TWO[:3], [np.nan, *FOUR[1:3]]]))["1-1.deeper-better-test"]
    assert diverged.verdict == "inconclusive" and "1 pair with a non-finite value dropped" in diverged.note


def test_actual_tasks_from_saved_json_equal_in_memory():
    res = at_results([ONE, TWO, [np.nan, *FOUR[1:]]])
    saved = json.loads(json.dumps(to_jsonable(res)))
    assert saved["models"][2]["final_test_accuracy"][0] is None
    found = report_claims.actual_tasks(res, seed=5)
    assert [x.as_dict() for x in report_claims.actual_tasks(saved, seed=5)] == [x.as_dict() for x in found]
    assert found[0].verdict == "reproduced" and found[0].n == 4 and found[1].n == 14


def test_simulate_and_actual_tasks_build_what_the_notebook_cells_built():
    """The functions give exactly the claims the notebooks' claims cells built inline before (the same calls into
    hwutils.claims on the notebook's arrays), including the resampling seed: the noisy 1-seed-apart data below give
    a different bootstrap interval at seed 0 than at seed 3."""
    from hwutils import claims
    rng = np.random.default_rng(1)
    final = np.exp(rng.normal(-6, 1.5, (5, 3)))  # [seeds, models], noisy: the bootstrap depends on its seed
    reach = rng.integers(100, 3000, (5, 3)).astype(float)
    depth = np.array([6, 4, 2])
    res = sf_results(final.T, reach.T, depths=depth, names=("a", "b", "c"))
    pair, title = "a (6 hidden) vs c (2)", "sin(5πx)/(5πx)"

    def notebook(seed):
        return [claims.paired("1-1.deeper-lower-loss", "At about equal parameter count the deeper net ends with a "
                              f"lower training loss ({title})", "report 1-1", final[:, 0], final[:, 2], direction=-1,
                              transform="log_ratio", unit=f"log loss ratio, {pair}", note="paired over seeds"),
                claims.paired("1-1.deeper-earlier", "The deeper net's loss falls earlier: it reaches the common level "
                              f"in fewer epochs ({title})", "report 1-1", reach[:, 0], reach[:, 2], direction=-1,
                              transform="log_ratio", unit=f"log epoch ratio, {pair}",
                              note="level per seed: the worst last-epoch loss among the models"),
                claims.correlation("1-1.depth-rank-loss", f"Final training loss falls with depth, all models and seeds "
                                   f"({title})", "report 1-1", np.repeat([depth], 5, axis=0).ravel(),
                                   np.log(final).ravel(), direction=-1, seed=seed)]
    assert notebook(0)[2].interval != notebook(3)[2].interval
    assert [c.as_dict() for c in report_claims.simulate_function(res, seed=3)] == [c.as_dict() for c in notebook(3)]

    accuracy = rng.uniform(0.85, 0.95, (5, 3))
    hidden = [1, 2, 4]

    def notebook_at(seed):
        return [claims.paired("1-1.deeper-better-test", "At about equal parameter count the deeper model reaches a "
                              "higher test accuracy (report 1-1: yes on CIFAR-10; on MNIST 4 hidden layers did worse)",
                              "report 1-1", accuracy[:, 2], accuracy[:, 0], direction=+1,
                              unit="test accuracy, 4 hidden − 1 hidden", note="digits, paired over seeds"),
                claims.correlation("1-1.depth-rank-test", "Test accuracy rises with depth (all models and seeds)",
                                   "report 1-1", np.repeat([hidden], 5, axis=0).ravel(), accuracy.ravel(),
                                   direction=+1, seed=seed,
                                   note="context for 1-1.deeper-better-test; models of one seed share their batches")]
    assert notebook_at(0)[1].interval != notebook_at(3)[1].interval
    found = report_claims.actual_tasks(at_results(accuracy.T, hidden=hidden), seed=3)
    assert [c.as_dict() for c in found] == [c.as_dict() for c in notebook_at(3)]
