"""Progress bars (tqdm.auto) that render in JupyterLab, stay readable in a papermill log, and are
silent in CI and tests."""
from __future__ import annotations

import os
import sys
import warnings

with warnings.catch_warnings():  # without ipywidgets tqdm.auto warns once and falls back to a text bar
    warnings.simplefilter("ignore")
    from tqdm.auto import tqdm


def quiet() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("HWUTILS_QUIET"))


class Progress:
    """A tqdm.auto bar over `total` units of work, labelled `label`, with a message after it.

    The text bar (terminal, papermill log, JupyterLab without ipywidgets) is redrawn about `lines`
    times in all (and at the end), so a log keeps a handful of readable lines. Silent when
    HWUTILS_QUIET or CI is set, unless enabled=True. The bar closes itself when `done` reaches `total`.
    """

    def __init__(self, total: int, label: str, lines: int = 10, enabled: bool | None = None, unit: str = "it"):
        self.total, self.label = max(1, int(total)), label
        self.every = max(1, self.total // max(1, lines))
        self.enabled = (not quiet()) if enabled is None else enabled
        self.bar = tqdm(total=self.total, desc=label, unit=unit, disable=not self.enabled, miniters=self.every,
                        mininterval=0.0, file=sys.stdout, dynamic_ncols=False, ncols=100, leave=True)

    def update(self, done: int, message: str = "") -> None:
        if self.bar.disable:
            return
        if message:
            self.bar.set_postfix_str(message, refresh=False)
        self.bar.update(max(0, min(done, self.total) - self.bar.n))
        if done >= self.total:
            self.close()

    def resumed(self, done: int, unit: str = "epoch", finished: bool = False) -> None:
        """Start the bar at `done` of its total, saying "resumed at <unit> done of total" (or that the loop
        had finished in an earlier run)."""
        if self.bar.disable:
            return
        said = "finished in an earlier run" if finished else f"resumed at {unit} {done} of {self.total}"
        self.bar.set_description_str(f"{self.label} ({said})", refresh=False)
        self.update(done)

    def close(self) -> None:
        self.bar.close()
