"""Progress lines that read well in a notebook and stay quiet in CI and tests."""
from __future__ import annotations

import os
import time


def quiet() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("HWUTILS_QUIET"))


class Progress:
    """Prints about `lines` evenly spaced lines over `total` units of work, with elapsed time."""

    def __init__(self, total: int, label: str, lines: int = 10, enabled: bool | None = None):
        self.total, self.label = max(1, int(total)), label
        self.every = max(1, self.total // max(1, lines))
        self.enabled = (not quiet()) if enabled is None else enabled
        self.start = time.perf_counter()

    def update(self, done: int, message: str = "") -> None:
        if self.enabled and (done % self.every == 0 or done == self.total):
            elapsed = time.perf_counter() - self.start
            print(f"{self.label}: {done}/{self.total} {message} ({elapsed:.1f} s)", flush=True)
