"""Regenerate the whole report: run every notebook with papermill, resumably, and write one page.

    python -m hwutils.report [--profile quick|full] [--only PATTERN ...] [-p NAME VALUE ...] [--force]

The run list below is the report: both 1-1 functions, 1-1 actual tasks (CIFAR-10 and MNIST in
the full profile, the profile's dataset otherwise), and every 1-2 and 1-3 notebook. A notebook
whose notebook file, parameters, profile and hwutils code are unchanged since its last
successful run, and whose results exist, is skipped unless --force.
"""
from __future__ import annotations

import argparse
import ast
import fnmatch
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from . import params as params_mod
from . import paths
from .report_page import write_page


@dataclass
class Entry:
    stem: str
    label: str | None = None
    params: dict = field(default_factory=dict)
    profiles: tuple = ("smoke", "quick", "full")

    @property
    def id(self) -> str:
        return self.stem + (f"-{self.label}" if self.label else "")


RUN_LIST = [
    Entry("1-1-simulate-function", "sinc", {"target": "sinc"}),
    Entry("1-1-simulate-function", "xcosx", {"target": "xcosx"}),
    Entry("1-1-actual-tasks", None, {}, ("smoke", "quick")),
    Entry("1-1-actual-tasks", "cifar10", {"dataset": "cifar10"}, ("full",)),
    Entry("1-1-actual-tasks", "mnist", {"dataset": "mnist"}, ("full",)),
    Entry("1-2-trajectories"),
    Entry("1-2-gradient-norm"),
    Entry("1-2-zero-gradient"),
    Entry("1-2-error-surface"),
    Entry("1-3-random-labels"),
    Entry("1-3-parameters"),
    Entry("1-3-flatness"),
]


def run_list(profile: str, only: Sequence[str] = ()) -> list[Entry]:
    """The profile's entries, in report order; with `only`, those whose id matches any pattern."""
    entries = [e for e in RUN_LIST if profile in e.profiles]
    if only:
        entries = [e for e in entries if any(fnmatch.fnmatch(e.id, pat) or pat in e.id for pat in only)]
    return entries


