"""A measure's value together with how it was computed.

Every measure returns what it always returned — a float, a NumPy array, a (nodes, weights) pair — as an
instance of one of these subclasses, which behave exactly like the plain value and carry attributes
besides: `precision` (the floating dtype the loss and its derivatives were computed in, e.g. "float32"
for a float32 model even though the result is stored as float64) and, where the measure is an estimate,
what it was estimated with (`se`, `probes`, `steps`, ...). `info(result)` returns them as a dict.
"""
from __future__ import annotations

import numpy as np


class Scalar(float):
    """A float that also carries how it was computed (attributes; see `info`)."""

    def __new__(cls, value, **about):
        out = super().__new__(cls, value)
        out.__dict__.update(about)
        return out

    def __reduce__(self):
        return _scalar, (float(self), dict(self.__dict__))


class Values(np.ndarray):
    """A NumPy array that also carries how it was computed; slices and arithmetic keep the attributes,
    np.asarray(values) gives the plain array."""

    def __new__(cls, values, **about):
        out = np.asarray(values).view(cls)
        out.__dict__.update(about)
        return out

    def __array_finalize__(self, obj):
        if obj is not None:
            self.__dict__.update(getattr(obj, "__dict__", {}))

    def __reduce__(self):
        return _values, (np.asarray(self), dict(self.__dict__))


class Density(tuple):
    """The (nodes, weights) pair of a spectral density, unpacked as before, with attributes besides."""

    def __new__(cls, nodes, weights, **about):
        out = super().__new__(cls, (nodes, weights))
        out.__dict__.update(about)
        return out

    @property
    def nodes(self):
        return self[0]

    @property
    def weights(self):
        return self[1]

    def __reduce__(self):
        return _density, (self[0], self[1], dict(self.__dict__))


def _scalar(value, about):
    return Scalar(value, **about)


def _values(values, about):
    return Values(values, **about)


def _density(nodes, weights, about):
    return Density(nodes, weights, **about)


def info(result) -> dict:
    """What a result says about how it was computed ({} for a plain value)."""
    return dict(getattr(result, "__dict__", {}))
