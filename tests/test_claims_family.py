"""The claim tests added for "claims that test what they name", on data whose truth is known: every run
counted as every run, censored paired times (the sign test), correlations within independent seeds, the
family of claims (Holm) against an independent closed-testing computation and on pure noise, and
`n_needed` against published power figures and an exact enumeration."""
import itertools
import math

import numpy as np
import pytest
from scipy import stats

from hwutils import claims, power

from test_claims import count, fpr_bound, noise


# ------------------------------------------------------------------------------------------------- every run

def test_every_run_counts_runs_and_needs_enough_of_them():
    c = claims.every_run("r", "every run ≥ 0.97", "report 1-2", [0.99] * 8, 0.97, replication="runs")
    assert c.verdict == "reproduced" and c.effect == 1.0 and c.n == 8 and c.p == pytest.approx(2 * 0.5 ** 8)
    assert c.interval[0] > 0.5 and "8 of 8 runs" in c.note and "pass rate above 1/2" in c.note
    five = claims.every_run("r", "", "", [0.99] * 5, 0.97)
    assert five.verdict == "inconclusive" and "6 runs are needed" in five.note and five.p > 0.05
    assert five.as_dict()["n_needed"]["at_estimate"] == 6
    # the mean is far above the threshold, but one run is not: a counterexample to "every run"
    c = claims.every_run("r", "", "", [1.0] * 29 + [0.9], 0.97)
    assert c.verdict == "contradicted" and c.p == 0.0 and "1 of 30 runs below" in c.note and "lowest 0.9" in c.note
    assert claims.mean("m", "", "", [1.0] * 29 + [0.9], null=0.97).verdict == "reproduced"  # what the old test looked at
    # runs that cannot learn: contradicted, never reproduced
    assert claims.every_run("r", "", "", [0.1] * 8, 0.97).verdict == "contradicted"
    # a diverged run counts as failing, not dropped
    c = claims.every_run("r", "", "", [0.99] * 7 + [np.nan], 0.97)
    assert c.verdict == "contradicted" and c.n == 8 and "diverged" in c.note


def test_every_run_p_and_interval_agree():
    for n in range(1, 12):
        for k in range(n + 1):
            c = claims.every_run("r", "", "", [1.0] * k + [0.0] * (n - k), 0.5)
            if k < n:
                assert c.verdict == "contradicted" and c.p == 0.0
            else:
                assert (c.p <= 0.05) == (c.interval[0] > 0.5) == (c.verdict == "reproduced"), (k, n)


# ------------------------------------------------------------------------------------------------- censored pairs

def test_paired_censored_identical_curves_are_never_decided():
    """Equal times in every pair (curves identical until the level is reached): no pair has a sign."""
    t = np.array([120.0, 80, 95, 140, 60, 77])
    c = claims.paired_censored("e", "deep earlier", "", t, t, [False] * 6, [False] * 6, direction=-1)
    assert c.verdict == "inconclusive" and c.p == 1.0 and "tied" in c.note
    assert "every pair is tied" in c.note and np.isnan(c.interval[0])


def test_paired_censored_uses_censored_pairs_and_decides():
    budget = 1000.0
    deep = np.array([100.0, 150, 120, 90, 200, 130, 110, 170])
    shallow = np.r_[[budget] * 4, deep[4:] * 3]  # half the shallow runs never reach the level
    cens = np.r_[[True] * 4, [False] * 4]
    c = claims.paired_censored("e", "", "", deep, shallow, [False] * 8, cens, direction=-1)
    assert c.verdict == "reproduced" and c.p == pytest.approx(2 * 0.5 ** 8) and c.n == 8
    assert "0 + 4 censored" in c.note and c.interval[1] < 0
    # the same pairs the other way round
    assert claims.paired_censored("e", "", "", shallow, deep, cens, [False] * 8, direction=-1).verdict == "contradicted"
    # both censored: a tie, not a pair that favours either side
    c = claims.paired_censored("e", "", "", np.r_[deep[:7], budget], np.r_[shallow[:7], budget],
                               [False] * 7 + [True], np.r_[cens[:7], True], direction=-1)
    assert "1 tied pair" in c.note and "7 of 7" not in c.note and c.p == pytest.approx(2 * 0.5 ** 7)


