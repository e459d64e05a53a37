"""What the full profile costs on this machine: every full-profile report entry, run with papermill on
data of the full shapes, for short slices of its epoch-like parameters, extrapolated to the full values.

    python benchmarks/full_profile.py [--fraction 0.02] [--data-fraction 0.1] [--only PATTERN ...] [--memory-gb 24]
    python benchmarks/full_profile.py --profile standard [--dataset fashion_mnist] [--only PATTERN ...]

Each entry's line gives its time and the peak resident memory of its notebook's process tree (papermill and
its kernel, polled with psutil), for the slice run and extrapolated to the full size; an entry whose full
size would not fit in --memory-gb says what it needs.

Data: random arrays in the standard file formats, shaped like MNIST (60000 + 10000 images, 28x28) and
CIFAR-10 (50000 + 10000 images, 32x32x3), written to a temporary folder that $HWUTILS_DATA points to;
an epoch over random pixels costs what an epoch over the real images costs. Everything else keeps its
full-profile value (runs, seeds, widths, batch sizes, measure sizes), so the slice does the full work
except for the number of epochs (or gradient steps).

Model of the cost: wall time T = a + c d + sum_i b_i e_i d_i, linear in each epoch-like parameter e_i
(names ending in `epochs`, and `grad_steps`) and in the share d of the images used (`n_train`, `n_test`
set to `data_fraction` of the dataset): d_i = d for epochs over images, 1 for `function_epochs`.
- Run A sets every e_i to its slice s_i = max(1, round(fraction * full_i)).
- Run B_i sets e_i alone to u_i = k s_i (`--stretch` k, default 4); while T(B_i) - T(A) stays under a
  tenth of T(A) (papermill's run-to-run noise) it is stretched k times again, the last time to the full
  value. Its measured cost per unit is beta_i = (T(B_i) - T(A)) / (u_i - s_i) = b_i d_i.
- Run C trains A's slices on g times A's images (twice, or all of them when twice would pass the
  dataset): (T(C) - T(A)) / (g - 1) = c d + sum over the image epochs of beta_i s_i, which gives c d, the
  work that grows with the images but not with the epochs (evaluating every model on the training and
  test sets, loss surfaces over the training set).
The full time is T(A) + c (1 - d) + sum_i beta_i (full_i / d_i - s_i). `a` holds the kernel start, data
loading, compilation and the measures of fixed size (sharpness and sensitivity points, the function
task's Hessians). A difference within the noise is marked on the entry's line. Where training stops early
(a training-loss target, every run fitting its labels) the slices train to the cap, so that entry's figure
is an upper bound, and its line says so.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EPOCH_LIKE = re.compile(r"(^|_)epochs$|^grad_steps$")


def write_random_datasets(root: Path, seed: int = 0) -> None:
    """MNIST as mnist.npz and CIFAR-10 as cifar-10-batches-py/ pickles, random contents, full shapes."""
    rng = np.random.default_rng(seed)
    (root / "mnist").mkdir(parents=True)
    np.savez(root / "mnist" / "mnist.npz",
             x_train=rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8), y_train=rng.integers(0, 10, 60000),
             x_test=rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8), y_test=rng.integers(0, 10, 10000))
    batches = root / "cifar10" / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (10000, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, 10000)]}
        (batches / name).write_bytes(pickle.dumps(batch, protocol=4))


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants (papermill and its kernel), in bytes."""
    import psutil
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass  # ended between listing and reading
    return total


class PeakMemory:
    """The peak of tree_rss(pid) while the context runs, polled every `interval` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run_notebook(stem: str, params: dict, out: Path, env: dict, timeout: float) -> tuple[float, int]:
    """(wall time, peak resident memory of papermill's process tree in bytes) of one papermill run of
    `stem` with `params`; raises with the log tail on failure."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / f"{stem}.ipynb"), str(out / "run.ipynb"),
           "--no-progress-bar", "-k", "python3"]
    for name, value in {**params, "out_dir": str(out)}.items():
        cmd += ["-y", json.dumps({name: value})]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    with PeakMemory(proc.pid) as memory:
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{stem} {params} failed:\n{stderr[-3000:]}")
    return seconds, memory.peak


