"""The model a params tree holds, in one place: the main AdaIN pair (``{'vgg', 'decoder'}``)
or the lite pair (``{'lite_encoder', 'decoder'}``, :mod:`adain_jax.nn.lite`).

The tree's structure is static under jit, so each model compiles its own functions and no
caller passes a model name. Also the one traced resize that stylization uses (shrinking to an
internal resolution and growing back)."""
from __future__ import annotations

from typing import Any

import jax

from adain_jax.nn import lite, models

Array = Any


def encoder_part(params) -> dict:
    """The encoder's part of a params tree, keyed as in the tree (``'vgg'`` or
    ``'lite_encoder'``): enough for :func:`features`."""
    key = lite.ENCODER_KEY if lite.is_lite(params) else "vgg"
    return {key: params[key]}


def features(params, rgb: Array, dtype=None, backend: str | None = None) -> Array:
    """The AdaIN features (relu4_1, or the lite model's 1/8 features) of NHWC images whose
    sides are multiples of 8; ``params`` is a whole tree or its :func:`encoder_part`.
    ``backend``: None (``backends.select``) or ``'xla'`` (export: no custom calls)."""
    if lite.is_lite(params):
        return lite.encode(params[lite.ENCODER_KEY], rgb, dtype, backend)[-1]
    return models.encode(params["vgg"], rgb, dtype, backend)[-1]


def decode(params, feat: Array, dtype=None, backend: str | None = None) -> Array:
    """RGB (not clipped, 8x the features' size) from AdaIN features."""
    if lite.is_lite(params):
        return lite.decode(params["decoder"], feat, lite.config_of(params), dtype, backend)
    return models.decode(params["decoder"], feat, dtype, backend)


def channels(params) -> int:
    """Channels of the AdaIN features (and statistics) of ``params``' model."""
    if lite.is_lite(params):
        return lite.config_of(params).channels
    return models.ENCODER_LAYERS[-1][1]


def resize(x: Array, size: tuple[int, int], antialias: bool = True) -> Array:
    """NHWC images to ``size`` (H, W) by (antialiased) bilinear interpolation, traced."""
    if tuple(x.shape[1:3]) == tuple(size):
        return x
    return jax.image.resize(x, (x.shape[0], *size, x.shape[3]), "linear", antialias=antialias)


def fit_side(x: Array, max_side: int | None) -> Array:
    """Shrinks NHWC images so the longer side is at most ``max_side`` (None: unchanged)."""
    h, w = x.shape[1:3]
    if max_side is None or max(h, w) <= max_side:
        return x
    scale = max_side / max(h, w)
    return resize(x, (max(1, round(h * scale)), max(1, round(w * scale))))