def parse_value(text: str):
    """A -p value: a Python literal when it is one (5, 1e-3, [1, 2], None), else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def code_hash() -> str:
    """Hash of the hwutils sources: a change to the package re-runs every notebook."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        h.update(path.relative_to(paths.ROOT).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def fingerprint(entry: Entry, parameters: dict, code: str) -> str:
    notebook = (paths.NOTEBOOKS / f"{entry.stem}.ipynb").read_bytes()
    blob = json.dumps({"params": parameters, "code": code, "notebook": hashlib.sha256(notebook).hexdigest()},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _fmt_seconds(s: float | None) -> str:
    if s is None:
        return "?"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def execute(entry: Entry, parameters: dict, out_dir: Path, timeout: float, verbose: bool) -> tuple[str, str]:
    """Run one notebook in its own papermill process. Returns (status, message)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{entry.stem}.ipynb"
    cmd = [sys.executable, "-m", "papermill", str(paths.NOTEBOOKS / f"{entry.stem}.ipynb"), str(output),
           "-k", "python3", "--cwd", str(paths.NOTEBOOKS), "-y", json.dumps(parameters),
           "--log-level", "INFO" if verbose else "ERROR"]
    if not verbose:
        cmd.append("--no-progress-bar")
    env = dict(os.environ)
    env.setdefault("HWUTILS_QUIET", "" if verbose else "1")
    try:
        proc = subprocess.run(cmd, capture_output=not verbose, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return "failed", f"timed out after {_fmt_seconds(timeout)}"
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()
        lines = [line for line in tail if line.strip() and "I0000" not in line and "absl" not in line]
        return "failed", "\n".join(lines[-25:]) or f"papermill exited with {proc.returncode}"
    return "ok", ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hwutils.report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=params_mod.PROFILES, default=os.environ.get("HWUTILS_PROFILE") or "quick")
    ap.add_argument("--only", action="append", default=[], metavar="PATTERN",
                    help="run only the entries whose id matches (glob or substring), e.g. '1-3-*'; repeatable")
    ap.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="a parameter for every selected notebook that declares it")
    ap.add_argument("--force", action="store_true", help="re-run notebooks even when unchanged")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per notebook (default 3600)")
    ap.add_argument("--verbose", action="store_true", help="show papermill's per-cell progress and notebook output")
    args = ap.parse_args(argv)

    extra = {name: parse_value(value) for name, value in args.param}
    entries = run_list(args.profile, args.only)
    if not entries:
        print(f"no notebook matches --only {' '.join(args.only)} in the {args.profile} profile", file=sys.stderr)
        return 2
    unused = [n for n in extra if not any(n in params_mod.names(e.stem) for e in entries)]
    if unused:
        print(f"no selected notebook has the parameter(s) {', '.join(unused)}", file=sys.stderr)
        return 2

    report_dir = paths.BUILD / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    state_path = report_dir / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    code = code_hash()
    start = time.perf_counter()
    outcomes = {}
    print(f"hw1 lab report: {len(entries)} notebooks, profile {args.profile}, output {paths.BUILD}", flush=True)
    for n, entry in enumerate(entries, 1):
        out_dir = paths.BUILD / entry.id
        given = {**entry.params, **{k: v for k, v in extra.items() if k in params_mod.names(entry.stem)}}
        parameters = {**given, "profile": args.profile, "out_dir": str(out_dir)}
        fp = fingerprint(entry, {k: v for k, v in parameters.items() if k != "out_dir"}, code)
        prev = state.get(entry.id, {})
        head = f"[{n}/{len(entries)}] {entry.id}"
        elapsed = time.perf_counter() - start
        if (not args.force and prev.get("fingerprint") == fp and prev.get("status") == "ok"
                and (out_dir / "results.json").exists()):
            print(f"{head}: skipped, unchanged since its last run ({_fmt_seconds(prev.get('seconds'))}) "
                  f"[elapsed {_fmt_seconds(elapsed)}]", flush=True)
            outcomes[entry.id] = {**prev, "skipped": True}
            continue
        known = [state.get(e.id, {}).get("seconds") for e in entries[n - 1:]]
        remaining = sum(k for k in known if k) if all(known) else None
        print(f"{head}: running (last time {_fmt_seconds(prev.get('seconds'))}) [elapsed {_fmt_seconds(elapsed)}, "
              f"estimated remaining {_fmt_seconds(remaining)}]", flush=True)
        t0 = time.perf_counter()
        status, message = execute(entry, parameters, out_dir, args.timeout, args.verbose)
        seconds = time.perf_counter() - t0
        print(f"{head}: {status} in {_fmt_seconds(seconds)}" + (f"\n{message}" if message else ""), flush=True)
        state[entry.id] = {"fingerprint": fp if status == "ok" else None, "status": status, "seconds": seconds,
                           "message": message, "profile": args.profile, "params": given}
        outcomes[entry.id] = {**state[entry.id], "skipped": False}
        state_path.write_text(json.dumps(state, indent=1))  # after each notebook: an interrupt keeps the progress
    total = time.perf_counter() - start
    page = write_page(report_dir / "index.html", [e for e in RUN_LIST if args.profile in e.profiles], outcomes,
                      args.profile)
    print("\nsummary")
    width = max(len(e.id) for e in entries)
    for e in entries:
        o = outcomes[e.id]
        status = "skipped (unchanged)" if o.get("skipped") else o["status"]
        print(f"  {e.id:<{width}}  {status:<20} {_fmt_seconds(o.get('seconds'))}")
    failed = [e.id for e in entries if outcomes[e.id]["status"] != "ok"]
    print(f"total {_fmt_seconds(total)}; page: {page}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