NOT_IMAGES = {"function_epochs"}
# Training stops before `epochs` once a target is met (a training-loss target; every run fitting its
# labels): the slice runs, on random pixels, train to the cap, so these entries' figures are upper bounds.
STOPS_EARLY = {"1-3-flatness", "1-3-random-labels"}
SIZES = {"mnist": (60000, 10000), "fashion_mnist": (60000, 10000), "cifar10": (50000, 10000)}


def data_slice(stem: str, fixed: dict, data_fraction: float) -> tuple[dict, float]:
    """({n_train, n_test} at `data_fraction` of the full-profile dataset, d), or ({}, 1.0) where the
    notebook has no image dataset or the entry fixes the subset itself."""
    from hwutils import params as params_mod
    spec = {p.name: p for p in params_mod.spec(stem)}
    dataset = fixed.get("dataset") or (spec["dataset"].full if "dataset" in spec else None)
    if dataset not in SIZES or "n_train" in fixed or data_fraction >= 1:
        return {}, 1.0
    n_train, n_test = SIZES[dataset]
    return {"n_train": round(data_fraction * n_train), "n_test": round(data_fraction * n_test)}, data_fraction


def slices(stem: str, fixed: dict, fraction: float) -> dict[str, tuple[int, int]]:
    """{epoch-like parameter: (slice, full value)} for one entry."""
    from hwutils import params as params_mod
    out = {}
    for p in params_mod.spec(stem):
        if EPOCH_LIKE.search(p.name) and p.kind == "int" and p.name not in fixed:
            full = int(p.full)
            out[p.name] = (max(1, min(full, round(fraction * full))), full)
    return out


NOISE_SHARE = 0.1  # a difference under this share of T(A) is within papermill's run-to-run noise


def cost_per_unit(time_with, t_a: float, s: int, full: int, stretch: int) -> tuple[float, int, bool]:
    """(seconds per unit of one epoch-like parameter, the units run B trained, whether the difference
    stood out of the noise). `time_with(units)` is T(B) with the parameter set to `units`; B starts at
    `stretch` × the slice `s` and is stretched again (× `stretch`, the last time to `full`) while
    T(B) - T(A) < NOISE_SHARE · T(A). A difference still in the noise at the largest B counts as what
    it measured, never below zero."""
    if stretch < 2:
        raise ValueError(f"stretch must be at least 2, not {stretch}")
    units = stretch * s
    while True:
        diff = time_with(units) - t_a
        if diff >= NOISE_SHARE * t_a:
            return diff / (units - s), units, True
        longer = min(units * stretch, full)
        if longer <= units:
            return max(diff, 0.0) / (units - s), units, False
        units = longer


def extrapolate(per_unit: float, s: int, full: int, share: float) -> float:
    """Seconds that the full value of one epoch-like parameter adds to T(A), which already trained `s`
    units on the `share` of the images: a full unit sees 1/share times the images of a sliced one."""
    return per_unit * (full / share - s)


def data_proportional(t_a: float, t_c: float, trained: float, growth: float) -> float:
    """Seconds of run A that grow with the images but not with the epochs. Run C saw `growth` times
    A's images with A's epochs, so T(C) - T(A) = (growth - 1) * (those seconds + `trained`), `trained`
    being A's training on its images (sum of cost per epoch × epochs). Never below zero."""
    return max((t_c - t_a) / (growth - 1) - trained, 0.0)


