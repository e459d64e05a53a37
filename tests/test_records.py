"""What the notebooks keep in results.json, assembled by hwutils.records: checked against hand-built inputs."""
import numpy as np
import pandas as pd
import pytest

from hwutils import records


def test_function_target_samples_each_function_on_its_interval():
    title, x, y = records.function_target("sinc", 4)
    assert title == "sin(5πx)/(5πx)" and x.dtype == np.float32 and x.shape == (4, 1)
    np.testing.assert_allclose(x[:, 0], [0.25, 0.5, 0.75, 1.0])  # x = 0 left out
    np.testing.assert_allclose(y[:, 0], np.sin(5 * np.pi * x[:, 0]) / (5 * np.pi * x[:, 0]), atol=1e-6)
    title, x, y = records.function_target("xcosx", 3)
    np.testing.assert_allclose(x[:, 0], [0.0, 2.5, 5.0])
    np.testing.assert_allclose(y[:, 0], x[:, 0] * np.cos(x[:, 0]), rtol=1e-6)
    with pytest.raises(ValueError, match="unknown target"):
        records.function_target("sin", 3)


class _Fake:
    """An ensemble's metrics on (x, y): loss = mean of x times the width index, accuracy = 1 / that."""
    def __init__(self, k, seeds):
        self.k, self.seeds = k, seeds

    def metrics(self, x, y):
        return {"loss": np.arange(1, self.seeds + 1) * self.k * float(np.mean(x)),
                "accuracy": 1.0 / (np.arange(1, self.seeds + 1) * self.k)}


def test_final_metrics_are_seeds_by_widths_and_nan_where_diverged():
    family = [_Fake(1, 2), _Fake(2, 2), _Fake(3, 2)]
    diverged = np.array([[False, False, True], [False, False, False]])
    final = records.final_metrics(family, diverged, {"train": (np.ones(3), None), "test": (2 * np.ones(3), None)})
    assert set(final) == {"train_loss", "train_accuracy", "test_loss", "test_accuracy"}
    np.testing.assert_allclose(final["test_loss"], [[2, 4, np.nan], [4, 8, 12]])
    np.testing.assert_allclose(final["train_accuracy"][1], [0.5, 0.25, 1 / 6])
    metrics = records.parameters([4, 8, 16], np.array([10, 20, 30]), diverged, final, 10, 2)
    assert metrics["family"] == "Flatten → Dense(n) → Dense(n) → Dense(10, softmax)" and metrics["seeds"] == 2
    third = metrics["models"][2]
    assert third["width"] == 16 and third["params"] == 30 and third["diverged"] is True
    assert third["test_loss"] == 12.0  # the mean over the seed that did not diverge
    np.testing.assert_allclose(third["seeds"]["test_loss"], [np.nan, 12.0])


def test_zero_gradient_correlates_over_the_converged_runs_only():
    table = pd.DataFrame({"loss": [1.0, 2.0, 3.0, 4.0, 0.5], "grad_norm": [1e-4] * 4 + [1.0],
                          "converged": [True, True, True, True, False], "negative": [0.1, 0.2, 0.3, 0.4, 0.0],
                          "near_zero": [0.0] * 5, "positive": [0.9, 0.8, 0.7, 0.6, 0.0], "exact_zero": [0.0] * 5,
                          "minimal_ratio_live": [0.9, 0.8, 0.7, 0.6, 0.0], "tau": [1e-6] * 5})
    spectra = [{"eigenvalues": [float(m)]} for m in range(5)]
    out = records.zero_gradient([1, 2, 1], 7, table, np.zeros(5, bool), {"steps": [3] * 5}, 1, spectra, [0, 4])
    assert out["spearman_index"] == pytest.approx(1.0) and out["spearman"] == pytest.approx(-1.0)
    from scipy import stats
    assert out["spearman_all"] == pytest.approx(stats.spearmanr(table.loss, table.positive).statistic)
    assert out["spearman_all"] > -0.5  # the unconverged run (low loss, ratio 0) enters here only
    assert out["n_params"] == 7 and out["converged_fraction"] == 0.8 and set(out["spectra"]) == {"0", "4"}
    assert out["runs"][1]["index"] == 0.2 and not out["runs"][4]["converged"] and out["runs"][4]["grad_steps"] == 3


def test_batch_stream_gives_fresh_batches_every_call():
    x, y = np.arange(10), np.arange(10) * 2
    stream = records.batch_stream(x, y, 4)
    first = [len(b[0]) for b in stream()]
    assert first == [4, 4, 2] and [len(b[0]) for b in stream()] == first
    np.testing.assert_array_equal(np.concatenate([b[1] for b in stream()]), y)


def test_seed_by_seed_orders_by_seed_and_keeps_the_training_order_within_a_seed():
    fits = {(256, 0.1, 1, "a"): "w", (64, 0.1, 0, "a"): "x", (256, 0.1, 0, "a"): "y", (64, 0.1, 1, "b"): "z"}
    assert list(records.seed_by_seed(fits).values()) == ["x", "y", "w", "z"]


def test_interpolation_splits_keep_each_split_and_quantity_apart():
    curves = [{f"{s}_{q}": [i, s == "test", q == "loss"] for s in ("train", "test") for q in ("loss", "accuracy")}
              for i in range(2)]
    loss, accuracy = records.interpolation_splits(curves)
    assert loss == {"train": [[0, False, True], [1, False, True]], "test": [[0, True, True], [1, True, True]]}
    assert accuracy["test"] == [[0, True, False], [1, True, False]] and accuracy["train"][1] == [1, False, False]


def test_seed_batch_grid_is_seeds_by_batch_sizes():
    table = pd.DataFrame({"seed": [0, 0, 1, 1], "batch_size": [64, 256, 64, 256], "sharpness": [1.0, 2.0, 3.0, 4.0]})
    grid = records.seed_batch_grid(table, "sharpness")
    assert list(grid.index) == [0, 1] and list(grid.columns) == [64, 256]
    np.testing.assert_array_equal(grid.to_numpy(), [[1.0, 2.0], [3.0, 4.0]])


def test_random_labels_keeps_each_fraction_over_the_seeds():
    class Budget:
        reference_epoch = 7
    fractions = [0.0, 0.5, 1.0]
    train_acc = np.array([[0.9, 0.8, 0.7], [1.0, 0.6, 0.5]])  # [seeds, fractions]
    test_acc, epochs = train_acc / 2, np.array([[3, 4, 5], [6, 7, 8]])
    curves = {"train_accuracy": np.arange(12).reshape(4, 3)}  # [epochs, fractions]
    fits = [{"hist": [{"diverged": False}], "budget": Budget()}]
    out = records.random_labels(100, 50, 20, fractions, [0.0, 0.45, 0.9], 2, curves, fits, [10], train_acc, test_acc,
                                epochs, 0.99, 2)
    assert out["labels_changed"] == 0.9 and out["true_fit_epoch"] == [7] and not out["diverged"]
    np.testing.assert_array_equal(out["history"]["train_accuracy"], [2, 5, 8, 11])  # the random-label column
    middle = out["corruption"][1]
    assert middle["fraction"] == 0.5 and middle["train_accuracy"] == pytest.approx(0.7)
    assert middle["test_accuracy"] == pytest.approx(0.35)
    np.testing.assert_array_equal(middle["seeds"]["epochs_to_fit"], [4, 7])