@pytest.mark.parametrize("n", [6, 10])
def test_paired_censored_false_positive_rate(n):
    rng = np.random.default_rng(n)
    budget = 3.0
    verdicts = []
    for _ in range(2000):
        a, b = np.exp(rng.standard_normal(n)), np.exp(rng.standard_normal(n))
        verdicts.append(claims.paired_censored("e", "", "", np.minimum(a, budget), np.minimum(b, budget),
                                               a >= budget, b >= budget).verdict)
    assert count(verdicts) <= fpr_bound(2000) and count(verdicts, "contradicted") <= fpr_bound(2000)


def test_median_interval_is_the_sign_test_inversion():
    d = np.arange(1.0, 11.0)  # n = 10: l = 2 (P(X ≤ 1) = 0.0107 ≤ 0.025 < P(X ≤ 2) = 0.0547)
    assert claims._median_interval(d) == (2.0, 9.0)
    assert np.isnan(claims._median_interval(np.arange(5.0))[0])  # n = 5: no interval reaches 95%


# ------------------------------------------------------------------------------------------------- within seeds

def test_within_correlation_decides_over_seeds_not_pooled_points():
    rng = np.random.default_rng(3)
    x = [16, 64, 256, 1024]
    groups = [(x, np.log(x) + 0.3 * rng.standard_normal(4) + 10 * s) for s in range(6)]  # strong seed effect
    c = claims.within_correlation("w", "", "", groups, +1)
    assert c.verdict == "reproduced" and c.n == 6 and c.effect > 0.5 and "ρ per seed" in c.note
    assert claims.within_correlation("w", "", "", groups, -1).verdict == "contradicted"
    # the same x in every seed: no within-seed information
    flat = [(x, [1.0] * 4) for _ in range(6)]
    assert claims.within_correlation("w", "", "", flat).verdict == "inconclusive"


def test_within_correlation_exact_p():
    """3 groups of 3 points, every group perfectly ordered: the exact stratified permutation p is
    2 / 6³ (one arrangement of 216 reaches the mean ρ = 1, one reaches −1)."""
    groups = [([1, 2, 3], [1, 2, 3])] * 3
    c = claims.within_correlation("w", "", "", groups)
    assert c.p == pytest.approx(2 / 216) and c.min_p == pytest.approx(2 / 216) and c.effect == 1.0
    assert c.verdict == "reproduced" and c.interval == (1.0, 1.0)
    c = claims.within_correlation("w", "", "", [([1, 2, 3], [1, 2, 3])] * 2)  # 2/36 > 0.05
    assert c.verdict == "inconclusive" and "smallest attainable p" in c.note


def test_within_correlation_false_positive_with_a_shared_seed_effect():
    """Seeds with levels of their own and no relation within a seed: the pooled correlation over
    batch sizes × seeds is fooled when the seed effect lines up with x by chance; within seeds, no."""
    rng = np.random.default_rng(9)
    x = np.array([16.0, 64, 256, 1024])
    verdicts = []
    for _ in range(400):
        groups = [(x, rng.standard_normal(4) + 3 * rng.standard_normal()) for _ in range(5)]
        verdicts.append(claims.within_correlation("w", "", "", groups, resamples=999).verdict)
    assert count(verdicts) <= fpr_bound(400) and count(verdicts, "contradicted") <= fpr_bound(400)


# ------------------------------------------------------------------------------------------------- Holm

