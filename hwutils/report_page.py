"""build/report/index.html: the report as one page, from each notebook's results.json.

The page opens with every claim of every entry (section, statement and source, this run's effect
[95% interval], p, n, the verdict coloured, Holm's adjusted p and verdict over the whole family of the
report's claims, and for an undecided claim why and how many seeds or runs would decide it), each linked to
its notebook's entry further down; then the sections with each entry's claims, figures and metadata.
The family with its adjusted p values is also written beside the page as claims.json.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

from . import paths
from .claims import effect_text, fmt_p, holm, needed_text

SECTIONS = {"1-1": "1-1 Deep vs Shallow", "1-2": "1-2 Optimization", "1-3": "1-3 Generalization"}
STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #444} h2{margin-top:2em;border-bottom:1px solid #aaa}
.entry{margin:1.5em 0;padding:1em;border:1px solid #ddd;border-radius:6px}
.status{display:inline-block;padding:.1em .6em;border-radius:4px;color:#fff;font-size:.85em}
.ok{background:#2a7} .skipped{background:#58a} .failed{background:#c33} .missing{background:#999}
img{max-width:100%;margin:.5em 0;border:1px solid #eee} pre{background:#f6f6f6;padding:.6em;overflow-x:auto}
table{border-collapse:collapse;font-size:.9em} td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left}
.meta{color:#555;font-size:.85em}
.verdict{display:inline-block;padding:0 .5em;border-radius:3px;color:#fff;font-weight:bold}
.reproduced{background:#2a7a3a} .contradicted{background:#c0392b} .inconclusive{background:#808080}
.why{color:#555}
"""
VERDICTS = ("reproduced", "contradicted", "inconclusive")


def _section(stem: str) -> str:
    return next((title for key, title in SECTIONS.items() if stem.startswith(key)), stem)


def _verdict_html(verdict: str) -> str:
    css = verdict if verdict in VERDICTS else "inconclusive"
    return f'<span class="verdict {css}">{html.escape(str(verdict))}</span>'


def _claim_cells(c: dict) -> str:
    """effect [interval] unit, p, n, verdict, Holm's p and verdict (when the family was adjusted), what would
    decide it (n_needed, for an undecided claim) and the note (why; the control beside it)."""
    note = c.get("note") or ""
    if c.get("control"):
        note = f"control: {c['control']}" + (f"; {note}" if note else "")
    if c.get("holm_note"):
        note = f"{note}; Holm: {c['holm_note']}" if note else f"Holm: {c['holm_note']}"
    if c.get("verdict") not in ("reproduced", "contradicted") and not note:
        note = "no reason recorded"
    family = ""
    if "holm_p" in c:
        family = (f'<td class="holm">{html.escape(fmt_p(c.get("holm_p")))}</td>'
                  f"<td>{_verdict_html(c.get('holm_verdict', 'inconclusive'))}</td>")
    return (f"<td>{html.escape(effect_text(c))}</td><td>{html.escape(fmt_p(c.get('p')))}</td>"
            f"<td>{html.escape(str(c.get('n', '')))}</td><td>{_verdict_html(c.get('verdict', 'inconclusive'))}</td>"
            f'{family}<td class="needed">{html.escape(needed_text(c))}</td><td class="why">{html.escape(note)}</td>')


def family(rows: list[tuple]) -> list[dict]:
    """Every claim of the report run, Holm-adjusted over all of them (`claims.holm`), in report order, each
    with the `entry` it belongs to; the entries' results get their claims replaced by the adjusted ones."""
    flat = [(entry, c) for entry, _, _, results in rows for c in ((results or {}).get("claims") or [])]
    adjusted = holm([c for _, c in flat])
    out, by_entry = [], {}
    for (entry, _), c in zip(flat, adjusted):
        out.append({**c, "entry": entry.id})
        by_entry.setdefault(entry.id, []).append(c)
    for entry, _, _, results in rows:
        if results and results.get("claims"):
            results["claims"] = by_entry[entry.id]
    return out


def _load_results(entry, outcome, build: Path) -> tuple[str, str, dict | None]:
    results_path = build / entry.id / "results.json"
    try:
        results = json.loads(results_path.read_text()) if results_path.exists() else None
    except (OSError, ValueError):
        results = None
    css, label = _status(outcome, results)
    if css == "failed":
        results = None  # a failed run's old results would be misleading next to its failure
    return css, label, results


