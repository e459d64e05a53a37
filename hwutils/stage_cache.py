"""Costly stages after training (sharpness, exact Hessians, interpolations, surfaces) computed once:
a rerun of an interrupted notebook takes the results of the stages that had finished.

    value = P.cached("sharpness batch 64 seed 0", measures.sharpness, model, x, y, epsilon=1e-3)

is `measures.sharpness(model, x, y, epsilon=1e-3)`, stored as a state folder (hwutils.state_files)
under the notebook's checkpoint folder, keyed by the name, the function and a digest of its arguments
(arrays by content, Keras models by architecture and weights; a bound method's object by its get_state(),
e.g. an Ensemble's weights), and used again only under the run's
fingerprint (parameters, code, versions, backend, precision). With checkpoints off (the smoke
profile) the function just runs. Results are trees of arrays, numbers, strings, lists and dicts;
tuples come back as lists. The cache goes with the checkpoints when the notebook finishes.
"""
from __future__ import annotations

import re
import shutil
import warnings
from typing import Any, Callable

from . import fingerprint as fp
from . import state_files


def cached(checkpoints, name: str, fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """fn(*args, **kwargs), or its stored result (see the module's docstring)."""
    if checkpoints is None or not checkpoints.enabled:
        return fn(*args, **kwargs)
    owner = getattr(fn, "__self__", None)  # a bound method (ens.hessians): what it reads of its object
    state = owner.get_state() if hasattr(owner, "get_state") else owner
    key = fp.digest(name, getattr(fn, "__module__", ""), getattr(fn, "__qualname__", repr(fn)), state, list(args),
                    kwargs)
    slug = re.sub(r"[^A-Za-z0-9.+-]+", "_", name).strip("_")[:48] or "stage"
    folder = checkpoints.folder / "stages" / f"{slug}-{key[:16]}"
    if folder.is_dir():
        try:
            meta = state_files.read_meta(folder)
            if not fp.differences(meta.get("fingerprint", {}), checkpoints.parts):
                return state_files.read_tree(folder, meta)["result"]
        except (state_files.Unreadable, OSError, ValueError, KeyError):
            pass
        shutil.rmtree(folder, ignore_errors=True)  # another fingerprint or damaged: computed again
    result = fn(*args, **kwargs)
    try:
        state_files.write(folder, {"result": result}, {"fingerprint": checkpoints.parts, "name": name})
    except TypeError as err:  # a result that is not a tree of arrays and numbers: used, not stored
        warnings.warn(f"stage {name!r} is not cached: {err}", stacklevel=2)
    return result
