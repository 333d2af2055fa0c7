"""Parameter-free layers of the models (NHWC): padding, pooling, upsampling.

Convolutions are 3x3 with reflection padding 1, as in the authors' Lua/PyTorch code; the
encoder max-pools in ceil mode (odd sizes keep their last row/column), matching
``nn.MaxPool2d(..., ceil_mode=True)``. Both compute backends use these functions (the oneDNN
backward pass differentiates through them), so there is one definition of each.
"""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp

Array = Any
DOWNSCALE = 8  # relu4_1 is 1/8 of the input size; the decoder undoes it.


def reflect_pad(x: Array, pad: int = 1) -> Array:
    """Reflection padding of H and W (NHWC); falls back to edge mode for 1-pixel sides."""
    # Two comparisons rather than min(): each is decidable for symbolic (exported) sizes.
    mode = "reflect" if x.shape[1] > pad and x.shape[2] > pad else "edge"
    return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode=mode)


def max_pool_ceil(x: Array) -> Array:
    """2x2/2 max pool in ceil mode: an odd H or W keeps its last row/column.

    A max over a reshape rather than ``reduce_window``: same values, and its gradient is an
    element-wise mask instead of XLA's select-and-scatter, which is ~5x slower on the CPU
    (10% of a training step)."""
    ph, pw = x.shape[1] % 2, x.shape[2] % 2
    if ph or pw:
        x = jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), constant_values=-jnp.inf)
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def upsample_nearest(x: Array, factor: int = 2) -> Array:
    n, h, w, c = x.shape
    x = jnp.broadcast_to(x[:, :, None, :, None, :], (n, h, factor, w, factor, c))
    return x.reshape(n, h * factor, w * factor, c)


def resample(x: Array, how: str | None) -> Array:
    """The input resampling of a ``Conv3x3``: ``'pool'`` (max_pool_ceil), ``'up'``
    (upsample_nearest) or None (unchanged)."""
    if how is None:
        return x
    return {"pool": max_pool_ceil, "up": upsample_nearest}[how](x)


def pad_to_multiple(x: Array, multiple: int = DOWNSCALE, xp=jnp) -> Array:
    """Pads H and W (NHWC, or HWC with ``xp=numpy``: axes 0/1 of the last three) at the
    bottom/right up to a multiple, by reflection where possible, else by edge."""
    hax = x.ndim - 3
    ph, pw = -x.shape[hax] % multiple, -x.shape[hax + 1] % multiple
    if not (ph or pw):
        return x
    mode = "reflect" if x.shape[hax] > ph and x.shape[hax + 1] > pw else "edge"
    pads = [(0, 0)] * x.ndim
    pads[hax], pads[hax + 1] = (0, ph), (0, pw)
    return xp.pad(x, pads, mode=mode)


def space_to_depth(x: Array, block: int = 2) -> Array:
    """(N, H, W, C) -> (N, H/b, W/b, b*b*C); H and W must be multiples of ``block``."""
    n, h, w, c = x.shape
    x = x.reshape(n, h // block, block, w // block, block, c)
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(n, h // block, w // block, block * block * c)


def depth_to_space(x: Array, block: int = 2) -> Array:
    """The inverse of :func:`space_to_depth`: (N, H, W, b*b*C) -> (N, H*b, W*b, C)."""
    n, h, w, c = x.shape
    c //= block * block
    x = x.reshape(n, h, w, block, block, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, h * block, w * block, c)
