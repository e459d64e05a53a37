"""1-3 Flatness vs generalisation: interpolation between two minima, and sensitivity and
sharpness against the batch size."""
from __future__ import annotations

import keras
import matplotlib.pyplot as plt
import numpy as np

from ..landscape import alpha_grid, interpolate
from ..measures import sensitivity, sharpness
from ..models import conv_dense
from ..plots import save_fig
from ..training import compile_classifier, evaluate, fit
from .common import fmt, image_data, spearman

FILTERS, HIDDEN = 16, [64]  # input -> conv2d -> max pooling -> dense -> dense (output), as the report


def _train(P, train, test, batch_size, learning_rate):
    keras.utils.set_random_seed(P.seed)  # same initial weights: the models differ only in how they were trained
    model = compile_classifier(conv_dense(train[0].shape[1:], FILTERS, HIDDEN), "adam", learning_rate)
    h = fit(model, train, test, P.epochs, batch_size, label=f"batch {batch_size}, lr {learning_rate:g}")
    return model, h


def _pair(P, train, test, settings):
    (bs_a, lr_a), (bs_b, lr_b) = settings
    model_a, _ = _train(P, train, test, bs_a, lr_a)
    model_b, _ = _train(P, train, test, bs_b, lr_b)
    curve = interpolate(model_a, model_b, alpha_grid(P.alpha_points), {"train": train, "test": test})
    return {"a": {"batch_size": bs_a, "learning_rate": lr_a}, "b": {"batch_size": bs_b, "learning_rate": lr_b}, **curve}


def run(P) -> dict:
    train, test = image_data(P)
    bs_a, bs_b = (P.pair_batch_sizes + P.pair_batch_sizes)[:2]
    out = {"interpolation": _pair(P, train, test, [(bs_a, P.learning_rate), (bs_b, P.learning_rate)])}
    if P.learning_rate_pair:
        lr_a, lr_b = (P.learning_rate_pair + P.learning_rate_pair)[:2]
        out["interpolation_learning_rate"] = _pair(P, train, test, [(bs_a, lr_a), (bs_a, lr_b)])
    rows = []
    x_sens = test[0][: P.sensitivity_points]
    x_sharp, y_sharp = train[0][: P.sharpness_points], train[1][: P.sharpness_points]
    for bs in P.batch_sizes:
        model, h = _train(P, train, test, bs, P.learning_rate)
        tr, te = evaluate(model, *train), evaluate(model, *test)
        rows.append({"batch_size": bs, "train_loss": tr["loss"], "train_accuracy": tr["accuracy"],
                     "test_loss": te["loss"], "test_accuracy": te["accuracy"], "diverged": h["diverged"],
                     "sensitivity": sensitivity(model, x_sens),
                     "sharpness": sharpness(model, x_sharp, y_sharp, epsilon=P.sharpness_epsilon, seed=P.seed)})
    out["batch_sizes"] = rows
    return out


def _plot_interpolation(ax, curve, title):
    alpha = curve["alpha"]
    ax.plot(alpha, curve["train_loss"], "C0-", label="train loss")
    ax.plot(alpha, curve["test_loss"], "C0--", label="test loss")
    ax.set(yscale="log", xlabel="α (0: model a, 1: model b)", ylabel="cross-entropy", title=title)
    twin = ax.twinx()
    twin.plot(alpha, curve["train_accuracy"], "C3-", label="train accuracy")
    twin.plot(alpha, curve["test_accuracy"], "C3--", label="test accuracy")
    twin.set_ylabel("accuracy", color="C3")
    twin.grid(False)
    lines = ax.get_lines() + twin.get_lines()
    ax.legend(lines, [l.get_label() for l in lines], fontsize=8, loc="upper center")


def plot(P, results) -> None:
    pairs = [k for k in ("interpolation", "interpolation_learning_rate") if k in results]
    fig, axes = plt.subplots(1, len(pairs), figsize=(6.5 * len(pairs), 4.5), squeeze=False)
    for ax, key in zip(axes[0], pairs):
        c = results[key]
        _plot_interpolation(ax, c, f"a: batch {c['a']['batch_size']}, lr {c['a']['learning_rate']:g};  "
                                   f"b: batch {c['b']['batch_size']}, lr {c['b']['learning_rate']:g}")
    fig.tight_layout()
    save_fig(fig, P, "interpolation")
    plt.show()

    rows = results["batch_sizes"]
    bs = [r["batch_size"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for ax, measure in zip(axes, ("sensitivity", "sharpness")):
        ax.plot(bs, [r["train_loss"] for r in rows], "C0-o", label="train loss")
        ax.plot(bs, [r["test_loss"] for r in rows], "C0--o", label="test loss")
        ax.set(xscale="log", xlabel="batch size", ylabel="loss")
        twin = ax.twinx()
        twin.plot(bs, [r[measure] for r in rows], "C3-s", label=measure)
        twin.set_ylabel(measure, color="C3")
        twin.grid(False)
        lines = ax.get_lines() + twin.get_lines()
        ax.legend(lines, [l.get_label() for l in lines], fontsize=8)
        ax.set_title(f"{measure} against batch size")
    fig.tight_layout()
    save_fig(fig, P, "batch_size")
    plt.show()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.plot(bs, [r["train_accuracy"] for r in rows], "-o", label="train")
    ax.plot(bs, [r["test_accuracy"] for r in rows], "--o", label="test")
    ax.set(xscale="log", xlabel="batch size", ylabel="accuracy", title="Accuracy against batch size")
    ax.legend()
    save_fig(fig, P, "batch_size_accuracy")
    plt.show()


def findings(results) -> list[str]:
    c = results["interpolation"]
    alpha = np.asarray(c["alpha"])
    i0, i1 = int(np.flatnonzero(alpha == 0.0)[0]), int(np.flatnonzero(alpha == 1.0)[0])
    mid = np.argmin(np.abs(alpha - 0.5))
    lines = [f"Interpolation: train loss {fmt(c['train_loss'][i0])} at α = 0 (batch {c['a']['batch_size']}), "
             f"{fmt(c['train_loss'][i1])} at α = 1 (batch {c['b']['batch_size']}), {fmt(c['train_loss'][mid])} halfway: "
             + ("a barrier separates the two minima." if c["train_loss"][mid] > max(c["train_loss"][i0], c["train_loss"][i1])
                else "no barrier between them on the straight line.")]
    rows = [r for r in results["batch_sizes"] if not r["diverged"]]
    if len(rows) >= 2:
        gap = [r["test_loss"] - r["train_loss"] for r in rows]
        best = max(rows, key=lambda r: r["test_accuracy"])
        rho_sens = spearman([r["sensitivity"] for r in rows], gap)
        rho_sharp = spearman([r["sharpness"] for r in rows], gap)
        lines += [f"Best test accuracy at batch size {best['batch_size']}: {best['test_accuracy']:.1%}.",
                  f"Spearman correlation with the generalisation gap (test − train loss): sensitivity {fmt(rho_sens, 2)}, "
                  f"sharpness {fmt(rho_sharp, 2)}.",
                  f"Sensitivity from {fmt(rows[0]['sensitivity'])} (batch {rows[0]['batch_size']}) to "
                  f"{fmt(rows[-1]['sensitivity'])} (batch {rows[-1]['batch_size']}); sharpness from "
                  f"{fmt(rows[0]['sharpness'])} to {fmt(rows[-1]['sharpness'])}."]
    return lines