def claims_table(rows: list[tuple], profile: str | None = None) -> str:
    """The page's opening table: one row per claim of every entry, linked to the entry's anchor.

    `rows` are (entry, status css, status label, results or None) in report order."""
    body, counts, after = [], {v: 0 for v in VERDICTS}, {v: 0 for v in VERDICTS}
    for entry, css, label, results in rows:
        link = f'<a href="#{html.escape(entry.id)}">{html.escape(entry.id)}</a>'
        claims = (results or {}).get("claims") or []
        if not claims:
            why = {"failed": "the notebook failed: no claims", "missing": "not run: no claims"}.get(
                css, "this run recorded no claims")
            body.append(f"<tr><td>{html.escape(_section(entry.stem))}</td><td>{link}</td>"
                        f'<td colspan="9" class="why">{html.escape(why)}</td></tr>')
            continue
        for c in claims:
            v = c.get("verdict", "inconclusive")
            counts[v if v in counts else "inconclusive"] += 1
            h = c.get("holm_verdict", "inconclusive")
            after[h if h in after else "inconclusive"] += 1
            source = f' <span class="meta">({html.escape(str(c.get("source", "")))})</span>' if c.get("source") else ""
            body.append(f'<tr class="claim" data-id="{html.escape(str(c.get("id", "")))}">'
                        f"<td>{html.escape(_section(entry.stem))}</td><td>{link}</td>"
                        f"<td>{html.escape(str(c.get('statement', '')))}{source}</td>{_claim_cells(c)}</tr>")
    total = sum(counts.values())
    headline = (f"<p class='headline'><b>{counts['reproduced']} reproduced, {counts['contradicted']} contradicted, "
                f"{counts['inconclusive']} inconclusive</b> of {total} claims; after Holm over all {total}: "
                f"<b>{after['reproduced']} reproduced, {after['contradicted']} contradicted</b>.</p>")
    summary = (headline + "<p class='meta'>Reproduced: the effect goes the claimed way and its 95% interval excludes "
               "no effect; contradicted: it excludes no effect the other way; inconclusive: otherwise, and the note "
               "says why. Holm p: each claim's two-sided p adjusted over every claim of this report run (a claim "
               "without a p counts as 1), so that the chance of any false decision in the family stays at 5%; "
               "after Holm: the verdict where the adjusted p ≤ 0.05. n needed: the seeds or runs at which the "
               "claim's own test would decide with 80% power, if the effect and spread were as measured (a planning "
               "estimate; from the interval's far end to the estimate).</p>")
    head = "".join(f"<th>{h}</th>" for h in ("section", "notebook", "claim (source)", "this run: effect [95% interval]",
                                             "p", "n", "verdict", "Holm p", "after Holm", "n needed", "note"))
    return (f'<h2 id="claims">Claims</h2>{summary}<table class="claims"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")



def _status(outcome: dict | None, results: dict | None) -> tuple[str, str]:
    if outcome is None:
        return ("skipped", "not run now; results of an earlier run") if results else ("missing", "not run")
    if outcome.get("status") != "ok":
        return "failed", "failed"
    return ("skipped", "unchanged; skipped") if outcome.get("skipped") else ("ok", "ran")


def _entry_html(entry, outcome, loaded: tuple | None = None) -> str:
    css, label, results = loaded or _load_results(entry, outcome, paths.BUILD)
    parts = [f'<div class="entry" id="{entry.id}"><h3>{html.escape(entry.id)} '
             f'<span class="status {css}">{label}</span></h3>']
    if css == "failed":
        parts.append(f"<pre>{html.escape(outcome.get('message') or '')}</pre>")
    if results:
        rel = Path("..") / entry.id
        if results.get("claims"):
            rows = "".join(f"<tr><td>{html.escape(str(c.get('statement', '')))}</td>"
                           f"<td>{html.escape(str(c.get('source', '')))}</td>{_claim_cells(c)}</tr>"
                           for c in results["claims"])
            has_holm = any("holm_p" in c for c in results["claims"])
            head = "".join(f"<th>{h}</th>" for h in ("claim", "source", "effect [95% interval]", "p", "n", "verdict",
                                                     *(("Holm p", "after Holm") if has_holm else ()), "n needed",
                                                     "note"))
            parts.append(f"<p><b>Claims</b></p><table class='claims'><thead><tr>{head}</tr></thead>"
                         f"<tbody>{rows}</tbody></table>")
        else:
            parts.append("<p><b>Findings</b></p><ul>" + "".join(f"<li>{html.escape(f)}</li>"
                                                                for f in results.get("findings", [])) + "</ul>")
        for fig in results.get("figures", []):
            # A figure that fails to load says so on the page instead of showing a broken icon.
            parts.append(f'<img src="{html.escape((rel / fig).as_posix())}" alt="{html.escape(entry.id)}: '
                         f'{html.escape(fig)}" onerror="this.outerHTML=\'<p class=&quot;missing-figure&quot;>'
                         f'figure missing: {html.escape(fig)}</p>\'">')
        params = results.get("params", {})
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v))}</td></tr>"
                       for k, v in params.items() if k != "out_dir")
        wall = results.get("wall_time", {})
        versions = ", ".join(f"{k} {v}" for k, v in results.get("versions", {}).items())
        notebook = rel / f"{entry.stem}.ipynb"
        parts.append(f'<p class="meta">profile {html.escape(str(results.get("profile")))}, seed {results.get("seed")}, '
                     f'dataset {html.escape(str(results.get("dataset") or "—"))}, wall time {wall.get("total", 0):.1f} s '
                     f'({html.escape(", ".join(f"{k} {v:.1f} s" for k, v in wall.get("stages", {}).items()))}); '
                     f'{html.escape(str(results.get("device")))}; {html.escape(versions)}. '
                     f'<a href="{html.escape(notebook.as_posix())}">executed notebook</a></p>')
        parts.append(f"<details><summary>parameters</summary><table>{rows}</table></details>")
    parts.append("</div>")
    return "\n".join(parts)


def write_page(path: Path, entries, outcomes: dict, profile: str) -> Path:
    entries = list(entries)
    loaded = {e.id: _load_results(e, outcomes.get(e.id), paths.BUILD) for e in entries}
    claims_family = family([(e, *loaded[e.id]) for e in entries])
    (path.parent / "claims.json").write_text(json.dumps(claims_family, indent=1, allow_nan=False))
    body = [f"<h1>hw1 lab report</h1><p class='meta'>profile {html.escape(profile)}; "
            f"each section's claims are computed from its own run.</p>",
            claims_table([(e, *loaded[e.id]) for e in entries], profile)]
    for key, title in SECTIONS.items():
        body.append(f"<h2>{html.escape(title)}</h2>")
        for entry in entries:
            if entry.stem.startswith(key):
                body.append(_entry_html(entry, outcomes.get(entry.id), loaded[entry.id]))
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>hw1 lab report</title>"
                    f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>")
    return path
