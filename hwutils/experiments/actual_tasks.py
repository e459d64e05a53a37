"""1-1 Train on actual tasks: conv -> pool -> k dense hidden layers at equal parameter count."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..models import conv_dense, conv_front, count_params, solve_widths
from ..plots import history_panels, save_fig
from ..training import compile_classifier, final, fit
from .common import fmt, held, image_data  # noqa: F401  (image_data: used by the notebook)

# The conv front and the parameter count of every model, per dataset: the report's counts for
# CIFAR-10 (≈28k) and MNIST (≈3.2k); digits (8x8) gets a count scaled to its size.
FRONTS = {
    "cifar10": {"filters": 16, "pool": 4, "target": 28000},
    "mnist": {"filters": 4, "pool": 4, "target": 3200},
    "fashion_mnist": {"filters": 4, "pool": 4, "target": 3200},
    "digits": {"filters": 8, "pool": 2, "target": 2000},
}


def architectures(P, input_shape) -> list[dict]:
    front = FRONTS[P.dataset]
    target = P.target_params or front["target"]
    _, flat, conv_params = conv_front(input_shape, front["filters"], pool=front["pool"])
    return [{"hidden_layers": k, "widths": solve_widths(target, k, flat, 10, fixed=conv_params)}
            for k in P.hidden_layers]


def run(P) -> dict:
    train, test = image_data(P)
    shape = train[0].shape[1:]
    front = FRONTS[P.dataset]
    models = []
    for arch in architectures(P, shape):
        name = f"{arch['hidden_layers']} hidden"
        model = conv_dense(shape, front["filters"], arch["widths"], pool=front["pool"], name=name.replace(" ", "_"))
        compile_classifier(model, "adam", P.learning_rate)
        h = fit(model, train, test, P.epochs, P.batch_size, label=name)
        models.append({"name": name, "hidden_layers": arch["hidden_layers"], "widths": arch["widths"],
                       "params": count_params(model), **h})
    return {"dataset": P.dataset, "n_train": len(train[1]), "n_test": len(test[1]), "models": models}


def plot(P, results) -> None:
    fig = history_panels({f"{m['name']} ({m['params']} params)": m for m in results["models"]},
                         title=f"{results['dataset']}: training (solid) and test (dashed)")
    save_fig(fig, P, "history")
    plt.show()


def findings(results) -> list[str]:
    models = [m for m in results["models"] if not m["diverged"] and m["epochs"]]
    lines = [f"{m['name']} diverged in epoch {m['diverged_epoch']} and is left out." for m in results["models"]
             if m["diverged"]]
    if len(models) < 2:
        return lines + ["Too few models trained without diverging to compare."]
    counts = [m["params"] for m in models]
    lines.append(f"Parameter counts {counts}: spread {fmt(100 * (max(counts) - min(counts)) / np.mean(counts), 2)}% "
                 f"of their mean.")
    by_acc = sorted(models, key=lambda m: -final(m, "test_accuracy"))
    best, worst = by_acc[0], by_acc[-1]
    lines.append(f"Best final test accuracy: {best['name']} with {final(best, 'test_accuracy'):.2%}, "
                 f"{100 * (final(best, 'test_accuracy') - final(worst, 'test_accuracy')):.1f} points above "
                 f"{worst['name']} ({final(worst, 'test_accuracy'):.2%}).")
    by_loss = min(models, key=lambda m: final(m, "train_loss"))
    lines.append(f"Lowest final training loss: {by_loss['name']} ({fmt(final(by_loss, 'train_loss'))}).")
    deepest = max(models, key=lambda m: m["hidden_layers"])
    lines.append(f"The report's claim (at equal parameter count the deeper model does better) {held(best is deepest)} "
                 f"on {results['dataset']} in this run.")
    return lines
