"""Stylization: encode, AdaIN, decode, with alpha, style interpolation, masks and colour.

Every entry point is jit-compiled once per input shape and reused (params are arguments,
not constants, so new weights do not recompile). Images are float32 in [0, 1], either a
single (H, W, 3) or a batch (N, H, W, 3); the output has the content's shape.
"""
from __future__ import annotations

import functools
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import models, ops
from .errors import ConfigError

Array = Any


class StyleStats(NamedTuple):
    """relu4_1 channel statistics of style images: mean and std, each (N, 1, 1, 512)."""

    mean: Array
    std: Array


def _as_batch(img, what: str) -> tuple[Array, bool]:
    arr = jnp.asarray(img, jnp.float32) if not isinstance(img, jax.Array) else img.astype(jnp.float32)
    single = arr.ndim == 3
    if single:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ConfigError(f"{what} must be (H, W, 3) or (N, H, W, 3) RGB, got shape {tuple(np.shape(img))}")
    return arr, single


def _pad_to_multiple(x: Array, multiple: int = models.DOWNSCALE) -> Array:
    """Pads H and W (NHWC) at the bottom/right up to a multiple, by reflection where possible."""
    ph, pw = -x.shape[1] % multiple, -x.shape[2] % multiple
    if not (ph or pw):
        return x
    mode = "reflect" if x.shape[1] > ph and x.shape[2] > pw else "edge"
    return jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), mode=mode)


@functools.partial(jax.jit, static_argnames="dtype")
def _style_stats(vgg, style: Array, dtype=None) -> StyleStats:
    feat = models.encode(vgg, style, dtype=dtype)[-1]
    return StyleStats(*ops.channel_stats(feat))


def style_stats(params, style, dtype=None) -> StyleStats:
    """relu4_1 statistics of one style image or a batch; reuse them across many contents."""
    style, _ = _as_batch(style, "style")
    return _style_stats(params["vgg"], style, dtype=dtype)


def _decode_to_content(params, target: Array, height: int, width: int, dtype) -> Array:
    out = models.decode(params["decoder"], target.astype(dtype or jnp.float32), dtype=dtype)
    return jnp.clip(out[:, :height, :width].astype(jnp.float32), 0.0, 1.0)


@functools.partial(jax.jit, static_argnames="dtype")
def _stylize_stats(params, content: Array, mean: Array, std: Array, alpha, dtype=None) -> Array:
    h, w = content.shape[1:3]
    c_feat = models.encode(params["vgg"], _pad_to_multiple(content), dtype=dtype)[-1]
    target = ops.blend(ops.adain_from_stats(c_feat, mean, std), c_feat, alpha)
    return _decode_to_content(params, target, h, w, dtype)


@functools.partial(jax.jit, static_argnames="dtype")
def _stylize_masked(params, content: Array, means: Array, stds: Array, masks: Array, alpha,
                    dtype=None) -> Array:
    h, w = content.shape[1:3]
    c_feat = models.encode(params["vgg"], _pad_to_multiple(content), dtype=dtype)[-1]
    fh, fw = c_feat.shape[1:3]
    padded = _pad_to_multiple(masks)  # (N, H8, W8, K)
    n, k = padded.shape[0], padded.shape[-1]
    s = models.DOWNSCALE
    feat_masks = padded.reshape(n, fh, s, fw, s, k).mean(axis=(2, 4))
    target = ops.blend(ops.masked_adain(c_feat, means, stds, feat_masks), c_feat, alpha)
    return _decode_to_content(params, target, h, w, dtype)


def _recolour(style: Array, content: Array) -> Array:
    """Colour preservation: the style recoloured (CORAL) to each content image."""
    style_b, _ = _as_batch(style, "style")
    if style_b.shape[0] not in (1, content.shape[0]):
        raise ConfigError("preserve_color needs one style image or one per content image")
    styles = jnp.broadcast_to(style_b, (content.shape[0],) + style_b.shape[1:])
    return jax.vmap(ops.coral_jit)(styles, content)


