"""What a machine offers hwutils, as JSON on stdout: Python, the GPUs (nvidia-smi), which Keras backends
import (JAX, TensorFlow) and see a GPU, and which of hwutils's requirements are missing. benchmarks/gpu_run.sh
runs it first; it imports no backend into its own process (each is probed in a child)."""
from __future__ import annotations

import json
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BACKEND_PROBE = {
    "jax": "import jax; print(jax.__version__, [d.device_kind for d in jax.devices()])",
    "tensorflow": "import tensorflow as tf; print(tf.__version__, [g.name for g in tf.config.list_physical_devices('GPU')])",
}


def requirements() -> list[str]:
    """Package names of requirements.txt."""
    names = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.append(re.split(r"[=<>!~\[ ]", line)[0])
    return names


def installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def probe_backend(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    return done.stdout.strip() if done.returncode == 0 else "not importable: " + (done.stderr.strip().splitlines()
                                                                                  or ["?"])[-1][:200]


def main() -> None:
    smi = shutil.which("nvidia-smi")
    gpus = subprocess.run([smi, "-L"], capture_output=True, text=True).stdout.strip() if smi else "no nvidia-smi"
    report = {"python": platform.python_version(), "executable": sys.executable, "machine": platform.machine(),
              "cpus": __import__("os").cpu_count(), "gpus": gpus,
              "backends": {name: probe_backend(code) for name, code in BACKEND_PROBE.items()},
              "keras": installed("keras"),
              "missing": [n for n in requirements() if installed(n) is None]}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
