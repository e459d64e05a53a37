"""A claim read the way a person thinks of it: its effect as the quantity (a log ratio also as "×" its ratio),
the direction the claim expected, and the run's conclusions as plain sentences.

The notebooks' closing cell "What this run shows" and the report page build their words here, from the claim
dicts in results.json; no sentence about a number is written by hand anywhere else.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from .claims import _num, effect_text, fmt, fmt_p, needed_text


def is_log_ratio(unit: str) -> bool:
    """Whether an effect in `unit` is the logarithm of a ratio ("log loss ratio", "log(σ_min / σ*)")."""
    unit = unit or ""
    return "log-log" not in unit and "log" in unit and ("ratio" in unit or "/" in unit)


def _times(x: float | None) -> str:
    if x is None:
        return "—"
    try:
        return f"×{fmt(math.exp(x))}"
    except OverflowError:
        return "×∞"


def ratio_text(c: dict) -> str:
    """'×10.4 [×2.1, ×51]' for a claim whose effect is a log ratio; '' otherwise."""
    effect = _num(c.get("effect"))
    if effect is None or not is_log_ratio(c.get("unit", "")):
        return ""
    lo, hi = (list(c.get("interval") or [None, None]) + [None, None])[:2]
    text = _times(effect)
    if _num(lo) is not None or _num(hi) is not None:
        text += f" [{_times(_num(lo))}, {_times(_num(hi))}]"
    return text


def readable_effect(c: dict) -> str:
    """The effect with its interval and unit, and a log ratio also as its ratio: '2.34 [1.1, 3.9] log loss ratio
    (ratio ×10.4 [×3, ×49])'."""
    text = effect_text(c)
    ratio = ratio_text(c)
    return f"{text} (ratio {ratio})" if ratio else text


def claimed_direction(c: dict) -> str:
    """What the claim expected, from its registry entry ('' for an id the registry does not hold)."""
    from .claim_registry import spec
    try:
        return spec(str(c.get("id", ""))).direction
    except KeyError:
        return ""


def _evidence(c: dict) -> str:
    parts = []
    if _num(c.get("p")) is not None:
        parts.append(f"p {'<' if _num(c['p']) < 0.001 else '='} {fmt_p(c['p']).lstrip('< ')}")
    parts.append(f"n = {c.get('n', 0)}" + (f" {c['replication']}" if c.get("replication") else ""))
    return ", ".join(parts)


def conclusion(c: dict) -> str:
    """One plain sentence (two at most) saying what this run shows about claim `c`."""
    statement = str(c.get("statement", "")).rstrip(".")
    verdict = c.get("verdict", "inconclusive")
    direction = claimed_direction(c)
    expected = f" (the claim expects: {direction})" if direction else ""
    effect = readable_effect(c)
    if verdict == "reproduced":
        return (f"Reproduced — {statement}: the effect, {effect}, goes the claimed way{expected} and its 95% "
                f"interval excludes no effect ({_evidence(c)}).")
    if verdict == "contradicted":
        return (f"Contradicted — {statement}: the effect, {effect}, goes the other way{expected} and its 95% "
                f"interval excludes no effect ({_evidence(c)}).")
    measured = f"the effect is {effect} ({_evidence(c)})" if _num(c.get("effect")) is not None else \
        f"there is no effect to measure ({_evidence(c)})"
    why = str(c.get("note") or "").split("; n needed")[0].strip()
    needed = needed_text(c)
    return (f"Undecided — {statement}: {measured}" + (f"; {why}" if why else "") +
            (f". Seeds or runs that would decide it: {needed}." if needed else "."))


def summary(claims: Iterable[dict]) -> str:
    claims = list(claims)
    counts = {v: sum(c.get("verdict") == v for c in claims) for v in ("reproduced", "contradicted")}
    undecided = len(claims) - sum(counts.values())
    return (f"This run tested {len(claims)} claim{'s' if len(claims) != 1 else ''}: {counts['reproduced']} "
            f"reproduced, {counts['contradicted']} contradicted, {undecided} undecided.")


def what_this_run_shows(claims: Iterable[Any]) -> list[str]:
    """The closing sentences of a notebook: the summary, then one conclusion per claim (Claim objects or dicts)."""
    dicts = [c.as_dict() if hasattr(c, "as_dict") else dict(c) for c in claims]
    return [summary(dicts)] + [conclusion(c) for c in dicts]


def show(claims: Iterable[Any]) -> None:
    """Print what_this_run_shows(claims), one paragraph each: the notebooks' closing cell."""
    print("\n\n".join(what_this_run_shows(claims)))