def closed_testing(ps, alpha=0.05):
    """Holm's adjusted p, computed independently: the closure of Bonferroni tests, max over every subset
    S holding claim i of |S|·min_{j∈S} p_j."""
    m = len(ps)
    out = []
    for i in range(m):
        worst = 0.0
        for r in range(1, m + 1):
            for subset in itertools.combinations(range(m), r):
                if i in subset:
                    worst = max(worst, min(1.0, r * min(ps[j] for j in subset)))
        out.append(worst)
    return out


def test_holm_equals_the_closure_of_bonferroni_tests():
    rng = np.random.default_rng(4)
    for _ in range(30):
        ps = list(rng.uniform(0, 0.2, 6) ** 2)
        rows = [{"id": str(i), "p": p, "verdict": "reproduced" if p <= 0.05 else "inconclusive"} for i, p in enumerate(ps)]
        got = [r["holm_p"] for r in claims.holm(rows)]
        assert got == pytest.approx(closed_testing(ps))


def test_holm_missing_p_enters_as_one_and_verdicts_follow():
    rows = [{"id": "a", "p": 0.001, "verdict": "reproduced"}, {"id": "b", "p": 0.02, "verdict": "contradicted"},
            {"id": "c", "p": None, "verdict": "inconclusive"}, {"id": "d", "p": 0.04, "verdict": "reproduced"}]
    out = {r["id"]: r for r in claims.holm(rows)}
    assert out["a"]["holm_p"] == pytest.approx(0.004) and out["a"]["holm_verdict"] == "reproduced"
    assert out["b"]["holm_p"] == pytest.approx(0.06) and out["b"]["holm_verdict"] == "inconclusive"
    assert out["c"]["holm_p"] == 1.0 and out["d"]["holm_verdict"] == "inconclusive"
    assert all(r["family_size"] == 4 for r in out.values())


def test_holm_says_when_the_smallest_attainable_p_cannot_pass():
    rows = [{"id": str(i), "p": 0.5, "verdict": "inconclusive"} for i in range(24)]
    rows.append({"id": "perm", "p": 0.0167, "min_p": 2 / 120, "n": 5, "verdict": "reproduced"})
    out = claims.holm(rows)[-1]
    assert out["holm_verdict"] == "inconclusive" and "smallest attainable p" in out["holm_note"]
    assert "after 22 other claims" in out["holm_note"]  # 0.0167 ≤ 0.05/(25 − j) first at j = 22
    assert claims.holm(rows[-1:])[0]["holm_note"] == ""  # alone, 0.0167 ≤ 0.05


def test_holm_family_wise_error_on_pure_noise():
    """25 true nulls: unadjusted, at least one false 'reproduced' in about 27% of families (a one-sided
    2.5% each: 1 − 0.975²⁵); after Holm at most the designed 5% (here about 2.5%, one side)."""
    rng = np.random.default_rng(5)
    families, any_raw, any_holm = 1000, 0, 0
    for _ in range(families):
        cs = [claims.mean(f"c{i}", "", "", rng.standard_normal(5)) for i in range(25)]
        any_raw += any(c.verdict == "reproduced" for c in cs)
        any_holm += any(r["holm_verdict"] == "reproduced" for r in claims.holm(cs))
    assert any_raw > 200
    assert any_holm <= stats.binom.ppf(0.999, families, 0.05)


# ------------------------------------------------------------------------------------------------- n_needed

@pytest.mark.parametrize("d, n", [(0.5, 34), (0.8, 15), (1.0, 10)])
def test_t_power_matches_published_sample_sizes(d, n):
    """One-sample t, two-sided α = 0.05, 80% power: n = 34, 15, 10 at d = 0.5, 0.8, 1 (Cohen 1988;
    G*Power gives the same)."""
    z = noise(40, 1)
    values = d + (z - z.mean()) / z.std(ddof=1)  # mean d, sd exactly 1
    assert power.t_one_sample(values, (d, d))["at_estimate"] == n


