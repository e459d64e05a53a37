"""The full-profile benchmark's cost per epoch: stretched until it stands out of the noise."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from full_profile import cost_per_unit, data_proportional, estimate, extrapolate  # noqa: E402


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


class FakeNotebook:
    """Seconds a notebook takes under a known cost model: a + c d + b_img image_epochs d + b_fn
    function_epochs, d the share of N training images; records every run's tag and parameters."""
    a, c, b_img, b_fn, N = 10.0, 100.0, 50.0, 0.02, 60000

    def __init__(self):
        self.runs = {}

    def seconds(self, params):
        d = params.get("n_train", self.N) / self.N
        return (self.a + self.c * d + self.b_img * params.get("image_epochs", 0) * d
                + 2 * self.b_img * params.get("epochs", 0) * d + self.b_fn * params.get("function_epochs", 0))

    def __call__(self, params, tag):
        self.runs[tag] = params
        return self.seconds(params)


SLICES = {"function_epochs": (40, 2000), "image_epochs": (1, 20)}  # as in 1-2-gradient-norm


def share(d):
    return ({"n_train": round(d * 60000), "n_test": round(d * 10000)}, d) if d < 1 else ({}, 1.0)


@pytest.mark.parametrize("d, d_c", [(0.1, 0.2), (0.6, 1.0)])
def test_an_entry_s_estimate_recovers_a_known_full_time(d, d_c):
    nb = FakeNotebook()
    t_a, full, parts = estimate(nb, {"profile": "full"}, SLICES, share(d), share(d_c), stretch=4)
    assert t_a == pytest.approx(nb.seconds(nb.runs["a"]))
    assert full == pytest.approx(nb.seconds({"image_epochs": 20, "function_epochs": 2000}))
    assert nb.runs["c"]["image_epochs"] == 1 and nb.runs["c"]["function_epochs"] == 40
    assert nb.runs["c"].get("n_train", nb.N) == round(d_c * nb.N)  # all the images when 2d passes 1
    assert any(p.startswith("other work on the images") for p in parts)


def test_an_entry_without_images_runs_no_run_c():
    nb = FakeNotebook()
    _, full, _ = estimate(nb, {"profile": "full"}, SLICES, share(1.0), share(1.0), stretch=4)
    assert "c" not in nb.runs
    assert full == pytest.approx(nb.seconds({"image_epochs": 20, "function_epochs": 2000}))


def test_data_proportional_work_is_never_negative():
    assert data_proportional(t_a=50.0, t_c=49.0, trained=5.0, growth=2.0) == 0.0


def test_two_image_parameters_both_count_as_training_on_the_images():
    nb = FakeNotebook()
    sl = {"epochs": (2, 30), "image_epochs": (1, 20)}
    _, full, _ = estimate(nb, {"profile": "full"}, sl, share(0.1), share(0.2), stretch=4)
    assert full == pytest.approx(nb.seconds({"epochs": 30, "image_epochs": 20}))


def test_peak_memory_counts_the_whole_process_tree():
    import subprocess
    from full_profile import PeakMemory
    # The parent holds little; its child (as papermill's kernel would) holds 300 MB for a moment.
    child = "x = bytearray(300 * 2**20); import time; time.sleep(1.5)"
    proc = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}])"])
    with PeakMemory(proc.pid, interval=0.05) as memory:
        proc.wait(timeout=60)
    assert memory.peak > 300 * 2**20


def test_full_size_memory_follows_the_same_linear_model_as_time():
    from full_profile import memory_full
    mb = 2**20
    # A: 1 GB; run C (twice the images: 20% instead of 10%) adds 0.5 GB; run B of image_epochs (4 units
    # instead of 1) adds 300 MB: 100 MB a unit on 10% of the images, so 1 GB a unit on all of them.
    peaks = {"a": 1024 * mb, "c": 1536 * mb, "image_epochs-4": 1324 * mb, "function_epochs-160": 1000 * mb}
    sl = {"image_epochs": (1, 20), "function_epochs": (40, 2000)}
    b_runs = {"image_epochs": (4, "image_epochs-4"), "function_epochs": (160, "function_epochs-160")}
    full = memory_full(peaks, b_runs, sl, d=0.1, d_c=0.2)
    expected = 1024 * mb + 0.5 * 1024 * mb * 0.9 / 0.1 + 100 * mb * (20 / 0.1 - 1)  # the smaller B run adds nothing
    assert full == pytest.approx(expected)
    # 30 MB more over 3 units is within a peak's noise: not extrapolated to 200 units (6 GB of nothing)
    noisy = memory_full({**peaks, "image_epochs-4": 1054 * mb}, b_runs, sl, d=0.1, d_c=0.2)
    assert noisy == pytest.approx(1024 * mb + 0.5 * 1024 * mb * 0.9 / 0.1)
