"""Parameter sweeps: one notebook over the cross product of parameter values, resumably, locally or on Dask.

    python -m hwutils.sweep notebooks/1-3-parameters.ipynb -p seed 0 1 2 3 4 -p epochs 10 20
    python -m hwutils.sweep notebooks/1-3-flatness.ipynb -f grid.yaml --workers 4
    python -m hwutils.sweep NOTEBOOK ... --scheduler tcp://HOST:8786 --metric test_accuracy --against epochs

Each point of the grid is one papermill run with its own out_dir, build/sweeps/<name>/<point>/
(<name>: --name, else the notebook's stem). A point whose notebook, parameters, profile, hwutils code
and library versions are unchanged since it last finished is skipped, so an interrupted sweep resumes,
and adding a value to the grid runs only the new points; a point interrupted mid-training resumes from
its notebook's checkpoints (build/sweeps/<name>/checkpoints/<point>, or --checkpoint-dir). A `-p` with one value (or a list literal,
`-p widths "[4, 16]"`) fixes that parameter for every point.

The YAML grid of `-f` is a mapping from parameter name to a list of values (a scalar fixes it), or
`{grid: {...}, notebook: PATH, name: NAME, profile: PROFILE}`; `-p` values are added to it.

Writes build/sweeps/<name>/sweep.csv: one row per point of the grid (its parameters, status, seconds,
the run's scalar results, and each claim's verdict and effect as `claim:<id>` and `claim:<id>:effect`),
and summary.png: a chosen metric (--metric) against a chosen parameter (--against), mean and range over
the other parameters. In Python: `hwutils.sweep.load(name)` gives the table as a pandas DataFrame.
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from . import params as params_mod
from . import paths
from .report import Job, Options, Runner, add_cluster_arguments, parse_value, summary_lines, write_atomic

META = {"notebook", "profile", "params", "versions", "device", "figures", "captions", "findings", "claims", "wall_time",
        "seed", "dataset", "out_dir", "resumed"}


def sweep_dir(name: str) -> Path:
    return paths.BUILD / "sweeps" / name


def grid_points(grid: dict[str, list]) -> list[dict[str, Any]]:
    """The cross product, in the order the values were given (the first parameter varies slowest)."""
    names = list(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]


def _slug(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return re.sub(r"[^A-Za-z0-9.+-]", "_", text)


def point_name(point: dict[str, Any]) -> str:
    """A folder name that says the point: seed-0_epochs-10; a short hash is added when the readable
    form had to drop characters or is long, so that two points never share a folder."""
    parts = [f"{k}-{_slug(v)}" for k, v in point.items()]
    name = "_".join(parts) or "default"
    lossless = all(isinstance(v, (int, float, bool)) or (isinstance(v, str) and _slug(v) == v) for v in point.values())
    if not lossless or len(name) > 80:
        digest = hashlib.sha256(json.dumps(point, sort_keys=True).encode()).hexdigest()[:8]
        name = f"{name[:70]}-{digest}"
    return name


def read_grid_file(path: Path) -> dict:
    import yaml

    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a grid file is a mapping from parameter name to values")
    return data


def _values(v) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]


# ---------------------------------------------------------------------------------------------
# The tidy table and its figure
# ---------------------------------------------------------------------------------------------

def _flat_results(results: dict) -> dict[str, Any]:
    """The run's scalar results: top-level numbers and strings, one level of nested dicts, the total
    wall time, and every claim's verdict and effect."""
    row: dict[str, Any] = {}
    for key, value in results.items():
        if key in META:
            continue
        if isinstance(value, (int, float, str, bool)) or value is None:
            row[key] = value
        elif isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, (int, float, str, bool)):
                    row[f"{key}.{k}"] = v
    total = (results.get("wall_time") or {}).get("total")
    if total is not None:
        row["wall_time"] = total
    for claim in results.get("claims") or []:
        if isinstance(claim, dict) and claim.get("id") is not None:
            row[f"claim:{claim['id']}"] = claim.get("verdict")
            effect = claim.get("effect")
            if isinstance(effect, (int, float)):
                row[f"claim:{claim['id']}:effect"] = effect
    return row


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict, tuple)) else value


def table(name: str, points: list[dict], outcomes: dict[str, dict], profile: str):
    """One row per point: parameters, status, seconds, error (if failed), scalar results and claims."""
    import pandas as pd

    folder = sweep_dir(name)
    rows = []
    for point in points:
        pname = point_name(point)
        o = outcomes.get(pname, {})
        row = {"point": pname, **{k: _cell(v) for k, v in point.items()}, "profile": profile,
               "status": o.get("status"), "seconds": o.get("seconds"),
               "error": (o.get("message") or "").strip().splitlines()[-1] if o.get("status") != "ok"
               and o.get("message") else ""}
        results_path = folder / pname / "results.json"
        if o.get("status") == "ok" and results_path.is_file():
            try:
                results = json.loads(results_path.read_text())
            except ValueError:
                results = {}
            for k, v in _flat_results(results).items():
                row.setdefault(k, v)  # a result never overwrites a parameter column
        rows.append(row)
    return pd.DataFrame(rows)


