"""Stylization: encode, AdaIN, decode, with alpha, style interpolation, masks and colour.

The model is the one the params tree holds (``adain_jax.model``: the main AdaIN model's
``{'vgg', 'decoder'}`` or another registered model's tree), and the forward pass is
``model.forward.run``; the tree's structure is static under jit, so each model compiles its
own functions and no caller passes a model name.
Every entry point is jit-compiled once per input shape and reused (params are arguments,
not constants, so new weights do not recompile). Images are float32 in [0, 1], either a
single (H, W, 3) or a batch (N, H, W, 3); the output has the content's shape.
"""
from __future__ import annotations

import functools
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp

from adain_jax import ops
from adain_jax.errors import ConfigError
from adain_jax.inference import validate
from adain_jax.model import forward
from adain_jax.nn import layers

Array = Any


class StyleStats(NamedTuple):
    """relu4_1 channel statistics of style images: mean and std, each (N, 1, 1, 512)."""

    mean: Array
    std: Array


@functools.partial(jax.jit, static_argnames="dtype")
def _style_stats(enc, style: Array, dtype=None) -> StyleStats:
    return StyleStats(*forward.style_stats(enc, style, dtype))


def style_stats(params, style, dtype=None) -> StyleStats:
    """relu4_1 statistics of one style image or a batch; reuse them across many contents."""
    style, _ = validate.as_batch(style, "style")
    return _style_stats(forward.encoder_part(params), style, dtype=dtype)


def _stylize_alphas(params, content: Array, restyle, alphas, dtype, max_side) -> Array:
    """One stylized batch per alpha from one encoding: (A, N, *content size, 3); the content
    shrunk to ``max_side`` first (and the outputs grown back)."""
    size = tuple(content.shape[1:3])
    content = forward.fit_side(content, max_side)
    h, w = content.shape[1:3]
    out = forward.run(params, layers.pad_to_multiple(content), restyle(h, w), alphas, dtype,
                      alphas=True)
    out = forward.finish(out, h, w, size)
    return out.reshape((alphas.shape[0], content.shape[0]) + out.shape[1:])


@functools.partial(jax.jit, static_argnames=("dtype", "max_side"))
def _stylize_stats(params, content: Array, mean: Array, std: Array, alphas, dtype=None,
                   max_side=None) -> Array:
    return _stylize_alphas(params, content, lambda h, w: forward.adain_own(mean, std), alphas,
                           dtype, max_side)


@functools.partial(jax.jit, static_argnames=("dtype", "max_side"))
def _stylize_masked(params, content: Array, means: Array, stds: Array, masks: Array, alphas,
                    dtype=None, max_side=None) -> Array:
    def restyle(h, w):
        feat_masks = ops.feature_masks(layers.pad_to_multiple(forward.resize(masks, (h, w))),
                                       layers.DOWNSCALE)
        return lambda feat: ops.masked_adain(feat, means, stds, feat_masks)

    return _stylize_alphas(params, content, restyle, alphas, dtype, max_side)


def _recolour(style: Array, content: Array) -> Array:
    """Colour preservation: the style recoloured (CORAL) to each content image."""
    style_b, _ = validate.as_batch(style, "style")
    if style_b.shape[0] not in (1, content.shape[0]):
        raise ConfigError("preserve_color needs one style image or one per content image")
    styles = jnp.broadcast_to(style_b, (content.shape[0],) + style_b.shape[1:])
    return jax.vmap(ops.coral_jit)(styles, content)


def resolve_style(params, style, preserve_color: bool, recolour, dtype=None) -> StyleStats:
    """Statistics of one style: precomputed ``StyleStats`` as given, or an image encoded
    (after ``recolour(image)`` when preserving the content's colours)."""
    if isinstance(style, StyleStats):
        if preserve_color:
            raise ConfigError("preserve_color needs style images, not precomputed statistics")
        return style
    return style_stats(params, recolour(style) if preserve_color else style, dtype=dtype)


def stylize(params, content, style, alpha: float = 1.0, style_weights: Sequence[float] | None = None,
            masks=None, preserve_color: bool = False, dtype=None,
            max_side: int | None = None) -> Array:
    """Stylize ``content`` with ``style``.

    Args:
      params: a params tree of a registered model (``adain_jax.load_default``; e.g. the main
        model's ``{'vgg': ..., 'decoder': ...}``).
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
      max_side: internal resolution: the content is resized (antialiased bilinear) so its
        longer side is at most this before encoding, and the output back to the content's
        size (None: full resolution). Meant for the lite model; works with both.
    Returns:
      Stylized images shaped like ``content``, float32 in [0, 1].
    """
    return stylize_alphas(params, content, style, [validate.alpha(alpha)], style_weights,
                          masks, preserve_color, dtype, max_side)[0]


def stylize_alphas(params, content, style, alphas: Sequence[float],
                   style_weights: Sequence[float] | None = None, masks=None,
                   preserve_color: bool = False, dtype=None,
                   max_side: int | None = None) -> Array:
    """:func:`stylize` at several style strengths from one encoding of the content and styles.

    Args:
      alphas: A strengths in [0, 1], all different; the other arguments as in :func:`stylize`.
    Returns:
      (A, *content.shape) float32 in [0, 1]: one stylized image (or batch) per alpha.
    """
    alphas = jnp.asarray(validate.alphas(list(alphas)), jnp.float32)
    max_side = validate.max_side(max_side)
    content_b, single = validate.as_batch(content, "content")
    styles = validate.styles(style, style_weights, masks, StyleStats)
    n = content_b.shape[0]
    stats = []
    for s in styles:
        st = resolve_style(params, s, preserve_color, lambda img: _recolour(img, content_b), dtype)
        if st.mean.shape[0] not in (1, n):
            raise ConfigError(f"got {st.mean.shape[0]} style images for {n} content images")
        stats.append(StyleStats(*(jnp.broadcast_to(a, (n,) + a.shape[1:]) for a in st)))
    means = jnp.stack([st.mean for st in stats])
    stds = jnp.stack([st.std for st in stats])
    if masks is not None:
        m = validate.masks(masks, n, len(stats), tuple(content_b.shape[1:3]))
        out = _stylize_masked(params, content_b, means, stds, m, alphas, dtype=dtype,
                              max_side=max_side)
    else:
        weights = validate.style_weights(style_weights, len(stats))
        mean, std = ops.mix_stats(means, stds, weights) if len(stats) > 1 else (means[0], stds[0])
        out = _stylize_stats(params, content_b, mean, std, alphas, dtype=dtype,
                             max_side=max_side)
    return out[:, 0] if single else out
