"""Regenerate the whole report: run every notebook with papermill, resumably, and write one page.

    python -m hwutils.report [--profile quick|full] [--only PATTERN ...] [-p NAME VALUE ...] [--force]
                             [--workers N | --scheduler ADDRESS] [--retries R] [--timeout SECONDS]
                             [--checkpoint-dir DIR] [--keep-checkpoints] [--allowed-failures N]

The run list below is the report: both 1-1 functions, 1-1 actual tasks (CIFAR-10 and MNIST in
the full profile, the profile's dataset otherwise), and every 1-2 and 1-3 notebook. A notebook
whose notebook file, parameters, profile, hwutils code and library versions are unchanged since
its last successful run, and whose results exist, is skipped unless --force.

Without --workers or --scheduler the notebooks run one after another in this process (no Dask).
With --workers N they run on a local Dask cluster of N worker processes (one notebook per worker,
the cores shared out between them); with --scheduler ADDRESS on an existing Dask cluster. Either
way each notebook runs in a scratch folder of its worker and sends back its files; only this
process writes build/ and build/report/state.json, each notebook's files as soon as it finishes.

Inside a notebook the training loops checkpoint (hwutils.checkpoints) into <checkpoint dir>/<entry>
(default build/report/checkpoints): an interrupted notebook, rerun, resumes from its last checkpoint;
on Dask a task retried after its worker was lost resumes when the folder is on a file system the
workers share (--checkpoint-dir), and says that it starts over when it is not.
"""
from __future__ import annotations

import argparse
import ast
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from . import fingerprint as fingerprint_mod
from . import params as params_mod
from . import paths
from .fingerprint import NOT_RESULTS, code_hash, library_versions, result_params
from .report_page import write_page


@dataclass
class Entry:
    stem: str
    label: str | None = None
    params: dict = field(default_factory=dict)
    profiles: tuple = ("smoke", "quick", "standard", "full")
    notebook: str | None = None  # any notebook file; None: notebooks/<stem>.ipynb

    @property
    def id(self) -> str:
        return self.stem + (f"-{self.label}" if self.label else "")

    @property
    def path(self) -> Path:
        return Path(self.notebook) if self.notebook else paths.NOTEBOOKS / f"{self.stem}.ipynb"


