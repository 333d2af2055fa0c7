"""Compute backends of the models' 3x3 convolutions, and the one place that chooses.

``select(dtype)`` picks ``'onednn'`` (XLA FFI custom calls into oneDNN: a single CPU device
with AVX-512, float32 or, with AVX512-BF16/AMX, bfloat16) or ``'xla'`` (everything else).
``Encoder``/``Decoder`` call it once per model and hand the answer to every layer.
"""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from adain_jax.errors import ConfigError
from adain_jax.nn.backends import onednn, xla

BACKENDS = ("xla", "onednn")
#: Compute dtypes by name (flags, configs); None means float32.
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def resolve_dtype(name: str | Any | None):
    """``'float32'``/``'bfloat16'`` (or a dtype, or None) -> the dtype the models take."""
    if name is None or not isinstance(name, str):
        return name
    try:
        return DTYPES[name]
    except KeyError:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, not {name!r}") from None


def select(dtype=None) -> str:
    """The backend for convolutions computed in ``dtype`` (None = float32)."""
    return "onednn" if onednn.use_for(dtype) else "xla"


def conv3x3(backend: str, x, kernel, bias, *, relu: bool, is_output: bool,
            resample: str | None, dtype):
    """The models' convolution on ``backend`` (see ``nn.models.Conv3x3``)."""
    if backend == "onednn":
        compute = jnp.dtype(dtype or jnp.float32)
        return onednn.conv3x3(x, kernel, bias, relu, jnp.float32 if is_output else compute,
                              resample, compute)
    if backend != "xla":
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    return xla.conv3x3(x, kernel, bias, relu=relu, resample=resample, dtype=dtype)


def describe() -> str:
    """One line for logs and benchmark headers."""
    return onednn.describe()


__all__ = ["BACKENDS", "DTYPES", "resolve_dtype", "select", "conv3x3", "describe"]
