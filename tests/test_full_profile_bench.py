"""The full-profile benchmark's cost per epoch: stretched until it stands out of the noise."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from full_profile import cost_per_unit  # noqa: E402


def linear(a, b, calls):
    def time_with(units):
        calls.append(units)
        return a + b * units
    return time_with


def test_a_clear_difference_is_taken_from_one_stretch():
    calls = []
    per_unit, units, clear = cost_per_unit(linear(40.0, 5.0, calls), t_a=45.0, s=1, full=30, stretch=4)
    assert calls == [4] and units == 4 and clear
    assert per_unit == pytest.approx(5.0)


def test_a_difference_in_the_noise_is_stretched_up_to_the_full_value():
    calls = []
    per_unit, units, clear = cost_per_unit(linear(45.0, 0.2, calls), t_a=45.2, s=1, full=20, stretch=4)
    assert calls == [4, 16] and units == 16 and clear is False  # 64 would pass the full 20
    assert per_unit == pytest.approx(0.2)  # what it measured, though within the noise


def test_stretching_stops_once_the_difference_is_clear():
    calls = []
    per_unit, units, clear = cost_per_unit(linear(40.0, 0.4, calls), t_a=40.4, s=1, full=1000, stretch=4)
    assert calls == [4, 16] and clear  # 16 units add 6 s > 10% of 40.4 s
    assert per_unit == pytest.approx(0.4)


def test_a_negative_difference_counts_as_zero():
    per_unit, _, clear = cost_per_unit(lambda units: 44.0, t_a=45.0, s=1, full=3, stretch=4)
    assert per_unit == 0.0 and not clear
