"""The full-profile benchmark's cost per epoch: stretched until it stands out of the noise."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from full_profile import cost_per_unit, data_proportional, extrapolate  # noqa: E402


def linear(a, b, calls):
    def time_with(units):
        calls.append(units)
        if len(calls) > 10:  # a papermill run each: stretching without end must fail, not hang
            raise AssertionError(f"stretched without end: {calls}")
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
    assert calls == [4, 16, 20] and units == 20 and clear is False  # the last stretch stops at the full 20
    assert per_unit == pytest.approx(0.2)  # what it measured, though within the noise


def test_a_stretch_that_lands_on_the_full_value_is_the_last():
    calls = []
    cost_per_unit(linear(45.0, 0.01, calls), t_a=45.01, s=1, full=16, stretch=4)
    assert calls == [4, 16]


def test_stretching_stops_once_the_difference_is_clear():
    calls = []
    per_unit, units, clear = cost_per_unit(linear(40.0, 0.4, calls), t_a=40.4, s=1, full=1000, stretch=4)
    assert calls == [4, 16] and clear  # 16 units add 6 s > 10% of 40.4 s
    assert per_unit == pytest.approx(0.4)


def test_a_negative_difference_counts_as_zero():
    per_unit, _, clear = cost_per_unit(lambda units: 44.0, t_a=45.0, s=1, full=3, stretch=4)
    assert per_unit == 0.0 and not clear


def test_a_stretch_below_two_is_refused():
    with pytest.raises(ValueError, match="at least 2"):
        cost_per_unit(lambda units: 50.0, t_a=45.0, s=1, full=20, stretch=1)


def test_the_full_value_adds_the_units_not_yet_trained_on_all_the_images():
    # T(A) trained 2 epochs on 10% of the images at 0.5 s each; the full 20 epochs on all images cost 100 s
    assert extrapolate(0.5, s=2, full=20, share=0.1) == pytest.approx(0.5 * 200 - 0.5 * 2)
    assert extrapolate(0.5, s=2, full=20, share=1.0) == pytest.approx(9.0)


def test_the_whole_model_recovers_a_known_full_time():
    # T(d, epochs) = a + c·d + b·epochs·d with a = 10 s, c = 100 s, b = 50 s per epoch on all the images
    a, c, b, f = 10.0, 100.0, 50.0, 20
    T = lambda d, epochs: a + c * d + b * epochs * d  # noqa: E731
    d, s = 0.1, 2
    t_a = T(d, s)
    per_unit, units, _ = cost_per_unit(lambda e: T(d, e), t_a, s, f, stretch=4)
    trained = per_unit * s
    work = data_proportional(t_a, T(2 * d, s), trained, growth=2.0)
    assert work == pytest.approx(c * d)
    full = t_a + extrapolate(per_unit, s, f, d) + work * (1 / d - 1)
    assert full == pytest.approx(T(1.0, f))


def test_data_proportional_work_is_never_negative():
    assert data_proportional(t_a=50.0, t_c=49.0, trained=5.0, growth=2.0) == 0.0
