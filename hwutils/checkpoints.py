"""Checkpoints of a notebook's training loops and cached stages, so that an interrupted notebook resumes.

One `Checkpoints` per notebook run (`P.checkpoints`, made by `hwutils.setup`): a folder, the run's
fingerprint (parameters, hwutils code, library versions, Keras backend, precision:
`fingerprint.run_parts`), and how often to save (every `every` epochs and/or every `minutes`
minutes; both 0: off, as in the smoke profile). Each training loop asks it for a `Loop`, named by the
loop's label, how many loops of that label came before it in this run, and a digest of everything the
loop starts from (initial weights and optimizer state, data, settings): a rerun of the same notebook
finds the same loops under the same names.

A loop's checkpoint is a state folder (hwutils.state_files) `<folder>/<loop>/epoch-<k>`, written at the
end of epoch k when due and at the end of the loop (marked finished: a rerun then skips the whole fit).
A checkpoint never replaces one of a higher epoch: a writer that finds a checkpoint at or past its own
epoch writes nothing, so two writers (a zombie of a lost worker and its retry) never move a loop back.
A checkpoint written under another fingerprint is never used, and the loop says which part differed.
`finish()` (called by the notebook's Claims cell through `P.report_claims`) deletes the folder unless
`keep` is set.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

from . import fingerprint as fp
from . import state_files

KEEP_LAST = 2  # a damaged newest checkpoint falls back to the one before it
PART_NAMES = {"params": "parameters", "code": "hwutils code", "versions": "library versions",
              "backend": "Keras backend", "precision": "precision"}


def say(message: str) -> None:
    """A line in the notebook's output and the papermill log (stdout), even when progress bars are quiet."""
    print(message, file=sys.stdout, flush=True)


class Checkpoints:
    """The checkpoint folder of one notebook run. `parts`: the run's fingerprint parts (None: those of a
    run without parameters, fingerprint.run_parts())."""

    def __init__(self, folder: str | Path, parts: dict | None = None, every: int = 0, minutes: float = 0.0,
                 keep: bool = False):
        if int(every) < 0 or float(minutes) < 0:
            raise ValueError(f"checkpoint every {every} epochs / {minutes} minutes: neither may be negative")
        self.folder = Path(folder)
        self.parts = dict(parts) if parts is not None else fp.run_parts()
        self.every, self.minutes, self.keep = int(every), float(minutes), bool(keep)
        self._seen: dict[str, int] = {}
        self.resumed: list[dict] = []  # {"loop", "at", "of", "unit"}: what this run took from a checkpoint

    @property
    def enabled(self) -> bool:
        return self.every > 0 or self.minutes > 0

    def loop(self, label: str, *identity: Any) -> "Loop | None":
        """The checkpoints of the next loop called `label` in this run, or None when checkpointing is off.
        `identity`: what the loop starts from and how it runs (digested; arrays, models, settings)."""
        if not self.enabled:
            return None
        n = self._seen.get(label, 0)
        self._seen[label] = n + 1
        slug = re.sub(r"[^A-Za-z0-9.+-]+", "_", label).strip("_")[:48] or "loop"
        return Loop(self.folder / f"{slug}-{n}", self.parts, fp.digest(label, n, *identity), self.every,
                    self.minutes, label, self.resumed)

    def finish(self) -> None:
        """The notebook finished: delete its checkpoints, unless asked to keep them."""
        if self.keep or not self.folder.exists():
            return
        shutil.rmtree(self.folder, ignore_errors=True)
        say(f"checkpoints deleted ({self.folder}); keep_checkpoints=True keeps them")


