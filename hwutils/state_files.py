"""A state on disk: one folder, written whole or not at all, verified when read.

A state is a tree of dicts, lists, numbers, strings and numpy arrays (what a loop's or a callback's
`get_state()` returns). It is stored as backend-neutral files any tool can open: `state.json` (the
tree, each array replaced by a reference, and a manifest of every other file with its size and
SHA-256), `arrays.npz` (the arrays), and whatever files the writer adds (a Keras `model.weights.h5`).
Everything is written into a temporary folder beside the target, flushed, and renamed into place:
a reader sees the whole state or none, and a state cut off half-way (a killed process, a full disk) is
a leftover temporary folder that readers ignore. A state whose files do not match its manifest (a
crash after the rename, before the data reached the disk) is reported unreadable, never used.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import numpy as np

TMP_PREFIX = ".tmp-"
STATE = "state.json"
ARRAYS = "arrays.npz"


class Unreadable(ValueError):
    """A state folder whose files are missing, truncated or do not match their manifest."""


def pack(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The tree with every numpy array moved into `arrays` (a reference {"__array__": key} left behind);
    tuples become lists, numpy scalars Python numbers. Non-finite floats stay floats (JSON's NaN)."""
    if isinstance(tree, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = tree
        return {"__array__": key}
    if isinstance(tree, dict):
        if "__array__" in tree:
            raise ValueError("a state may not use the key '__array__'")
        return {str(k): pack(v, arrays) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [pack(v, arrays) for v in tree]
    if isinstance(tree, np.generic):
        return tree.item()
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    raise TypeError(f"cannot store a {type(tree).__name__} in a state (use arrays, lists, dicts, numbers, strings)")


def unpack(tree: Any, arrays) -> Any:
    if isinstance(tree, dict):
        if set(tree) == {"__array__"}:
            return arrays[tree["__array__"]]
        return {k: unpack(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list):
        return [unpack(v, arrays) for v in tree]
    return tree


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write(folder: Path, tree: Any, meta: dict, extra: Callable[[Path], None] | None = None) -> bool:
    """Write the state `tree` (with `meta` beside it in state.json) as the folder `folder`, atomically.
    `extra(tmp)` may add files to the temporary folder first (they join the manifest). Returns False,
    leaving what is there, when `folder` already exists (another writer got there first)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f"{TMP_PREFIX}{folder.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        arrays: dict[str, np.ndarray] = {}
        packed = pack(tree, arrays)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        _fsync_write(tmp / ARRAYS, buf.getvalue())
        if extra is not None:
            extra(tmp)
        manifest = {p.name: {"bytes": p.stat().st_size, "sha256": _sha256(p)}
                    for p in sorted(tmp.iterdir()) if p.name != STATE}
        # The manifest goes last, into the file a reader opens first.
        _fsync_write(tmp / STATE, json.dumps({**meta, "files": manifest, "tree": packed}).encode())
        try:
            os.rename(tmp, folder)  # atomic; refuses (ENOTEMPTY/EEXIST) when the target exists
        except OSError:
            if folder.exists():
                return False
            raise
        return True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def read_meta(folder: Path) -> dict:
    """state.json of a state folder, its files checked against the manifest (Unreadable otherwise)."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / STATE).read_text())
    except (OSError, ValueError) as err:
        raise Unreadable(f"{folder}: {STATE} unreadable ({err})") from None
    for name, info in (meta.get("files") or {}).items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != info["bytes"] or _sha256(path) != info["sha256"]:
            raise Unreadable(f"{folder}: {name} is missing or does not match its manifest (cut off while written?)")
    return meta


def read_tree(folder: Path, meta: dict) -> Any:
    """The state tree of a folder whose meta read_meta returned, its arrays loaded."""
    with np.load(Path(folder) / ARRAYS, allow_pickle=False) as arrays:
        return unpack(meta["tree"], {k: arrays[k] for k in arrays.files})


def remove_stale_tmp(parent: Path, older_than: float = 3600.0) -> None:
    """Remove temporary folders left by writers that died more than `older_than` seconds ago."""
    now = time.time()
    for path in Path(parent).glob(f"{TMP_PREFIX}*"):
        try:
            if now - path.stat().st_mtime > older_than:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass
