"""The claims of a report run as a Markdown table (the README's), from build/report/claims.json.

    python -m hwutils.claims_table [path/to/claims.json]

One row per claim: its id, the notebook entry, the effect [95% interval] with its unit, p, n, the verdict,
Holm's adjusted p and verdict over the whole family, and for an undecided claim n needed.
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


def main(argv: list[str] | None = None) -> int:
    from . import paths
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else paths.BUILD / "report" / "claims.json"
    if not path.exists():
        print(f"{path} does not exist: run the report first (make report)", file=sys.stderr)
        return 1
    print(markdown(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
