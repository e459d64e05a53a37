"""`n_needed`: how many seeds or runs would decide a claim that this run left inconclusive.

A power estimate: the smallest number n of replicates (seeds, runs, pairs) at which the claim's own test
would decide — its 95% interval excluding "no effect" on the side of the effect, or, for an equivalence
claim, lying wholly inside (or outside) the margin — with probability 80%, if the true effect and spread
were what this run measured. Two numbers make the range: at the estimate, and at the far end of the 95%
interval (the end most favourable to a decision: the effect largest in size), so the range says how
uncertain the estimate is. Both are capped ("> 200"); below 4 values (a spread from 2 or 3 values says
little about the next 50) or at an effect of about 0 (no n decides a null effect), "not estimable".

- t-based claims (means, paired differences): exact, from the noncentral t (`scipy.stats.nct`).
- two groups (Welch): the noncentral t at equal group sizes, n per group.
- equivalence: simulation of the mean and the sample spread under normal noise (`_simulate_t`).
- rank correlations: simulation of Gaussian pairs whose Spearman ρ is the measured one, tested with the
  t approximation of Spearman's test (close to the permutation test beyond n ≈ 10).
- counts (the sign test, "every run"): exact binomial.

An estimate, stated as one: it assumes the measured effect and spread are the true ones (post-hoc power
is a planning figure, not evidence) and, for simulations, normal noise.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
from scipy import stats

ALPHA = 0.05
POWER = 0.8
CAP = 200
MIN_VALUES = 4
TINY = 0.02  # a standardised effect below this is "about 0": n_needed would exceed 2.5 / TINY² ≈ 20,000


def _smallest_n(power_at: Callable[[int], float], start: int = 2, cap: int = CAP, monotone: bool = True) -> int | None:
    """Smallest n in [start, cap] with power_at(n) ≥ POWER; None past the cap. Bisection where power grows
    with n; a scan where it does not (an exact binomial test's power saws up and down with n)."""
    if not monotone:
        return next((n for n in range(start, cap + 1) if power_at(n) >= POWER), None)
    if power_at(cap) < POWER:
        return None
    lo, hi = start, cap
    while lo < hi:
        mid = (lo + hi) // 2
        if power_at(mid) >= POWER:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _result(at_estimate: int | None, at_far_end: int | None, unit: str, why: str = "") -> dict:
    """{"at_estimate", "at_far_end", "text"}; None means more than CAP. Text: "5–12 seeds" (at the far end
    of the interval – at the estimate), "12 to > 200 seeds", "> 200 seeds", or "not estimable (why)"."""
    if why:
        return {"at_estimate": None, "at_far_end": None, "text": f"not estimable ({why})"}
    if at_estimate is None and at_far_end is None:
        text = f"> {CAP}"
    elif at_estimate == at_far_end:
        text = str(at_estimate)
    elif at_estimate is None:
        text = f"{at_far_end} to > {CAP}"
    elif at_far_end is None:  # only by simulation noise: the far end is the more favourable effect
        text = str(at_estimate)
    else:
        text = f"{min(at_far_end, at_estimate)}–{max(at_far_end, at_estimate)}"
    return {"at_estimate": at_estimate, "at_far_end": at_far_end, "text": f"{text} {unit}"}


def not_estimable(why: str) -> dict:
    return _result(None, None, "", why)


def _t_power(delta: float) -> Callable[[int], float]:
    """Power of the two-sided one-sample t test at level ALPHA to decide on the side of a standardised effect."""
    def power_at(n: int) -> float:
        crit = stats.t.ppf(1 - ALPHA / 2, n - 1)
        return float(stats.nct.sf(crit, n - 1, abs(delta) * math.sqrt(n)))
    return power_at


def t_one_sample(values, interval, unit: str = "seeds") -> dict:
    """n_needed of a claim on the mean of `values` (a mean, or paired differences) with its 95% `interval`."""
    d = np.asarray(values, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) < MIN_VALUES:
        return not_estimable(f"{len(d)} values; at least {MIN_VALUES} are needed to estimate a spread")
    s = float(np.std(d, ddof=1))
    m = float(np.mean(d))
    if s == 0:
        return not_estimable("no spread")
    if abs(m) / s < TINY:
        return not_estimable("the effect is about 0")
    far = max(abs(interval[0]), abs(interval[1])) if np.all(np.isfinite(interval)) else abs(m)
    return _result(_smallest_n(_t_power(m / s)), _smallest_n(_t_power(far / s)), unit)


def welch(a, b, interval, unit: str = "per group") -> dict:
    """n_needed per group of a two-group comparison (equal group sizes, the pooled spread)."""
    a, b = (np.asarray(v, dtype=float) for v in (a, b))
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if min(len(a), len(b)) < 2 or len(a) + len(b) < MIN_VALUES:
        return not_estimable(f"{len(a)} and {len(b)} values; at least {MIN_VALUES} in all are needed")
    s = math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)
    m = float(np.mean(a) - np.mean(b))
    if s == 0:
        return not_estimable("no spread")
    if abs(m) / s < TINY:
        return not_estimable("the effect is about 0")

    def power(delta):
        def power_at(n):
            df = 2 * n - 2
            return float(stats.nct.sf(stats.t.ppf(1 - ALPHA / 2, df), df, abs(delta) * math.sqrt(n / 2)))
        return power_at
    far = max(abs(interval[0]), abs(interval[1])) if np.all(np.isfinite(interval)) else abs(m)
    return _result(_smallest_n(power(m / s)), _smallest_n(power(far / s)), unit)