def _normalise_masks(masks, n: int, k: int, hw: tuple[int, int]) -> Array:
    m = jnp.asarray(masks, jnp.float32)
    if m.ndim == 3:
        m = jnp.broadcast_to(m[None], (n,) + m.shape)
    if m.ndim != 4 or m.shape[1] != k or m.shape[2:] != hw or m.shape[0] not in (1, n):
        raise ConfigError(f"masks must be (K, H, W) or (N, K, H, W) with K={k} styles and the "
                          f"content's size {hw}, got {tuple(np.shape(masks))}")
    return jnp.moveaxis(jnp.broadcast_to(m, (n,) + m.shape[1:]), 1, -1)


def style_list(style, style_weights=None, masks=None) -> list:
    """The K styles of a ``stylize`` call (a single style or a list), checked."""
    styles = (list(style) if isinstance(style, (list, tuple)) and not isinstance(style, StyleStats)
              else [style])
    if not styles:
        raise ConfigError("at least one style is needed")
    if style_weights is not None and masks is not None:
        raise ConfigError("use either style weights (interpolation) or masks (spatial control), not both")
    return styles


def checked_weights(style_weights, k: int) -> list[float]:
    """Interpolation weights for K styles (default equal), checked."""
    weights = list(style_weights) if style_weights is not None else [1.0] * k
    if len(weights) != k or min(weights) < 0 or sum(weights) <= 0:
        raise ConfigError(f"need {k} non-negative style weights with a positive sum, got {weights}")
    return weights


def resolve_style(params, style, preserve_color: bool, recolour, dtype=None) -> StyleStats:
    """Statistics of one style: precomputed ``StyleStats`` as given, or an image encoded
    (after ``recolour(image)`` when preserving the content's colours)."""
    if isinstance(style, StyleStats):
        if preserve_color:
            raise ConfigError("preserve_color needs style images, not precomputed statistics")
        return style
    return style_stats(params, recolour(style) if preserve_color else style, dtype=dtype)


def stylize(params, content, style, alpha: float = 1.0, style_weights: Sequence[float] | None = None,
            masks=None, preserve_color: bool = False, dtype=None) -> Array:
    """Stylize ``content`` with ``style``.

    Args:
      params: ``{'vgg': ..., 'decoder': ...}`` (see ``adain_jax.load_default``).
      content: (H, W, 3) or (N, H, W, 3), float in [0, 1]; any size.
      style: an image (H', W', 3), a batch (N or 1, H', W', 3), or ``StyleStats``; or a list
        of K of those for interpolation / spatial control.
      alpha: content-style trade-off in [0, 1] (0 decodes the content features).
      style_weights: K interpolation weights (normalised to sum to 1; default equal).
      masks: K region masks (K, H, W) or (N, K, H, W) in [0, 1] at the content's size: style k
        is applied where mask k is on (spatial control). Excludes ``style_weights``.
      preserve_color: recolour the style to the content's colours (CORAL) before encoding.
      dtype: compute dtype (None = float32; ``jnp.bfloat16`` is ~1.8x faster on a CPU with
          AVX512-BF16/AMX (oneDNN kernels, ~8e-3 relative error) and on GPUs (~1e-2)).
    Returns:
      Stylized images shaped like ``content``, float32 in [0, 1].
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ConfigError(f"alpha must be in [0, 1], got {alpha}")
    content_b, single = _as_batch(content, "content")
    styles = style_list(style, style_weights, masks)
    n = content_b.shape[0]
    stats = []
    for s in styles:
        st = resolve_style(params, s, preserve_color, lambda img: _recolour(img, content_b), dtype)
        if st.mean.shape[0] not in (1, n):
            raise ConfigError(f"got {st.mean.shape[0]} style images for {n} content images")
        stats.append(StyleStats(*(jnp.broadcast_to(a, (n,) + a.shape[1:]) for a in st)))
    means = jnp.stack([st.mean for st in stats])
    stds = jnp.stack([st.std for st in stats])
    alpha = jnp.float32(alpha)
    if masks is not None:
        m = _normalise_masks(masks, n, len(stats), tuple(content_b.shape[1:3]))
        out = _stylize_masked(params, content_b, means, stds, m, alpha, dtype=dtype)
    else:
        weights = checked_weights(style_weights, len(stats))
        mean, std = ops.mix_stats(means, stds, weights) if len(stats) > 1 else (means[0], stds[0])
        out = _stylize_stats(params, content_b, mean, std, alpha, dtype=dtype)
    return out[0] if single else out
