"""Notebook parameters: profiles, explicit values winning, validation before any work."""
import pytest

from hwutils import params
from hwutils.params import ParameterError, resolve


def test_every_notebook_resolves_under_every_profile():
    for stem in params.SPECS:
        for profile in params.PROFILES:
            resolved = resolve(stem, {"profile": profile}, env={})
            assert resolved["profile"] == profile and set(resolved) == set(params.names(stem))


def test_profile_from_environment_else_quick():
    assert resolve("1-1-simulate-function", {}, env={"HWUTILS_PROFILE": "full"})["epochs"] == 20000
    assert resolve("1-1-simulate-function", {}, env={})["profile"] == "quick"  # the safe default: minutes, offline
    assert resolve("1-1-simulate-function", {"profile": "smoke"}, env={"HWUTILS_PROFILE": "quick"})["profile"] == "smoke"


def test_explicit_value_wins_over_profile():
    r = resolve("1-3-flatness", {"epochs": 5, "profile": "quick"}, env={})
    assert r["epochs"] == 5 and r["learning_rate"] == 1e-3
    assert resolve("1-1-simulate-function", {"learning_rate": 1}, env={})["learning_rate"] == 1.0


@pytest.mark.parametrize("given,message", [
    ({"epochs": 0}, "'epochs' = 0 is impossible"),
    ({"batch_size": -3}, "'batch_size' = -3 is impossible"),
    ({"epochs": "5"}, "'epochs' must be an integer"),
    ({"epochs": 2.5}, "'epochs' must be an integer"),
    ({"target": "foo"}, "'target' = 'foo' is not one of"),
    ({"profile": "fast"}, "'profile' = 'fast' is not one of"),
    ({"epoch": 5}, "not a parameter of 1-1-simulate-function: 'epoch' \\(did you mean 'epochs'\\?\\)"),
    ({"learning_rate": float("nan")}, "must be finite"),
])
def test_validation_errors_name_the_problem(given, message):
    with pytest.raises(ParameterError, match=message):
        resolve("1-1-simulate-function", given, env={})


def test_dataset_and_list_validation():
    with pytest.raises(ParameterError, match="'dataset' = 'svhn'"):
        resolve("1-1-actual-tasks", {"dataset": "svhn"}, env={})
    with pytest.raises(ParameterError, match="must be ≤ 1.0"):
        resolve("1-3-random-labels", {"corruption_fractions": [0.0, 1.5]}, env={})
    with pytest.raises(ParameterError, match="must be a list"):
        resolve("1-3-parameters", {"widths": 5}, env={})
    assert resolve("1-3-random-labels", {"corruption_fractions": []}, env={})["corruption_fractions"] == []


def test_injected_parameters_cell_is_read():
    history = ["", "profile = None\nepochs = None", "# Parameters\nepoch = 5\ntarget = \"xcosx\"\n", "x = 1"]
    assert params.injected_names(history) == {"epoch": 5, "target": "xcosx"}
    assert params.injected_names(["epochs = 3"]) == {}


def test_a_condition_between_parameters_is_checked_before_any_work():
    with pytest.raises(ParameterError, match="record_every"):
        params.resolve("1-2-trajectories", {"profile": "smoke", "epochs": 1})  # one snapshot: no control
    assert params.resolve("1-2-trajectories", {"profile": "smoke", "epochs": 6})["epochs"] == 6


def test_the_standard_profile_sizes_and_otherwise_the_reports():
    r = resolve("1-3-flatness", {"profile": "standard"}, env={})
    full = resolve("1-3-flatness", {"profile": "full"}, env={})
    sizes = params.STANDARD["1-3-flatness"]
    assert {k: r[k] for k in sizes} == sizes and r["dataset"] == "mnist"
    assert r["learning_rate"] == 1e-3 != full["learning_rate"]  # a standard size, not the report's
    # everything the standard sizes leave unset follows the full profile (the report's)
    assert all(r[k] == full[k] for k in r if k not in sizes and k != "profile")
    assert resolve("1-3-parameters", {"profile": "standard"}, env={})["dataset"] == "cifar10"
    with pytest.raises(ValueError, match="name no parameter"):
        params._with_standard({"x": [params.Param("a", "int", 1, 1, 1)]}, {"x": {"b": 2}})


def test_a_notebook_of_your_own_declares_its_parameters_and_they_are_checked():
    declared = {"epochs": 10, "rate": 0.1, "widths": [4, 8], "name": "a",
                "depth": params.Param("depth", "int", 2, 2, 2, low=1)}
    r = resolve("mine", {"epochs": 3}, env={}, declared=declared)
    assert r["epochs"] == 3 and r["rate"] == 0.1 and r["widths"] == [4, 8] and r["profile"] == "quick"
    assert {"seed", "out_dir"} <= set(r)
    with pytest.raises(ParameterError, match="not a parameter of mine: 'epoch' \\(did you mean 'epochs'\\?\\)"):
        resolve("mine", {"epoch": 3}, env={}, declared=declared)
    with pytest.raises(ParameterError, match="'epochs' must be an integer"):
        resolve("mine", {"epochs": "3"}, env={}, declared=declared)
    with pytest.raises(ParameterError, match="'depth' = 0 is impossible"):
        resolve("mine", {"depth": 0}, env={}, declared=declared)
    with pytest.raises(ParameterError, match="unknown notebook 'mine'.*params="):
        resolve("mine", {}, env={})  # undeclared: the message says how to declare
    with pytest.raises(ParameterError, match="one of the report's notebooks"):
        resolve("1-3-flatness", {}, env={}, declared={"epochs": 1})
    with pytest.raises(ParameterError, match="'seed': every notebook has these"):
        resolve("mine", {}, env={}, declared={"seed": 1})