def test_t_power_range_cap_and_not_estimable():
    z = noise(6, 2)
    values = 0.3 + (z - z.mean()) / z.std(ddof=1)
    out = power.t_one_sample(values, (-0.7, 1.3))
    assert out["at_far_end"] < out["at_estimate"]
    assert out["at_far_end"] == power.t_one_sample(values + 1.0, (1.3, 1.3))["at_estimate"]  # the far end's effect
    assert power.t_one_sample(0.05 + (z - z.mean()) / z.std(ddof=1), (0, 0))["text"].startswith("> 200")
    assert "not estimable" in power.t_one_sample([1.0, 2.0, 3.0], (0, 4))["text"]
    assert "not estimable" in power.t_one_sample((z - z.mean()), (-1, 1))["text"]  # effect exactly 0


def test_sign_power_matches_an_exact_enumeration():
    def exact(q):
        for n in range(4, 201):
            p = [min(1, 2 * min(stats.binom.sf(k - 1, n, .5), stats.binom.cdf(k, n, .5))) for k in range(n + 1)]
            if sum(stats.binom.pmf(k, n, q) for k in range(n + 1) if p[k] <= 0.05 and k > n / 2) >= 0.8:
                return n
    for k, n in ((8, 9), (7, 10), (12, 20)):
        assert power.sign_test(k, n)["at_estimate"] == exact(k / n)


def test_correlation_and_equivalence_power_grow_with_the_effect():
    strong, weak = power.correlation(0.8, (0.5, 0.95), 12), power.correlation(0.3, (0.0, 0.6), 12)
    assert strong["at_estimate"] < weak["at_estimate"]
    assert 8 <= strong["at_estimate"] <= 14  # Spearman ρ 0.8: about 10 pairs (Pearson 0.81 needs 9)
    x = 0.1 + 0.01 * noise(5, 3)
    near, far = power.equivalence(x, 0.1, 0.02, (0.09, 0.11)), power.equivalence(x, 0.1, 0.05, (0.09, 0.11))
    assert far["at_estimate"] <= near["at_estimate"]


def test_inconclusive_claims_say_what_would_decide_them():
    c = claims.paired("p", "", "", 1 + 0.5 * noise(5, 8) + 0.3, 1 + 0.5 * noise(5, 9))
    if c.verdict == "inconclusive":
        d = c.as_dict()
        assert d["n_needed"]["text"] and "seeds" not in d["n_needed"]["text"]  # no replication given: "values"
    c = claims.mean("m", "", "", [0.1, -0.05, 0.2, 0.02, 0.15], replication="seeds")
    assert c.verdict == "inconclusive" and c.as_dict()["n_needed"]["text"].endswith("seeds")
    assert claims.mean("m", "", "", [1.0, 1.1, 1.2, 0.9]).as_dict()["n_needed"] is None  # decided


# ------------------------------------------------------------------------------------------------- the review's mutations

def test_beats_every_p_is_the_largest_pairwise_p_and_a_clear_rival_contradicts():
    rng = np.random.default_rng(2)
    best = 0.9 + 0.01 * rng.standard_normal(6)
    others = {"a": best - 0.05 + 0.005 * rng.standard_normal(6), "b": best - 0.02 + 0.005 * rng.standard_normal(6)}
    c = claims.beats_every("b", "", "", best, others)
    pair = {k: claims.paired("p", "", "", best, v) for k, v in others.items()}
    assert c.verdict == "reproduced" and c.p == pytest.approx(max(q.p for q in pair.values()))
    others["c"] = best + 0.05 + 0.005 * rng.standard_normal(6)  # clearly better than the "best"
    c = claims.beats_every("b", "", "", best, others)
    assert c.verdict == "contradicted" and c.effect < 0
    assert c.p == pytest.approx(min(1, 3 * claims.paired("p", "", "", best, others["c"]).p))


