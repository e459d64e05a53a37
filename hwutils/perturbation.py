"""The report's noise-perturbation bonus, read two ways that can come out either way.

L(θ + σn) − L(θ) = σ·gᵀn + ½σ²·nᵀHn + O(σ³) for a standard normal n, g = ∇L, H = ∇²L.

- A single draw's change is dominated by the first-order term σ·gᵀn at small σ wherever g ≠ 0: its size
  grows as σ¹ (the report saw "about linear"), and as σ² only at a critical point. `single_draw_slope`
  measures that slope on the median |Δ| of single draws.
- The two terms are about equal at σ* = 2‖g‖ / |tr H| (the first-order term's root mean square σ‖g‖
  against the second-order term's mean ½σ²·tr H): below σ* the loss change is first order — θ is not a
  critical point at that scale — and above it second order. `critical_scale` gives σ*.

(The mean over antithetic pairs, [L(θ+σn) + L(θ−σn)]/2 − L(θ) = ½σ²·nᵀHn + O(σ⁴), cancels the first-order
term at any θ: its slope is 2 by construction — a measure of curvature, `landscape.perturbation_slope`,
not evidence of a minimum.)
"""
from __future__ import annotations

from typing import Mapping

import numpy as np


def single_draw_slope(curve: Mapping, base: float, points: int = 3) -> dict:
    """Least-squares slope of log(median |L(θ + σn) − L(θ)|) over single draws against log σ, over the
    `points` smallest positive σ of a `landscape.perturbation_curve` (antithetic draws count one by one:
    each is a single draw). NaN when a median is 0 (the loss did not move) or fewer than 2 σ remain.
    Returns {"slope", "intercept", "sigmas", "median_abs_delta"}."""
    sig = np.asarray(curve["sigma"], dtype=float)
    use = [i for i in np.argsort(sig) if sig[i] > 0][:points]
    med = np.array([np.median(np.abs(np.asarray(curve["losses"][i], dtype=float) - base)) for i in use])
    out = {"sigmas": sig[use].tolist(), "median_abs_delta": med.tolist()}
    if len(use) < 2 or not np.all(med > 0):
        return {**out, "slope": float("nan"), "intercept": float("nan")}
    slope, intercept = np.polyfit(np.log(sig[use]), np.log(med), 1)
    return {**out, "slope": float(slope), "intercept": float(intercept)}


def critical_scale(grad_norm: float, trace: float) -> float:
    """σ* = 2‖∇L‖ / |tr H|: the noise scale below which the first-order change of the loss is the larger
    (inf when tr H = 0: the second-order term never takes over)."""
    trace = abs(float(trace))
    return float("inf") if trace == 0 else 2.0 * float(grad_norm) / trace
