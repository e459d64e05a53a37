"""1-2 Observe the gradient norm during training, on the 1-D function and on the image task."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..ensemble import Ensemble
from ..models import REPORT_FUNCTION_MODELS
from ..plots import save_fig
from .common import fmt, image_data, spearman
from .simulate_function import samples


def _trace(ens, x, y, epochs, batch_size, seed, label) -> dict:
    hist = ens.fit(x, y, epochs, batch_size, shuffle_seed=seed, record_steps=True, label=label)
    return {"iterations": np.arange(1, len(hist["step_loss"]) + 1), "grad_norm": hist["step_grad_norm"][:, 0],
            "loss": hist["step_loss"][:, 0], "epoch_loss": hist["loss"][:, 0], "diverged": bool(hist["diverged"][0])}


def run(P) -> dict:
    x, y = samples("sinc", P.n_points)
    widths = REPORT_FUNCTION_MODELS["sinc"]["deep"]
    function = _trace(Ensemble(widths, 1, learning_rate=P.learning_rate, seed=P.seed), x, y, P.function_epochs,
                      P.batch_size, P.seed, "function task")
    (xi, yi), _ = image_data(P, flat=True)
    image_widths = [xi.shape[1], 32, 10]
    image = _trace(Ensemble(image_widths, 1, loss="sparse_categorical_crossentropy", learning_rate=P.learning_rate,
                            seed=P.seed), xi, yi, P.image_epochs, P.batch_size, P.seed, "image task")
    return {"function": {"model": widths, **function}, "image": {"model": image_widths, "dataset": P.dataset, **image}}


def plot(P, results) -> None:
    fig, axes = plt.subplots(2, 2, figsize=(12, 6), sharex="col")
    for col, task in enumerate(("function", "image")):
        r = results[task]
        axes[0, col].plot(r["iterations"], r["grad_norm"], lw=0.8)
        axes[0, col].set(ylabel="gradient norm", yscale="log", title=f"{task} task {r['model']}")
        axes[1, col].plot(r["iterations"], r["loss"], lw=0.8, color="C1")
        axes[1, col].set(ylabel="batch loss", yscale="log", xlabel="iteration")
    fig.tight_layout()
    save_fig(fig, P, "grad_norm")
    plt.show()


def fluctuation(loss) -> np.ndarray:
    """|log L(t+1) − log L(t)|: how much the loss jumps at each step."""
    return np.abs(np.diff(np.log(np.asarray(loss))))


def findings(results) -> list[str]:
    lines = []
    for task in ("function", "image"):
        r = results[task]
        if r["diverged"]:
            lines.append(f"{task} task: training diverged; no conclusion drawn.")
            continue
        g, loss = np.asarray(r["grad_norm"]), np.asarray(r["loss"])
        rho_level = spearman(g, loss)
        rho_jump = spearman(g[:-1], fluctuation(loss))
        lines.append(f"{task} task: the gradient norm went from {fmt(g[0])} to {fmt(g[-1])} over {len(g)} iterations "
                     f"while the batch loss went from {fmt(loss[0])} to {fmt(loss[-1])}; Spearman(gradient norm, loss) "
                     f"= {fmt(rho_level, 2)}, Spearman(gradient norm, size of the next loss jump) = {fmt(rho_jump, 2)} — "
                     + ("larger gradient norms went with larger loss oscillation, as the report observed."
                        if rho_jump > 0.1 else "no clear link between gradient norm and loss oscillation this run."))
    return lines