def test_beats_every_contradicted_rate_with_equal_rivals():
    """Every batch size equal: one of 3 rivals 'beats' it by chance about 3 times as often as one would; the
    Bonferroni factor keeps 'contradicted' at the designed 2.5%."""
    rng = np.random.default_rng(3)
    verdicts = [claims.beats_every("b", "", "", rng.standard_normal(5), {k: rng.standard_normal(5) for k in "xyz"}).verdict
                for _ in range(2000)]
    assert count(verdicts, "contradicted") <= fpr_bound(2000) and count(verdicts) <= fpr_bound(2000)


def test_holm_keeps_an_undecided_claim_undecided():
    out = claims.holm([{"id": "a", "p": 0.001, "verdict": "inconclusive"}])
    assert out[0]["holm_p"] == pytest.approx(0.001) and out[0]["holm_verdict"] == "inconclusive"


def test_within_correlation_needs_the_interval_over_seeds_too():
    """Four seeds of 8 points, ρ about 0.95, 0.95, 0.95 and −0.6: the stratified permutation p is small, but one
    seed disagrees and the t interval over the seeds spans 0, so the claim is not decided."""
    x = np.arange(8.0)
    rng = np.random.default_rng(4)

    def with_rho(target):
        while True:
            y = rng.permutation(8).astype(float)
            if abs(stats.spearmanr(x, y).statistic - target) < 0.06:
                return y
    groups = [(x, with_rho(0.95)), (x, with_rho(0.95)), (x, with_rho(0.95)), (x, with_rho(-0.6))]
    c = claims.within_correlation("w", "", "", groups, resamples=2000)
    assert c.p < 0.05 and c.interval[0] < 0 < c.interval[1] and c.verdict == "inconclusive"


def test_paired_censored_needs_the_median_interval_too():
    """6 untied pairs all favourable and 4 ties: the sign test over the untied pairs gives p = 2/64, but the
    median over all 10 pairs has an interval reaching 0, so the claim is not decided."""
    a = np.array([1.0, 2, 3, 4, 5, 6, 10, 10, 10, 10])
    b = np.array([2.0, 3, 4, 5, 6, 7, 10, 10, 10, 10])
    c = claims.paired_censored("e", "", "", a, b, [False] * 10, [False] * 10, direction=-1)
    assert c.p == pytest.approx(2 / 64) and c.verdict == "inconclusive" and "interval" in c.note


def test_paired_censored_a_censored_time_beats_one_reached_at_the_budget():
    """A net that never reached the level (censored at the budget) is slower than one that reached it exactly
    at the budget: the raw values tie, the censoring breaks the tie."""
    budget = 100.0
    a = np.array([10.0, 20, 30, 40, 50, 60])
    b = np.array([budget] * 6)
    c = claims.paired_censored("e", "", "", a, b, [False] * 6, [True] * 3 + [False] * 3, direction=-1)
    assert "6 of 6 untied pairs" in c.note or "0 of 6 untied pairs have a > b" in c.note
    c = claims.paired_censored("e", "", "", b, b, [True] * 6, [False] * 6, direction=+1)  # all a censored, b at the budget
    assert "6 of 6 untied pairs have a > b" in c.note and c.verdict != "contradicted"  # signs from the censoring


def test_t_power_at_a_large_effect():
    """d = 2: the one-sample t needs 5 values (df = n − 1; df = n would give 4)."""
    z = noise(40, 1)
    assert power.t_one_sample(2.0 + (z - z.mean()) / z.std(ddof=1), (2.0, 2.0))["at_estimate"] == 5


def test_welch_power_matches_a_reference():
    """Two groups, d = 1, 80% power, two-sided 0.05: 17 per group (Cohen 1988; G*Power gives 17)."""
    z = noise(60, 5)
    a = 1.0 + (z[:30] - z[:30].mean()) / z[:30].std(ddof=1)
    b = (z[30:] - z[30:].mean()) / z[30:].std(ddof=1)
    assert power.welch(a, b, (1.0, 1.0))["at_estimate"] == 17


