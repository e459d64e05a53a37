"""Claims: verdicts that can fail.

Every conclusion a notebook draws is a `Claim`: the report's observation or a paper's result, measured
on this run, with its effect and unit, a 95% interval, a p value from a test that fits the design, the
number n of valid values it rests on, and a verdict:

- ``reproduced``: the effect goes the claimed way and the 95% interval excludes "no effect";
- ``contradicted``: the interval excludes "no effect", the other way;
- ``inconclusive``: otherwise, or too few valid (finite) values; the note says why.

A claim of equality (`equivalence`) is reproduced when the whole interval lies inside target ± margin
and contradicted when it lies wholly outside.

Error rates. A two-sided 95% interval that excludes zero on the claimed side happens, under pure
noise, at most 2.5% of the time, so `reproduced` has a false-positive rate of about 2.5% by design
(≤ 5% is the bar) — *at every n the functions accept*, which rules out the percentile bootstrap at
the sample sizes the notebooks use (3 to 5 seeds): over 3 values it excludes zero whenever all three
share a sign, 25% of the time under symmetric noise. So:

- means, paired and two-sample differences, equivalence: Student-t intervals (Welch for two
  samples). Exact under normal noise at any n ≥ 2, asymptotically right otherwise, and conservative
  rather than liberal for heavy tails. The p value comes from the same t test, so p < 0.05 on the
  claimed side and "interval excludes zero on the claimed side" are the same event.
- rank correlations: the p value is a permutation test (exact — all n! pairings — up to n = 7 with the
  default 9999 resamples, random pairings above); the interval is a bootstrap over pairs. The verdict
  needs both the permutation test (p < 0.05) and the interval; at n ≤ 4 no rank correlation can reach
  p < 0.05 (the smallest attainable two-sided p is 2/n!, larger with ties: 2∏tᵢ!/n!), and the note says so.
- observed statistic against a control null (`against_null`): a Monte-Carlo p value with the +1
  correction, one-sided in the claimed direction, decided at 0.025 so the error rate matches the
  two-sided 95% intervals above.

The false-positive rates are measured on pure noise in tests/test_claims.py (2000 draws per setting for
the t-based claims, 400 for correlations, bounded at the binomial 99.9% limit of the designed 2.5%). One limit, measured too: the t interval's tails are not
equally right for strongly skewed noise (exponential, skewness 2: at n = 3-8 the interval misses on the
low side about 10% of the time, on the high side under 1%). Compare skewed positive quantities (losses,
epochs, sharpness) as log ratios, `paired(..., transform="log_ratio")`, where the noise is near symmetric.

Non-finite values (diverged runs, NaN losses) are dropped before anything is computed, and the note
says how many. Every function is deterministic given `seed`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy import stats

LEVEL = 0.95
ALPHA = 1 - LEVEL
VERDICTS = ("reproduced", "contradicted", "inconclusive")
NAN = float("nan")


@dataclass
class Claim:
    """One verdict: what was claimed, by whom, what this run measured and what follows."""
    id: str
    statement: str
    source: str
    effect: float = NAN
    unit: str = ""
    interval: tuple[float, float] = (NAN, NAN)
    p: float = NAN
    n: int = 0
    verdict: str = "inconclusive"
    note: str = ""
    control: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe: NaN and inf become None, numpy numbers plain Python."""
        return {"id": self.id, "statement": self.statement, "source": self.source,
                "effect": _num(self.effect), "unit": self.unit,
                "interval": [_num(self.interval[0]), _num(self.interval[1])],
                "p": _num(self.p), "n": int(self.n), "verdict": self.verdict, "note": self.note,
                "control": self.control}

    def sentence(self) -> str:
        """One plain sentence, e.g. '<statement> — reproduced: effect 0.42 [0.1, 0.7] Spearman ρ, p = 0.01, n = 24'."""
        return sentence(self.as_dict())


# ----------------------------------------------------------------------------------------------------------
# formatting (shared by Run.report_claims and the report page, which read the dicts from results.json)

