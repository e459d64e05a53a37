"""Small helpers the experiment modules share."""
from __future__ import annotations

import numpy as np

from ..data import load_subset


def image_data(P, flat: bool = False):
    """The run's dataset as ((x_train, y_train), (x_test, y_test)), stratified subsets."""
    (x_tr, y_tr), (x_te, y_te) = load_subset(P.dataset, P.n_train, P.n_test, seed=P.seed)
    if flat:
        x_tr, x_te = x_tr.reshape(len(x_tr), -1), x_te.reshape(len(x_te), -1)
    return (x_tr, y_tr), (x_te, y_te)


def spearman(a, b) -> float:
    """Spearman rank correlation, NaN when undefined (fewer than 3 finite pairs or a constant)."""
    from scipy.stats import spearmanr
    a, b = np.asarray(a, float), np.asarray(b, float)
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3 or np.ptp(a[keep]) == 0 or np.ptp(b[keep]) == 0:
        return float("nan")
    return float(spearmanr(a[keep], b[keep]).statistic)


def fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}g}"


def held(flag: bool) -> str:
    return "held" if flag else "did not hold"
