"""The claims of a report run as a Markdown table (the README's), from build/report/claims.json.

    python -m hwutils.claims_table [path/to/claims.json]
    python -m hwutils.claims_table --budget QUICK.json STANDARD.json [--state STANDARD/state.json]
    python -m hwutils.claims_table --compact QUICK.json STANDARD.json

One row per claim: its id, the notebook entry, the effect [95% interval] with its unit, p, n, the verdict,
Holm's adjusted p and verdict over the whole family, and for an undecided claim n needed. `--budget` puts two
runs side by side (what the standard profile's hour buys beside the quick profile's minutes), with each
entry's wall time and seeds from the standard run's state.json and results; `--compact` is the README's short
form (each profile's verdict and n, Holm's where it differs, n needed).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .claims import effect_text, fmt_p, needed_text


def markdown(family: list[dict]) -> str:
    head = "| claim | notebook | effect [95% interval] | p | n | verdict | Holm p | after Holm | n needed |"
    rows = [head, "| " + " | ".join(["---"] * 9) + " |"]
    for c in family:
        cells = [f"`{c.get('id', '')}`", c.get("entry", ""), effect_text(c).replace("|", "\\|"), fmt_p(c.get("p")),
                 str(c.get("n", "")), c.get("verdict", ""), fmt_p(c.get("holm_p")), c.get("holm_verdict", ""),
                 needed_text(c)]
        rows.append("| " + " | ".join(cells) + " |")
    counts = {v: sum(c.get("verdict") == v for c in family) for v in ("reproduced", "contradicted", "inconclusive")}
    after = {v: sum(c.get("holm_verdict") == v for c in family) for v in ("reproduced", "contradicted")}
    rows.append("")
    rows.append(f"{len(family)} claims: {counts['reproduced']} reproduced, {counts['contradicted']} contradicted, "
                f"{counts['inconclusive']} inconclusive; after Holm over all {len(family)}: {after['reproduced']} "
                f"reproduced, {after['contradicted']} contradicted.")
    return "\n".join(rows)


def _verdict(c: dict | None) -> str:
    if not c:
        return "—"
    text = f"{c.get('verdict', '')}: {effect_text(c)}, n = {c.get('n', '')}, Holm p {fmt_p(c.get('holm_p'))}"
    return text.replace("|", "\\|")


DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")


def base_id(claim_id: str | None) -> str:
    """A claim's id without its dataset suffix (1-1.one-two-equal.mnist -> 1-1.one-two-equal): the same claim
    on the quick profile's digits and on the standard profile's dataset."""
    head, _, last = (claim_id or "").rpartition(".")
    return head if head and last in DATASETS else (claim_id or "")


def _match(quick: list[dict]):
    by_entry = {(base_id(c.get("id")), c.get("entry")): c for c in quick}
    by_id: dict[str, dict] = {}
    for c in quick:
        by_id.setdefault(base_id(c.get("id")), c)
    return lambda c: by_entry.get((base_id(c.get("id")), c.get("entry"))) or by_id.get(base_id(c.get("id")))


def budget(quick: list[dict], standard: list[dict], times: dict | None = None) -> str:
    """Per claim (matched by id, its dataset suffix aside, and the entry's notebook), the standard run's verdict
    beside the quick run's, and for a claim the standard run leaves undecided, what would decide it."""
    quick_of = _match(quick)
    rows = ["| notebook | wall time (standard) | claim | standard | quick | would decide it |",
            "| --- | --- | --- | --- | --- | --- |"]
    for c in standard:
        entry = c.get("entry", "")
        wall = (times or {}).get(entry, "")
        undecided = c.get("holm_verdict", "inconclusive") == "inconclusive"
        needed = needed_text(c) if undecided else ""
        if undecided and c.get("holm_note") and c["holm_note"] not in needed:
            needed = "; ".join(filter(None, [needed, c["holm_note"]]))
        rows.append(f"| {entry} | {wall} | `{c.get('id')}` | {_verdict(c)} | {_verdict(quick_of(c))} | "
                    f"{needed.replace('|', '/')} |")
    return "\n".join(rows)


def _short(c: dict | None) -> str:
    if not c:
        return "—"
    holm = c.get("holm_verdict")
    after = f"; Holm: {holm}" if holm and holm != c.get("verdict") else ""
    return f"{c.get('verdict', '')} (n {c.get('n', '')}{after})"


def compact(quick: list[dict], standard: list[dict]) -> str:
    """The README's table: one row per standard-run claim, each profile's verdict with its n (and Holm's verdict
    over the family where it differs), and for what the standard run leaves undecided, its n needed."""
    quick_of = _match(quick)
    rows = ["| claim | notebook | quick (digits) | standard | standard leaves it: n needed |",
            "| --- | --- | --- | --- | --- |"]
    for c in standard:
        needed = needed_text(c)  # undecided on its own test, or decided but not after Holm
        rows.append(f"| `{c.get('id')}` | {c.get('entry', '')} | {_short(quick_of(c))} | {_short(c)} | "
                    f"{needed.replace('|', '/')} |")
    verdicts = [c.get("holm_verdict") for c in standard]
    rows.append("")
    rows.append(f"standard: {len(standard)} claims, after Holm {verdicts.count('reproduced')} reproduced, "
                f"{verdicts.count('contradicted')} contradicted, {verdicts.count('inconclusive')} inconclusive.")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    from . import paths
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("--budget", "--compact"):
        quick, standard = (json.loads(Path(a).read_text()) for a in argv[1:3])
        if argv[0] == "--compact":
            print(compact(quick, standard))
            return 0
        times = None
        if "--state" in argv:
            state = json.loads(Path(argv[argv.index("--state") + 1]).read_text())
            times = {name: f"{e.get('seconds', 0) / 60:.1f} min" for name, e in state.get("entries", state).items()
                     if isinstance(e, dict) and "seconds" in e}
        print(budget(quick, standard, times))
        return 0
    path = Path(argv[0]) if argv else paths.BUILD / "report" / "claims.json"
    if not path.exists():
        print(f"{path} does not exist: run the report first (make report)", file=sys.stderr)
        return 1
    print(markdown(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
