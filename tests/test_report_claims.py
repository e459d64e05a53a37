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
                        "seeds": {"train_loss": np.asarray(train_loss[i], float), "test_loss": np.asarray(test_loss[i], float),
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
