"""The benchmark harness reports a child that dies or hangs instead of waiting forever."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from harness import ChildFailed, isolated  # noqa: E402


def test_a_child_that_dies_is_reported_at_once():
    start = time.monotonic()
    with pytest.raises(ChildFailed, match="exit code 3"):
        isolated(os._exit, 3, timeout=20)  # dies without putting anything on the queue
    assert time.monotonic() - start < 30


def test_a_child_past_its_limit_is_killed():
    start = time.monotonic()
    with pytest.raises(ChildFailed, match="limit"):
        isolated(time.sleep, 120, timeout=2)
    assert time.monotonic() - start < 30


def test_a_result_comes_back_with_its_peak_memory():
    out = isolated(dict, {"seconds": 1.5})  # dict(...) returns its argument's copy from the child
    assert out["seconds"] == 1.5 and out["peak_rss_mb"] > 1
