"""1-3 Can a network fit random labels? The report's CNN on randomly permuted training labels,
and a sweep over the fraction of corrupted labels (Zhang et al. 2017)."""
from __future__ import annotations

import keras
import matplotlib.pyplot as plt
import numpy as np

from ..data import randomize_labels
from ..models import count_params, report_cnn
from ..plots import history_panels, save_fig
from ..training import compile_classifier, final, fit
from .common import fmt, image_data, spearman


class _StopWhenFitted(keras.callbacks.Callback):
    """Stops once the training accuracy reaches the threshold; remembers the epoch."""

    def __init__(self, threshold: float):
        super().__init__()
        self.threshold, self.epoch = threshold, None

    def on_epoch_end(self, epoch, logs=None):
        if (logs or {}).get("accuracy", 0.0) >= self.threshold:
            self.epoch = epoch + 1
            self.model.stop_training = True


def _train(P, train, test, labels, epochs, label, stop=None):
    keras.utils.set_random_seed(P.seed)  # the same initial weights for every labelling
    model = compile_classifier(report_cnn(train[0].shape[1:]), "adam", P.learning_rate)
    h = fit(model, (train[0], labels), test, epochs, P.batch_size, label=label, callbacks=[stop] if stop else [])
    return model, h


def run(P) -> dict:
    train, test = image_data(P)
    random = randomize_labels(train[1], 1.0, seed=P.seed, mode="permute")
    model, history = _train(P, train, test, random, P.epochs, "random labels")
    sweep = []
    for fraction in P.corruption_fractions:
        labels = randomize_labels(train[1], fraction, seed=P.seed, mode="uniform")
        stop = _StopWhenFitted(P.fit_threshold)
        _, h = _train(P, train, test, labels, P.sweep_epochs, f"corruption {fraction:g}", stop)
        sweep.append({"fraction": fraction, "train_accuracy": final(h, "train_accuracy"),
                      "test_accuracy": final(h, "test_accuracy"), "epochs_to_fit": stop.epoch,
                      "epochs": h["epochs"], "diverged": h["diverged"]})
    return {"params": count_params(model), "n_train": len(train[1]), "n_test": len(test[1]),
            "labels_changed": float(np.mean(random != train[1])),
            "history": {k: history[k] for k in ("train_loss", "train_accuracy", "test_loss", "test_accuracy")},
            "diverged": history["diverged"], "corruption": sweep}


def plot(P, results) -> None:
    fig = history_panels({"random labels": {**results["history"], "diverged": results["diverged"]}},
                         title=f"Training on randomly permuted labels ({results['n_train']} images)")
    save_fig(fig, P, "random_labels")
    plt.show()
    sweep = results["corruption"]
    if not sweep:
        return
    frac = [s["fraction"] for s in sweep]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4))
    ax0.plot(frac, [s["train_accuracy"] for s in sweep], "o-", label="train")
    ax0.plot(frac, [s["test_accuracy"] for s in sweep], "o--", label="test")
    ax0.set(xlabel="fraction of labels corrupted", ylabel="final accuracy")
    ax0.legend()
    fitted = [(s["fraction"], s["epochs_to_fit"]) for s in sweep if s["epochs_to_fit"]]
    if fitted:
        ax1.plot(*zip(*fitted), "o-")
    missed = [s["fraction"] for s in sweep if not s["epochs_to_fit"]]
    if missed:
        ax1.plot(missed, [P.sweep_epochs] * len(missed), "rx", label="not fitted within the budget")
        ax1.legend()
    ax1.set(xlabel="fraction of labels corrupted", ylabel=f"epochs to {P.fit_threshold:.0%} train accuracy")
    fig.tight_layout()
    save_fig(fig, P, "corruption")
    plt.show()


def findings(results) -> list[str]:
    h = results["history"]
    train_acc, test_acc = final(h, "train_accuracy"), final(h, "test_accuracy")
    memorised = train_acc >= 0.95
    chance = abs(test_acc - 0.10) <= 0.03
    lines = [f"On randomly permuted labels ({results['labels_changed']:.0%} of them changed) the model "
             f"({results['params']} parameters) reached {train_acc:.1%} training accuracy and {test_acc:.1%} test "
             f"accuracy after {len(h['train_loss'])} epochs: it "
             + ("memorised the random labels" if memorised else "did not (yet) memorise the random labels")
             + (", while test accuracy stayed at chance (10 ± 3%)." if chance else f"; test accuracy was {test_acc:.1%}.")]
    sweep = results["corruption"]
    if sweep:
        rho = spearman([s["fraction"] for s in sweep], [s["test_accuracy"] for s in sweep])
        fell = rho < 0 if np.isfinite(rho) else sweep[-1]["test_accuracy"] < sweep[0]["test_accuracy"]
        lines.append(f"Corruption sweep: test accuracy went from {sweep[0]['test_accuracy']:.1%} at fraction "
                     f"{sweep[0]['fraction']:g} to {sweep[-1]['test_accuracy']:.1%} at {sweep[-1]['fraction']:g} "
                     f"(Spearman {fmt(rho, 2)}): it " + ("fell" if fell else "did not fall") +
                     " as more labels were corrupted.")
        fit_true = next((s["epochs_to_fit"] for s in sweep if s["fraction"] == 0.0), None)
        fit_rand = next((s["epochs_to_fit"] for s in sweep if s["fraction"] == 1.0), None)
        if fit_true and fit_rand:
            lines.append(f"Fitting took {fit_true} epochs on true labels and {fit_rand} on random labels "
                         f"({fit_rand / fit_true:.1f}× longer), as Zhang et al. observed.")
        elif fit_true:
            lines.append(f"True labels were fitted in {fit_true} epochs; random labels not within the budget.")
    return lines