def valid_slices(stem: str, fixed: dict, sl: dict) -> dict:
    """Double the slices until the notebook accepts them (e.g. 1-2-trajectories needs two snapshots)."""
    from hwutils import params as params_mod
    for _ in range(8):
        try:
            params_mod.resolve(stem, {**fixed, "profile": "full", **{k: s for k, (s, _) in sl.items()}})
            return sl
        except params_mod.ParameterError:
            sl = {k: (min(2 * s, f), f) for k, (s, f) in sl.items()}
    return sl


def estimate(run, base: dict, sl: dict, data: tuple[dict, float], more_data: tuple[dict, float],
             stretch: int) -> tuple[float, float, list[str]]:
    """(T(A), the extrapolated full time, a note per measured part) for one entry. `run(params, tag)`
    runs the notebook and returns its seconds; `sl` maps each epoch-like parameter to (slice, full);
    `data` and `more_data` are (the n_train/n_test subset, its share d) of runs A and C ({} and 1.0:
    all the images)."""
    (subset, d), (more, d_c) = data, more_data
    a_params = {**base, **subset, **{name: s for name, (s, _) in sl.items()}}
    t_a = run(a_params, "a")
    full, parts = t_a, []
    trained = 0.0  # seconds of run A spent training on its images
    for name, (s, f) in sl.items():
        per_unit, units, clear = cost_per_unit(lambda u, name=name: run({**a_params, name: u}, f"{name}-{u}"),
                                               t_a, s, f, stretch)
        share = 1.0 if name in NOT_IMAGES else d  # the function task's epochs see no images
        full += extrapolate(per_unit, s, f, share)
        if name not in NOT_IMAGES:
            trained += per_unit * s
        parts.append(f"{name} {s}/{units} of {f}: {per_unit:.3g} s each"
                     + (f" on {share:.0%} of the images" if share < 1 else "")
                     + ("" if clear else " (within the run-to-run noise)"))
    if d < 1 and d_c > d:  # run C: A's slices on more images ({} more: all of them)
        t_c = run({k: v for k, v in a_params.items() if k not in subset} | more, "c")
        work = data_proportional(t_a, t_c, trained, d_c / d)
        full += work * (1 / d - 1)
        parts.append(f"other work on the images {work:.3g} s at {d:.0%} ({d_c:.0%}: {t_c:.0f} s)"
                     + ("" if t_c - t_a >= NOISE_SHARE * t_a else " (within the run-to-run noise)"))
    return t_a, full, parts


MEMORY_NOISE = (0.05, 64 * 2**20)  # a peak moves by up to 5% or 64 MB between identical runs


def memory_full(peaks: dict[str, int], b_runs: dict[str, tuple[int, str]], sl: dict, d: float, d_c: float) -> float:
    """Peak memory (bytes) at the full size, from the runs the time estimate made, by the same linear
    model: A's peak, plus what run C's extra images added scaled to all the images, plus what each run
    B_i's extra units added (records that grow with the epochs: snapshots, traces), scaled to the full
    value as `extrapolate` scales time. `peaks`: tag -> peak; `b_runs`: parameter -> (units, tag) of its
    last B run. A growth counts only when it stands out of the noise of a peak (MEMORY_NOISE): the
    allocator's and the compiler's caches move a peak by tens of megabytes from run to run, which
    extrapolated over thousands of epochs would be gigabytes of nothing."""
    base = float(peaks["a"])
    noise = max(MEMORY_NOISE[0] * base, MEMORY_NOISE[1])

    def grown(tag):
        gain = peaks[tag] - base
        return gain if gain > noise else 0.0
    full = base
    for name, (units, tag) in b_runs.items():
        s, f = sl[name]
        share = 1.0 if name in NOT_IMAGES else d
        if units > s:
            full += extrapolate(grown(tag) / (units - s), s, f, share)
    if "c" in peaks and d_c > d:
        full += grown("c") * (1 - d) / (d_c - d)
    return full


def gb(nbytes: float) -> str:
    return f"{nbytes / 2**30:.1f} GB"


