"""Where things live. Every path is derived from the package location, never the working directory."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build"
DATA = ROOT / "data"


def build_dir(stem: str) -> Path:
    """The default output folder of one notebook: build/<notebook-stem>/."""
    return BUILD / stem
