"""A notebook on standard or full says, before any work, the dataset it needs and its measured cost; smoke and
quick (the default with no profile anywhere) say nothing and run offline in minutes."""
import pytest

import hwutils
from hwutils import costs, params, report


def test_every_report_entry_has_a_cost_line_in_each_long_profile():
    for profile in costs.MEASURED_MINUTES:
        ids = {e.id for e in report.RUN_LIST if profile in e.profiles}
        assert set(costs.MEASURED_MINUTES[profile]) == ids


def test_the_entry_follows_the_parameters_that_pick_it():
    resolved = params.resolve("1-1-actual-tasks", {"profile": "full", "dataset": "mnist"}, env={})
    assert costs.entry_id("1-1-actual-tasks", resolved) == "1-1-actual-tasks-mnist"
    assert "32 min" in costs.cost_text("1-1-actual-tasks", resolved)
    resolved = params.resolve("1-3-flatness", {"profile": "full"}, env={})
    assert "at most 33 h 00 min" in costs.cost_text("1-3-flatness", resolved)


def test_standard_and_full_print_dataset_and_cost_before_any_work(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HWUTILS_OFFLINE", "1")
    monkeypatch.setenv("HWUTILS_DATA", str(tmp_path))  # nothing there: the notice says the dataset is missing
    run = hwutils.setup("1-2-trajectories", profile="standard", out_dir=str(tmp_path / "out"))
    said = capsys.readouterr().out
    assert run.profile == "standard"
    assert said.startswith("1-2-trajectories on the standard profile: it needs mnist")
    minutes = costs.MEASURED_MINUTES["standard"]["1-2-trajectories"]
    assert f"about {costs.hours_and_minutes(minutes)} on a 2-core CPU (measured" in said


@pytest.mark.parametrize("profile", ["smoke", "quick"])
def test_short_profiles_say_nothing(profile):
    resolved = params.resolve("1-3-flatness", {"profile": profile}, env={})
    assert costs.notice("1-3-flatness", resolved) == ""


def test_no_profile_anywhere_is_quick_and_quiet(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("HWUTILS_PROFILE", raising=False)
    run = hwutils.setup("1-1-simulate-function", out_dir=str(tmp_path))
    assert run.profile == "quick" and run.epochs == params.resolve("1-1-simulate-function", {"profile": "quick"},
                                                                   env={})["epochs"]
    assert capsys.readouterr().out == ""


def test_the_report_defaults_to_quick_without_a_profile(monkeypatch):
    import argparse
    monkeypatch.delenv("HWUTILS_PROFILE", raising=False)
    seen = {}
    real = argparse.ArgumentParser.parse_args

    def capture(self, argv=None, namespace=None):
        args = real(self, argv, namespace)
        seen["profile"] = args.profile
        raise SystemExit(0)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(SystemExit):
        report.main([])
    assert seen["profile"] == "quick"
