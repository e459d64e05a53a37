"""1-3 Number of parameters vs generalisation: one model family over a range of widths."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..models import count_params, image_mlp
from ..plots import metric_vs_params, save_fig
from ..training import compile_classifier, evaluate, fit
from .common import fmt, image_data, spearman


def run(P) -> dict:
    train, test = image_data(P)
    models = []
    for width in P.widths:
        model = compile_classifier(image_mlp(train[0].shape[1:], [width, width], name=f"width_{width}"),
                                   "adam", P.learning_rate)
        h = fit(model, train, None, P.epochs, P.batch_size, label=f"width {width}")
        tr, te = evaluate(model, *train), evaluate(model, *test)
        models.append({"width": width, "params": count_params(model), "train_loss": tr["loss"],
                       "train_accuracy": tr["accuracy"], "test_loss": te["loss"], "test_accuracy": te["accuracy"],
                       "diverged": h["diverged"]})
    return {"family": "Flatten → Dense(n) → Dense(n) → Dense(10, softmax)", "models": models}


def plot(P, results) -> None:
    ms = [m for m in results["models"] if not m["diverged"]]
    params = [m["params"] for m in ms]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    metric_vs_params(params, {"train": [m["train_loss"] for m in ms], "test": [m["test_loss"] for m in ms]},
                     "loss", ax=axes[0])
    metric_vs_params(params, {"train": [m["train_accuracy"] for m in ms], "test": [m["test_accuracy"] for m in ms]},
                     "accuracy", ax=axes[1])
    metric_vs_params(params, {"test − train loss": [m["test_loss"] - m["train_loss"] for m in ms]},
                     "generalisation gap", ax=axes[2])
    fig.suptitle(results["family"])
    fig.tight_layout()
    save_fig(fig, P, "parameters")
    plt.show()


def findings(results) -> list[str]:
    ms = [m for m in results["models"] if not m["diverged"]]
    if len(ms) < 2:
        return ["Too few models trained without diverging to compare."]
    gap = [m["test_loss"] - m["train_loss"] for m in ms]
    rho = spearman([m["params"] for m in ms], gap)
    best = max(ms, key=lambda m: m["test_accuracy"])
    return [f"Best test accuracy: width {best['width']} ({best['params']} parameters) with {best['test_accuracy']:.1%}.",
            f"Generalisation gap (test − train loss) from {fmt(gap[0])} at {ms[0]['params']} parameters to "
            f"{fmt(gap[-1])} at {ms[-1]['params']}; Spearman(parameters, gap) = {fmt(rho, 2)}: the report's claim "
            f"(more parameters, larger gap) " + ("could not be tested (too few models)" if not np.isfinite(rho)
                                                 else "held" if rho > 0 else "did not hold") + " in this run.",
            f"Training accuracy of the largest model: {ms[-1]['train_accuracy']:.1%}; test {ms[-1]['test_accuracy']:.1%}."]