RUN_LIST = [
    Entry("1-1-simulate-function", "sinc", {"target": "sinc"}),
    Entry("1-1-simulate-function", "xcosx", {"target": "xcosx"}),
    Entry("1-1-actual-tasks", None, {}, ("smoke", "quick")),
    Entry("1-1-actual-tasks", "cifar10", {"dataset": "cifar10"}, ("standard", "full")),
    Entry("1-1-actual-tasks", "mnist", {"dataset": "mnist"}, ("standard", "full")),
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


# ---------------------------------------------------------------------------------------------
# Fingerprints: what a finished run depended on
# ---------------------------------------------------------------------------------------------

# What a result depended on (code_hash, library_versions, the checkpoint settings that do not count) lives in
# hwutils.fingerprint, shared with the checkpoints; they are imported here under their old names.
_NOT_RESULTS, LIBRARIES = NOT_RESULTS, fingerprint_mod.LIBRARIES


def fingerprint(notebook: Path | Entry, parameters: dict, code: str, versions: dict | None = None) -> str:
    """Notebook file, parameters (out_dir and the checkpoint settings excluded), code hash and library
    versions, hashed."""
    if isinstance(notebook, Entry):
        notebook = notebook.path
    blob = json.dumps({"params": result_params(parameters), "code": code,
                       "notebook": hashlib.sha256(Path(notebook).read_bytes()).hexdigest(),
                       "versions": library_versions() if versions is None else versions},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# state.json: read tolerantly, written atomically
# ---------------------------------------------------------------------------------------------

def write_atomic(path: Path, data: bytes | str) -> None:
    """Write a file so that a reader (or a crash) sees the old content or the new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_state(path: Path) -> dict:
    """The resume state; a corrupt file is reported, kept beside as state.json.corrupt, and its
    entries are run again (an unreadable entry alone is dropped the same way). Never raises."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        state = json.loads(path.read_text())
        if not isinstance(state, dict):
            raise ValueError(f"expected a JSON object, found {type(state).__name__}")
    except (ValueError, UnicodeDecodeError, OSError) as err:
        keep = path.with_name(path.name + ".corrupt")
        try:
            shutil.copyfile(path, keep)
        except OSError:
            keep = None
        print(f"warning: {path} is unreadable ({err}); every entry in it will run again"
              + (f" (the file is kept as {keep})" if keep else ""), file=sys.stderr, flush=True)
        return {}
    bad = [k for k, v in state.items() if not isinstance(v, dict)]
    if bad:
        print(f"warning: {path}: unreadable entries {', '.join(map(str, bad))} will run again",
              file=sys.stderr, flush=True)
    return {k: v for k, v in state.items() if isinstance(v, dict)}


def save_state(path: Path, state: dict) -> None:
    write_atomic(path, json.dumps(state, indent=1, sort_keys=True, default=str))


# ---------------------------------------------------------------------------------------------
# One task: one papermill run in a scratch folder; the files come back as bytes
# ---------------------------------------------------------------------------------------------

def _fmt_seconds(s: float | None) -> str:
    if s is None:
        return "?"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


# Papermill is started through this line so that it dies with the worker that started it (Linux
# PR_SET_PDEATHSIG); its kernel notices its parent is gone and exits too. A worker killed mid-task
# therefore leaves no orphan computing on.
_PAPERMILL = ("import sys, signal\n"
              "if sys.platform.startswith('linux'):\n"
              "    import ctypes; ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"
              "from papermill.cli import papermill\n"
              "sys.argv[0] = 'papermill'\n"
              "papermill()\n")

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def run_task(task: dict) -> dict:
    """Run one notebook; return its outcome and every file it wrote, as bytes.

    `task`: name, stem, notebook (bytes), parameters (out_dir is set here), timeout, verbose,
    threads (cores for its kernel, or None for all). Runs wherever it is called: in the client for
    a sequential run, on a Dask worker otherwise; it touches no path of the client's machine.
    A notebook that fails returns status "failed" with the error; only a fault of the machinery
    itself raises (and Dask then retries the task).
    """
    scratch = Path(tempfile.mkdtemp(prefix=f"hwutils-{task['name'][:40]}-"))
    try:
        source, out = scratch / "input.ipynb", scratch / "out"
        source.write_bytes(task["notebook"])
        out.mkdir()
        output = out / f"{task['stem']}.ipynb"
        parameters = {**task["parameters"], "out_dir": str(out)}
        cwd = task.get("cwd") if task.get("cwd") and Path(task["cwd"]).is_dir() else str(scratch)
        verbose = task.get("verbose", False)
        cmd = [sys.executable, "-c", _PAPERMILL, str(source), str(output), "-k", "python3", "--cwd", cwd,
               "-y", json.dumps(parameters), "--log-level", "INFO" if verbose else "ERROR"]
        if not verbose:
            cmd.append("--no-progress-bar")
        env = dict(os.environ)
        env.setdefault("HWUTILS_QUIET", "" if verbose else "1")
        # TensorFlow's C++ start-up chatter would fill the captured log that a failure is reported from; set
        # for the kernels the report starts only (importing hwutils sets nothing).
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        notes = []
        if task.get("checkpoint_dir"):
            folder, note = checkpoint_folder(task)
            env["HWUTILS_CHECKPOINT_DIR"] = str(folder)
            if task.get("keep_checkpoints"):
                env["HWUTILS_KEEP_CHECKPOINTS"] = "1"
            if note:
                notes.append(note)
                print(f"{task['name']}: {note}", file=sys.stderr, flush=True)
        if task.get("threads"):
            env.update({v: str(task["threads"]) for v in THREAD_VARIABLES})
        start = time.perf_counter()
        status, message = "ok", ""
        try:
            proc = subprocess.run(cmd, capture_output=not verbose, text=True, timeout=task.get("timeout"), env=env)
            if proc.returncode != 0:
                tail = (proc.stderr or "").strip().splitlines()
                lines = [line for line in tail if line.strip() and "I0000" not in line and "absl" not in line]
                status, message = "failed", "\n".join(lines[-25:]) or f"papermill exited with {proc.returncode}"
            elif not (out / "results.json").is_file():
                status, message = "failed", "the notebook finished without writing results.json"
        except subprocess.TimeoutExpired:
            status, message = "failed", f"timed out after {_fmt_seconds(task.get('timeout'))}"
        seconds = time.perf_counter() - start
        files = {}
        for path in sorted(out.rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                if path.suffix in (".json", ".ipynb"):  # the scratch path is meaningless to the client
                    data = data.replace(str(out).encode(), b"@OUT_DIR@")
                files[path.relative_to(out).as_posix()] = data
        resumed = _resumed_loops(files.get("results.json"))
        if resumed:
            notes.append("resumed from checkpoints: " + "; ".join(resumed))
        return {"name": task["name"], "status": status, "message": message, "seconds": seconds,
                "files": files, "host": os.uname().nodename, "pid": os.getpid(), "notes": notes}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


MARKER = ".hwutils-checkpoints"


def mark_checkpoint_root(root: Path) -> str:
    """Create the report's checkpoint folder and its marker file; return the marker's token. A worker that
    reads the same token there sees the client's folder: it is shared."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    marker = root / MARKER
    try:
        return marker.read_text().strip() or _new_token(marker)
    except OSError:
        return _new_token(marker)


def _new_token(marker: Path) -> str:
    import uuid
    token = uuid.uuid4().hex
    write_atomic(marker, token)
    return token


def checkpoint_folder(task: dict) -> tuple[Path, str]:
    """Where this task's notebook checkpoints, and a note when that cannot survive a move to another worker:
    the client's folder when this worker sees it (its marker holds the client's token), else a folder on
    this worker's own disk, so that a retry here resumes but a retry elsewhere starts over."""
    folder = Path(task["checkpoint_dir"])
    try:
        shared = (folder.parent / MARKER).read_text().strip() == task.get("checkpoint_token")
    except OSError:
        shared = False
    if shared:
        return folder, ""
    local = Path(tempfile.gettempdir()) / "hwutils-checkpoints" / str(task.get("checkpoint_token")) / folder.name
    return local, (f"the checkpoint folder {folder.parent} is not on this worker's file system (not shared): "
                   f"checkpoints go to {local} on {os.uname().nodename}, and a retry on another worker starts over "
                   f"(give --checkpoint-dir a folder every worker sees)")


def _resumed_loops(results: bytes | None) -> list[str]:
    """The loops a finished notebook took from checkpoints (results.json's "resumed")."""
    try:
        resumed = json.loads(results or b"{}").get("resumed") or []
    except ValueError:
        return []
    return [f"{r.get('loop')} at {r.get('unit', 'epoch')} {r.get('at')} of {r.get('of')}" for r in resumed
            if isinstance(r, dict) and not r.get("finished")]


def store_files(dest: Path, files: dict[str, bytes]) -> None:
    """Write a finished task's files into dest, replacing what was there as one swap of folders."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    incoming = Path(tempfile.mkdtemp(prefix=f".{dest.name}.incoming-", dir=dest.parent))
    marker = b"@OUT_DIR@"
    real = json.dumps(str(dest))[1:-1].encode()
    for rel, data in files.items():
        target = incoming / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.replace(marker, real) if marker in data else data)
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}-{time.monotonic_ns()}")
        os.replace(dest, old)
    os.replace(incoming, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# A list of jobs, run sequentially or on Dask, resumably
# ---------------------------------------------------------------------------------------------

@dataclass
class Job:
    name: str  # its key in state.json
    notebook: Path
    parameters: dict  # everything but out_dir
    out_dir: Path  # where the client puts its files
    stem: str = ""
    info: dict = field(default_factory=dict)  # kept in its state entry (params given, sweep point, ...)

    def __post_init__(self):
        self.notebook = Path(self.notebook)
        self.stem = self.stem or self.notebook.stem


@dataclass
class Options:
    workers: int | None = None  # a LocalCluster of this many worker processes
    scheduler: str | None = None  # or an existing Dask scheduler
    force: bool = False
    timeout: float | None = 3600
    verbose: bool = False
    retries: int = 2  # Dask retries of a task whose machinery raised; a lost worker is rescheduled by Dask
    failed_dir: Path | None = None  # where the executed notebook of a failed run goes
    checkpoint_dir: Path | None = None  # each notebook checkpoints into <checkpoint_dir>/<job name>
    keep_checkpoints: bool = False
    # Workers that may die while running one task before Dask gives it up: a notebook longer than a worker's
    # lifetime (a batch job's wall time) resumes from its checkpoints on the next worker, so allow many.
    allowed_failures: int = 50

    @property
    def distributed(self) -> bool:
        return bool(self.workers) or bool(self.scheduler)


def add_cluster_arguments(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("running on several processes or machines (Dask)")
    x = g.add_mutually_exclusive_group()
    x.add_argument("--workers", type=int, metavar="N",
                   help="run on a local Dask cluster of N worker processes (the cores are shared out between them)")
    x.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786 (workers need hwutils installed)")
    g.add_argument("--retries", type=int, default=2,
                   help="Dask retries of a task whose machinery failed (default 2); a lost worker's task is "
                        "always moved to another worker")
    g.add_argument("--gpus-per-task", type=float, default=0, metavar="G",
                   help="each notebook needs G of the workers' 'GPU' resource (start workers with "
                        "--resources GPU=1); 0: none")
    g.add_argument("--allowed-failures", type=int, default=50, metavar="N",
                   help="workers that may die while running one notebook before it is given up (default 50): "
                        "with checkpoints each retry resumes where the last one stopped")
    c = ap.add_argument_group("checkpoints inside the notebooks")
    c.add_argument("--checkpoint-dir", metavar="DIR",
                   help="where each notebook's training loops checkpoint (DIR/<entry>); on a cluster, a folder "
                        "every worker sees, so that a retried notebook resumes (default: under build/)")
    c.add_argument("--keep-checkpoints", action="store_true", help="keep each notebook's checkpoints when it finishes")


class Runner:
    """Runs jobs, skipping those unchanged since their last successful run; stores each outcome
    (files, then state.json, atomically) the moment it arrives. Returns {name: outcome}."""

    def __init__(self, jobs: list[Job], state_path: Path, options: Options, gpus_per_task: float = 0):
        self.jobs, self.state_path, self.opt = jobs, Path(state_path), options
        self.gpus_per_task = gpus_per_task
        self.state = load_state(self.state_path)
        self.outcomes: dict[str, dict] = {}
        code, versions = code_hash(), library_versions()
        self.fp = {j.name: fingerprint(j.notebook, j.parameters, code, versions) for j in jobs}
        self.start = time.perf_counter()
        if options.checkpoint_dir:  # absolute: a worker's working directory is not the client's
            options.checkpoint_dir = Path(options.checkpoint_dir).resolve()
        self.token = mark_checkpoint_root(options.checkpoint_dir) if options.checkpoint_dir else None

    # -- bookkeeping --------------------------------------------------------------------------
    def unchanged(self, job: Job) -> bool:
        prev = self.state.get(job.name, {})
        return (not self.opt.force and prev.get("fingerprint") == self.fp[job.name] and prev.get("status") == "ok"
                and (job.out_dir / "results.json").is_file())

    def task(self, job: Job, threads: int | None) -> dict:
        task = {"name": job.name, "stem": job.stem, "notebook": job.notebook.read_bytes(),
                "parameters": job.parameters, "timeout": self.opt.timeout, "verbose": self.opt.verbose,
                "threads": threads, "cwd": str(job.notebook.resolve().parent)}
        if self.opt.checkpoint_dir:
            task.update(checkpoint_dir=str(Path(self.opt.checkpoint_dir) / job.name), checkpoint_token=self.token,
                        keep_checkpoints=self.opt.keep_checkpoints)
        return task

    def store(self, job: Job, result: dict) -> dict:
        """Write a finished task's files and its state entry; called as soon as it finishes."""
        status = result["status"]
        files = result.get("files") or {}
        message = result.get("message", "")
        kept = None
        if status == "ok":
            store_files(job.out_dir, files)
        elif files.get(f"{job.stem}.ipynb") and self.opt.failed_dir is not None:
            kept = Path(self.opt.failed_dir) / f"{job.name}.ipynb"
            write_atomic(kept, files[f"{job.stem}.ipynb"].replace(b"@OUT_DIR@", b"(scratch)"))
        if status == "ok" and self.opt.checkpoint_dir and not self.opt.keep_checkpoints:
            # The notebook deleted its checkpoints when it finished; what is left is an empty folder.
            shutil.rmtree(Path(self.opt.checkpoint_dir) / job.name, ignore_errors=True)
        entry = {"fingerprint": self.fp[job.name] if status == "ok" else None, "status": status,
                 "seconds": result.get("seconds"), "message": message, "host": result.get("host"),
                 "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), **job.info}
        if result.get("notes"):
            entry["notes"] = list(result["notes"])
        if kept is not None:
            entry["executed_notebook"] = str(kept)
        self.state[job.name] = entry
        save_state(self.state_path, self.state)
        self.outcomes[job.name] = {**entry, "skipped": False}
        return entry

    def elapsed(self) -> str:
        return _fmt_seconds(time.perf_counter() - self.start)

    # -- running ------------------------------------------------------------------------------
    def run(self) -> dict[str, dict]:
        todo = []
        for n, job in enumerate(self.jobs, 1):
            if self.unchanged(job):
                prev = self.state[job.name]
                print(f"[{n}/{len(self.jobs)}] {job.name}: skipped, unchanged since its last run "
                      f"({_fmt_seconds(prev.get('seconds'))})", flush=True)
                self.outcomes[job.name] = {**prev, "skipped": True}
            else:
                todo.append(job)
        if todo:
            (self._run_dask if self.opt.distributed else self._run_sequential)(todo)
        return {j.name: self.outcomes[j.name] for j in self.jobs}

    def _run_sequential(self, todo: list[Job]) -> None:
        for n, job in enumerate(todo, 1):
            prev = self.state.get(job.name, {})
            known = [self.state.get(j.name, {}).get("seconds") for j in todo[n - 1:]]
            remaining = sum(known) if all(known) else None
            head = f"[{n}/{len(todo)}] {job.name}"
            print(f"{head}: running (last time {_fmt_seconds(prev.get('seconds'))}) [elapsed {self.elapsed()}, "
                  f"estimated remaining {_fmt_seconds(remaining)}]", flush=True)
            entry = self.store(job, run_task(self.task(job, None)))
            print(f"{head}: {entry['status']} in {_fmt_seconds(entry['seconds'])}" + _details(entry), flush=True)

    def _run_dask(self, todo: list[Job]) -> None:
        from distributed import Client, LocalCluster, wait

        cluster = None
        futures = {}
        client = None
        try:
            if self.opt.scheduler:
                client = Client(self.opt.scheduler)
            else:
                # One notebook per worker process (one thread each); the kernels share the cores.
                cluster = LocalCluster(n_workers=self.opt.workers, threads_per_worker=1, processes=True,
                                       dashboard_address=":0" if _has_bokeh() else None, silence_logs=40)
                client = Client(cluster)
            # Set on the running scheduler, whoever started it (a local cluster, dask-jobqueue, a colleague).
            client.run_on_scheduler(_set_allowed_failures, self.opt.allowed_failures)
            dashboard = (client.dashboard_link if _has_bokeh() or self.opt.scheduler else
                         "none (the dashboard needs bokeh: pip install 'bokeh>=3.1')")
            print(f"Dask: {len(client.scheduler_info().get('workers', {}))} workers, scheduler "
                  f"{client.scheduler.address}, dashboard {dashboard}, allowed failures per notebook "
                  f"{self.opt.allowed_failures}, checkpoints in {self.opt.checkpoint_dir or '(none)'}", flush=True)
            threads = self._threads(client)
            resources = {"GPU": self.gpus_per_task} if self.gpus_per_task else None
            for job in todo:
                task = self.task(job, None)
                task["threads_by_host"] = threads  # per host: its cores over the notebooks it runs at once
                fut = client.submit(_run_task_on_worker, task, key=f"{job.name}-{self.fp[job.name][:10]}",
                                    retries=self.opt.retries, pure=False, resources=resources)
                futures[fut] = job
            self._collect(client, futures, wait)
        except KeyboardInterrupt:
            print(f"\ninterrupted: cancelling {sum(not f.done() for f in futures)} running or queued notebooks and "
                  f"closing the cluster; everything that finished is kept (rerun to resume)", file=sys.stderr,
                  flush=True)
            if client is not None:
                try:
                    client.cancel(list(futures))
                except Exception:  # noqa: BLE001 - closing anyway
                    pass
            raise
        finally:
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()

    def _threads(self, client) -> dict[str, int]:
        """Cores for each kernel, per worker host: the host's cores over the notebooks it runs at once."""
        info = client.scheduler_info().get("workers", {})
        try:
            cores = client.run(os.cpu_count)
        except Exception:  # noqa: BLE001 - a worker that cannot answer gets the default below
            cores = {}
        slots, host_cores = {}, {}
        for addr, w in info.items():
            host = w.get("host") or addr
            slots[host] = slots.get(host, 0) + int(w.get("nthreads", 1))
            host_cores[host] = cores.get(addr) or host_cores.get(host) or 1
        return {h: max(1, host_cores[h] // max(1, slots[h])) for h in slots}

    def _collect(self, client, futures: dict, wait) -> None:
        pending = set(futures)
        done = failed = 0
        finished_seconds = []
        slots = max(1, sum(int(w.get("nthreads", 1)) for w in client.scheduler_info().get("workers", {}).values()))
        last_beat = time.perf_counter()
        while pending:
            try:
                finished, pending = wait(pending, timeout=30, return_when="FIRST_COMPLETED")
            except TimeoutError:
                finished = set()
            except Exception as err:  # noqa: BLE001 - dask raises its own TimeoutError subclass on some versions
                if "timeout" not in type(err).__name__.lower():
                    raise
                finished = set()
            for fut in finished:
                job = futures[fut]
                try:
                    result = fut.result()
                except Exception as err:  # noqa: BLE001 - a lost worker past its allowed failures, or retries spent
                    result = {"name": job.name, "status": "failed", "seconds": None,
                              "message": f"{type(err).__name__}: {err}", "files": {}}
                entry = self.store(job, result)
                done += 1
                failed += entry["status"] != "ok"
                if entry.get("seconds"):
                    finished_seconds.append(entry["seconds"])
                print(f"{job.name}: {entry['status']} in {_fmt_seconds(entry['seconds'])} on {entry.get('host')} "
                      f"{self._progress(done, failed, pending, futures, finished_seconds, slots)}"
                      + _details(entry), flush=True)
            if not finished and time.perf_counter() - last_beat >= 30:
                print(f"... {self._progress(done, failed, pending, futures, finished_seconds, slots)}", flush=True)
            if finished or time.perf_counter() - last_beat >= 30:
                last_beat = time.perf_counter()

    def _progress(self, done, failed, pending, futures, finished_seconds, slots) -> str:
        # Dask queues tasks on workers ahead of time: at most one per worker thread is executing.
        running = min(slots, sum(f.key in _processing_keys(f.client) for f in pending)) if pending else 0
        queued = len(pending) - running
        # Estimate: the remaining notebooks' last known (or this run's mean) time, shared over the workers.
        mean = sum(finished_seconds) / len(finished_seconds) if finished_seconds else None
        known = [self.state.get(futures[f].name, {}).get("seconds") or mean for f in pending]
        remaining = sum(known) / slots if pending and all(known) else (0 if not pending else None)
        return (f"[done {done}/{len(futures)} ({failed} failed), running {running}, queued {queued}; "
                f"elapsed {self.elapsed()}, estimated remaining {_fmt_seconds(remaining)}]")


def _set_allowed_failures(n: int, dask_scheduler=None) -> None:
    """Run on the scheduler: how many workers may die running one task before it is given up."""
    dask_scheduler.allowed_failures = int(n)


def _details(entry: dict) -> str:
    text = "".join(f"\n  {note}" for note in entry.get("notes") or [])
    text += f"\n{entry['message']}" if entry.get("message") else ""
    return text + (f"\n(executed notebook: {entry['executed_notebook']})" if entry.get("executed_notebook") else "")


def _has_bokeh() -> bool:
    import importlib.util
    return importlib.util.find_spec("bokeh") is not None


def _processing_keys(client) -> set:
    try:
        return {k for keys in client.processing().values() for k in keys}
    except Exception:  # noqa: BLE001 - the estimate is cosmetic
        return set()


def _run_task_on_worker(task: dict) -> dict:
    """The Dask task: looks up this host's share of cores, then runs the notebook."""
    threads = (task.pop("threads_by_host", None) or {})
    try:
        from distributed import get_worker
        host = get_worker().address.split("://")[-1].rsplit(":", 1)[0]
    except Exception:  # noqa: BLE001
        host = None
    task["threads"] = threads.get(host) or (min(threads.values()) if threads else None)
    return run_task(task)


def summary_lines(jobs: Sequence[Job], outcomes: dict) -> list[str]:
    width = max(len(j.name) for j in jobs)
    lines = []
    for j in jobs:
        o = outcomes[j.name]
        status = "skipped (unchanged)" if o.get("skipped") else o["status"]
        lines.append(f"  {j.name:<{width}}  {status:<20} {_fmt_seconds(o.get('seconds'))}")
    return lines


def missing_datasets(jobs) -> str:
    """'' when every job's dataset is on disk (or downloadable); else what is missing, for which entries, and
    where to put it — before the first notebook runs, so an offline standard or full report stops within
    seconds instead of failing one notebook after another."""
    from . import data
    wanted: dict[str, list[str]] = {}
    for job in jobs:
        try:
            resolved = params_mod.resolve(job.stem, dict(job.parameters), env={})
        except params_mod.ParameterError:
            continue  # the notebook itself says what is wrong with its parameters
        if resolved.get("dataset"):
            wanted.setdefault(resolved["dataset"], []).append(job.name)
    problems = []
    for name, users in wanted.items():
        try:
            data.available(name)
        except data.DatasetUnavailable as e:
            problems.append(f"{name} (needed by {', '.join(users)}): {e}")
    return ("stopping before any notebook runs — missing dataset(s):\n" + "\n".join(problems)) if problems else ""


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
    add_cluster_arguments(ap)
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
    if args.workers is not None and args.workers < 1:
        print("--workers must be at least 1", file=sys.stderr)
        return 2

    jobs = []
    for entry in entries:
        given = {**entry.params, **{k: v for k, v in extra.items() if k in params_mod.names(entry.stem)}}
        jobs.append(Job(entry.id, entry.path, {**given, "profile": args.profile}, paths.BUILD / entry.id,
                        stem=entry.stem, info={"profile": args.profile, "params": given}))
    if args.scheduler is None:  # local work: every dataset must be on this disk (a cluster's workers have their own)
        missing = missing_datasets(jobs)
        if missing:
            print(missing, file=sys.stderr)
            return 2
    report_dir = paths.BUILD / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    options = Options(workers=args.workers, scheduler=args.scheduler, force=args.force, timeout=args.timeout,
                      verbose=args.verbose, retries=args.retries, failed_dir=report_dir / "failed",
                      checkpoint_dir=Path(args.checkpoint_dir) if args.checkpoint_dir else report_dir / "checkpoints",
                      keep_checkpoints=args.keep_checkpoints, allowed_failures=args.allowed_failures)
    where = (f"{args.workers} local Dask workers" if args.workers else
             f"the Dask cluster at {args.scheduler}" if args.scheduler else "one after another")
    print(f"hw1 lab report: {len(entries)} notebooks, profile {args.profile}, {where}, output {paths.BUILD}",
          flush=True)
    runner = Runner(jobs, report_dir / "state.json", options, gpus_per_task=args.gpus_per_task)
    try:
        outcomes = runner.run()
    except KeyboardInterrupt:
        print("interrupted; finished notebooks are kept and a rerun skips them", file=sys.stderr)
        return 130
    page = write_page(report_dir / "index.html", [e for e in RUN_LIST if args.profile in e.profiles], outcomes,
                      args.profile)
    print("\nsummary")
    print("\n".join(summary_lines(jobs, outcomes)))
    failed = [j.name for j in jobs if outcomes[j.name]["status"] != "ok"]
    print(f"total {runner.elapsed()}; page: {page}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
