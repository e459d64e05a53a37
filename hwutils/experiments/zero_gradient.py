"""1-2 What happens when the gradient is almost zero: minimal ratio against loss at critical points."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..ensemble import Ensemble
from ..measures import ratio_near_zero, ratio_of_positive
from ..plots import save_fig
from .common import fmt, spearman
from .simulate_function import samples


def run(P) -> dict:
    x, y = samples("sinc", P.n_points)
    ens = Ensemble(P.widths, P.runs, learning_rate=P.learning_rate, seed=P.seed)
    ens.fit(x, y, P.epochs, P.batch_size, shuffle_seed=P.seed, label="ordinary training")
    phase = ens.minimize_gradient_norm(x, y, steps=P.grad_steps, tol=P.grad_tol, learning_rate=P.grad_learning_rate)
    hessians = ens.hessians(x, y)
    eigenvalues = np.linalg.eigvalsh(hessians)  # [runs, P], ascending
    runs = []
    for m in range(P.runs):
        runs.append({"seed": m, "loss": phase["loss"][m], "grad_norm": phase["grad_norm"][m],
                     "minimal_ratio": ratio_of_positive(eigenvalues[m], P.rtol),
                     "near_zero_fraction": ratio_near_zero(eigenvalues[m], P.rtol),
                     "converged": bool(phase["converged"][m]) and not ens.diverged[m],
                     "diverged": bool(ens.diverged[m]), "grad_steps": phase["steps"][m]})
    ok = [r for r in runs if r["converged"]]
    return {"widths": P.widths, "params": ens.n_params, "runs": runs,
            "converged_fraction": len(ok) / len(runs),
            "spearman": spearman([r["loss"] for r in ok], [r["minimal_ratio"] for r in ok]),
            "spearman_all": spearman([r["loss"] for r in runs], [r["minimal_ratio"] for r in runs]),
            "spectra": {str(m): eigenvalues[m] for m in _few(runs)}}


def _few(runs, k: int = 4) -> list[int]:
    """A few runs to show the spectrum of: lowest, highest and middle loss among the converged."""
    pool = sorted((r for r in runs if r["converged"]) or runs, key=lambda r: r["loss"])
    picks = {pool[0]["seed"], pool[-1]["seed"], pool[len(pool) // 2]["seed"], pool[len(pool) // 4]["seed"]}
    return sorted(picks)[:k]


def plot(P, results) -> None:
    fig, (ax, ax_spec) = plt.subplots(1, 2, figsize=(12, 4.5))
    runs = results["runs"]
    loss = np.array([r["loss"] for r in runs])
    ratio = np.array([r["minimal_ratio"] for r in runs])
    gnorm = np.log10(np.maximum([r["grad_norm"] for r in runs], 1e-12))
    ok = np.array([r["converged"] for r in runs])
    vmin, vmax = gnorm.min(), gnorm.max()
    sc = ax.scatter(loss[ok], ratio[ok], c=gnorm[ok], cmap="viridis", vmin=vmin, vmax=vmax, label="converged")
    if (~ok).any():
        ax.scatter(loss[~ok], ratio[~ok], c=gnorm[~ok], cmap="viridis", vmin=vmin, vmax=vmax, marker="x",
                   label=f"not below tolerance ({int((~ok).sum())})")
    fig.colorbar(sc, ax=ax, label="log10 final gradient norm")
    ax.set(xscale="log", xlabel="loss", ylabel="minimal ratio (fraction of λ > 0)",
           title=f"{len(runs)} runs, Spearman (converged) = {fmt(results['spearman'], 2)}")
    ax.legend()
    for key, eig in results["spectra"].items():
        eig = np.asarray(eig)
        ax_spec.plot(np.arange(len(eig)), eig, ".", ms=3, label=f"run {key} (loss {fmt(runs[int(key)]['loss'])})")
    ax_spec.set_yscale("symlog", linthresh=1e-6)
    ax_spec.set(xlabel="eigenvalue index (ascending)", ylabel="Hessian eigenvalue",
                title="Spectra: a large bulk sits near zero")
    ax_spec.legend(fontsize=8)
    fig.tight_layout()
    save_fig(fig, P, "minimal_ratio")
    plt.show()


def findings(results) -> list[str]:
    runs = results["runs"]
    ok = [r for r in runs if r["converged"]]
    lines = [f"{len(ok)} of {len(runs)} runs ({results['converged_fraction']:.0%}) brought the gradient norm below "
             f"the tolerance; the others are shown as crosses and left out of the correlation."]
    if ok:
        ratios = np.array([r["minimal_ratio"] for r in ok])
        near = np.array([r["near_zero_fraction"] for r in ok])
        lines.append(f"Minimal ratio at the converged points: {ratios.min():.2f} to {ratios.max():.2f} "
                     f"(median {np.median(ratios):.2f}); a median {np.median(near):.0%} of the eigenvalues are "
                     f"near zero (|λ| ≤ rtol·max|λ|).")
    rho = results["spearman"]
    if np.isfinite(rho):
        verdict = ("lower loss went with a higher minimal ratio (more positive curvature), as Dauphin et al. predict"
                   if rho < -0.1 else "lower loss did not go with a higher minimal ratio" if rho > 0.1
                   else "loss and minimal ratio were not clearly related, as the report also found")
        lines.append(f"Spearman correlation of loss and minimal ratio over the converged runs: {rho:.2f}: {verdict}.")
    else:
        lines.append("Too few converged runs for a correlation.")
    return lines
