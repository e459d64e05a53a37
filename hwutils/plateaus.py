"""Where training slowed to a plateau, and whether it was a saddle there (report 1-2: "training did not seem
to meet a saddle point").

A plateau is a recorded point of a run (a weight snapshot) where the full-batch gradient norm is a local
minimum — lower than at the snapshots either side — and below `fraction` × its value at the first snapshot.
A saddle met there means negative curvature: eigenvalues of the exact Hessian below −τ, the band of
`measures.critical_point_spectrum` (the rounding of the eigensolver and the curvature the remaining gradient
puts on the ReLU rescaling directions), computed in float64 on a float64 copy of the network. The index —
the fraction of eigenvalues below −τ — is 0 where the plateau shows no saddle.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def find(grad_norms: Sequence[float], fraction: float) -> list[int]:
    """Indices of the plateaus in a run's gradient norms at its snapshots: local minima (strictly below the
    previous value and not above the next; the last snapshot needs only the first) below fraction × the
    first value."""
    g = np.asarray(grad_norms, dtype=float)
    if len(g) < 2:
        return []
    limit = fraction * g[0]
    out = []
    for i in range(1, len(g)):
        falling_into = g[i] < g[i - 1]
        not_rising_out = i == len(g) - 1 or g[i] <= g[i + 1]
        if falling_into and not_rising_out and g[i] < limit:
            out.append(i)
    return out


def examine(widths: Sequence[int], thetas: Sequence[np.ndarray], x, y, fraction: float, most: int = 3,
            loss: str = "mse") -> dict:
    """The plateaus of one run of the dense ReLU chain `widths` (its flat weights θ at each snapshot) on the
    full data (x, y): the gradient norm at every snapshot (float64), the plateaus (`find`), and at the `most`
    lowest of them the exact Hessian's spectrum against the band τ.

    Returns {"grad_norms": [snapshots], "found": how many plateaus the run has, "plateaus": [{"snapshot",
    "grad_norm", "index", "negative", "tau", "smallest"}] for the examined ones} — "negative": how many
    eigenvalues lie below −τ, "smallest": the lowest one."""
    from . import backend
    with backend.float64():  # the float64 twin exists on JAX inside this scope (hwutils.backend)
        from . import measures
        from .models import dense_chain
        from .objective import unflatten
        twin = dense_chain(list(widths), dtype="float64")
        twin.compile(loss=loss)
        x64, y64 = np.asarray(x, np.float64), np.asarray(y, np.float64)
        obj = measures.objective(twin)
        norms = []
        for theta in thetas:
            twin.set_weights(unflatten(np.asarray(theta, np.float64), twin.get_weights()))
            norms.append(float(measures.gradient_norm(twin, x64, y64)))
        every = find(norms, fraction)
        found = sorted(every, key=lambda i: norms[i])[:most]
        plateaus = []
        for i in sorted(found):
            theta = np.asarray(thetas[i], np.float64)
            twin.set_weights(unflatten(theta, twin.get_weights()))
            _, grad = obj.loss_and_gradient(x64, y64)
            spectrum = measures.critical_point_spectrum(measures.hessian(twin, x64, y64), grad, theta, list(widths))
            eig = spectrum["eigenvalues"]
            plateaus.append({"snapshot": i, "grad_norm": norms[i], "index": spectrum["index"],
                             "negative": int(np.sum(eig < -spectrum["tau"])), "tau": spectrum["tau"],
                             "smallest": float(eig[0])})
        return {"grad_norms": norms, "found": len(every), "plateaus": plateaus}
