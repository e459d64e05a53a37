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

import itertools
import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Sequence

import numpy as np
from scipy import stats

from . import power

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
    min_p: float = NAN  # the smallest p this test can give at its n (NaN: no floor, a continuous test)
    # An inconclusive claim: what would decide it (hwutils.power). Held as a callable until first read, so
    # the thousands of noise draws of the tests do not pay for a power search each.
    n_needed: dict | Callable[[], dict] | None = field(default=None, compare=False)
    replication: str = ""  # the unit of replication n counts: "seeds", "runs", "pairs of runs"

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe: NaN and inf become None, numpy numbers plain Python."""
        return {"id": self.id, "statement": self.statement, "source": self.source,
                "effect": _num(self.effect), "unit": self.unit,
                "interval": [_num(self.interval[0]), _num(self.interval[1])],
                "p": _num(self.p), "n": int(self.n), "verdict": self.verdict, "note": self.note,
                "control": self.control, "min_p": _num(self.min_p), "n_needed": self.needed(),
                "replication": self.replication}

    def needed(self) -> dict | None:
        """`n_needed`, computed on first use."""
        if callable(self.n_needed):
            self.n_needed = self.n_needed()
        return self.n_needed

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
        return Claim(**base, effect=m - null, n=n, verdict="inconclusive", note=_join(why, note),
                     n_needed=power.not_estimable("no spread"))
    res = stats.ttest_1samp(d, popmean=null)
    ci = res.confidence_interval(LEVEL)
    lo, hi = float(ci.low) - null, float(ci.high) - null
    verdict = _verdict(lo, hi, direction)
    return Claim(**base, effect=m - null, interval=(lo, hi), p=float(res.pvalue), n=n, verdict=verdict,
                 note=_join(note, _undecided_note(verdict)),
                 n_needed=partial(power.t_one_sample, d - null, (lo, hi), base["replication"] or "values")
                 if verdict == "inconclusive" else None)


def _base(id, statement, source, unit, control, replication="") -> dict:
    return {"id": id, "statement": statement, "source": source, "unit": unit, "control": control,
            "replication": replication}


def _too_few(base: dict, n: int, min_n: int, note: str, what: str = "valid values") -> Claim:
    return Claim(**base, n=n, verdict="inconclusive", note=_join(f"too few {what}: {n} < {min_n}", note),
                 n_needed=power.not_estimable(f"{n} {what}") if n < power.MIN_VALUES else None)


# ----------------------------------------------------------------------------------------------------------
# the claims

def mean(id: str, statement: str, source: str, values: Sequence[float], direction: int = +1, null: float = 0.0,
         unit: str = "", note: str = "", min_n: int = 3, control: str = "", seed: int = 0,
         replication: str = "") -> Claim:
    """The mean of `values` is above `null` (direction=+1) or below it (-1).

    effect = mean − null with a Student-t 95% interval; p from the one-sample t test (two-sided).
    The t interval is exact under normal noise at any n; its false-positive rate is measured in the tests.
    `seed` is accepted for a uniform API (nothing here is random).
    """
    direction = _direction(direction)
    min_n = max(int(min_n), 2)
    base = _base(id, statement, source, unit, control, replication)
    d, dropped = _finite(values)
    note = _join(_dropped_note(dropped), note)
    if len(d) < min_n:
        return _too_few(base, len(d), min_n, note)
    return _t_claim(base, d, direction, float(null), note)


def paired(id: str, statement: str, source: str, a: Sequence[float], b: Sequence[float], direction: int = +1,
           transform: str = "diff", unit: str = "", note: str = "", min_n: int = 3, control: str = "",
           seed: int = 0, replication: str = "") -> Claim:
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
    base = _base(id, statement, source, unit, control, replication)
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
               unit: str = "", note: str = "", min_n: int = 2, control: str = "", seed: int = 0,
               replication: str = "") -> Claim:
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
    base = _base(id, statement, source, unit, control, replication)
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
                 note=_join(note, _undecided_note(verdict)),
                 n_needed=partial(power.welch, xa, xb, (lo, hi), f"{replication or 'values'} per group")
                 if verdict == "inconclusive" else None)


def equivalence(id: str, statement: str, source: str, values: Sequence[float], target: float, margin: float,
                unit: str = "", note: str = "", min_n: int = 2, control: str = "", seed: int = 0,
                replication: str = "") -> Claim:
    """A claim of equality: the mean of `values` equals `target` within ± `margin`.

    effect = mean − target with a Student-t 95% interval. Reproduced when the whole interval lies inside
    [−margin, +margin] (a 95% interval rather than TOST's 90%: stricter, and one convention for every
    claim), contradicted when it lies wholly outside, otherwise inconclusive.

    p is the p value of the decision on the two-sided scale every claim uses (p ≤ 0.05 exactly when the
    verdict is decided, as for the t claims): with the mean inside the margin, twice the TOST p (the larger
    of the two one-sided t tests that the mean lies above target − margin and below target + margin);
    outside it, twice the one-sided p that the mean lies beyond the nearer edge.
    """
    if not (margin > 0 and math.isfinite(margin)):
        raise ValueError(f"margin must be a positive number, not {margin!r}")
    min_n = max(int(min_n), 2)
    base = _base(id, statement, source, unit, control, replication)
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
    if abs(effect) < margin:  # TOST: above the lower edge and below the upper one
        p = max(stats.ttest_1samp(x, target - margin, alternative="greater").pvalue,
                stats.ttest_1samp(x, target + margin, alternative="less").pvalue)
    elif effect >= margin:
        p = stats.ttest_1samp(x, target + margin, alternative="greater").pvalue
    else:
        p = stats.ttest_1samp(x, target - margin, alternative="less").pvalue
    if -margin <= lo and hi <= margin:
        verdict = "reproduced"
    elif hi < -margin or lo > margin:
        verdict = "contradicted"
    else:
        verdict = "inconclusive"
    return Claim(**base, effect=effect, interval=(lo, hi), p=float(min(1.0, 2 * p)), n=n, verdict=verdict,
                 note=_join(note, "the 95% interval straddles the margin" if verdict == "inconclusive" else ""),
                 n_needed=partial(power.equivalence, x, target, margin, (lo + target, hi + target), replication or "values")
                 if verdict == "inconclusive" else None)


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
                resamples: int = 9999, replication: str = "") -> Claim:
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
    base = _base(id, statement, source, unit, control, replication)
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
    return Claim(**base, effect=rho, interval=(lo, hi), p=p, n=n, verdict=verdict, note=_join(note, why),
                 min_p=min_p, n_needed=partial(power.correlation, rho, (lo, hi), n, replication or "pairs")
                 if verdict == "inconclusive" else None)


def against_null(id: str, statement: str, source: str, observed: float, null_samples: Sequence[float],
                 direction: int = +1, unit: str = "", control: str = "", note: str = "", seed: int = 0,
                 replicates: int | None = None, replicate_values: Sequence[float] | None = None,
                 replication: str = "") -> Claim:
    """An observed statistic against samples of the same statistic under a control null.

    The null keeps what sampling alone would produce (e.g. the statistic recomputed with one series
    circularly shifted against the other, or one run's series against another run's: trends kept, the
    alignment broken), so the effect is what the data show beyond it.

    - p = 2·min(p₊, p₋), p₊ = (1 + #{null ≥ observed}) / (1 + N) and p₋ likewise with ≤: the Monte-Carlo
      p value (never 0), two-sided as every claim's p, capped at 1. The smallest attainable p is 2/(N + 1).
    - effect = observed − median(null).
    - interval = [observed − s₍N+1−k₎, observed − s₍k₎] with s the sorted null and k = ⌊(N+1)/40⌋: the
      k-th largest and k-th smallest null sample, the order statistics the p value counts against, so the
      interval excludes 0 above exactly when #{null ≥ observed} ≤ k − 1, i.e. exactly when p₊ ≤ 0.025 (and
      below when p₋ ≤ 0.025). It describes the null's spread, not the sampling error of the observed value.
    - verdict: reproduced when the interval lies on the claimed side of 0 (p ≤ 0.05 with the effect the
      claimed way), contradicted on the other; needs N ≥ 39 null samples, else no p can reach 0.05.
    - n: `replicates` (the independent units behind the observed value, e.g. runs) when given, else N.
      `replicate_values` (one value per replicate, e.g. each run's statistic minus the null's median) let
      `n_needed` estimate how many replicates would decide (a one-sample t approximation, said so).
    `seed` is accepted for a uniform API (nothing here is random).
    """
    direction = _direction(direction)
    base = _base(id, statement, source, unit, control, replication)
    null, dropped = _finite(null_samples)
    note = _join(_dropped_note(dropped, "non-finite null sample"), note)
    obs = _num(observed)
    N = len(null)
    n = N if replicates is None else int(replicates)
    min_p = min(1.0, 2 / (N + 1))
    if obs is None:
        return Claim(**base, n=n, verdict="inconclusive", note=_join("the observed statistic is not finite", note))
    if N < 39:
        return Claim(**base, effect=obs - float(np.median(null)) if N else NAN, n=n, verdict="inconclusive",
                     min_p=min_p, n_needed=power.not_estimable(f"{N} null samples"),
                     note=_join(f"too few null samples: {N} < 39 (the smallest attainable p is 2/(N+1))", note))
    n_above, n_below = int((null >= obs).sum()), int((null <= obs).sum())
    above, below = (1 + n_above) / (1 + N), (1 + n_below) / (1 + N)
    # p+ <= 0.025 <=> 40 (1 + count) <= N + 1 <=> count <= k - 1, k = floor((N + 1) / 40) (integers: no rounding).
    # The interval uses the same order statistics: the k-th largest and k-th smallest null sample, so it
    # excludes 0 on a side exactly when that side's p <= 0.025 (verdict, p and interval cannot disagree).
    k = (N + 1) // 40
    s = np.sort(null)
    q_lo, q_hi = float(s[k - 1]), float(s[N - k])
    lo, hi = obs - q_hi, obs - q_lo
    verdict = _verdict(lo, hi, direction)
    needed = None
    if verdict == "inconclusive":
        needed = (partial(power.t_one_sample, replicate_values, (NAN, NAN), replication or "replicates")
                  if replicate_values is not None else power.not_estimable("no per-replicate values"))
    null_note = f"{N} null samples" + (f"; n = {replication or 'replicates'}" if replicates is not None else
                                        "; n = null samples")
    return Claim(**base, effect=obs - float(np.median(null)), interval=(lo, hi), p=float(min(1.0, 2 * min(above, below))),
                 n=n, verdict=verdict, min_p=min_p, n_needed=needed,
                 note=_join(note, null_note,
                            "the observed value lies within the null's central 95% (one-sided p > 0.025 either way)"
                            if verdict == "inconclusive" else ""))


def _binomial_p(k: int, n: int) -> float:
    """Two-sided exact binomial p at 1/2: twice the smaller tail, capped at 1 (the inversion of the
    Clopper-Pearson interval, so p ≤ 0.05 exactly when that 95% interval excludes 1/2)."""
    return float(min(1.0, 2 * min(stats.binom.sf(k - 1, n, 0.5), stats.binom.cdf(k, n, 0.5))))


def every_run(id: str, statement: str, source: str, values: Sequence[float], threshold: float, unit: str = "",
              note: str = "", control: str = "", replication: str = "runs", seed: int = 0,
              describe: str = "") -> Claim:
    """"Every run reaches `threshold`", tested as every run: the count k of the n runs with a value
    ≥ threshold (a non-finite value — a diverged run — counts as not reaching it: dropping it would select).

    effect = k / n with its exact (Clopper-Pearson) 95% interval.
    - Every run passes (k = n): reproduced when n of n would be rare had runs passed only half the time —
      the interval's lower end above 1/2, p = 2·0.5ⁿ ≤ 0.05, which needs n ≥ 6 — else inconclusive (too few
      runs to tell "every run" from a coin). So the evidence it carries beyond these runs is "a pass rate above
      1/2 at 95%", the floor the note states, not a rate of 1.
    - Some run fails (k < n): contradicted — a counterexample: "every run" does not hold for these runs, at any
      number of claims in the family (p = 0: impossible had every run passed). The note names how many failed
      and the lowest value; `describe` replaces that sentence where the values are flags.
    """
    base = _base(id, statement, source, unit, control, replication)
    v = np.asarray(values, dtype=float).ravel()
    n = len(v)
    if n == 0:
        return _too_few(base, 0, 1, note, replication)
    passed = np.isfinite(v) & (v >= threshold)
    k = int(passed.sum())
    finite = v[np.isfinite(v)]
    lowest = f"lowest {fmt(finite.min())}" if len(finite) else "no finite value"
    bad = int((~np.isfinite(v)).sum())
    ci = stats.binomtest(k, n).proportion_ci(LEVEL)
    lo, hi = float(ci.low), float(ci.high)
    what = describe or f"{k} of {n} {replication} reach {fmt(threshold)} ({lowest})" + (
        f"; {bad} non-finite (diverged), counted as not reaching it" if bad else "")
    floor = "every one passes: evidence of a pass rate above 1/2 at 95%"
    if k < n:
        return Claim(**base, effect=k / n, interval=(lo, hi), p=0.0, n=n, verdict="contradicted",
                     note=_join(what, note, f"{n - k} of {n} {replication} below the threshold: a counterexample, "
                                            "so 'every one' does not hold for these (p = 0)"))
    p = _binomial_p(k, n)
    if lo > 0.5:
        return Claim(**base, effect=1.0, interval=(lo, hi), p=p, n=n, verdict="reproduced", min_p=p,
                     note=_join(what, note, floor))
    return Claim(**base, effect=1.0, interval=(lo, hi), p=p, n=n, verdict="inconclusive", min_p=p,
                 n_needed={"at_estimate": 6, "at_far_end": 6, "text": f"6 {replication}"},
                 note=_join(what, note, f"every one passes, but {n} of {n} is not rare at a pass rate of 1/2 "
                                        f"(p = {fmt_p(p)}): 6 {replication} are needed"))


def _median_interval(d: np.ndarray) -> tuple[float, float]:
    """Distribution-free 95% interval of a median from order statistics: [d₍l₎, d₍n+1−l₎] with the
    largest l such that P(Binomial(n, 1/2) < l) ≤ 0.025 (the inversion of the sign test)."""
    n = len(d)
    s = np.sort(d)
    l = int(stats.binom.ppf(ALPHA / 2, n, 0.5))  # P(X ≤ l - 1) ≤ 0.025 < P(X ≤ l)
    while l >= 1 and stats.binom.cdf(l - 1, n, 0.5) > ALPHA / 2:
        l -= 1
    if l < 1:
        return NAN, NAN
    return float(s[l - 1]), float(s[n - l])


def paired_censored(id: str, statement: str, source: str, a: Sequence[float], b: Sequence[float],
                    a_censored: Sequence[bool], b_censored: Sequence[bool], direction: int = +1, unit: str = "",
                    note: str = "", control: str = "", replication: str = "seeds", seed: int = 0) -> Claim:
    """Paired times to an event, some censored: a > b (direction=+1) or a < b (-1), pair i from one seed.

    A censored value is a lower bound (the event did not happen within the budget; pass the budget as the
    value). The sign of a − b is known unless both are censored or they are equal (a tie): a censored a
    against an uncensored b means a > b. The test is the exact two-sided sign test over the untied pairs
    (no pair dropped for being censored, none given a made-up time). Effect: the median over all pairs of
    log(a / b), censored values at their bound (so a censored pair's log ratio is itself a bound), with
    the distribution-free 95% interval of the median from its order statistics (`_median_interval`).
    Reproduced when the sign test gives p ≤ 0.05 the claimed way and the interval excludes 0 on that side;
    contradicted likewise the other way. Pairs that tie (identical times; both censored) carry no sign:
    with every pair tied the claim is inconclusive, never decided from a zero spread.
    """
    direction = _direction(direction)
    base = _base(id, statement, source, unit, control, replication)
    a, b, ok = _pairs(a, b, "paired_censored", "a", "b")
    ca = np.asarray(a_censored, dtype=bool).ravel()
    cb = np.asarray(b_censored, dtype=bool).ravel()
    if ca.shape != a.shape or cb.shape != b.shape:
        raise ValueError("paired_censored needs one censoring flag per value")
    ok &= (a > 0) & (b > 0)
    dropped = int((~ok).sum())
    a, b, ca, cb = a[ok], b[ok], ca[ok], cb[ok]
    n = len(a)
    sign = np.where(ca & cb, 0, np.where(ca & ~cb, 1, np.where(cb & ~ca, -1, np.sign(a - b)))).astype(int)
    ties, m = int((sign == 0).sum()), int((sign != 0).sum())
    k = int((sign > 0).sum())
    d = np.log(a / b)
    notes = [_dropped_note(dropped, "pair with a non-finite or non-positive value"),
             f"{int(ca.sum())} + {int(cb.sum())} censored (not reached within the budget)" if (ca | cb).any() else "",
             f"{ties} tied pair{'s' if ties != 1 else ''} (equal, or both censored) carr{'y' if ties != 1 else 'ies'} "
             "no sign" if ties else "",
             f"{k} of {m} untied pairs have a > b"]
    note = _join(*notes, note)
    effect = float(np.median(d)) if n else NAN
    if m == 0:
        return Claim(**base, effect=effect, n=n, p=1.0, verdict="inconclusive", min_p=1.0,
                     n_needed=power.not_estimable("every pair is tied"),
                     note=_join(note, "every pair is tied: no pair says which is larger"))
    lo, hi = _median_interval(d)
    p = _binomial_p(k, m)
    by_sign = "inconclusive" if p > ALPHA else ("reproduced" if (k > m / 2) == (direction > 0) else "contradicted")
    by_interval = _verdict(lo, hi, direction)
    verdict = by_sign if by_sign == by_interval else "inconclusive"
    why = "" if verdict != "inconclusive" else (
        f"sign test p = {fmt_p(p)} > 0.05" if by_sign == "inconclusive" else
        "the sign test decides but the interval of the median includes 0 (ties)")
    return Claim(**base, effect=effect, interval=(lo, hi), p=p, n=n, verdict=verdict, min_p=_binomial_p(m, m),
                 n_needed=partial(power.sign_test, max(k, m - k), m, f"untied {replication}") if verdict == "inconclusive"
                 else None, note=_join(note, why))


def _group_ranks(groups, min_points: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """The ranks (x, y) of every group with at least `min_points` finite pairs and no constant side, and
    how many groups were left out."""
    ranks, skipped = [], 0
    for x, y in groups:
        x, y, ok = _pairs(x, y, "within_correlation", "x", "y")
        x, y = x[ok], y[ok]
        if len(x) < min_points or np.ptp(x) == 0 or np.ptp(y) == 0:
            skipped += 1
            continue
        ranks.append((stats.rankdata(x), stats.rankdata(y)))
    return ranks, skipped


def within_rhos(groups, min_points: int = 3) -> np.ndarray:
    """Spearman ρ within each group (a seed) over its finite pairs; NaN for a group with fewer than
    `min_points` pairs or a constant side. The values `within_correlation` tests, for other claims on them
    (an equivalence: 'unrelated')."""
    out = []
    for x, y in groups:
        ranks, skipped = _group_ranks([(x, y)], min_points)
        out.append(float(_rank_corr(*ranks[0])) if ranks else NAN)
    return np.asarray(out)


def beats_every(id: str, statement: str, source: str, best: Sequence[float], others: dict, unit: str = "",
                note: str = "", control: str = "", replication: str = "seeds", min_n: int = 3, seed: int = 0) -> Claim:
    """"`best` is higher than every one of `others`" (e.g. batch 64 against every other batch size), pair i of
    every comparison from the same seed: an intersection-union test. Each comparison is a paired t on
    best − other; the claim holds only if every one does, so its p is the largest of their two-sided p values,
    a comparison the best does not win (mean ≤ 0) counting as 1 — the intersection-union test is exact at its
    level with no correction. Effect and interval: the comparison with the closest competitor (the smallest
    mean difference). Reproduced when every comparison's 95% interval lies above 0 (p ≤ 0.05); contradicted
    when some rival is clearly better — its two-sided p times k (Bonferroni over the k rivals, any of which
    could be the one) ≤ 0.05, and that is the claim's p, the effect and interval then that rival's;
    inconclusive otherwise."""
    base = _base(id, statement, source, unit, control, replication)
    if not others:
        return inconclusive(id, statement, source, "nothing to compare with", unit=unit, control=control,
                            replication=replication)
    pairwise = {name: paired(id, statement, source, best, values, +1, unit=unit, min_n=min_n, replication=replication)
                for name, values in others.items()}
    undecidable = [name for name, c in pairwise.items() if not np.isfinite(c.effect) or not np.isfinite(c.p)]
    if undecidable:
        worst = pairwise[undecidable[0]]
        return Claim(**base, n=worst.n, verdict="inconclusive", n_needed=worst.n_needed,
                     note=_join(f"against {', '.join(map(str, undecidable))}: {worst.note}", note))
    closest = min(pairwise, key=lambda name: pairwise[name].effect)
    c = pairwise[closest]
    k = len(pairwise)
    losses = {name: q for name, q in pairwise.items() if q.effect < 0}
    if all(q.verdict == "reproduced" for q in pairwise.values()):
        verdict, p = "reproduced", max(q.p for q in pairwise.values())
    elif losses and min(q.p for q in losses.values()) * k <= ALPHA:
        # some rival clearly better: the union of k one-sided claims, so its p is Bonferroni's k·p (without the
        # factor, one of k equal rivals beats it by chance about k times as often as the design allows)
        verdict, p = "contradicted", min(1.0, k * min(q.p for q in losses.values()))
        c = losses[min(losses, key=lambda name: losses[name].p)]
    else:
        verdict = "inconclusive"
        p = max(q.p if q.effect > 0 else 1.0 for q in pairwise.values())
    per = ", ".join(f"{name}: {fmt(q.effect)} (p {fmt_p(q.p)})" for name, q in pairwise.items())
    return Claim(**base, effect=c.effect, interval=c.interval, p=float(p), n=c.n, verdict=verdict,
                 n_needed=c.n_needed if verdict == "inconclusive" else None,
                 note=_join(f"closest: {closest}; against each: {per}", note,
                            "not every comparison decides" if verdict == "inconclusive" else ""))


def within_correlation(id: str, statement: str, source: str, groups: Sequence[tuple[Sequence[float], Sequence[float]]],
                       direction: int = +1, unit: str = "mean within-seed Spearman ρ", note: str = "",
                       control: str = "", replication: str = "seeds", min_points: int = 3, seed: int = 0,
                       resamples: int = 9999) -> Claim:
    """x and y rise together (direction=+1) within each independent group (a seed, with its own data order),
    tested over the groups: the unit of replication is the group, not the pooled points.

    Per group, Spearman ρ over its finite pairs (a group with fewer than `min_points` pairs, or a constant
    side, is left out and counted in the note). effect = the mean within-group ρ, with the Student-t 95%
    interval over groups. p: the stratified permutation test of that mean — x permuted within each group
    independently, which is exact under "no relation within a group" whatever the groups' own levels;
    exact over every combination while there are at most `resamples` of them, else `resamples` random ones
    (+1 corrected). Reproduced when p ≤ 0.05 and the interval lies on the claimed side of 0 (when every
    group gives the same ρ the interval is that point, and the permutation p alone carries the spread).
    """
    direction = _direction(direction)
    base = _base(id, statement, source, unit, control, replication)
    ranks, skipped = _group_ranks(groups, min_points)
    note = _join(f"{skipped} group{'s' if skipped != 1 else ''} left out (fewer than {min_points} pairs or a "
                 "constant side)" if skipped else "", note)
    g = len(ranks)
    if g < 2:
        return _too_few(base, g, 2, note, replication)
    rhos = np.array([float(_rank_corr(rx, ry)) for rx, ry in ranks])
    observed = float(rhos.mean())
    counts = [math.factorial(len(rx)) // _ties(rx) for rx, _ in ranks]
    rng = np.random.default_rng(seed)
    if math.prod(counts) <= resamples:  # every combination of within-group arrangements
        per_group = [np.array([_rank_corr(np.asarray(perm, float), ry) for perm in set(itertools.permutations(rx))])
                     for rx, ry in ranks]
        null = np.zeros(1)
        for values in per_group:  # the mean over groups of every combination
            null = (null[:, None] + values[None, :]).ravel()
        null /= g
        exact = True
    else:
        null = np.zeros(resamples)
        for rx, ry in ranks:
            perms = rng.permuted(np.broadcast_to(rx, (resamples, len(rx))), axis=1)
            null += _rank_corr(perms, ry, axis=1)
        null /= g
        exact = False
    tol = 1e-12
    upper, lower = np.sum(null >= observed - tol), np.sum(null <= observed + tol)
    if exact:
        p = min(1.0, 2 * min(upper, lower) / len(null))
        min_p = min(1.0, 2 / len(null))
    else:
        p = min(1.0, 2 * min(1 + upper, 1 + lower) / (1 + resamples))
        min_p = 2 / (1 + resamples)
    if np.ptp(rhos) == 0:
        lo = hi = observed
    else:
        ci = stats.ttest_1samp(rhos, 0.0).confidence_interval(LEVEL)
        lo, hi = max(-1.0, float(ci.low)), min(1.0, float(ci.high))  # a mean of ρ lies in [-1, 1]
    by_interval = "reproduced" if (lo > 0 and direction > 0) or (hi < 0 and direction < 0) else \
        "contradicted" if (hi < 0 and direction > 0) or (lo > 0 and direction < 0) else "inconclusive"
    verdict = by_interval if p <= ALPHA else "inconclusive"
    why = "" if verdict != "inconclusive" else (
        f"at {g} {replication} the smallest attainable p is {fmt_p(min_p)}" if min_p > ALPHA else
        f"permutation p = {fmt_p(p)} > 0.05" if p > ALPHA else "the t interval over groups includes 0")
    per = ", ".join(fmt(r, 2) for r in rhos)
    return Claim(**base, effect=observed, interval=(lo, hi), p=float(p), n=g, verdict=verdict, min_p=min_p,
                 n_needed=partial(power.t_one_sample, rhos, (lo, hi), replication) if verdict == "inconclusive" else None,
                 note=_join(f"ρ per {replication[:-1] if replication.endswith('s') else replication}: {per}; "
                            f"p: permutation within each, {'exact' if exact else f'{resamples} random'}", note, why))


# ----------------------------------------------------------------------------------------------------------
# the family of claims of one report run

def holm(claims: Sequence[Claim | dict], alpha: float = ALPHA) -> list[dict]:
    """Holm's step-down adjustment over a family of claims (every claim of a report run).

    Each claim's p is its own two-sided p; a claim without one enters as 1 (it cannot be decided, and it
    still counts in the family). With the m p values sorted, p₍₁₎ ≤ … ≤ p₍ₘ₎, the adjusted p₍ᵢ₎ is
    max over j ≤ i of min(1, (m − j + 1)·p₍ⱼ₎) — the smallest family-wise level at which Holm's procedure
    would reject that claim, so the chance of any false decision over the family stays ≤ alpha. The adjusted
    verdict is the claim's own verdict when its adjusted p ≤ alpha and it was decided (reproduced or
    contradicted, which carries the effect's sign), else inconclusive. A claim whose smallest attainable p
    (`min_p`: exact permutations at small n, a finite null) is above Holm's first threshold alpha / m says
    how many other claims would have to pass first (`holm_note`), instead of failing silently.

    Returns the claims as dicts with `holm_p`, `holm_verdict`, `holm_note` and `family_size` added.
    """
    rows = [dict(c.as_dict() if isinstance(c, Claim) else c) for c in claims]
    m = len(rows)
    ps = np.array([_num(r.get("p")) if _num(r.get("p")) is not None else 1.0 for r in rows], dtype=float)
    order = np.argsort(ps, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for step, i in enumerate(order):
        running = max(running, min(1.0, (m - step) * ps[i]))
        adjusted[i] = running
    for r, adj in zip(rows, adjusted):
        decided = r.get("verdict") in ("reproduced", "contradicted")
        r["holm_p"] = float(adj)
        r["holm_verdict"] = r["verdict"] if decided and adj <= alpha else "inconclusive"
        r["family_size"] = m
        # Decided on its own, not after Holm: how many replicates would carry it past Holm's first threshold.
        # Not where its smallest attainable p is above that threshold: the floor (a finite null, exact
        # permutations) is what holds it back, and `holm_note` says so.
        floor = _num(r.get("min_p"))
        held_by_floor = floor is not None and floor > alpha / m
        r["n_needed_holm"] = (holm_needed(r.get("p"), r.get("n"), alpha / m, r.get("replication") or "values",
                                          f"{fmt(alpha)}/{m}")
                              if decided and r["holm_verdict"] == "inconclusive" and not held_by_floor else None)
        r["holm_note"] = ""
        if held_by_floor:
            first = math.ceil(m - alpha / floor)  # it passes at step j + 1 only if floor ≤ alpha / (m − j)
            r["holm_note"] = (f"its smallest attainable p ({fmt_p(floor)} at n = {r.get('n')}) is above Holm's first "
                              f"threshold {fmt(alpha)}/{m}: at this n it can pass only after {first} other claim"
                              f"{'s' if first != 1 else ''} of the family pass" if first < m else
                              f"its smallest attainable p ({fmt_p(floor)} at n = {r.get('n')}) is above {fmt(alpha)}: "
                              "it cannot be decided at this n")
    return rows


def holm_needed(p, n, level: float, unit: str, level_text: str) -> dict | None:
    """The n at which a claim's p, at its observed effect, would reach `level` — Holm's first threshold α/m, which a
    claim passes whatever the rest of the family does. A normal approximation: the test statistic grows with √n at
    a fixed effect, so n · (z(level) / z(p))², with z the two-sided normal quantile; at that n the test decides
    about half the time (the effect as observed, not a power target). None without a p or an n."""
    p, n = _num(p), int(n or 0)
    if p is None or not 0 < p < 1 or n < 1:
        return None
    need = math.ceil(n * (stats.norm.isf(level / 2) / stats.norm.isf(p / 2)) ** 2)
    need = max(need, n + 1)  # it is not decided at n, so it needs more
    return {"at_estimate": need, "level": float(level),
            "text": f"about {need} {unit} for an even chance at Holm's first threshold {level_text}, "
                    f"if the effect is as observed"}


def inconclusive(id: str, statement: str, source: str, why: str, n: int = 0, unit: str = "", control: str = "",
                 note: str = "", replication: str = "", n_needed: dict | None = None) -> Claim:
    """A claim this run cannot decide (not measured in this profile, every run diverged, ...): says why."""
    return Claim(id=id, statement=statement, source=source, unit=unit, n=int(n), verdict="inconclusive",
                 note=_join(why, note), control=control, replication=replication,
                 n_needed=n_needed or power.not_estimable(why))


def needed_text(d: dict) -> str:
    """'5–12 seeds' for an inconclusive claim with an n_needed estimate; for one decided on its own but not after
    Holm, the n that would pass Holm's first threshold (`n_needed_holm`), or why its smallest attainable p cannot
    (`holm_note`); '' otherwise."""
    if d.get("verdict") == "inconclusive":
        return (d.get("n_needed") or {}).get("text", "")
    if d.get("holm_verdict") == "inconclusive":
        return (d.get("n_needed_holm") or {}).get("text", "") or d.get("holm_note", "")
    return ""


def table(claims: Sequence[Claim | dict]):
    """The claims as a pandas DataFrame (statement, source, effect [interval] unit, p, n, verdict, what
    would decide it, note; Holm's adjusted p and verdict when the claims went through `holm`)."""
    import pandas as pd
    rows = []
    for c in claims:
        d = c.as_dict() if isinstance(c, Claim) else dict(c)
        row = {"claim": d.get("statement", ""), "source": d.get("source", ""), "this run": effect_text(d),
               "p": fmt_p(d.get("p")), "n": d.get("n", 0), "verdict": d.get("verdict", ""),
               "n needed": needed_text(d), "note": d.get("note", ""), "control": d.get("control", ""),
               "id": d.get("id", "")}
        if "holm_p" in d:
            row.update({"Holm p": fmt_p(d["holm_p"]), "after Holm": d.get("holm_verdict", "")})
        rows.append(row)
    return pd.DataFrame(rows)


COLOURS = {"reproduced": "#2a7a3a", "contradicted": "#c0392b", "inconclusive": "#808080"}


def html_table(claims: Sequence[Claim | dict]) -> str:
    """The claims as an HTML table, verdicts coloured (green / red / grey)."""
    import html as _html
    head = "".join(f"<th style='text-align:left'>{h}</th>" for h in
                   ("claim", "source", "this run: effect [95% interval]", "p", "n", "verdict", "n needed", "note"))
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
                 f"{_html.escape(v)}</b>", _html.escape(needed_text(d)), _html.escape(note)]
        body.append("<tr>" + "".join(f"<td style='text-align:left'>{x}</td>" for x in cells) + "</tr>")
    return f"<table class='claims'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
