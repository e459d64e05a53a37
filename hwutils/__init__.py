"""hwutils: models, training, measures and plots for the hw1 lab notebooks.

Importing hwutils changes no global setting (environment, logging, plot style): `setup()` styles the
plots of the notebook that calls it, and the report quietens TensorFlow in the kernels it starts.
"""
__version__ = "0.1.0"

from .params import ParameterError
from .run import setup

__all__ = ["setup", "ParameterError", "__version__"]