def hms(seconds: float) -> str:
    h, rest = divmod(int(round(seconds)), 3600)
    return f"{h} h {rest // 60:02d} min" if h else f"{rest // 60} min {rest % 60:02d} s"


STANDARD_BUDGET_MINUTES = 55.0  # the whole standard report on a 2-core CPU, idle, one notebook after another


def standard_profile(args) -> int:
    """--profile standard: every standard-profile entry run once at its own sizes (an hour in all: no
    slices to extrapolate from), one after another, on data of the real shapes, and the total against the
    budget. MNIST-shaped entries take `--dataset` where it is on disk (real images: the early stops — a
    training-loss target, a budget set by the true-label fit — happen when they would on MNIST), else
    random arrays of MNIST's shapes (those stops then fall to their caps: upper bounds, marked); CIFAR-10
    entries run on random arrays of CIFAR-10's shapes unless CIFAR-10 is on disk (their epochs are fixed,
    so the time does not depend on the pixels)."""
    from hwutils import data, report
    entries = report.run_list("standard", args.only)
    with tempfile.TemporaryDirectory(prefix="hw1-standard-") as tmp:
        tmp = Path(tmp)
        write_random_datasets(tmp / "random")
        env = {**os.environ, "HWUTILS_OFFLINE": "1", "HWUTILS_QUIET": "1", "HWUTILS_PROFILE": "standard",
               "TF_CPP_MIN_LOG_LEVEL": "2"}
        rows = []
        for entry in entries:
            params = {**entry.params, "profile": "standard"}
            shaped = params.get("dataset") or _resolved(entry.stem, params).get("dataset")
            run_env, source = dict(env), "no images"
            if shaped in ("mnist", "fashion_mnist") and args.dataset:
                params["dataset"], source = args.dataset, f"{args.dataset} on disk"
            elif shaped == "cifar10" and _on_disk("cifar10"):
                source = "cifar10 on disk"
            elif shaped:
                params["dataset"] = "mnist" if shaped != "cifar10" else "cifar10"
                run_env["HWUTILS_DATA"], source = str(tmp / "random"), f"random arrays shaped like {params['dataset']}"
            seconds, peak = run_notebook(entry.stem, params, tmp / entry.id, run_env, args.timeout)
            bound = " (an upper bound: on random pixels it trains to its cap)" if (
                entry.stem in STOPS_EARLY and source.startswith("random")) else ""
            rows.append((entry.id, seconds, peak, source + bound))
            print(f"{entry.id}: {hms(seconds)}, peak {gb(peak)}  [{source}{bound}]", flush=True)
    total = sum(r[1] for r in rows)
    print(f"\nStandard profile on this machine ({os.cpu_count()} cores), one notebook after another:")
    print(f"{'entry':<34}{'wall time':>12}{'peak':>9}  data")
    for entry_id, seconds, peak, source in rows:
        print(f"{entry_id:<34}{hms(seconds):>12}{gb(peak):>9}  {source}")
    verdict = "within" if total <= STANDARD_BUDGET_MINUTES * 60 else "OVER"
    print(f"{'total':<34}{hms(total):>12}{'':>9}  {verdict} the budget of {STANDARD_BUDGET_MINUTES:g} min")
    return 0 if verdict == "within" else 1


def _resolved(stem: str, params: dict) -> dict:
    from hwutils import params as params_mod
    return params_mod.resolve(stem, params, env={})


