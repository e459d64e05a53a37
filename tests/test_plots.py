"""Each plot helper draws what it was given (the plotted data read back from the axes) and saves a file."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