class Loop:
    """One training loop's checkpoints: `restore()` the newest usable one, `due(epoch)`, `save(...)`."""

    def __init__(self, folder: Path, parts: dict, identity: str, every: int, minutes: float, label: str,
                 log: list | None = None):
        self.folder, self.parts, self.identity = Path(folder), dict(parts), identity
        self.every, self.minutes, self.label = int(every), float(minutes), label
        self.log = log if log is not None else []
        self._last_save = time.monotonic()

    # ------------------------------------------------------------ reading
    def _candidates(self) -> list[tuple[int, Path]]:
        if not self.folder.is_dir():
            return []
        out = []
        for path in self.folder.iterdir():
            m = re.fullmatch(r"epoch-(\d+)", path.name)
            if m and path.is_dir():
                out.append((int(m.group(1)), path))
        return sorted(out, reverse=True)

    def newest_epoch(self) -> int:
        """The highest epoch of a complete checkpoint folder on disk (-1: none); not verified."""
        found = self._candidates()
        return found[0][0] if found else -1

    def restore(self) -> tuple[dict, Path] | None:
        """(meta, folder) of the newest checkpoint that is whole and was written under this run's
        fingerprint and this loop's identity; None (saying why) when there is none."""
        # What cannot be used is removed, so that it neither blocks this run's own checkpoints (a
        # checkpoint never replaces a higher epoch) nor is tried again.
        tried: set[int] = set()
        while True:
            for epoch, path in [c for c in self._candidates() if c[0] not in tried]:
                tried.add(epoch)
                try:
                    meta = state_files.read_meta(path)
                    tree = None
                    differs = fp.differences(meta.get("fingerprint", {}), self.parts)
                    if meta.get("identity") != self.identity:
                        differs.append("start (initial weights, optimizer state, data or settings)")
                    if not differs:
                        tree = state_files.read_tree(path, meta)
                except (state_files.Unreadable, OSError, ValueError, KeyError) as err:
                    if any(newer > epoch for newer, _ in self._candidates()):
                        # Another writer saved a later epoch and its clean-up took this one away while it
                        # was read: look again from the newest, never fall back past a newer checkpoint.
                        break
                    say(f"{self.label}: checkpoint at epoch {epoch} ignored and removed: {err}")
                    shutil.rmtree(path, ignore_errors=True)
                    continue
                if differs:
                    say(f"{self.label}: the checkpoint at epoch {epoch} was made with different "
                        f"{', '.join(PART_NAMES.get(d, d) for d in differs)}; not used (removed): this loop starts over")
                    shutil.rmtree(path, ignore_errors=True)
                    continue
                meta["tree"] = tree
                return meta, path
            else:
                return None

    # ------------------------------------------------------------ writing
    def due(self, epoch: int) -> bool:
        """Whether the end of epoch `epoch` (1-based count) calls for a checkpoint."""
        by_epochs = self.every > 0 and epoch % self.every == 0
        by_time = self.minutes > 0 and time.monotonic() - self._last_save >= 60 * self.minutes
        return by_epochs or by_time

    def seconds_left(self) -> float | None:
        """Seconds until a time-based checkpoint is due (None when saving by time is off)."""
        if self.minutes <= 0:
            return None
        return max(0.0, 60 * self.minutes - (time.monotonic() - self._last_save))

    def save(self, epoch: int, total: int, tree: Any, finished: bool = False,
             extra: Callable[[Path], None] | None = None) -> bool:
        """Write the state `tree` as the checkpoint of epoch `epoch` of `total`; `extra(folder)` adds
        files (a Keras model's weights). Skipped (False) when a checkpoint at this epoch or a later one
        is already on disk: a checkpoint never moves back."""
        self._last_save = time.monotonic()
        if self.newest_epoch() >= epoch:
            return False
        meta = {"fingerprint": self.parts, "identity": self.identity, "label": self.label, "epoch": int(epoch),
                "total": int(total), "finished": bool(finished), "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "pid": os.getpid()}
        if not state_files.write(self.folder / f"epoch-{int(epoch):08d}", tree, meta, extra):
            return False
        for old_epoch, path in self._candidates()[KEEP_LAST:]:
            if old_epoch < epoch:
                shutil.rmtree(path, ignore_errors=True)
        state_files.remove_stale_tmp(self.folder)
        return True

    def resumed(self, epoch: int, total: int, unit: str = "epoch", finished: bool = False) -> None:
        """Say (and record for results.json) that the loop continues from a checkpoint, or that it had
        finished in an earlier run and is only restored."""
        self.log.append({"loop": self.label, "at": int(epoch), "of": int(total), "unit": unit, "finished": finished})
        if finished:
            say(f"{self.label}: finished in an earlier run at {unit} {epoch} of {total}; restored from {self.folder}")
        else:
            say(f"{self.label}: resumed at {unit} {epoch} of {total} from {self.folder}")


def folder_for(out_dir: str | Path, checkpoint_dir: str | None) -> Path:
    """Where a run keeps its checkpoints: `checkpoint_dir` when given, else $HWUTILS_CHECKPOINT_DIR (set by
    the report and sweeps for each notebook), else <out_dir>/checkpoints."""
    given = checkpoint_dir or os.environ.get("HWUTILS_CHECKPOINT_DIR")
    return Path(given) if given else Path(out_dir) / "checkpoints"
