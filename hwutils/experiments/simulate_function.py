"""1-1 Simulate a function: three networks of (almost) equal parameter count and different depth."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..ensemble import Ensemble, fit_group
from ..models import REPORT_FUNCTION_MODELS, dense_params
from ..plots import WIDE, band, predictions, save_fig
from .common import fmt, held

TARGETS = {
    "sinc": ("sin(5πx)/(5πx)", lambda x: np.sinc(5 * x), (0.0, 1.0)),
    "xcosx": ("x·cos(x)", lambda x: x * np.cos(x), (0.0, 5.0)),
}


def samples(target: str, n: int):
    """n evenly spaced points of the target on its interval ((0, 1] for sinc: x = 0 is excluded)."""
    _, fn, (lo, hi) = TARGETS[target]
    x = np.linspace(lo, hi, n + 1)[1:] if target == "sinc" else np.linspace(lo, hi, n)
    return x[:, None].astype(np.float32), fn(x)[:, None].astype(np.float32)


def run(P) -> dict:
    x, y = samples(P.target, P.n_points)
    archs = REPORT_FUNCTION_MODELS[P.target]
    ensembles = [Ensemble(widths, P.seeds_per_model, optimizer=P.optimizer, learning_rate=P.learning_rate,
                          seed=P.seed * 100 + i) for i, widths in enumerate(archs.values())]
    # All three architectures see the same batches, in one compiled program.
    histories = fit_group(ensembles, x, y, P.epochs, P.batch_size, shuffle_seed=P.seed,
                          label=" / ".join(archs))
    models = []
    for (name, widths), ens, hist in zip(archs.items(), ensembles, histories):
        final = ens.losses(x, y)
        final = np.where(ens.diverged, np.nan, final)
        pred = ens.predict(x)[:, :, 0]
        ok = np.flatnonzero(np.isfinite(final))
        best = int(ok[np.argmin(final[ok])]) if ok.size else 0
        seeds = [{"seed": int(m), "loss": hist["loss"][:, m], "final_loss": final[m], "diverged": bool(ens.diverged[m])}
                 for m in range(P.seeds_per_model)]
        models.append({
            "name": name, "widths": widths, "depth": len(widths) - 2, "params": dense_params(widths),
            "final_loss": float(np.nanmedian(final)) if ok.size else float("nan"),
            "loss": np.nanmedian(np.where(ens.diverged[None], np.nan, hist["loss"]), axis=1),
            "best_seed": best, "seeds": seeds, "diverged": int(ens.diverged.sum()),
            "prediction_best": pred[best], "prediction_min": np.nanmin(pred[ok], 0) if ok.size else pred[0],
            "prediction_max": np.nanmax(pred[ok], 0) if ok.size else pred[0],
        })
    return {"target": P.target, "x": x[:, 0], "y": y[:, 0], "models": models}


def plot(P, results) -> None:
    fig, ax = plt.subplots(figsize=WIDE)
    for m in results["models"]:
        runs = np.array([s["loss"] for s in m["seeds"] if not s["diverged"]])
        label = f"{m['name']} (depth {m['depth']}, {m['params']} params)"
        if len(runs):
            band(ax, np.arange(1, runs.shape[1] + 1), runs, label=label, log=True)
    ax.set(xlabel="epoch", ylabel="training loss (MSE)", yscale="log",
           title=f"Training loss, {TARGETS[results['target']][0]}: geometric mean and range over seeds")
    ax.legend()
    save_fig(fig, P, "loss")
    plt.show()

    fig, ax = plt.subplots(figsize=WIDE)
    predictions(ax, results["x"], results["y"], {f"{m['name']} (best seed)": m["prediction_best"]
                                                 for m in results["models"]},
                title="Predictions against the ground truth (bands: range over seeds)")
    for i, m in enumerate(results["models"]):
        ax.fill_between(results["x"], m["prediction_min"], m["prediction_max"], color=f"C{i}", alpha=0.15)
    save_fig(fig, P, "predictions")
    plt.show()


def epochs_to_reach(curve, level: float):
    hit = np.flatnonzero(np.asarray(curve) <= level)
    return int(hit[0]) + 1 if hit.size else None


def findings(results) -> list[str]:
    models = [m for m in results["models"] if np.isfinite(m["final_loss"])]
    lines = []
    for m in results["models"]:
        if m["diverged"]:
            lines.append(f"{m['name']}: {m['diverged']} of {len(m['seeds'])} seeds diverged and are left out.")
    if len(models) < 2:
        return lines + ["Too few models trained without diverging to compare."]
    ranked = sorted(models, key=lambda m: m["final_loss"])
    best, worst = ranked[0], ranked[-1]
    lines.append(f"Lowest final training loss: {best['name']} (depth {best['depth']}, {best['params']} parameters), "
                 f"median {fmt(best['final_loss'])} over seeds; {fmt(worst['final_loss'] / best['final_loss'])}× "
                 f"lower than {worst['name']} ({fmt(worst['final_loss'])}).")
    level = max(m["loss"][-1] for m in models)
    reach = {m["name"]: epochs_to_reach(m["loss"], level) for m in models}
    lines.append("Epochs to first reach the worst model's last epoch loss (" + fmt(level) + "): " +
                 ", ".join(f"{k} {v}" for k, v in reach.items()) + ".")
    deepest = max(models, key=lambda m: m["depth"])
    earliest = min((m for m in models if reach[m["name"]] is not None), key=lambda m: reach[m["name"]])
    claim = deepest is best and earliest is deepest
    lines.append(f"The report's claim (the deeper model drops its loss earlier and lower) {held(claim)} in this run: "
                 f"lowest final loss by {best['name']}, earliest descent by {earliest['name']}.")
    return lines