def _on_disk(name: str) -> bool:
    from hwutils import data
    try:
        return data.available(name) not in ("download",)
    except data.DatasetUnavailable:
        return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=("full", "standard"), default="full",
                    help="full: slices extrapolated to the report's scale; standard: every entry once, the hour")
    ap.add_argument("--dataset", default=None,
                    help="standard: the MNIST-shaped entries on this dataset on disk (e.g. fashion_mnist)")
    ap.add_argument("--fraction", type=float, default=0.02, help="slice of each epoch-like parameter")
    ap.add_argument("--stretch", type=int, default=4, help="run B trains this many times the slice")
    ap.add_argument("--data-fraction", type=float, default=0.1, help="share of the images in the slice runs")
    ap.add_argument("--only", action="append", default=[], help="entries whose id matches (repeatable)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per papermill run")
    ap.add_argument("--precision", default=None, choices=["float32", "mixed_bfloat16"],
                    help="what the notebooks that take `precision` train in (default: theirs, float32)")
    ap.add_argument("--memory-gb", type=float, default=24.0,
                    help="the memory an entry must fit in at its full size (default 24 GB); larger ones say what they need")
    args = ap.parse_args(argv)
    if args.stretch < 2:
        ap.error("--stretch must be at least 2")
    if args.profile == "standard":
        return standard_profile(args)
    from hwutils import params as params_mod
    from hwutils import report
    entries = report.run_list("full", args.only)
    with tempfile.TemporaryDirectory(prefix="hw1-full-") as tmp:
        tmp = Path(tmp)
        write_random_datasets(tmp / "data")
        env = {**os.environ, "HWUTILS_DATA": str(tmp / "data"), "HWUTILS_OFFLINE": "1", "HWUTILS_QUIET": "1",
               "HWUTILS_PROFILE": "full", "TF_CPP_MIN_LOG_LEVEL": "2"}
        rows = []
        for entry in entries:
            sl = valid_slices(entry.stem, entry.params, slices(entry.stem, entry.params, args.fraction))
            subset, d = data_slice(entry.stem, entry.params, args.data_fraction)
            more, d_c = data_slice(entry.stem, entry.params, 2 * args.data_fraction)
            peaks, b_runs = {}, {}

            def run(params, tag, stem=entry.stem, entry_id=entry.id, peaks=peaks, b_runs=b_runs):
                seconds, peaks[tag] = run_notebook(stem, params, tmp / entry_id / tag, env, args.timeout)
                name = next((k for k in sl if tag.startswith(f"{k}-")), None)
                if name is not None:  # the last stretch of run B_i is the one the estimate used
                    b_runs[name] = (int(tag.rsplit("-", 1)[1]), tag)
                return seconds
            base = {**entry.params, "profile": "full"}
            if args.precision and "precision" in params_mod.names(entry.stem):
                base["precision"] = args.precision
            t_a, full, parts = estimate(run, base, sl, (subset, d), (more, d_c), args.stretch)
            memory = memory_full(peaks, b_runs, sl, d, d_c)
            capped = " (cap: upper bound)" if entry.stem in STOPS_EARLY else ""
            fits = memory <= args.memory_gb * 2**30
            need = "" if fits else f"; does not fit in {args.memory_gb:g} GB: needs about {gb(memory)}"
            rows.append((entry.id, t_a, peaks["a"], full, memory, "; ".join(parts) + capped + need))
            print(f"{entry.id}: slice {t_a:.0f} s, peak {gb(peaks['a'])} -> full ≈ {hms(full)}, peak ≈ {gb(memory)}"
                  f"  [{rows[-1][5]}]", flush=True)
    print(f"\nFull profile on this machine ({os.cpu_count()} cores), random data of the full shapes, "
          f"slices of {args.fraction:g} of each epoch-like parameter and {args.data_fraction:g} of the images; "
          f"peak resident memory of each notebook's process tree (papermill and its kernel):")
    print(f"{'entry':<34}{'slice run':>11}{'peak':>9}{'full (extrapolated)':>22}{'peak (full)':>13}")
    for entry_id, t_a, peak_a, full, memory, _ in rows:
        flag = "" if memory <= args.memory_gb * 2**30 else f"  > {args.memory_gb:g} GB"
        print(f"{entry_id:<34}{t_a:>9.0f} s{gb(peak_a):>9}{hms(full):>22}{gb(memory):>13}{flag}")
    total = sum(r[3] for r in rows)
    print(f"{'total':<34}{'':>11}{'':>9}{hms(total):>22}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
