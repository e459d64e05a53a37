"""The report's gradient-norm observation as a measure: does the loss oscillate more where the gradient
norm is larger? And the null that breaks only the pairing of a run with itself.

Each run is cut into non-overlapping windows of `window` iterations; per window, the mean gradient norm and
the standard deviation of the batch losses in it. Both fall as training goes on, so within a run they are
correlated by their trends alone — and a run's trend has its own timing (one run drops early, another late),
which a null built from other runs would not keep. So each series is first detrended within its run: the
log of each window's value against the log of a running median over `span` windows around it. Then
M[i, j] = Spearman ρ of run i's detrended gradient norms against run j's detrended loss spreads.

The statistic is the mean of M[i, π(i)] for the identity π; its null is the same mean over every
permutation π of the runs (all R! of them, the identity and permutations with fixed points included: under
"no pairing-specific link" any assignment of loss series to gradient series is as likely as the observed
one, so the full permutation group is the exact reference — a reference of derangements only is narrower
than the spread of the diagonal, and calls noise a result too often), or a random sample of them when
there are too many.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import stats
from scipy.ndimage import median_filter

SPAN = 7  # windows in the running median that takes out each run's own trend


def windows(grad_norm, loss, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean gradient norm, standard deviation of the batch losses) of each non-overlapping window of
    `window` iterations; a last partial window is dropped, so every window holds as many iterations."""
    g, l = np.asarray(grad_norm, dtype=float), np.asarray(loss, dtype=float)
    if g.shape != l.shape:
        raise ValueError(f"one gradient norm per loss: {g.shape} vs {l.shape}")
    if window < 2:
        raise ValueError(f"a window needs at least 2 iterations to have a spread, got {window}")
    k = len(g) // window
    g, l = g[:k * window].reshape(k, window), l[:k * window].reshape(k, window)
    return g.mean(axis=1), l.std(axis=1, ddof=1)


def detrend(values, span: int = SPAN) -> np.ndarray:
    """log(value) − log(running median of the values over `span` windows around it; nearest at the ends):
    each window against its run's own trend at that point."""
    v = np.log(np.maximum(np.asarray(values, dtype=float), np.finfo(float).tiny))
    return v - median_filter(v, size=min(span, len(v)), mode="nearest")


def cross_run_matrix(runs, window: int, span: int = SPAN) -> np.ndarray:
    """M[i, j] = Spearman ρ of run i's detrended window gradient norms against run j's detrended window loss
    spreads, over the windows all runs have. `runs` is a list of (grad_norm, loss) per run. Fewer than 3
    windows (runs too short for the window) give a matrix of NaN: no rank correlation, and the claim says so."""
    stats_per_run = [windows(g, l, window) for g, l in runs]
    k = min((len(means) for means, _ in stats_per_run), default=0)
    if k < 3:
        return np.full((len(runs), len(runs)), np.nan)
    g = np.stack([stats.rankdata(detrend(means[:k], span)) for means, _ in stats_per_run])
    s = np.stack([stats.rankdata(detrend(spread[:k], span)) for _, spread in stats_per_run])
    g, s = g - g.mean(1, keepdims=True), s - s.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (g @ s.T) / np.sqrt((g ** 2).sum(1)[:, None] * (s ** 2).sum(1)[None, :])


def permutations(n: int, limit: int = 9999, seed: int = 0) -> tuple[np.ndarray, bool]:
    """Every permutation of range(n) when there are at most `limit` (n ≤ 7), the identity first; else the
    identity and `limit` drawn at random. ([count, n], exact)."""
    if math.factorial(n) <= limit:
        return np.array(list(itertools.permutations(range(n))), dtype=int), True
    rng = np.random.default_rng(seed)
    drawn = rng.permuted(np.broadcast_to(np.arange(n), (limit, n)), axis=1)
    return np.vstack([np.arange(n)[None, :], drawn]), False


def cross_run_null(matrix) -> dict:
    """The observed statistic (mean over runs of M[i, i]) and its permutation null: the mean of M[i, π(i)] for
    every permutation π but the identity (exact) or for random ones. With the +1 of `claims.against_null`,
    p = (1 + #{null ≥ observed}) / (1 + N) is then exactly #{π : T(π) ≥ T(id)} / R! over the whole group.
    Also each run's excess M[i, i] − mean over j ≠ i of M[i, j] (the per-run values behind n_needed)."""
    m = np.asarray(matrix, dtype=float)
    r = len(m)
    if r < 2:
        raise ValueError("a cross-run null needs at least 2 runs")
    perms, exact = permutations(r)
    null = m[np.arange(r)[None, :], perms[1:]].mean(axis=1)  # the identity is the observed value itself
    off = (m.sum(axis=1) - np.diag(m)) / (r - 1)
    return {"observed": float(np.mean(np.diag(m))), "null": null, "excess": np.diag(m) - off, "exact": exact}