def _simulate_t(mean: float, sd: float, decide: Callable, draws: int = 4000, seed: int = 0) -> Callable[[int], float]:
    """Power at n of a decision made from (sample mean, sample sd, n) under normal noise, by simulation:
    the sample mean is N(mean, sd²/n) and the sample variance sd²·χ²(n−1)/(n−1), drawn directly."""
    def power_at(n: int) -> float:
        rng = np.random.default_rng([seed, n])
        xbar = mean + sd / math.sqrt(n) * rng.standard_normal(draws)
        s = sd * np.sqrt(rng.chisquare(n - 1, draws) / (n - 1))
        return float(np.mean(decide(xbar, s, n)))
    return power_at


def equivalence(values, target: float, margin: float, interval, unit: str = "seeds") -> dict:
    """n_needed of an equivalence claim (the 95% interval wholly inside target ± margin; or wholly outside,
    when the measured mean lies outside the margin)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < MIN_VALUES:
        return not_estimable(f"{len(x)} values; at least {MIN_VALUES} are needed to estimate a spread")
    sd = float(np.std(x, ddof=1))
    if sd == 0:
        return not_estimable("no spread")
    m = float(np.mean(x)) - target
    inside = abs(m) < margin
    if abs(abs(m) - margin) / sd < TINY:
        return not_estimable("the mean lies on the margin")

    def decide(xbar, s, n):
        half = stats.t.ppf(1 - ALPHA / 2, n - 1) * s / math.sqrt(n)
        if inside:
            return (xbar - half >= -margin) & (xbar + half <= margin)
        return (xbar + half < -margin) | (xbar - half > margin)

    lo, hi = (v - target for v in interval) if np.all(np.isfinite(interval)) else (m, m)
    far = (0.0 if lo <= 0 <= hi else min(lo, hi, key=abs)) if inside else max(lo, hi, key=abs)
    return _result(_smallest_n(_simulate_t(m, sd, decide)), _smallest_n(_simulate_t(far, sd, decide)), unit)


def _spearman_power(rho: float, draws: int = 2000, seed: int = 0) -> Callable[[int], float]:
    """Power at n of Spearman's test (two-sided, t approximation) on Gaussian pairs with Spearman ρ = rho,
    deciding on the side of rho. Pearson r = 2 sin(πρ/6) gives that Spearman ρ for Gaussian pairs."""
    r = 2 * math.sin(math.pi * rho / 6)

    def power_at(n: int) -> float:
        rng = np.random.default_rng([seed, n])
        u = rng.standard_normal((draws, n))
        v = r * u + math.sqrt(max(0.0, 1 - r * r)) * rng.standard_normal((draws, n))
        ru, rv = (stats.rankdata(a, axis=1) for a in (u, v))
        ru, rv = ru - ru.mean(1, keepdims=True), rv - rv.mean(1, keepdims=True)
        rs = (ru * rv).sum(1) / np.sqrt((ru ** 2).sum(1) * (rv ** 2).sum(1))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = rs * np.sqrt((n - 2) / np.maximum(1e-15, 1 - rs ** 2))
        p = 2 * stats.t.sf(np.abs(t), n - 2)
        return float(np.mean((p < ALPHA) & (np.sign(rs) == np.sign(rho))))
    return power_at


def correlation(rho: float, interval, n: int, unit: str = "pairs") -> dict:
    """n_needed of a rank-correlation claim (pairs pooled) at the measured ρ and its interval's far end."""
    if n < MIN_VALUES:
        return not_estimable(f"{n} pairs; at least {MIN_VALUES} are needed")
    if not math.isfinite(rho) or abs(rho) < TINY:
        return not_estimable("the correlation is about 0")
    far = max(interval, key=abs) if np.all(np.isfinite(interval)) else rho
    far = float(np.clip(far, -0.99, 0.99))
    return _result(_smallest_n(_spearman_power(float(np.clip(rho, -0.99, 0.99))), start=5),
                   _smallest_n(_spearman_power(far), start=5), unit)


def _sign_power(q: float) -> Callable[[int], float]:
    """Power at n untied pairs of the exact two-sided sign test at ALPHA, when a pair favours the side of
    q > 1/2 with probability q (or, for q < 1/2, the other side with probability 1 − q)."""
    q = max(q, 1 - q)

    def power_at(n: int) -> float:
        k = np.arange(n + 1)
        p_two = np.minimum(1.0, 2 * stats.binom.sf(k - 1, n, 0.5))  # P(X ≥ k) doubled
        decisive = k[(p_two <= ALPHA) & (k > n / 2)]
        return float(stats.binom.pmf(decisive, n, q).sum()) if len(decisive) else 0.0
    return power_at


def sign_test(k: int, n: int, unit: str = "untied pairs") -> dict:
    """n_needed of a sign test with k of n untied pairs on one side, at k/n and at the far end of its
    Clopper-Pearson interval."""
    if n < MIN_VALUES:
        return not_estimable(f"{n} untied pairs; at least {MIN_VALUES} are needed")
    q = k / n
    if abs(q - 0.5) < 0.5 * TINY:
        return not_estimable("the pairs split evenly")
    ci = stats.binomtest(k, n).proportion_ci(0.95)
    far = ci.high if q > 0.5 else ci.low
    return _result(_smallest_n(_sign_power(q), start=4, monotone=False),
                   _smallest_n(_sign_power(far), start=4, monotone=False), unit)