def test_sign_and_equivalence_far_ends():
    out = power.sign_test(8, 10)
    assert out["at_far_end"] <= out["at_estimate"]  # the far end (more lopsided) needs fewer pairs
    x = 0.1 + 0.01 * noise(6, 2)
    inside = power.equivalence(x, 0.1, 0.02, (0.09, 0.11))
    assert inside["at_far_end"] <= inside["at_estimate"]  # the most favourable effect in the interval: 0


def test_spearman_power_uses_the_pearson_of_the_spearman():
    """ρ_s = 0.5 is Pearson 2 sin(π/12) = 0.518: about 29 pairs; without the transform (Pearson 0.5) about 30."""
    n = power.correlation(0.5, (0.5, 0.5), 20)["at_estimate"]
    assert 25 <= n <= 34


def test_holm_needed_is_the_n_at_which_the_observed_effect_reaches_the_level():
    """At a fixed standardised effect a z statistic grows with √n: the n returned is the first at which the
    effect as observed at n = 10 reaches the two-sided level, and the one before it does not."""
    effect, n, level = 0.8, 10, 0.05 / 40
    p = 2 * stats.norm.sf(effect * np.sqrt(n))
    need = claims.holm_needed(p, n, level, "seeds", "0.05/40")
    k = need["at_estimate"]
    assert 2 * stats.norm.sf(effect * np.sqrt(k)) <= level < 2 * stats.norm.sf(effect * np.sqrt(k - 1))
    assert need["text"] == f"about {k} seeds for an even chance at Holm's first threshold 0.05/40, if the effect is as observed"
    assert claims.holm_needed(None, n, level, "seeds", "") is None and claims.holm_needed(p, 0, level, "s", "") is None
    assert claims.holm_needed(level / 2, n, level, "seeds", "")["at_estimate"] == n + 1  # never fewer than it has


def test_holm_says_what_would_carry_a_claim_decided_only_on_its_own_test():
    rows = [{"id": str(i), "p": 0.5, "n": 8, "verdict": "inconclusive", "n_needed": {"text": "9 seeds"}}
            for i in range(9)]
    rows += [{"id": "own", "p": 0.02, "n": 8, "verdict": "reproduced", "replication": "seeds"},
             {"id": "both", "p": 1e-6, "n": 8, "verdict": "reproduced", "replication": "seeds"}]
    out = {r["id"]: r for r in claims.holm(rows)}
    assert out["own"]["holm_verdict"] == "inconclusive"
    k = out["own"]["n_needed_holm"]["at_estimate"]
    assert k == math.ceil(8 * (stats.norm.isf(0.05 / 11 / 2) / stats.norm.isf(0.01)) ** 2)
    assert claims.needed_text(out["own"]) == (f"about {k} seeds for an even chance at Holm's first threshold 0.05/11, "
                                              "if the effect is as observed")
    assert out["both"]["n_needed_holm"] is None and claims.needed_text(out["both"]) == ""  # decided after Holm too
    assert out["0"]["n_needed_holm"] is None and claims.needed_text(out["0"]) == "9 seeds"  # its own n needed
    # A claim held back by its smallest attainable p (a finite null): no n from the effect, the floor is said.
    floored = claims.holm(rows + [{"id": "floor", "p": 0.01, "min_p": 0.01, "n": 8, "verdict": "reproduced"}])[-1]
    assert floored["n_needed_holm"] is None and "smallest attainable p" in claims.needed_text(floored)
    # Past Holm with a floor note all the same (its floor is below the step it passes at): nothing is needed.
    passed = claims.holm([{"id": str(i), "p": 1e-9, "n": 8, "verdict": "reproduced"} for i in range(8)]
                         + [{"id": "f", "p": 0.01, "min_p": 0.01, "n": 8, "verdict": "reproduced"}])[-1]
    assert passed["holm_verdict"] == "reproduced" and passed["holm_note"] and claims.needed_text(passed) == ""
