"""What a notebook on the standard or full profile costs, measured, and the notice it prints before any work.

The one place these numbers live: the README, docs/benchmarks.md and the notebooks' notice read them here.
Minutes of wall time on this project's 2-core CPU machine (no GPU), per report entry:

- `standard`: the confirmatory run of docs/profiles.md repeated on an idle machine (nothing else running), `python
  -m hwutils.report --profile standard -p dataset fashion_mnist` (seed 0, 2026-12-01, commit dda19bb; its results
  bit-identical to the confirmatory run's; build/report/state.json "seconds", kernel start included), real 28×28
  images; the two entries that use CIFAR-10 (1-1-actual-tasks-cifar10, 1-3-parameters) from `python
  benchmarks/full_profile.py --profile standard --only 1-1-actual-tasks-cifar10 --only 1-3-parameters` on random
  arrays of CIFAR-10's shapes (their epochs are fixed, so the pixels do not change the time), also idle.
- `full`: `python benchmarks/full_profile.py` (slices of every entry on random data of the full shapes,
  extrapolated linearly to the full epochs and sizes; docs/benchmarks.md "The full profile's cost"); where the
  notebook stops at a target that random pixels never meet, the figure is an upper bound.
"""
from __future__ import annotations

from typing import Any

MEASURED_MINUTES: dict[str, dict[str, float | None]] = {
    "standard": {
        "1-1-simulate-function-sinc": 2.7,
        "1-1-simulate-function-xcosx": 2.4,
        "1-1-actual-tasks-cifar10": 2.4,
        "1-1-actual-tasks-mnist": 1.8,
        "1-2-trajectories": 1.0,
        "1-2-gradient-norm": 3.9,
        "1-2-zero-gradient": 3.4,
        "1-2-error-surface": 1.1,
        "1-3-random-labels": 9.6,
        "1-3-parameters": 1.9,
        "1-3-flatness": 5.4,
    },
    "full": {
        "1-1-simulate-function-sinc": 5.4, "1-1-simulate-function-xcosx": 3.4,
        "1-1-actual-tasks-cifar10": 94.0, "1-1-actual-tasks-mnist": 31.6,
        "1-2-trajectories": 2.1, "1-2-gradient-norm": 19.7, "1-2-zero-gradient": 11.0,
        "1-2-error-surface": 4.7, "1-3-random-labels": 5240.0, "1-3-parameters": 1202.0, "1-3-flatness": 1980.0,
    },
}
# Entries whose full figure is an upper bound (they stop at a target; the benchmark's random pixels never meet it).
UPPER_BOUNDS = {"1-3-random-labels", "1-3-flatness"}
# The entry a notebook's own parameters pick, where the report runs it more than once.
_LABELLED = {"1-1-simulate-function": "target", "1-1-actual-tasks": "dataset"}


def entry_id(stem: str, resolved: dict[str, Any]) -> str:
    """The report entry a notebook run with these parameters corresponds to (1-1-simulate-function-sinc, ...)."""
    key = _LABELLED.get(stem)
    return f"{stem}-{resolved[key]}" if key and resolved.get(key) else stem


def hours_and_minutes(minutes: float) -> str:
    if minutes < 60:
        return f"{minutes:.0f} min" if minutes >= 1 else "under a minute"
    return f"{int(minutes // 60)} h {int(round(minutes % 60)):02d} min"


def cost_text(stem: str, resolved: dict[str, Any]) -> str:
    """The measured cost of this run's entry in its profile, or '' for smoke and quick (minutes at most)."""
    profile = resolved.get("profile")
    if profile not in MEASURED_MINUTES:
        return ""
    entry = entry_id(stem, resolved)
    minutes = MEASURED_MINUTES[profile].get(entry)
    if minutes is None:
        return f"its cost on the {profile} profile is not measured yet (the whole standard report: about an hour)"
    bound = "at most " if profile == "full" and stem in UPPER_BOUNDS else "about "
    how = "measured" if profile == "standard" else "extrapolated from benchmarks/full_profile.py"
    return f"it takes {bound}{hours_and_minutes(minutes)} on a 2-core CPU ({how}; hwutils/costs.py)"


def dataset_text(resolved: dict[str, Any]) -> str:
    """Which dataset the run needs and where it was found, or what to do when it is nowhere on disk."""
    name = resolved.get("dataset")
    if not name:
        return "it needs no dataset (its data are generated)"
    from . import data
    try:
        where = data.available(name)
    except data.DatasetUnavailable as missing:
        return f"it needs {name}, which is not on this machine: {missing}"
    return f"it needs {name} ({'bundled' if where == 'bundled' else f'found: {where}'})"


def notice(stem: str, resolved: dict[str, Any]) -> str:
    """The line a notebook on `standard` or `full` prints before any work ('' otherwise): the profile was chosen
    explicitly, so say what it needs and what it costs before the hours start."""
    cost = cost_text(stem, resolved)
    if not cost:
        return ""
    return f"{stem} on the {resolved['profile']} profile: {dataset_text(resolved)}; {cost}."
