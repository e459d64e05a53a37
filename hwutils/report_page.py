"""build/report/index.html: the report as one page, from each notebook's results.json.

The page opens with one scorecard per section (1-1, 1-2, 1-3): how many of its claims this run reproduced,
contradicted or left inconclusive, on their own and after Holm's adjustment over every claim of the report.
Then each section's entries: their figures with the captions the notebooks gave them (`plots.save_fig(...,
caption=...)`), each with its PDF, and their claims — the effect as the quantity one thinks in (a log ratio
also as "×" its ratio), the direction the claim expected, p, n, the verdicts. The environment, the commit and
the run's fingerprint are said once, at the end. Status badges only where they mean something (a failed or a
missing entry); a skipped entry says when it ran. The family with its adjusted p values is also written beside
the page as claims.json.
"""
from __future__ import annotations

import hashlib
import html
import json
import subprocess
from pathlib import Path

from . import paths
from .claims import fmt_p, holm, needed_text
from .conclusions import claimed_direction, readable_effect

SECTIONS = {"1-1": "1-1 Deep vs Shallow", "1-2": "1-2 Optimization", "1-3": "1-3 Generalization"}
STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #444} h2{margin-top:2em;border-bottom:1px solid #aaa}
.scorecards{display:flex;gap:1em;flex-wrap:wrap}
.scorecard{flex:1;min-width:14em;border:1px solid #ccc;border-radius:6px;padding:.6em 1em}
.scorecard h3{margin:.2em 0 .4em 0;font-size:1.05em} .scorecard .counts{font-size:1.1em}
.entry{margin:1.5em 0;padding:1em;border:1px solid #ddd;border-radius:6px}
.status{display:inline-block;padding:.1em .6em;border-radius:4px;color:#fff;font-size:.85em}
.failed{background:#c33} .missing{background:#999}
figure{margin:1em 0} figcaption{color:#333;font-size:.92em;max-width:60em}
img{max-width:100%;border:1px solid #eee} pre{background:#f6f6f6;padding:.6em;overflow-x:auto}
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


def _note(c: dict) -> str:
    note = c.get("note") or ""
    if c.get("control"):
        note = f"control: {c['control']}" + (f"; {note}" if note else "")
    if c.get("holm_note"):
        note = f"{note}; Holm: {c['holm_note']}" if note else f"Holm: {c['holm_note']}"
    if c.get("verdict") not in ("reproduced", "contradicted") and not note:
        note = "no reason recorded"
    return note


def _claim_row(c: dict, has_holm: bool) -> str:
    """statement (source), the claimed direction, effect [interval] unit (a log ratio also as ×), p, n, verdict,
    Holm's p and verdict, what would decide it, and the note (why; the control beside it)."""
    source = f' <span class="meta">({html.escape(str(c.get("source", "")))})</span>' if c.get("source") else ""
    family = ""
    if has_holm:
        family = (f'<td class="holm">{html.escape(fmt_p(c.get("holm_p")))}</td>'
                  f"<td>{_verdict_html(c.get('holm_verdict', 'inconclusive'))}</td>")
    return (f'<tr class="claim" data-id="{html.escape(str(c.get("id", "")))}">'
            f"<td>{html.escape(str(c.get('statement', '')))}{source}</td>"
            f'<td class="expected">{html.escape(claimed_direction(c))}</td>'
            f'<td class="effect">{html.escape(readable_effect(c))}</td><td>{html.escape(fmt_p(c.get("p")))}</td>'
            f"<td>{html.escape(str(c.get('n', '')))}</td><td>{_verdict_html(c.get('verdict', 'inconclusive'))}</td>"
            f'{family}<td class="needed">{html.escape(needed_text(c))}</td>'
            f'<td class="why">{html.escape(_note(c))}</td></tr>')


def claims_table(claims: list[dict]) -> str:
    has_holm = any("holm_p" in c for c in claims)
    head = "".join(f"<th>{h}</th>" for h in ("claim (source)", "the claim expects", "this run: effect [95% interval]",
                                             "p", "n", "verdict", *(("Holm p", "after Holm") if has_holm else ()),
                                             "n needed", "note"))
    return (f"<table class='claims'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(_claim_row(c, has_holm) for c in claims)}</tbody></table>")


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


def _status(outcome: dict | None, results: dict | None) -> tuple[str, str]:
    """(css, words): failed and missing get a badge; a run now or an unchanged one says when it ran."""
    if outcome is None:
        return ("earlier", "not run now; results of an earlier run") if results else ("missing", "not run")
    if outcome.get("status") != "ok":
        return "failed", "failed"
    when = outcome.get("finished")
    if outcome.get("skipped"):
        return "skipped", f"unchanged since its run of {when.replace('T', ' ')}" if when else "unchanged since its last run"
    return "ok", "ran in this report run" + (f", finished {when.replace('T', ' ')}" if when else "")


def scorecards(rows: list[tuple]) -> str:
    """One card per section: its claims' verdicts on their own and after Holm over the whole report's family."""
    cards, all_counts = [], {v: 0 for v in VERDICTS}
    total_after = {v: 0 for v in VERDICTS}
    for key, title in SECTIONS.items():
        claims = [c for entry, _, _, results in rows if entry.stem.startswith(key)
                  for c in ((results or {}).get("claims") or [])]
        own = {v: sum((c.get("verdict") if c.get("verdict") in VERDICTS else "inconclusive") == v for c in claims)
               for v in VERDICTS}
        after = {v: sum(c.get("holm_verdict", "inconclusive") == v for c in claims) for v in VERDICTS}
        for v in VERDICTS:
            all_counts[v] += own[v]
            total_after[v] += after[v]
        missing = [entry.id for entry, css, _, results in rows if entry.stem.startswith(key) and not results]
        gap = (f"<p class='why'>no results from {html.escape(', '.join(missing))}</p>" if missing else "")
        holm_line = (f"<p class='meta'>after Holm: <b>{after['reproduced']} reproduced, {after['contradicted']} "
                     f"contradicted, {after['inconclusive']} inconclusive</b></p>"
                     if any("holm_p" in c for c in claims) else "")
        cards.append(f'<div class="scorecard" data-section="{key}"><h3>{html.escape(title)}</h3>'
                     f"<p class='counts'><b>{own['reproduced']} reproduced, {own['contradicted']} contradicted, "
                     f"{own['inconclusive']} inconclusive</b> of {len(claims)} claims</p>{holm_line}{gap}</div>")
    total = sum(all_counts.values())
    headline = (f"<p class='headline'><b>{all_counts['reproduced']} reproduced, {all_counts['contradicted']} "
                f"contradicted, {all_counts['inconclusive']} inconclusive</b> of {total} claims; after Holm over all "
                f"{total}: <b>{total_after['reproduced']} reproduced, {total_after['contradicted']} contradicted</b>.</p>")
    legend = ("<p class='meta'>Reproduced: the effect goes the claimed way and its 95% interval excludes no effect; "
              "contradicted: it excludes no effect the other way; a claim of equality (the claim expects 'equal' or "
              "'no relation') is reproduced when its whole interval lies inside the margin, contradicted when wholly "
              "outside it; 'every run passes' is contradicted by one run that fails; inconclusive: otherwise, and the "
              "note says why. "
              "After Holm: each claim's two-sided p adjusted over every claim of this report run (a claim without a "
              "p counts as 1), so that the chance of any false decision in the family stays at 5%. n needed: the "
              "seeds or runs at which the claim's own test would decide with 80% power, if the effect and spread "
              "were as measured (a planning estimate).</p>")
    return (f'<h2 id="scorecards">Scorecards</h2><div class="scorecards">{"".join(cards)}</div>'
            f"{headline}{legend}")


def _figure_html(entry_id: str, rel: Path, fig: str, caption: str) -> str:
    src = html.escape((rel / fig).as_posix())
    pdf = html.escape((rel / Path(fig).with_suffix(".pdf")).as_posix())
    # A figure that fails to load says so on the page instead of showing a broken icon.
    return (f'<figure><img src="{src}" alt="{html.escape(entry_id)}: {html.escape(caption)}" '
            f'onerror="this.outerHTML=\'<p class=&quot;missing-figure&quot;>figure missing: {html.escape(fig)}</p>\'">'
            f'<figcaption>{html.escape(caption)} <a class="meta" href="{pdf}">PDF</a></figcaption></figure>')


def _entry_html(entry, outcome, loaded: tuple | None = None) -> str:
    css, label, results = loaded or _load_results(entry, outcome, paths.BUILD)
    badge = f' <span class="status {css}">{label}</span>' if css in ("failed", "missing") else ""
    parts = [f'<div class="entry" id="{entry.id}"><h3>{html.escape(entry.id)}{badge}</h3>']
    if css not in ("failed", "missing"):
        parts.append(f'<p class="meta when">{html.escape(label)}</p>')
    if css == "failed":
        parts.append(f"<pre>{html.escape((outcome or {}).get('message') or '')}</pre>")
    if results:
        rel = Path("..") / entry.id
        captions = results.get("captions") or {}
        for fig in results.get("figures", []):
            caption = captions.get(fig) or f"{Path(fig).stem.replace('_', ' ')} (the notebook gave no caption)"
            parts.append(_figure_html(entry.id, rel, fig, caption))
        if results.get("claims"):
            parts.append("<p><b>Claims</b></p>" + claims_table(results["claims"]))
        else:
            parts.append("<p class='why'>this run recorded no claims</p><p><b>Findings</b></p><ul>" +
                         "".join(f"<li>{html.escape(f)}</li>" for f in results.get("findings", [])) + "</ul>")
        params = results.get("params", {})
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v))}</td></tr>"
                       for k, v in params.items() if k != "out_dir")
        wall = results.get("wall_time", {})
        notebook = rel / f"{entry.stem}.ipynb"
        parts.append(f'<p class="meta">profile {html.escape(str(results.get("profile")))}, seed {results.get("seed")}, '
                     f'dataset {html.escape(str(results.get("dataset") or "—"))}, wall time {wall.get("total", 0):.1f} s '
                     f'({html.escape(", ".join(f"{k} {v:.1f} s" for k, v in wall.get("stages", {}).items()))}). '
                     f'<a href="{html.escape(notebook.as_posix())}">executed notebook</a></p>')
        parts.append(f"<details><summary>parameters</summary><table>{rows}</table></details>")
    elif css == "missing":
        parts.append("<p class='why'>not run: no claims</p>")
    parts.append("</div>")
    return "\n".join(parts)


def commit() -> str:
    """The project's git commit (with '+ local changes' when the tree differs), or 'unknown' outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=paths.ROOT, capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return "unknown (not a git checkout)"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=paths.ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + (" + local changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"


def run_fingerprint(outcomes: dict) -> str:
    """One hash over every entry's fingerprint (notebook, parameters, profile, hwutils code, library versions)."""
    parts = sorted(f"{name}={o.get('fingerprint')}" for name, o in outcomes.items())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16] if parts else "—"


def environment_html(loaded: dict, outcomes: dict) -> str:
    """The environment, the commit and the fingerprint, once (the entries' runs share one environment; an entry
    whose versions or device differ from the first is named)."""
    runs = [(eid, r) for eid, (_, _, r) in loaded.items() if r]
    first = runs[0][1] if runs else {}
    versions = first.get("versions", {})
    odd = [eid for eid, r in runs if r.get("versions") != versions or r.get("device") != first.get("device")]
    text = (f"<p class='meta'>device: {html.escape(str(first.get('device', '—')))}; "
            f"{html.escape(', '.join(f'{k} {v}' for k, v in versions.items()) or 'versions: —')}.</p>"
            f"<p class='meta'>commit {html.escape(commit())}; run fingerprint {html.escape(run_fingerprint(outcomes))}"
            f" (over every entry's notebook, parameters, profile, hwutils code and library versions).</p>")
    if odd:
        text += f"<p class='why'>ran in another environment: {html.escape(', '.join(odd))}</p>"
    return f'<h2 id="environment">Environment</h2>{text}'


def write_page(path: Path, entries, outcomes: dict, profile: str) -> Path:
    entries = list(entries)
    loaded = {e.id: _load_results(e, outcomes.get(e.id), paths.BUILD) for e in entries}
    rows = [(e, *loaded[e.id]) for e in entries]
    claims_family = family(rows)
    (path.parent / "claims.json").write_text(json.dumps(claims_family, indent=1, allow_nan=False))
    body = [f"<h1>hw1 lab report</h1><p class='meta'>profile {html.escape(profile)}; "
            f"each section's claims are computed from its own run.</p>", scorecards(rows)]
    for key, title in SECTIONS.items():
        body.append(f'<h2 id="section-{key}">{html.escape(title)}</h2>')
        for entry in entries:
            if entry.stem.startswith(key):
                body.append(_entry_html(entry, outcomes.get(entry.id), loaded[entry.id]))
    body.append(environment_html(loaded, outcomes))
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>hw1 lab report</title>"
                    f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>")
    return path
