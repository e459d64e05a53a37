"""What a result depended on, hashed: the hwutils code, the library versions, a run's parameters,
backend and precision, and the content of arrays and Keras models.

The report skips a notebook whose fingerprint is unchanged; a checkpoint or a cached stage is used
only under the fingerprint it was written with (hwutils.checkpoints).
"""
from __future__ import annotations

import hashlib
import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

# Orchestration only: editing these does not change what a notebook computes.
NOT_RESULTS = {"report.py", "report_page.py", "sweep.py"}
# The libraries whose version can change a result; a missing one is recorded as absent.
LIBRARIES = ("tensorflow", "jax", "jaxlib", "keras", "numpy", "scipy", "scikit-learn", "matplotlib", "pandas", "seaborn",
             "papermill", "nbclient", "ipykernel")
# Parameters that say where and how often to checkpoint, not what to compute.
NOT_RESULT_PARAMS = {"out_dir", "checkpoint_dir", "checkpoint_every", "checkpoint_minutes", "keep_checkpoints"}


def code_hash(root: Path | None = None) -> str:
    """Hash of the hwutils sources the notebooks run (every .py file that exists now, whatever
    subpackages there are): a change re-runs every notebook. The report machinery is left out."""
    h = hashlib.sha256()
    root = Path(root) if root is not None else Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        if path.parent == root and path.name in NOT_RESULTS:
            continue
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a result depends on (read from metadata, nothing imported)."""
    out = {"python": ".".join(map(str, sys.version_info[:3]))}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def result_params(params: dict) -> dict:
    """The parameters that can change a result (out_dir and the checkpoint settings left out)."""
    return {k: v for k, v in params.items() if k not in NOT_RESULT_PARAMS}


def run_parts(params: dict | None = None) -> dict[str, str]:
    """The parts of a run's fingerprint, each hashed on its own so that a mismatch can say which part
    changed: parameters, hwutils code, library versions, Keras backend, precision (float type and
    dtype policy)."""
    import keras
    precision = f"{keras.config.floatx()} / {keras.config.dtype_policy().name}"
    return {"params": digest(result_params(params or {})), "code": code_hash(),
            "versions": digest(library_versions()), "backend": keras.backend.backend(), "precision": precision}


def differences(a: dict, b: dict) -> list[str]:
    """The names of the parts in which two fingerprints differ."""
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def _feed(h, value: Any) -> None:
    """Feed a value's content into hash h: arrays by dtype, shape and bytes; Keras models and layers by
    their architecture (configs without names) and weights; containers item by item."""
    if isinstance(value, np.ndarray) or type(value).__module__.startswith(("tensorflow", "jax")):
        arr = np.ascontiguousarray(np.asarray(value))
        h.update(f"array {arr.dtype.str} {arr.shape}".encode())
        h.update(arr.tobytes() if arr.dtype != object else json.dumps(arr.tolist(), default=str).encode())
    elif hasattr(value, "get_weights") and hasattr(value, "weights"):
        h.update(f"keras {architecture(value)}".encode())
        for w in value.get_weights():
            _feed(h, w)
    elif isinstance(value, dict):
        h.update(f"dict {len(value)}".encode())
        for k in sorted(value, key=str):
            h.update(str(k).encode())
            _feed(h, value[k])
    elif isinstance(value, (list, tuple)):
        h.update(f"{type(value).__name__} {len(value)}".encode())
        for v in value:
            _feed(h, v)
    elif isinstance(value, np.generic):
        h.update(f"scalar {value.dtype.str} {value!r}".encode())
    else:
        h.update(f"{type(value).__name__} {json.dumps(value, sort_keys=True, default=str)}".encode())


def digest(*values: Any) -> str:
    """A hash of the content of `values` (arrays, Keras models, dicts, lists, scalars)."""
    h = hashlib.blake2b(digest_size=20)  # fast on the hundreds of megabytes of a full-size dataset
    for value in values:
        _feed(h, value)
    return h.hexdigest()


def architecture(model) -> str:
    """A Keras model's or layer's layers, each its class and config without its name (auto-numbered
    names such as dense_3 depend on what was built before, not on what the model computes)."""
    layers = list(model._flatten_layers(include_self=True, recursive=True)) if hasattr(model, "_flatten_layers") \
        else [model]
    described = []
    for layer in layers:
        if any(True for _ in layer._flatten_layers(include_self=False, recursive=False)):
            described.append(type(layer).__name__)  # a container: its layers are described one by one
            continue
        try:
            config = {k: v for k, v in layer.get_config().items() if k != "name"}
        except (NotImplementedError, TypeError):
            config = {}
        described.append([type(layer).__name__, config])
    return json.dumps(described, sort_keys=True, default=str)