def _num(x: Any) -> float | None:
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def fmt(x: Any, digits: int = 3) -> str:
    """A number to `digits` significant figures; missing or non-finite as '—'."""
    x = _num(x)
    if x is None:
        return "—"
    return f"{x:.{digits}g}"


def fmt_p(p: Any) -> str:
    p = _num(p)
    if p is None:
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.2g}"


def effect_text(d: dict) -> str:
    """'0.42 [0.1, 0.7] Spearman ρ' from a claim dict; '—' when there is no effect."""
    effect = _num(d.get("effect"))
    if effect is None:
        return "—"
    lo, hi = (list(d.get("interval") or [None, None]) + [None, None])[:2]
    text = fmt(effect)
    if _num(lo) is not None or _num(hi) is not None:
        text += f" [{fmt(lo)}, {fmt(hi)}]"
    unit = d.get("unit") or ""
    return f"{text} {unit}".strip()


def sentence(d: dict) -> str:
    """The findings line of one claim dict."""
    parts = [f"effect {effect_text(d)}"] if _num(d.get("effect")) is not None else []
    if _num(d.get("p")) is not None:
        parts.append(f"p = {fmt_p(d.get('p'))}" if _num(d["p"]) >= 0.001 else "p < 0.001")
    parts.append(f"n = {d.get('n', 0)}")
    text = f"{d.get('statement', '')} — {d.get('verdict', 'inconclusive')}: " + ", ".join(parts)
    if d.get("note"):
        text += f" ({d['note']})"
    return text


# ----------------------------------------------------------------------------------------------------------
# helpers

def _direction(direction: int) -> int:
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 or -1, not {direction!r}")
    return int(direction)


def _finite(values: Any) -> tuple[np.ndarray, int]:
    """Finite values as float64, and how many were dropped."""
    a = np.asarray(values, dtype=float).ravel()
    ok = np.isfinite(a)
    return a[ok], int((~ok).sum())


def _pairs(u, v, what: str, u_name: str, v_name: str):
    """Two equally long float vectors and the mask of pairs where both are finite."""
    u, v = np.asarray(u, dtype=float).ravel(), np.asarray(v, dtype=float).ravel()
    if u.shape != v.shape:
        raise ValueError(f"{what} needs as many {u_name} as {v_name} values ({len(u)} vs {len(v)})")
    return u, v, np.isfinite(u) & np.isfinite(v)


