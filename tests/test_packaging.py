"""Packaging: pyproject.toml declares what hwutils imports, with lower bounds the pinned versions meet, and the
extras; importing hwutils changes no global setting."""
import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PINS = {Requirement(line).name.lower(): Version(str(next(iter(Requirement(line).specifier))).lstrip("=="))
        for line in (ROOT / "requirements.txt").read_text().splitlines() if line.strip() and not line.startswith("#")}
# Import names that are not their distribution's name; threadpoolctl comes with scikit-learn, IPython with
# ipykernel; distributed is the dask extra's (imported only to scale out).
DISTRIBUTION = {"sklearn": "scikit-learn", "yaml": "pyyaml", "IPython": "ipykernel", "threadpoolctl": "scikit-learn"}
EXTRA_ONLY = {"distributed": "dask", "dask_jobqueue": "dask"}


def third_party_imports() -> set[str]:
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    names = set()
    for path in (ROOT / "hwutils").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - stdlib - {"hwutils"}


def test_every_import_is_a_declared_dependency_or_an_extra():
    declared = {Requirement(r).name.lower() for r in PROJECT["dependencies"]}
    extras = {name: {Requirement(r).name.lower() for r in reqs} for name, reqs in PROJECT["optional-dependencies"].items()}
    for module in third_party_imports():
        if module in EXTRA_ONLY:
            assert module.replace("_", "-") in extras[EXTRA_ONLY[module]], module
        else:
            assert DISTRIBUTION.get(module, module).lower() in declared, f"hwutils imports {module}: not declared"


def test_lower_bounds_are_met_by_the_pinned_versions():
    for text in PROJECT["dependencies"] + [r for reqs in PROJECT["optional-dependencies"].values() for r in reqs]:
        req = Requirement(text)
        assert req.specifier, f"{text}: no lower bound"
        if req.name.lower() in PINS:  # what make installs and the tests ran with satisfies the declaration
            assert req.specifier.contains(PINS[req.name.lower()]), f"{text} excludes the pinned {PINS[req.name.lower()]}"


def test_the_extras():
    extras = {name: {Requirement(r).name.lower() for r in reqs} for name, reqs in PROJECT["optional-dependencies"].items()}
    assert "jupyterlab" in extras["lab"]
    assert {"dask", "distributed", "dask-jobqueue", "bokeh"} <= extras["dask"]
    assert any("cuda" in "".join(Requirement(r).extras) for r in PROJECT["optional-dependencies"]["gpu"])


def test_importing_hwutils_changes_no_global_setting():
    """Environment, plot style, warning filters, logging, Keras's configuration (float type, dtype policy, type
    promotion) and NumPy's (global generator, print options, error handling), after importing every module."""
    probe = """
import json, logging, os, pkgutil, warnings
import matplotlib, numpy as np, scipy.stats, keras  # the libraries' own settings at their import are theirs, not ours
from keras.src.backend.common import dtypes as keras_dtypes


def settings():
    return (dict(os.environ), dict(matplotlib.rcParams), list(warnings.filters), logging.getLogger().level,
            (keras.config.floatx(), keras.config.dtype_policy().name, keras.config.epsilon(),
             keras.config.image_data_format(), dict(keras_dtypes.BIT64_TO_BIT32_DTYPE)),
            (np.random.get_state()[1].tobytes(), np.random.get_state()[2], str(np.get_printoptions()), str(np.geterr())))


before = settings()
import hwutils
for m in pkgutil.iter_modules(hwutils.__path__):  # every module, as a notebook of one's own may import any
    __import__("hwutils." + m.name)
after = settings()
changed = [name for name, b, a in zip(("environment", "rcParams", "warnings", "logging", "keras", "numpy"), before,
                                       after) if a != b]
env = sorted(set(after[0].items()) ^ set(before[0].items()))
print(json.dumps({"changed": changed, "env": env}))
"""
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, env=env, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"changed": [], "env": []}
