"""build/report/index.html: the report as one page, from each notebook's results.json."""
from __future__ import annotations

import html
import json
from pathlib import Path

from . import paths

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
"""


def _status(outcome: dict | None, results: dict | None) -> tuple[str, str]:
    if outcome is None:
        return ("skipped", "not run now; results of an earlier run") if results else ("missing", "not run")
    if outcome.get("status") != "ok":
        return "failed", "failed"
    return ("skipped", "unchanged; skipped") if outcome.get("skipped") else ("ok", "ran")


def _entry_html(entry, outcome, page_dir: Path) -> str:
    out_dir = paths.BUILD / entry.id
    results_path = out_dir / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else None
    css, label = _status(outcome, results)
    if css == "failed":
        results = None  # a failed run's old results would be misleading next to its failure
    parts = [f'<div class="entry" id="{entry.id}"><h3>{html.escape(entry.id)} '
             f'<span class="status {css}">{label}</span></h3>']
    if css == "failed":
        parts.append(f"<pre>{html.escape(outcome.get('message') or '')}</pre>")
    if results:
        rel = Path("..") / entry.id
        parts.append("<p><b>Findings</b></p><ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in results["findings"])
                     + "</ul>")
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
    body = [f"<h1>hw1 lab report</h1><p class='meta'>profile {html.escape(profile)}; "
            f"each section's findings are computed from its own run.</p>"]
    for key, title in SECTIONS.items():
        body.append(f"<h2>{html.escape(title)}</h2>")
        for entry in entries:
            if entry.stem.startswith(key):
                body.append(_entry_html(entry, outcomes.get(entry.id), path.parent))
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>hw1 lab report</title>"
                    f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>")
    return path
