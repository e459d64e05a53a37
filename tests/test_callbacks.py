"""Each callback against an independent computation."""
from __future__ import annotations
