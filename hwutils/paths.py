"""Where things live. Every path is derived from the package location, never the working directory."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
# $HWUTILS_BUILD lets the smoke tests write elsewhere than the report's build/.
BUILD = Path(os.environ.get("HWUTILS_BUILD") or ROOT / "build")
DATA = ROOT / "data"


def build_dir(stem: str) -> Path:
    """The default output folder of one notebook: build/<notebook-stem>/."""
    return BUILD / stem