def _dropped_note(dropped: int, what: str = "non-finite value") -> str:
    """'1 non-finite value dropped', '3 non-finite values dropped', '2 pairs with a non-finite value dropped'."""
    if not dropped:
        return ""
    if dropped != 1:  # the noun is the last word, or the word before " with ..."
        noun, sep, rest = what.partition(" with ")
        what = f"{noun}s{sep}{rest}"
    return f"{dropped} {what} dropped"


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _verdict(lo: float, hi: float, direction: int, null: float = 0.0) -> str:
    """Reproduced when the interval lies wholly on the claimed side of `null`, contradicted on the other."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "inconclusive"
    if (lo > null and direction > 0) or (hi < null and direction < 0):
        return "reproduced"
    if (hi < null and direction > 0) or (lo > null and direction < 0):
        return "contradicted"
    return "inconclusive"


def _undecided_note(verdict: str, why: str = "the 95% interval includes no effect") -> str:
    return why if verdict == "inconclusive" else ""


def _t_claim(base: dict, d: np.ndarray, direction: int, null: float, note: str) -> Claim:
    """Mean of d against `null`: Student-t interval and the one-sample t test (two-sided p).

    Why t and not a bootstrap: at the n the notebooks have (3-5 seeds) a percentile bootstrap's interval
    is far too narrow (over 3 values it excludes zero whenever all three share a sign: 25% of the time
    under noise); the t interval is exact for normal noise at every n ≥ 2.
    """
    n = len(d)
    m = float(np.mean(d))
    if np.ptp(d) == 0:
        if d[0] == null:
            why = f"all {n} values are equal to the null ({fmt(d[0])}): no effect and no spread to test"
        else:
            side = "above" if d[0] > null else "below"
            why = (f"all {n} values are equal ({fmt(d[0])}): the same sign in all {n} ({side} the null); "
                   "no spread to test")
        return Claim(**base, effect=m - null, n=n, verdict="inconclusive", note=_join(why, note))
    res = stats.ttest_1samp(d, popmean=null)
    ci = res.confidence_interval(LEVEL)
    lo, hi = float(ci.low) - null, float(ci.high) - null
    verdict = _verdict(lo, hi, direction)
    return Claim(**base, effect=m - null, interval=(lo, hi), p=float(res.pvalue), n=n, verdict=verdict,
                 note=_join(note, _undecided_note(verdict)))


def _base(id, statement, source, unit, control) -> dict:
    return {"id": id, "statement": statement, "source": source, "unit": unit, "control": control}


def _too_few(base: dict, n: int, min_n: int, note: str, what: str = "valid values") -> Claim:
    return Claim(**base, n=n, verdict="inconclusive",
                 note=_join(f"too few {what}: {n} < {min_n}", note))


# ----------------------------------------------------------------------------------------------------------
# the claims

def mean(id: str, statement: str, source: str, values: Sequence[float], direction: int = +1, null: float = 0.0,
         unit: str = "", note: str = "", min_n: int = 3, control: str = "", seed: int = 0) -> Claim:
    """The mean of `values` is above `null` (direction=+1) or below it (-1).

    effect = mean − null with a Student-t 95% interval; p from the one-sample t test (two-sided).
    The t interval is exact under normal noise at any n; its false-positive rate is measured in the tests.
    `seed` is accepted for a uniform API (nothing here is random).
    """
    direction = _direction(direction)
    min_n = max(int(min_n), 2)
    base = _base(id, statement, source, unit, control)
    d, dropped = _finite(values)
    note = _join(_dropped_note(dropped), note)
    if len(d) < min_n:
        return _too_few(base, len(d), min_n, note)
    return _t_claim(base, d, direction, float(null), note)


def paired(id: str, statement: str, source: str, a: Sequence[float], b: Sequence[float], direction: int = +1,
           transform: str = "diff", unit: str = "", note: str = "", min_n: int = 3, control: str = "",
           seed: int = 0) -> Claim:
    """Paired comparison: a > b (direction=+1) or a < b (-1), pair i from the same seed or run.

    The per-pair effect is a − b (transform="diff") or log(a / b) ("log_ratio"; both must be > 0, the
    effect then is the mean log ratio: exp(effect) is the geometric-mean ratio; a non-positive value
    makes the claim inconclusive, with a note, rather than being dropped: dropping it would bias the rest). Effect = mean over pairs,
    Student-t 95% interval, p from the paired t test (two-sided). The Wilcoxon signed-rank p is added
    to the note as a check that does not assume normal differences (it cannot reach 0.05 below 6 pairs).
    """
    direction = _direction(direction)
    min_n = max(int(min_n), 2)
    if transform not in ("diff", "log_ratio"):
        raise ValueError(f"transform must be 'diff' or 'log_ratio', not {transform!r}")
    base = _base(id, statement, source, unit, control)
    a, b, ok = _pairs(a, b, "paired", "a", "b")
    dropped = int((~ok).sum())
    notes = [_dropped_note(dropped, "pair with a non-finite value")]
    if transform == "log_ratio":
        bad = int((ok & ~((a > 0) & (b > 0))).sum())
        if bad:
            return Claim(**base, n=int(ok.sum()), verdict="inconclusive", note=_join(
                *notes, f"{bad} of {int(ok.sum())} pairs {'has' if bad == 1 else 'have'} a non-positive value: "
                "no log ratio (compare such values with transform='diff')", note))
        d = np.log(a[ok] / b[ok])
    else:
        d = a[ok] - b[ok]
    note = _join(*notes, note)
    if len(d) < min_n:
        return _too_few(base, len(d), min_n, note, "valid pairs")
    claim = _t_claim(base, d, direction, 0.0, note)
    if len(d) >= 6 and np.ptp(d) > 0:
        w = stats.wilcoxon(d)
        claim.note = _join(claim.note, f"Wilcoxon signed-rank p = {fmt_p(w.pvalue)}")
    return claim


def two_sample(id: str, statement: str, source: str, a: Sequence[float], b: Sequence[float], direction: int = +1,
               unit: str = "", note: str = "", min_n: int = 2, control: str = "", seed: int = 0) -> Claim:
    """Two independent groups: mean(a) > mean(b) (direction=+1) or < (-1).

    effect = mean(a) − mean(b), Welch's t 95% interval (unequal variances), p from Welch's t test.
    Welch rather than a bootstrap for the same reason as `mean`. Its limit, measured (20000 noise draws,
    one-sided rate of `reproduced`, designed 2.5%): equal spreads 1.2-1.7% at 2-3 per group; 5 against 8
    values with the 5 four times noisier 2.8%; but 3 against 6 so, 3.3%, and 2 against 5 so, 5.1%: when
    the smaller group is much the noisier and has 2-3 values, the Welch-Satterthwaite degrees of freedom
    are too optimistic. (A pooled t is far worse there: 13%.) `min_n` applies to each group.
    """
    direction = _direction(direction)
    min_n = max(int(min_n), 2)
    base = _base(id, statement, source, unit, control)
    xa, da = _finite(a)
    xb, db = _finite(b)
    note = _join(_dropped_note(da + db), note)
    if min(len(xa), len(xb)) < min_n:
        return _too_few(base, len(xa) + len(xb), min_n, note, f"valid values in a group ({len(xa)} and {len(xb)})")
    n = len(xa) + len(xb)
    effect = float(np.mean(xa) - np.mean(xb))
    if np.ptp(xa) == 0 and np.ptp(xb) == 0:
        return Claim(**base, effect=effect, n=n, verdict="inconclusive",
                     note=_join("no spread within either group: no interval can be estimated", note))
    res = stats.ttest_ind(xa, xb, equal_var=False)
    ci = res.confidence_interval(LEVEL)
    lo, hi = float(ci.low), float(ci.high)
    verdict = _verdict(lo, hi, direction)
    return Claim(**base, effect=effect, interval=(lo, hi), p=float(res.pvalue), n=n, verdict=verdict,
                 note=_join(note, _undecided_note(verdict)))


def equivalence(id: str, statement: str, source: str, values: Sequence[float], target: float, margin: float,
                unit: str = "", note: str = "", min_n: int = 2, control: str = "", seed: int = 0) -> Claim:
    """A claim of equality: the mean of `values` equals `target` within ± `margin`.

    effect = mean − target with a Student-t 95% interval. Reproduced when the whole interval lies inside
    [−margin, +margin] (a 95% interval rather than TOST's 90%: stricter, and one convention for every
    claim), contradicted when it lies wholly outside, otherwise inconclusive. p is the larger of the two
    one-sided t tests (TOST) that the mean lies inside the margin.
    """
    if not (margin > 0 and math.isfinite(margin)):
        raise ValueError(f"margin must be a positive number, not {margin!r}")
    min_n = max(int(min_n), 2)
    base = _base(id, statement, source, unit, control)
    x, dropped = _finite(values)
    note = _join(_dropped_note(dropped), note, f"margin ±{fmt(margin)} around {fmt(target)}")
    if len(x) < min_n:
        return _too_few(base, len(x), min_n, note)
    n = len(x)
    effect = float(np.mean(x) - target)
    if np.ptp(x) == 0:
        return Claim(**base, effect=effect, n=n, verdict="inconclusive",
                     note=_join(f"all {n} values are equal ({fmt(x[0])}): no spread to estimate an interval from",
                                note))
    ci = stats.ttest_1samp(x, popmean=target).confidence_interval(LEVEL)
    lo, hi = float(ci.low) - target, float(ci.high) - target
    p = max(stats.ttest_1samp(x, target - margin, alternative="greater").pvalue,
            stats.ttest_1samp(x, target + margin, alternative="less").pvalue)
    if -margin <= lo and hi <= margin:
        verdict = "reproduced"
    elif hi < -margin or lo > margin:
        verdict = "contradicted"
    else:
        verdict = "inconclusive"
    return Claim(**base, effect=effect, interval=(lo, hi), p=float(p), n=n, verdict=verdict,
                 note=_join(note, "the 95% interval straddles the margin" if verdict == "inconclusive" else ""))


def _rank_corr(rx: np.ndarray, ry: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman ρ: the Pearson correlation of ranks rx (rows: permutations of the same ranks) with ranks ry.
    Permuting x permutes its ranks, so the permutation test needs no re-ranking."""
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ryc = ry - ry.mean()
    den = np.sqrt((rx ** 2).sum(axis=axis) * (ryc ** 2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ryc).sum(axis=axis) / den


def _spearman_pairs(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman ρ of resampled pairs (vectorised over leading axes). A resample where x or y is constant
    has no rank correlation; it counts as 0 (toward "no effect", so the interval errs wide, not narrow)."""
    rx = stats.rankdata(x, axis=axis)
    ry = stats.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    den = np.sqrt((rx ** 2).sum(axis=axis) * (ry ** 2).sum(axis=axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (rx * ry).sum(axis=axis) / den
    return np.where(np.isfinite(r), r, 0.0)


def _ties(r: np.ndarray) -> int:
    """∏ tᵢ! over the tie groups of r: how many permutations of r leave it unchanged."""
    return math.prod(math.factorial(int(c)) for c in np.unique(r, return_counts=True)[1])


def _min_perm_p(rx: np.ndarray, ry: np.ndarray) -> float:
    """The smallest two-sided permutation p attainable for Spearman's ρ of ranks rx, ry.

    x has n!/∏tᵢ! distinct rank arrangements against y. When y has no ties its centred ranks are
    symmetric, so the sorted and reverse-sorted arrangements reach ρ = ±max|ρ| and the smallest p is
    2∏tᵢ!/n! exactly (likewise with x and y swapped). When both have ties the reverse arrangement need
    not reach the same |ρ|: ∏tᵢ!/n! (the larger product) is then a lower bound, so a 'cannot be
    significant' note is never wrong."""
    n = len(rx)
    tx, ty = _ties(rx), _ties(ry)
    if tx == 1 or ty == 1:
        return min(1.0, 2 * max(tx, ty) / math.factorial(n))
    return min(1.0, max(tx, ty) / math.factorial(n))


def correlation(id: str, statement: str, source: str, x: Sequence[float], y: Sequence[float], direction: int = +1,
                unit: str = "Spearman ρ", note: str = "", min_n: int = 3, control: str = "", seed: int = 0,
                resamples: int = 9999) -> Claim:
    """x and y rise together (direction=+1) or one falls as the other rises (-1): Spearman's ρ.

    p: a two-sided permutation test of ρ (scipy.stats.permutation_test, pairings; exact — every one of the
    n! pairings — while n! ≤ `resamples`, i.e. up to n = 7 by default, `resamples` random pairings above).
    Interval: percentile bootstrap over pairs (scipy.stats.bootstrap, at most 1999 resamples). The bootstrap alone is anti-conservative at
    small n, so the verdict needs both: reproduced when p < 0.05 and the interval lies on the claimed
    side of 0 (contradicted: the other side). At n ≤ 4 no ρ can reach p < 0.05 (the smallest two-sided
    permutation p is 2/n!; with ties it is 2 over the number of distinct rank arrangements, n!/∏tᵢ! over
    the tie groups, e.g. x = [1, 1, 1, 2, 2, 2] gives 2/20 = 0.1), so such a claim is inconclusive and
    the note says so (see `_min_perm_p`). The pairs must be
    independent (seeds, runs); a time series with a trend needs `against_null` and a null that keeps it.
    """
    direction = _direction(direction)
    min_n = max(int(min_n), 3)
    base = _base(id, statement, source, unit, control)
    x, y, ok = _pairs(x, y, "correlation", "x", "y")
    x, y = x[ok], y[ok]
    n = len(x)
    note = _join(_dropped_note(int((~ok).sum()), "pair with a non-finite value"), note)
    if n < min_n:
        return _too_few(base, n, min_n, note, "valid pairs")
    for name, v in (("x", x), ("y", y)):
        if np.ptp(v) == 0:
            return Claim(**base, n=n, verdict="inconclusive", note=_join(f"{name} is constant: no rank correlation", note))
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    rho = float(_rank_corr(rx, ry))
    rng = np.random.default_rng(seed)
    perm = stats.permutation_test((rx,), lambda r, axis=-1: _rank_corr(r, ry, axis), permutation_type="pairings",
                                  n_resamples=resamples, vectorized=True,
                                  alternative="two-sided", rng=rng)
    p = float(perm.pvalue)
    boot = stats.bootstrap((x, y), _spearman_pairs, paired=True, vectorized=True, n_resamples=min(resamples, 1999),
                           method="percentile", confidence_level=LEVEL, rng=rng)
    lo, hi = float(boot.confidence_interval.low), float(boot.confidence_interval.high)
    by_interval = _verdict(lo, hi, direction)
    min_p = _min_perm_p(rx, ry)
    if min_p >= ALPHA:
        verdict = "inconclusive"
        why = (f"at n = {n} no rank correlation can be significant: the smallest two-sided permutation p is "
               f"{fmt_p(min_p)}")
    elif p >= ALPHA:
        verdict = "inconclusive"
        why = f"permutation p = {fmt_p(p)} ≥ 0.05" + (" (the bootstrap interval alone would exclude 0)"
                                                      if by_interval != "inconclusive" else "")
    elif by_interval == "inconclusive":
        verdict = "inconclusive"
        why = "permutation p < 0.05 but the bootstrap interval includes 0"
    else:
        verdict, why = by_interval, ""
    return Claim(**base, effect=rho, interval=(lo, hi), p=p, n=n, verdict=verdict, note=_join(note, why))


def against_null(id: str, statement: str, source: str, observed: float, null_samples: Sequence[float],
                 direction: int = +1, unit: str = "", control: str = "", note: str = "", seed: int = 0) -> Claim:
    """An observed statistic against samples of the same statistic under a control null.

    The null keeps what sampling alone would produce (e.g. the statistic recomputed with one series
    circularly shifted against the other: trends and autocorrelation kept, the alignment broken), so the
    effect is what the data show beyond it.

    - p = (1 + #{null ≥ observed}) / (1 + N) for direction=+1 (#{null ≤ observed} for −1): the Monte-Carlo
      p value, one-sided in the claimed direction, never 0.
    - effect = observed − median(null).
    - interval = [observed − s₍N+1−k₎, observed − s₍k₎] with s the sorted null and k = ⌊(N+1)/40⌋: the
      k-th largest and k-th smallest null sample, the order statistics the p value counts against, so the
      interval excludes 0 above exactly when #{null ≥ observed} ≤ k − 1, i.e. exactly when p ≤ 0.025 (and
      below when the opposite p ≤ 0.025). It describes the null's spread, not the sampling error of the
      observed value.
    - verdict: reproduced when the interval lies above 0 (direction=+1; below for −1), i.e. p ≤ 0.025
      (the observed value beyond the null's upper 2.5%, on the claimed side; 0.025 so that the two-sided
      error is 5% as for the intervals of the other claims); contradicted when the opposite one-sided
      p ≤ 0.025; needs N ≥ 39 null samples, else no p can reach 0.025 and the claim is inconclusive.
    `seed` is accepted for a uniform API (nothing here is random).
    """
    direction = _direction(direction)
    base = _base(id, statement, source, unit, control)
    null, dropped = _finite(null_samples)
    note = _join(_dropped_note(dropped, "non-finite null sample"), note)
    obs = _num(observed)
    N = len(null)
    if obs is None:
        return Claim(**base, n=N, verdict="inconclusive", note=_join("the observed statistic is not finite", note))
    if N < 39:
        return Claim(**base, effect=obs - float(np.median(null)) if N else NAN, n=N, verdict="inconclusive",
                     note=_join(f"too few null samples: {N} < 39 (the smallest attainable p is 1/(N+1))", note))
    n_above, n_below = int((null >= obs).sum()), int((null <= obs).sum())
    above, below = (1 + n_above) / (1 + N), (1 + n_below) / (1 + N)
    p, p_other = (above, below) if direction > 0 else (below, above)
    # p <= 0.025 <=> 40 (1 + count) <= N + 1 <=> count <= k - 1, k = floor((N + 1) / 40) (integers: no rounding).
    # The interval uses the same order statistics: the k-th largest and k-th smallest null sample, so it
    # excludes 0 on a side exactly when that side's p <= 0.025 (verdict, p and interval cannot disagree).
    k = (N + 1) // 40
    s = np.sort(null)
    q_lo, q_hi = float(s[k - 1]), float(s[N - k])
    lo, hi = obs - q_hi, obs - q_lo
    verdict = _verdict(lo, hi, direction)
    return Claim(**base, effect=obs - float(np.median(null)), interval=(lo, hi), p=float(p), n=N, verdict=verdict,
                 note=_join(note, "n = null samples; p one-sided in the claimed direction",
                            "the observed value lies within the null's central 95% (one-sided p > 0.025 either way)"
                            if verdict == "inconclusive" else ""))


def inconclusive(id: str, statement: str, source: str, why: str, n: int = 0, unit: str = "", control: str = "",
                 note: str = "") -> Claim:
    """A claim this run cannot decide (not measured in this profile, every run diverged, ...): says why."""
    return Claim(id=id, statement=statement, source=source, unit=unit, n=int(n), verdict="inconclusive",
                 note=_join(why, note), control=control)


def table(claims: Sequence[Claim | dict]):
    """The claims as a pandas DataFrame (statement, source, effect [interval] unit, p, n, verdict, note)."""
    import pandas as pd
    rows = []
    for c in claims:
        d = c.as_dict() if isinstance(c, Claim) else dict(c)
        rows.append({"claim": d.get("statement", ""), "source": d.get("source", ""), "this run": effect_text(d),
                     "p": fmt_p(d.get("p")), "n": d.get("n", 0), "verdict": d.get("verdict", ""),
                     "note": d.get("note", ""), "control": d.get("control", ""), "id": d.get("id", "")})
    return pd.DataFrame(rows)


COLOURS = {"reproduced": "#2a7a3a", "contradicted": "#c0392b", "inconclusive": "#808080"}


def html_table(claims: Sequence[Claim | dict]) -> str:
    """The claims as an HTML table, verdicts coloured (green / red / grey)."""
    import html as _html
    head = "".join(f"<th style='text-align:left'>{h}</th>" for h in
                   ("claim", "source", "this run: effect [95% interval]", "p", "n", "verdict", "note"))
    body = []
    for c in claims:
        d = c.as_dict() if isinstance(c, Claim) else dict(c)
        v = d.get("verdict", "inconclusive")
        note = d.get("note", "")
        if d.get("control"):
            note = _join(f"control: {d['control']}", note)
        cells = [_html.escape(str(d.get("statement", ""))), _html.escape(str(d.get("source", ""))),
                 _html.escape(effect_text(d)), _html.escape(fmt_p(d.get("p"))), str(int(d.get("n") or 0)),
                 f"<b style='color:#fff;background:{COLOURS.get(v, '#808080')};padding:0 .4em;border-radius:3px'>"
                 f"{_html.escape(v)}</b>", _html.escape(note)]
        body.append("<tr>" + "".join(f"<td style='text-align:left'>{x}</td>" for x in cells) + "</tr>")
    return f"<table class='claims'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
