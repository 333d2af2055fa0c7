"""Compute backends of the models' 3x3 convolutions, and the one place that chooses.

``select(dtype)`` picks ``'onednn'`` (XLA FFI custom calls into oneDNN: a single CPU device
with AVX-512, float32 or, with AVX512-BF16/AMX, bfloat16) or ``'xla'`` (everything else).
``Encoder``/``Decoder`` call it once per model and hand the answer to every layer.
``resolve_dtype('auto')`` is the rule for the default compute dtype: bfloat16 where the
hardware computes it natively, float32 elsewhere.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from adain_jax.errors import ConfigError
from adain_jax.nn.backends import onednn, xla

BACKENDS = ("xla", "onednn")
#: Compute dtypes by name (flags, configs); None means float32.
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
#: What the flags accept: ``auto`` (see :func:`auto_dtype`) and the names above.
DTYPE_CHOICES = ("auto", *DTYPES)
#: Relative error of bfloat16 against float32 outputs (stylized 512 px images, shipped weights):
#: oneDNN's bf16 kernels on a CPU, XLA on a GPU. Quoted by ``--help``.
BF16_REL_ERROR = {"cpu": 8.3e-3, "gpu": 1e-2}
NATIVE_BF16_PLATFORMS = ("gpu", "cuda", "rocm", "tpu")


def auto_dtype():
    """bfloat16 where the hardware computes it natively: GPUs and TPUs, and CPUs whose oneDNN
    kernels run bf16 (AVX512-BF16 or AMX); float32 elsewhere (bf16 there would be emulated
    and slower)."""
    platform = jax.default_backend()
    if platform in NATIVE_BF16_PLATFORMS:
        return jnp.bfloat16
    if platform == "cpu" and onednn.use_for(jnp.bfloat16):
        return jnp.bfloat16
    return jnp.float32


def resolve_dtype(name: str | Any | None):
    """``'auto'``/``'float32'``/``'bfloat16'`` (or a dtype, or None) -> the dtype the models
    take."""
    if name is None or not isinstance(name, str):
        return name
    if name == "auto":
        return auto_dtype()
    try:
        return DTYPES[name]
    except KeyError:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPE_CHOICES)}, "
                          f"not {name!r}") from None


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


def missing_fast_path() -> str | None:
    """One line saying which backend is used when the fast CPU path (oneDNN kernels) is
    missing on a CPU that could run it (Linux x86_64 with AVX-512); None otherwise."""
    if jax.default_backend() != "cpu" or not onednn.cpu_could_use() or onednn.available():
        return None
    return (f"note: convolutions run on XLA, slower than the oneDNN kernels this CPU could use "
            f"({onednn.reason()})")


__all__ = ["BACKENDS", "DTYPES", "DTYPE_CHOICES", "BF16_REL_ERROR", "auto_dtype",
           "resolve_dtype", "select", "conv3x3", "describe", "missing_fast_path"]
