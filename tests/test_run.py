"""Runs: determinism, results.json, divergence handling."""
import json

import keras
import numpy as np
import pytest

import hwutils
from hwutils import training
from hwutils.ensemble import Ensemble


def small_training(tmp_path, seed):
    P = hwutils.setup("1-1-actual-tasks", None, profile="smoke", seed=seed, out_dir=str(tmp_path))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 5)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    training.compile_classifier(model)
    h = training.fit(model, (x, y), (x, y), epochs=3, batch_size=16, verbose=False)
    P.save(history=h)
    return json.loads((tmp_path / "results.json").read_text())


def test_same_seed_same_results(tmp_path):
    a = small_training(tmp_path / "a", seed=3)
    b = small_training(tmp_path / "b", seed=3)
    c = small_training(tmp_path / "c", seed=4)
    assert a["history"] == b["history"]
    assert a["history"] != c["history"]
    assert a["params"]["seed"] == 3 and a["profile"] == "smoke" and "tensorflow" in a["versions"]
    assert set(a["wall_time"]) == {"stages", "total"}


def test_setup_refuses_unknown_injected_names():
    with pytest.raises(hwutils.ParameterError, match="epoch"):
        hwutils.setup("1-1-simulate-function", {"In": ["", "# Parameters\nepoch = 5\n"], "epochs": None})


def test_divergence_is_recorded_and_stops_training():
    x = np.linspace(0, 1, 32)[:, None].astype("float32")
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(16), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(1e6), loss="mse")
    with pytest.warns(UserWarning, match="diverged"):
        h = training.fit(model, (x, 1e3 * x), None, epochs=50, batch_size=8, verbose=False)
    assert h["diverged"] and h["diverged_epoch"] is not None and h["epochs"] < 50
    assert all(np.isfinite(h["train_loss"]))


def test_results_json_has_no_nan(tmp_path):
    P = hwutils.setup("1-2-zero-gradient", None, profile="smoke", out_dir=str(tmp_path))
    P.save(value=float("nan"), arr=np.array([1.0, np.inf]))
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["value"] is None and saved["arr"] == [1.0, None]


def test_ensemble_is_deterministic():
    x = np.linspace(0.01, 1, 50)[:, None].astype("float32")
    runs = []
    for _ in range(2):
        ens = Ensemble([1, 4, 1], 2, seed=9)
        runs.append(ens.fit(x, np.sinc(5 * x), epochs=3, batch_size=16, shuffle_seed=1, verbose=False)["loss"])
    np.testing.assert_array_equal(runs[0], runs[1])


def test_a_metric_may_not_hide_the_runs_own_record(tmp_path):
    P = hwutils.setup("1-3-parameters", None, profile="smoke", seed=0, out_dir=str(tmp_path))
    with pytest.raises(ValueError, match="'params'"):
        P.save(params=461)  # once hid the resolved parameters in results.json
    P.save(dataset=P.dataset, n_params=461)  # the same value, or another name, is fine
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["params"]["epochs"] == P.epochs and saved["n_params"] == 461


def test_setup_of_a_notebook_of_your_own_checks_its_declared_parameters(tmp_path):
    namespace = {"epochs": 4, "width": None, "In": ["", "# Parameters\nepochs = 4\n"]}
    run = hwutils.setup("mine", namespace, params={"epochs": 10, "width": 32}, out_dir=str(tmp_path))
    assert run.epochs == 4 and run.width == 32 and run.stem == "mine"
    namespace["In"].append("# Parameters\nwidht = 8\n")
    with pytest.raises(hwutils.ParameterError, match="'widht' \\(did you mean 'width'\\?\\)"):
        hwutils.setup("mine", namespace, params={"epochs": 10, "width": 32}, out_dir=str(tmp_path))
    with pytest.raises(hwutils.ParameterError, match="'width' must be an integer"):
        hwutils.setup("mine", {"width": 1.5}, params={"width": 32}, out_dir=str(tmp_path))


def test_setup_turns_tensorfloat32_off_for_the_measures(tmp_path):
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        tf.config.experimental.enable_tensor_float_32_execution(True)
        hwutils.setup("1-2-zero-gradient", None, profile="smoke", out_dir=str(tmp_path))
        assert not tf.config.experimental.tensor_float_32_execution_enabled()
    else:
        import jax
        jax.config.update("jax_default_matmul_precision", None)
        hwutils.setup("1-2-zero-gradient", None, profile="smoke", out_dir=str(tmp_path))
        assert jax.config.jax_default_matmul_precision == "highest"
