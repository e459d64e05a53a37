"""One notebook run: resolved parameters, seeding, stage timings, results.json and Findings."""
from __future__ import annotations

import json
import math
import os
import platform
import random
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from . import params as params_mod
from .checkpoints import Checkpoints, folder_for
from .fingerprint import run_parts
from .paths import build_dir


def seed_everything(seed: int) -> None:
    """Same seed, same results on CPU: Python, NumPy and the Keras backend's seeds, deterministic ops
    (hwutils.backend.deterministic)."""
    import keras

    from . import backend

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    backend.deterministic()


def random_state() -> dict:
    """The state of the generators seed_everything seeds that a training loop may draw from: Python's,
    NumPy's global one and Keras's global seed generator (when one exists); a checkpoint keeps it."""
    from keras.src.backend.common import global_state
    from keras.src.random.seed_generator import GLOBAL_SEED_GENERATOR
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    keras_gen = global_state.get_global_attribute(GLOBAL_SEED_GENERATOR)
    return {"python": [version, list(internal), gauss],
            "numpy": [name, keys, int(pos), int(has_gauss), float(cached)],
            "keras": None if keras_gen is None else np.asarray(keras_gen.state.numpy())}


def set_random_state(state: dict) -> None:
    """Put back what random_state() returned."""
    from keras.src.random.seed_generator import global_seed_generator
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached)))
    if state.get("keras") is not None:
        global_seed_generator().state.assign(state["keras"])


