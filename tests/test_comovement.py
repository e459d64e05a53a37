"""hwutils.comovement: windows, the within-run detrending and the permutation null of the run pairing, held to
their false-positive rate on series with no co-movement — shared trends, and trends of each run's own timing —
and to finding a real co-movement."""
import numpy as np
import pytest
from scipy import stats

from hwutils import claims, comovement

from test_claims import count, fpr_bound


def test_windows_are_whole_and_do_not_overlap():
    means, spreads = comovement.windows(np.arange(10.0), np.arange(10.0) ** 2, 3)
    assert means.tolist() == [1.0, 4.0, 7.0]  # the partial last window (9) is dropped
    assert spreads == pytest.approx([np.std([0, 1, 4], ddof=1), np.std([9, 16, 25], ddof=1), np.std([36, 49, 64], ddof=1)])
    with pytest.raises(ValueError):
        comovement.windows(np.ones(5), np.ones(4), 2)


def test_detrend_removes_a_trend_of_any_timing():
    t = np.arange(60.0)
    for drop in (5, 30):
        trend = np.exp(-np.clip(t - drop, 0, None) / 5.0)
        assert np.max(np.abs(comovement.detrend(trend, 7))) < 0.35  # smooth trend: little left
        assert np.abs(comovement.detrend(trend * np.exp(0.5 * np.sin(t * 2.1)), 7)).max() > 0.3  # wiggles stay


def test_the_null_is_the_whole_permutation_group():
    m = np.arange(9.0).reshape(3, 3)
    null = comovement.cross_run_null(m)
    assert null["exact"] and len(null["null"]) == 5  # 3! − 1: every permutation but the identity
    c = claims.against_null("c", "", "", null["observed"], null["null"])
    assert c.n == 5  # (1 + #{null ≥ obs}) / 6 is the exact p over all 6 permutations


def _runs(r, iterations, coupled, own_timing, rng):
    t = np.arange(iterations)
    out = []
    for _ in range(r):
        drop = rng.uniform(0.1, 0.6) * iterations if own_timing else 0.3 * iterations
        trend = np.exp(-np.clip(t - drop, 0, None) / (0.1 * iterations)) + 0.05
        wiggle = np.repeat(np.exp(0.4 * rng.standard_normal(iterations // 50 + 1)), 50)[:iterations]
        other = np.repeat(np.exp(0.4 * rng.standard_normal(iterations // 50 + 1)), 50)[:iterations]
        g = trend * wiggle * (1 + 0.1 * rng.standard_normal(iterations))
        spread = trend * (wiggle if coupled else other)
        out.append((g, 1.0 + spread * rng.standard_normal(iterations)))
    return out


def _verdicts(draws, r, coupled, own_timing, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(draws):
        null = comovement.cross_run_null(comovement.cross_run_matrix(_runs(r, 1500, coupled, own_timing, rng), 50))
        out.append(claims.against_null("c", "", "", null["observed"], null["null"]).verdict)
    return out


@pytest.mark.parametrize("own_timing", [False, True])
def test_no_co_movement_is_rarely_reproduced(own_timing):
    """Gradient norm and loss spread each falling on a trend (shared by the runs, or each run's own timing)
    with independent fluctuations: the trend alone gives a large within-run ρ, the claim must not follow."""
    verdicts = _verdicts(300, 6, coupled=False, own_timing=own_timing, seed=1 + own_timing)
    assert count(verdicts) <= fpr_bound(300) and count(verdicts, "contradicted") <= fpr_bound(300)


def test_a_real_co_movement_is_found():
    verdicts = _verdicts(20, 6, coupled=True, own_timing=True, seed=9)
    assert count(verdicts) >= 18
