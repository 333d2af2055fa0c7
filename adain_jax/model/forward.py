"""The AdaIN forward pass, once, for every model and every path (stylize, tiles, video,
datasets, augmentation, export): encode, content statistics, transfer, blend with alpha,
decode, crop and clip.

:func:`run` is the one kernel: the caller gives the transfer rule (``restyle``: AdaIN with the
features' own statistics, with given content statistics (:func:`adain_with`: tiles' global
statistics, a video's running average, a dataset image's own region), or per region for
masks), so each path keeps its own statistics and floating-point sequence. The model is the
one the params tree holds (:func:`adain_jax.model.registry.of`). Also the traced resize that
stylization uses (shrinking to an internal resolution and growing back).
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from adain_jax import ops
from adain_jax.model import registry

Array = Any


def features(params, rgb: Array, dtype=None, backend: str | None = None) -> Array:
    """The AdaIN features of NHWC RGB in [0, 1] (relu4_1, or the model's 1/8 features);
    ``params``: a whole tree or its :func:`encoder_part`. ``backend``: None
    (``nn.backends.select``) or ``'xla'`` (export: no custom calls)."""
    return registry.of(params).features(params, rgb, dtype, backend)


def decode(params, feat: Array, dtype=None, backend: str | None = None) -> Array:
    """RGB (not clipped, 8x the features' size) from AdaIN features."""
    return registry.of(params).decode(params, feat, dtype, backend)


def encoder_part(params) -> dict:
    """The encoder's part of a params tree, keyed as in the tree: enough for :func:`features`
    (a jitted statistics function then does not take the decoder's weights)."""
    return registry.of(params).encoder_part(params)


def channels(params) -> int:
    """Channels of the AdaIN features (and statistics) of ``params``' model."""
    return registry.of(params).channels(params)


def style_stats(params, rgb: Array, dtype=None, mask: Array | None = None):
    """Channel (mean, std) of the features of ``rgb``, each (N, 1, 1, C); over the feature
    pixels weighted by ``mask`` (N, h, w, 1) when given."""
    feat = features(params, rgb, dtype)
    return ops.channel_stats(feat) if mask is None else ops.masked_channel_stats(feat, mask)


def region_moments(params, window: Array, bounds: Array, fmasks: Array, dtype=None):
    """Per-region (count, mean, centred M2) of the features of one (h, w, 3) ``window`` over
    its core feature rows/columns ``bounds`` = [y0, y1, x0, x1); ``fmasks`` (fh, fw, K) are
    region weights (tiles: the partial sums of global content statistics)."""
    feat = features(params, window[None], dtype)[0].astype(jnp.float32)
    fh, fw = feat.shape[:2]
    ys = jnp.arange(fh)[:, None]
    xs = jnp.arange(fw)[None, :]
    inside = ((ys >= bounds[0]) & (ys < bounds[1]) & (xs >= bounds[2]) & (xs < bounds[3]))
    w = ops.normalise_masks(fmasks) * inside[..., None].astype(jnp.float32)   # (fh, fw, K)
    count = w.sum(axis=(0, 1))                                   # (K,)
    mean = jnp.einsum("hwk,hwc->kc", w, feat) / jnp.maximum(count, 1e-12)[:, None]
    m2 = jnp.stack([(w[..., k:k + 1] * jnp.square(feat - mean[k])).sum(axis=(0, 1))
                    for k in range(w.shape[-1])])                # (K, C)
    return count, mean, m2


def adain_with(feat: Array, c_mean: Array, c_std: Array, s_mean: Array, s_std: Array) -> Array:
    """AdaIN with given content statistics: ``(feat - c_mean) / c_std * s_std + s_mean``."""
    return (feat - c_mean) / c_std * s_std + s_mean


def adain_own(s_mean: Array, s_std: Array) -> Callable[[Array], Array]:
    """The plain AdaIN rule: content statistics of each image's own features."""
    return lambda feat: ops.adain_from_stats(feat, s_mean, s_std)


def run(params, rgb: Array, restyle: Callable, alpha, dtype=None, backend: str | None = None,
        *, has_aux: bool = False, alphas: bool = False):
    """The forward pass: ``rgb`` (N, H, W, 3), sides multiples of 8 -> decoded (not cropped or
    clipped; :func:`finish`).

    Args:
      restyle: ``restyle(feat) -> target`` (float32 features in, the AdaIN target out), or
        ``(target, aux)`` with ``has_aux``.
      alpha: the strength, broadcasting against the features; with ``alphas``, a vector of A
        strengths, each decoded from the one encoding (A * N images out, alpha-major).
      dtype: compute dtype (None: float32); ``backend`` as for :func:`features`.
    Returns:
      The decoded images, and ``aux`` with ``has_aux``.
    """
    feat = features(params, rgb, dtype, backend).astype(jnp.float32)
    target = restyle(feat)
    aux = None
    if has_aux:
        target, aux = target
    if alphas:
        targets = jax.vmap(lambda a: ops.blend(target, feat, a))(alpha)
        target = targets.reshape((-1,) + targets.shape[2:])
    else:
        target = ops.blend(target, feat, alpha)
    out = decode(params, target.astype(dtype or jnp.float32), dtype, backend)
    return (out, aux) if has_aux else out


def finish(out: Array, height: int | None = None, width: int | None = None,
           size: tuple[int, int] | None = None) -> Array:
    """Decoded images cropped to ``height`` x ``width`` (the padding off), in float32, resized
    to ``size`` (the content's, when it was shrunk before encoding) and clipped to [0, 1]."""
    if height is not None:
        out = out[:, :height, :width]
    out = out.astype(jnp.float32)
    if size is not None:
        out = resize(out, size)
    return jnp.clip(out, 0.0, 1.0)


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


__all__ = ["features", "decode", "encoder_part", "channels", "style_stats", "region_moments", "adain_with",
           "adain_own", "run", "finish", "resize", "fit_side"]
