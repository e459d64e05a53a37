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


def test_kind(c: dict) -> str:
    """How claim `c` is decided, which sets what its verdict means: "equivalence" (a claim of equality: the whole
    95% interval inside the margin, or wholly outside it), "every_run" (every run passes; one that fails is a
    counterexample), or "direction" (the interval excludes no effect on one side: every other test)."""
    from .claim_registry import spec
    try:
        s = spec(str(c.get("id", "")))
        if s.direction == "every run passes":
            return "every_run"
        if "equivalence" in s.test:
            return "equivalence"
    except KeyError:
        pass
    return "equivalence" if "margin ±" in str(c.get("note") or "") else "direction"


def _decided(c: dict, verdict: str, statement: str, effect: str, expected: str) -> str:
    kind = test_kind(c)
    word = "Reproduced" if verdict == "reproduced" else "Contradicted"
    if kind == "equivalence":
        where = "inside" if verdict == "reproduced" else "wholly outside"
        return (f"{word} — {statement}: the effect, {effect}, and its whole 95% interval lie {where} the margin of "
                f"equality{expected} ({_evidence(c)}).")
    if kind == "every_run":
        n = int(c.get("n") or 0)
        if verdict == "reproduced":
            return (f"{word} — {statement}: every one of the {n} {c.get('replication') or 'runs'} passes, too many "
                    f"to be chance at a pass rate of 1/2 ({_evidence(c)}).")
        failed = n - int(round((_num(c.get("effect")) or 0.0) * n))
        return (f"{word} — {statement}: {failed} of the {n} {c.get('replication') or 'runs'} fall short, a "
                f"counterexample to 'every run' ({_evidence(c)}).")
    way = "the claimed way" if verdict == "reproduced" else "the other way"
    return (f"{word} — {statement}: the effect, {effect}, goes {way}{expected} and its 95% interval excludes no "
            f"effect ({_evidence(c)}).")


def _after_holm(c: dict) -> str:
    """What Holm's adjustment over the report's family makes of the claim, where it went through one."""
    if "holm_verdict" not in c:
        return ""
    after, own = c.get("holm_verdict") or "inconclusive", c.get("verdict", "inconclusive")
    family = f"the report's {c['family_size']} claims" if c.get("family_size") else "the report's claims"
    if after == own:
        return f" After Holm's adjustment over {family} (p = {fmt_p(c.get('holm_p'))}) it stays {after}." \
            if own in ("reproduced", "contradicted") else ""
    needed = (c.get("n_needed_holm") or {}).get("text", "")
    note = c.get("holm_note", "") if not needed else ""
    return (f" After Holm's adjustment over {family} (p = {fmt_p(c.get('holm_p'))}) it is {after}: on its own "
            f"test alone it would be {own}" + (f"; {needed}." if needed else ".") +
            (f" {note[:1].upper()}{note[1:]}." if note else ""))


def conclusion(c: dict) -> str:
    """One plain sentence (two at most) saying what this run shows about claim `c`; where `c` went through
    Holm's adjustment (`claims.holm`), what that makes of it."""
    statement = str(c.get("statement", "")).rstrip(".")
    verdict = c.get("verdict", "inconclusive")
    direction = claimed_direction(c)
    expected = f" (the claim expects: {direction})" if direction else ""
    effect = readable_effect(c)
    if verdict in ("reproduced", "contradicted"):
        return _decided(c, verdict, statement, effect, expected) + _after_holm(c)
    measured = f"the effect is {effect} ({_evidence(c)})" if _num(c.get("effect")) is not None else \
        f"there is no effect to measure ({_evidence(c)})"
    why = str(c.get("note") or "").split("; n needed")[0].strip()
    needed = needed_text(c)
    return (f"Undecided — {statement}: {measured}" + (f"; {why}" if why else "") +
            (f". Seeds or runs that would decide it: {needed}." if needed else "."))


def summary(claims: Iterable[dict]) -> str:
    """How many claims the run reproduced, contradicted and left undecided; after Holm too where the claims
    went through it."""
    claims = list(claims)

    def counts(key: str) -> str:
        c = {v: sum(d.get(key) == v for d in claims) for v in ("reproduced", "contradicted")}
        return f"{c['reproduced']} reproduced, {c['contradicted']} contradicted, {len(claims) - sum(c.values())} undecided"
    text = f"This run tested {len(claims)} claim{'s' if len(claims) != 1 else ''}: {counts('verdict')}"
    if claims and all("holm_verdict" in d for d in claims):
        text += f"; after Holm's adjustment: {counts('holm_verdict')}"
    return text + "."


def what_this_run_shows(claims: Iterable[Any]) -> list[str]:
    """The closing sentences of a notebook: the summary, then one conclusion per claim (Claim objects or dicts)."""
    dicts = [c.as_dict() if hasattr(c, "as_dict") else dict(c) for c in claims]
    return [summary(dicts)] + [conclusion(c) for c in dicts]


def show(claims: Iterable[Any]) -> None:
    """Print what_this_run_shows(claims), one paragraph each: the notebooks' closing cell."""
    print("\n\n".join(what_this_run_shows(claims)))
