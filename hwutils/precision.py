"""Precision: what training may compute in, what measures always compute in, and which device is used.

Training takes `precision`: "float32" (the default, everywhere) or "mixed_bfloat16" (Keras's mixed policy:
float32 weights and optimizer, bfloat16 activations and matmuls; meant for GPUs, where it runs on the
tensor cores; on a CPU it is allowed but slower). It applies to the models built to be trained
(`policy`, used by hwutils.vectorized); the members taken out for measuring are float32 models.

Measures never run in reduced precision: `full_float32_matmuls()` (called by hwutils.setup) turns off
TensorFloat-32, which TensorFlow uses by default for float32 matmuls and convolutions on Ampere and later
GPUs (a 10-bit mantissa) and JAX uses at its default matmul precision on those GPUs; float64 measures
are float64 on either.
"""
from __future__ import annotations

import functools
import warnings
from contextlib import contextmanager

import keras

PRECISIONS = ("float32", "mixed_bfloat16")


@functools.lru_cache(maxsize=None)
def _accelerator(backend: str) -> str | None:
    if backend == "tensorflow":
        import tensorflow as tf
        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            return None
        details = tf.config.experimental.get_device_details(gpus[0])
        return details.get("device_name") or gpus[0].name
    if backend == "jax":
        import jax
        device = jax.devices()[0]
        return None if device.platform == "cpu" else getattr(device, "device_kind", device.platform)
    return None


def accelerator() -> str | None:
    """The name of the GPU the Keras backend computes on (e.g. "NVIDIA H200"), or None on a CPU."""
    return _accelerator(keras.backend.backend())


def full_float32_matmuls() -> None:
    """float32 matmuls and convolutions in float32, not TensorFloat-32, on this process's backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        tf.config.experimental.enable_tensor_float_32_execution(False)
    elif backend == "jax":
        import jax
        jax.config.update("jax_default_matmul_precision", "highest")


def check(precision: str) -> str:
    """`precision` if it is one of PRECISIONS (a ValueError otherwise); warns about bfloat16 on a CPU."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "float32" and accelerator() is None:
        warnings.warn(f"precision {precision!r} on a CPU: bfloat16 is emulated there and slower than float32",
                      stacklevel=3)
    return precision


@contextmanager
def policy(precision: str = "float32"):
    """Keras's dtype policy for the layers built inside (a model to train); the previous one afterwards."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(check(precision))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