def versions() -> dict[str, str]:
    """The versions a run depends on: the Keras backend in use and its framework (imported), the other
    framework's installed version (read from its metadata, not imported), the rest of the stack."""
    import importlib.metadata

    import keras
    import matplotlib
    import scipy
    import sklearn

    from . import __version__, backend
    installed = {}
    for name in ("tensorflow", "jax", "jaxlib"):
        try:
            installed[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return {"python": platform.python_version(), **installed, **backend.versions(), "keras": keras.__version__,
            "keras_backend": backend.NAME, "numpy": np.__version__, "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__, "matplotlib": matplotlib.__version__, "hwutils": __version__}


def device() -> str:
    from . import backend
    return backend.device()


def to_jsonable(value: Any) -> Any:
    """numpy scalars and arrays to Python; NaN and inf to None so results.json stays valid JSON."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


class Run:
    """What one execution of a notebook knows about itself, and writes at the end."""

    def __init__(self, stem: str, params: dict[str, Any]):
        self.stem = stem
        self.params = params
        self.profile = params["profile"]
        self.seed = params["seed"]
        self.out_dir = Path(params["out_dir"]) if params.get("out_dir") else build_dir(stem)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoints = Checkpoints(folder_for(self.out_dir, params.get("checkpoint_dir")),
                                       run_parts({"notebook": stem, **params}), params.get("checkpoint_every") or 0,
                                       params.get("checkpoint_minutes") or 0.0,
                                       bool(params.get("keep_checkpoints") or os.environ.get("HWUTILS_KEEP_CHECKPOINTS")))
        self.stages: dict[str, float] = {}
        self.findings: list[str] = []
        self.figures: list[str] = []
        self.captions: dict[str, str] = {}  # figure file -> its caption (plots.save_fig(..., caption=...))
        self._start = time.perf_counter()

    def __getattr__(self, name: str) -> Any:
        # P.epochs instead of P.params["epochs"]: notebooks read like the report.
        params = self.__dict__.get("params", {})
        if name in params:
            return params[name]
        raise AttributeError(name)

    def cached(self, name: str, fn, *args, **kwargs):
        """fn(*args, **kwargs) computed once per fingerprint: a rerun of an interrupted notebook takes the
        stored result (hwutils.stage_cache; off with the checkpoints, as in the smoke profile)."""
        from .stage_cache import cached
        return cached(self.checkpoints, name, fn, *args, **kwargs)

    def finish(self) -> None:
        """The notebook is done: its checkpoints and cached stages are deleted (unless keep_checkpoints)."""
        self.checkpoints.finish()

    @contextmanager
    def stage(self, name: str):
        """Time a stage of the notebook; the wall time per stage goes into results.json."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - start

    def save(self, **metrics: Any) -> Path:
        """Write results.json: parameters, profile, seed, dataset, versions, timings, metrics.

        A metric may not replace what the run records about itself (a metric called `params` once hid
        the resolved parameters): a name that collides with a different value is refused."""
        clashes = [k for k in metrics if k in _RUN_KEYS and k != "findings"
                   and to_jsonable(metrics[k]) != to_jsonable(self._own(k))]
        if clashes:
            raise ValueError(f"metric name(s) {', '.join(map(repr, clashes))} would overwrite the run's own record "
                             f"in results.json; rename them")
        payload = {
            "notebook": self.stem,
            "profile": self.profile,
            "seed": self.seed,
            "dataset": self.params.get("dataset"),
            "params": self.params,
            "versions": versions(),
            "device": device(),
            "wall_time": {"stages": self.stages, "total": time.perf_counter() - self._start},
            "figures": self.figures,
            "captions": self.captions,
            "findings": self.findings,
            "resumed": self.checkpoints.resumed,
            **metrics,
        }
        if self.__dict__.get("claims") is not None and "claims" not in metrics:
            payload["claims"] = [c.as_dict() for c in self.claims]  # a later save keeps the claims
        path = self.out_dir / "results.json"
        path.write_text(json.dumps(to_jsonable(payload), indent=1, allow_nan=False))
        self.results = payload
        return path

    def _own(self, key: str) -> Any:
        return {"notebook": self.stem, "profile": self.profile, "seed": self.seed,
                "dataset": self.params.get("dataset"), "params": self.params}.get(key, object())

    def report_findings(self, lines: list[str]) -> None:
        """Show Findings (computed by the caller from results) and keep them for results.json."""
        self.findings = list(lines)
        text = "\n".join(f"- {line}" for line in lines)
        try:
            from IPython.display import Markdown, display
            display(Markdown("**Findings**\n\n" + text))
        except ImportError:  # plain Python
            print("Findings\n" + text)
        if hasattr(self, "results"):
            self.save(**{k: v for k, v in self.results.items() if k not in _RUN_KEYS})

    def report_claims(self, claims: list, **metrics: Any) -> None:
        """Show the claims table in the notebook and write results.json with the metrics and the claims.

        `claims` are hwutils.claims.Claim objects. The table shows each claim (the report's observation or
        the paper's result) with its source, this run's effect [95% interval] and unit, p, n, the verdict
        (green reproduced, red contradicted, grey inconclusive) and the note. results.json gets
        `claims: [Claim.as_dict(), ...]` and `findings`: one plain sentence per claim. Without metrics, the
        metrics of an earlier `save` are kept. `hwutils.claims.table(claims)` gives the table as a DataFrame.
        """
        from . import claims as claims_mod
        self.claims = list(claims)
        for c in self.claims:  # an undecided claim says, in its note too, what would decide it
            needed = claims_mod.needed_text(c.as_dict())
            if needed and "n needed" not in c.note:
                c.note = "; ".join(filter(None, [c.note, f"n needed (an estimate: 80% power at the effect and "
                                                         f"spread measured): {needed}"]))
        self.findings = [c.sentence() for c in self.claims]
        try:
            from IPython import get_ipython
            from IPython.display import HTML, display
            if get_ipython() is None:
                raise ImportError
            display(HTML("<b>Claims</b>" + claims_mod.html_table(self.claims)))
        except ImportError:  # plain Python
            print("Claims\n" + "\n".join(f"- {line}" for line in self.findings))
        if not metrics and hasattr(self, "results"):
            metrics = {k: v for k, v in self.results.items() if k not in _RUN_KEYS | {"claims"}}
        self.save(**metrics)
        self.finish()  # the Claims cell ends the notebook


_RUN_KEYS = {"notebook", "profile", "seed", "dataset", "params", "versions", "device", "wall_time",
             "figures", "captions", "findings", "resumed"}


def setup(stem: str, namespace: dict[str, Any] | None = None, params: dict[str, Any] | None = None,
          **given: Any) -> Run:
    """Resolve and validate a notebook's parameters, seed everything, make its output folder.

    In a notebook: `P = hwutils.setup("1-1-simulate-function", globals())`. Names that papermill
    injected but the notebook does not declare are refused here, before any work. A notebook of your
    own declares its parameters with their defaults (or `params.Param`s):
    `P = hwutils.setup("mine", globals(), params={"epochs": 10, "width": 32})`; they are checked the same
    way (an unknown name, a wrong type).
    """
    own = params
    declared = params_mod.names(stem, own)
    values = dict(given)
    if namespace is not None:
        for name in declared:
            if name in namespace and name not in values:
                values[name] = namespace[name]
        history = namespace.get("In") if isinstance(namespace.get("In"), list) else []
        for name, value in params_mod.injected_names(history).items():
            values.setdefault(name, value)
    resolved = params_mod.resolve(stem, values, declared=own)
    from .costs import notice
    said = notice(stem, resolved)
    if said:  # standard and full are chosen explicitly: say what they need and cost before the work starts
        print(said, flush=True)
    run = Run(stem, resolved)
    seed_everything(run.seed)
    from .precision import full_float32_matmuls
    full_float32_matmuls()  # measures in true float32 on GPUs (TF32 off); nothing changes on a CPU
    from .plots import use_style
    use_style()
    return run
