"""The benchmark harness reports a child that dies or hangs instead of waiting forever."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from harness import ChildFailed, TimedOut, isolated  # noqa: E402
import stacked_cnn  # noqa: E402


def test_a_child_that_dies_is_reported_at_once():
    start = time.monotonic()
    with pytest.raises(ChildFailed, match="exit code 3"):
        isolated(os._exit, 3, timeout=20)  # dies without putting anything on the queue
    assert time.monotonic() - start < 30


def test_a_child_past_its_limit_is_killed():
    start = time.monotonic()
    with pytest.raises(TimedOut, match="limit") as info:
        isolated(time.sleep, 120, timeout=2)
    assert time.monotonic() - start < 30
    assert info.value.limit == 2


def test_a_side_stopped_at_its_limit_is_reported_as_a_lower_bound():
    fast = {"seconds": 4.0, "final": [1.0, 2.0]}
    stopped = stacked_cnn._try(time.sleep, 120, limit=2)
    assert stopped == {"over": 2}
    assert stacked_cnn._seconds(stopped) == "> 2 s" and stacked_cnn._seconds(stopped, 10) == "> 20 s"
    assert stacked_cnn._ratio(stopped, fast, 10) == "> 5.0×"  # at least 20 s against 4 s
    assert stacked_cnn._ratio({"seconds": 12.0}, fast) == "3.0×"
    assert stacked_cnn._agreement(fast, stopped) == "—"
    assert stacked_cnn._agreement(fast, {"final": [1.0, 2.0]}) == "0.0e+00"
    # Measured sides scale too (the per-model fits are timed on a few members and scaled to all).
    assert stacked_cnn._seconds({"seconds": 2.0}, 10) == "20.0 s"
    assert stacked_cnn._ratio({"seconds": 12.0}, fast, 10) == "30.0×"
    # Agreement over the first n members only: the per-model baseline has fewer members than the vectorised side.
    assert stacked_cnn._agreement({"final": [1.0, 2.0, 9.0]}, {"final": [1.0, 2.0]}, 2) == "0.0e+00"
    assert issubclass(TimedOut, ChildFailed)  # callers that only know ChildFailed still see a timeout


def test_a_side_without_a_limit_that_times_out_is_a_failure_not_a_bound(monkeypatch):
    def stopped(fn, *args, timeout=7200.0):
        raise TimedOut("past its limit", timeout)
    monkeypatch.setattr(stacked_cnn, "isolated", stopped)
    assert "error" in stacked_cnn._try(time.sleep, 1)
    assert stacked_cnn._try(time.sleep, 1, limit=5) == {"over": 5}


def test_a_result_comes_back_with_its_peak_memory():
    out = isolated(dict, {"seconds": 1.5})  # dict(...) returns its argument's copy from the child
    assert out["seconds"] == 1.5 and out["peak_rss_mb"] > 1