def write_table(df, folder: Path) -> Path:
    """sweep.parquet where pyarrow is installed, else sweep.csv (written atomically either way)."""
    import importlib.util

    if importlib.util.find_spec("pyarrow") is not None:
        import io

        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        path = folder / "sweep.parquet"
        write_atomic(path, buf.getvalue())
    else:
        path = folder / "sweep.csv"
        write_atomic(path, df.to_csv(index=False))
    return path


def load(name: str):
    """A sweep's table as a pandas DataFrame (one row per run): `hwutils.sweep.load("1-3-parameters")`."""
    import pandas as pd

    folder = sweep_dir(name)
    if (folder / "sweep.parquet").is_file():
        return pd.read_parquet(folder / "sweep.parquet")
    if (folder / "sweep.csv").is_file():
        return pd.read_csv(folder / "sweep.csv")
    known = sorted(p.name for p in (paths.BUILD / "sweeps").glob("*") if p.is_dir()) \
        if (paths.BUILD / "sweeps").is_dir() else []
    raise FileNotFoundError(f"no sweep named {name!r} in {paths.BUILD / 'sweeps'}; known: {', '.join(known) or 'none'}")


def default_metric(df, parameters: list[str]) -> str | None:
    """The first numeric result column that varies between runs (else the first numeric one)."""
    skip = set(parameters) | {"point", "profile", "status", "seconds", "error", "wall_time"}
    numeric = []
    for col in df.columns:
        if col in skip or col.startswith("claim:") and not col.endswith(":effect"):
            continue
        values = df[col].dropna()
        if len(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            numeric.append(col)
    varied = [c for c in numeric if df[c].nunique() > 1]
    return (varied or numeric or [None])[0]


def default_against(grid: dict[str, list]) -> str | None:
    """The first parameter with several values, preferring one that is not a seed."""
    varied = [k for k, v in grid.items() if len(v) > 1]
    for k in varied:
        if "seed" not in k:
            return k
    return varied[0] if varied else (next(iter(grid), None))


def figure(df, metric: str, against: str, path: Path, over: list[str] = ()) -> Path:
    """`metric` against `against`: each run a dot, the mean a line, the band the range over the other
    parameters (seeds, ...) at each value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    ok = df[df["status"] == "ok"].copy()
    ok[metric] = pd.to_numeric(ok[metric], errors="coerce")
    ok = ok.dropna(subset=[metric])
    keys = list(dict.fromkeys(ok[against].tolist()))
    numeric = all(isinstance(k, (int, float)) and not isinstance(k, bool) for k in keys)
    keys = sorted(keys) if numeric else keys
    xs = {k: (k if numeric else i) for i, k in enumerate(keys)}
    fig, ax = plt.subplots(figsize=(6, 4))
    groups = [ok[ok[against] == k][metric].to_numpy(float) for k in keys]
    x = np.array([xs[k] for k in keys], float)
    if keys:
        mean = np.array([g.mean() for g in groups])
        lo, hi = np.array([g.min() for g in groups]), np.array([g.max() for g in groups])
        ax.fill_between(x, lo, hi, alpha=0.2, label="range")
        ax.plot(x, mean, marker="o", label="mean")
        for k, g in zip(keys, groups):
            ax.scatter(np.full(len(g), xs[k]), g, s=12, color="k", alpha=0.6, zorder=3)
    if not numeric:
        ax.set_xticks(x, [str(k) for k in keys])
    n = [len(g) for g in groups]
    ax.set_xlabel(against)
    ax.set_ylabel(metric)
    spread = f"range over {', '.join(over)}" if over else "range"
    ax.set_title(f"{metric} vs {against}: mean and {spread}\n({min(n) if n else 0}–{max(n) if n else 0} runs per value)",
                 fontsize=10)
    if keys:
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------------------------------------
# Running a sweep
# ---------------------------------------------------------------------------------------------

def run(notebook: str | Path, grid: dict[str, list], name: str | None = None, profile: str | None = None,
        options: Options | None = None, metric: str | None = None, against: str | None = None,
        gpus_per_task: float = 0):
    """Run (or resume) a sweep; returns (table DataFrame, {point: outcome}, paths written)."""
    notebook = Path(notebook)
    if not notebook.is_file() and (paths.NOTEBOOKS / notebook.name).is_file():
        notebook = paths.NOTEBOOKS / notebook.name
    if not notebook.is_file():
        raise FileNotFoundError(f"no notebook {notebook}")
    name = name or notebook.stem
    profile = profile or os.environ.get("HWUTILS_PROFILE") or "quick"
    options = options or Options()
    grid = {k: _values(v) for k, v in grid.items()}
    if notebook.stem in params_mod.SPECS:
        unknown = [k for k in grid if k not in params_mod.names(notebook.stem)]
        if unknown:
            raise ValueError(f"{notebook.stem} has no parameter(s) {', '.join(unknown)}; "
                             f"it has {', '.join(params_mod.names(notebook.stem))}")
    if "out_dir" in grid or "profile" in grid:
        raise ValueError("out_dir is set per point and profile by --profile; they cannot be swept")
    folder = sweep_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    points = grid_points(grid)
    jobs = [Job(point_name(p), notebook, {**p, "profile": profile}, folder / point_name(p),
                info={"point": p, "profile": profile, "notebook": str(notebook)}) for p in points]
    options.failed_dir = options.failed_dir or folder / "failed"
    options.checkpoint_dir = options.checkpoint_dir or folder / "checkpoints"  # an interrupted point resumes
    print(f"sweep {name}: {notebook.name} over {len(points)} points "
          f"({' x '.join(f'{len(v)} {k}' for k, v in grid.items()) or 'no parameters'}), profile {profile}, "
          + (f"{options.workers} local Dask workers" if options.workers else
             f"the Dask cluster at {options.scheduler}" if options.scheduler else "one after another")
          + f", output {folder}", flush=True)
    runner = Runner(jobs, folder / "state.json", options, gpus_per_task=gpus_per_task)
    try:
        outcomes = runner.run()
    finally:
        # Even when interrupted, the table shows what has finished so far.
        df = table(name, points, {**runner.state, **runner.outcomes}, profile)
        written = [write_table(df, folder)]
    metric = metric or default_metric(df, list(grid))
    against = against or default_against(grid)
    if metric and against and (df["status"] == "ok").any():
        if metric not in df.columns:
            print(f"warning: no result named {metric!r}; the table has {', '.join(df.columns)}", file=sys.stderr)
        else:
            over = [k for k, v in grid.items() if k != against and len(v) > 1]
            written.append(figure(df, metric, against, folder / "summary.png", over))
    print("\nsummary")
    print("\n".join(summary_lines(jobs, outcomes)))
    print(f"total {runner.elapsed()}; table: {written[0]}" + (f"; figure: {written[1]}" if len(written) > 1 else ""))
    return df, outcomes, written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hwutils.sweep", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebook", nargs="?", help="the notebook file (optional when the grid file names it)")
    ap.add_argument("-p", "--param", nargs="+", action="append", default=[], metavar="NAME VALUE",
                    help="a parameter and its values, e.g. -p seed 0 1 2 (values are Python literals)")
    ap.add_argument("-f", "--grid-file", help="a YAML grid (see above)")
    ap.add_argument("--name", help="the sweep's name: build/sweeps/<name>/ (default: the notebook's stem)")
    ap.add_argument("--profile", choices=params_mod.PROFILES, default=None,
                    help="default: $HWUTILS_PROFILE, else quick")
    ap.add_argument("--metric", help="the result on the summary figure's y axis (default: the first numeric one)")
    ap.add_argument("--against", help="the parameter on its x axis (default: the first varied non-seed one)")
    ap.add_argument("--force", action="store_true", help="re-run every point even when unchanged")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per run (default 3600)")
    ap.add_argument("--verbose", action="store_true")
    add_cluster_arguments(ap)
    args = ap.parse_args(argv)

    spec: dict = read_grid_file(Path(args.grid_file)) if args.grid_file else {}
    grid = dict(spec["grid"]) if isinstance(spec.get("grid"), dict) else \
        {k: v for k, v in spec.items() if k not in ("notebook", "name", "profile")}
    for item in args.param:
        if len(item) < 2:
            print(f"-p {item[0]}: give at least one value", file=sys.stderr)
            return 2
        grid[item[0]] = [parse_value(v) for v in item[1:]]
    notebook = args.notebook or spec.get("notebook")
    if not notebook:
        print("give the notebook (or `notebook:` in the grid file)", file=sys.stderr)
        return 2
    if args.workers is not None and args.workers < 1:
        print("--workers must be at least 1", file=sys.stderr)
        return 2
    options = Options(workers=args.workers, scheduler=args.scheduler, force=args.force, timeout=args.timeout,
                      verbose=args.verbose, retries=args.retries, allowed_failures=args.allowed_failures,
                      checkpoint_dir=Path(args.checkpoint_dir) if args.checkpoint_dir else None,
                      keep_checkpoints=args.keep_checkpoints)
    try:
        df, outcomes, _ = run(notebook, grid, name=args.name or spec.get("name"),
                              profile=args.profile or spec.get("profile"), options=options, metric=args.metric,
                              against=args.against, gpus_per_task=args.gpus_per_task)
    except (FileNotFoundError, ValueError) as err:
        print(err, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished points are kept and a rerun skips them", file=sys.stderr)
        return 130
    failed = [k for k, o in outcomes.items() if o["status"] != "ok"]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
