"""Test configuration for `pytest` and `pytest --nbval-lax notebooks/`: the smoke profile, no
network, quiet progress, and a build folder of their own, set here so nobody has to remember a flag.
The notebook kernels nbval starts inherit this environment."""
import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent
os.environ["HWUTILS_PROFILE"] = "smoke"
os.environ["HWUTILS_OFFLINE"] = "1"
os.environ["HWUTILS_QUIET"] = "1"
os.environ["HWUTILS_BUILD"] = str(_ROOT / "build" / "smoke")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
