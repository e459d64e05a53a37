"""Run each measurement in its own process, so its time and peak memory are its own."""
from __future__ import annotations

import multiprocessing as mp
import resource
import time


def _child(queue, fn, args):
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("HWUTILS_QUIET", "1")
    result = fn(*args)  # fn does its own warm-up-free timing and returns a dict with "seconds"
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(result)


def isolated(fn, *args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, fn, args))
    proc.start()
    result = queue.get()
    proc.join()
    return result


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
