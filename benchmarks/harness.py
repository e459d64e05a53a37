"""Run each measurement in its own process, so its time and peak memory are its own."""
from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
import resource
import time


class ChildFailed(RuntimeError):
    """The measuring process died (crash, out of memory, killed) or ran past its time limit."""


class TimedOut(ChildFailed):
    """The measuring process ran past its time limit: it ran longer than `limit` seconds, its start and imports
    included, so what it measures took at most that long less a few seconds (a loose lower bound)."""

    def __init__(self, message: str, limit: float):
        super().__init__(message)
        self.limit = limit


def _child(queue, fn, args, env):
    import os
    os.environ.update(env or {})  # before fn imports Keras: KERAS_BACKEND picks the child's backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("HWUTILS_QUIET", "1")
    result = fn(*args)  # fn does its own warm-up-free timing and returns a dict with "seconds"
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(result)


def isolated(fn, *args, timeout: float = 7200.0, backend: str | None = None) -> dict:
    """fn(*args) in a fresh process; its result dict gains the child's peak RSS. `backend` ("tensorflow",
    "jax"): the child's Keras backend (KERAS_BACKEND), else the parent's environment decides.

    Waits in short slices so a child that dies without answering (a crash, the OOM killer) is
    reported at once instead of hanging the benchmark, and one that outlives `timeout` is killed."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, fn, args, {"KERAS_BACKEND": backend} if backend else {}))
    proc.start()
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                result = queue.get(timeout=1.0)
                break
            except queue_mod.Empty:
                if not proc.is_alive():
                    raise ChildFailed(f"{fn.__name__} died with exit code {proc.exitcode} before reporting")
                if time.monotonic() > deadline:
                    raise TimedOut(f"{fn.__name__} ran past its {timeout:.0f} s limit", timeout)
    except BaseException:
        proc.kill()  # a timeout, a dead child or Ctrl-C: leave no measuring process behind
        proc.join()
        raise
    proc.join()
    return result


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
