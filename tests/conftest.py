"""The unit tests' backend setting: on JAX, float64 is switched on for the whole session (the documented
opt-in, hwutils.backend.enable_float64) because the oracle tests build float64 models; what happens without it
is tested in a fresh process (tests/test_backend.py)."""
from hwutils import backend

backend.enable_float64()
