"""The report's gradient-norm observation as a measure: does the loss oscillate more where the gradient
norm is larger? And the null that keeps both trends.

Both the gradient norm and the loss spread fall as training goes on, so within one run they are
correlated by their trends alone. The statistic is computed over non-overlapping windows of `window`
iterations (each window's mean gradient norm against the standard deviation of the batch losses in it),
and its null pairs run i's gradient norms with run j's loss spreads (i ≠ j): the same task, the same
trend, an independent run, so the pairing of one run with itself is all that is broken. The null
samples are the mean over runs of such cross pairs for every derangement of the runs (every
permutation without a fixed point), or a random sample of them when there are too many.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats


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


def cross_run_matrix(runs, window: int) -> np.ndarray:
    """M[i, j] = Spearman ρ of run i's window gradient norms against run j's window loss spreads, over
    the windows all runs have. `runs` is a list of (grad_norm, loss) per run. Fewer than 3 windows (runs
    too short for the window) give a matrix of NaN: no rank correlation, and the claim says so."""
    stats_per_run = [windows(g, l, window) for g, l in runs]
    k = min((len(means) for means, _ in stats_per_run), default=0)
    if k < 3:
        return np.full((len(runs), len(runs)), np.nan)
    g = np.stack([stats.rankdata(means[:k]) for means, _ in stats_per_run])
    s = np.stack([stats.rankdata(spread[:k]) for _, spread in stats_per_run])
    g, s = g - g.mean(1, keepdims=True), s - s.mean(1, keepdims=True)
    return (g @ s.T) / np.sqrt((g ** 2).sum(1)[:, None] * (s ** 2).sum(1)[None, :])


def derangements(n: int, limit: int = 9999, seed: int = 0) -> np.ndarray:
    """Permutations of range(n) with no fixed point: all of them when there are at most `limit`
    (n ≤ 8: 14833 at n = 8 is over the default, so n ≤ 7), else `limit` drawn at random (with replacement,
    by rejection: about 1 in e permutations qualifies). [count, n]."""
    total = _subfactorial(n)
    if total <= limit:
        import itertools
        return np.array([p for p in itertools.permutations(range(n)) if all(i != v for i, v in enumerate(p))],
                        dtype=int).reshape(-1, n)
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < limit:
        p = rng.permuted(np.broadcast_to(np.arange(n), (limit, n)), axis=1)
        out.extend(p[(p != np.arange(n)).all(axis=1)])
    return np.array(out[:limit])


def _subfactorial(n: int) -> int:
    return round(math.factorial(n) / math.e) if n > 0 else 1


def cross_run_null(matrix) -> dict:
    """The observed statistic (mean over runs of M[i, i]) and its cross-run null (the mean of M[i, π(i)]
    for every derangement π), with each run's excess M[i, i] − mean over j ≠ i of M[i, j]."""
    m = np.asarray(matrix, dtype=float)
    r = len(m)
    if r < 2:
        raise ValueError("a cross-run null needs at least 2 runs")
    perms = derangements(r)
    null = m[np.arange(r)[None, :], perms].mean(axis=1)
    off = (m.sum(axis=1) - np.diag(m)) / (r - 1)
    return {"observed": float(np.mean(np.diag(m))), "null": null, "excess": np.diag(m) - off,
            "exact": len(perms) == _subfactorial(r)}
