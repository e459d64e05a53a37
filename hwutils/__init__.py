"""hwutils: models, training, measures and plots for the hw1 lab notebooks."""
import os

# TensorFlow's C++ start-up chatter drowns notebook output; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

from .params import ParameterError  # noqa: E402
from .run import setup  # noqa: E402

__all__ = ["setup", "ParameterError", "__version__"]
