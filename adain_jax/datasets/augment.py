"""Style augmentation (Jackson et al. 2019, "Style augmentation: data augmentation via style
randomization"), as a pure function to call inside another model's jit-compiled step."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from adain_jax.inference.transfer import StyleStats
from adain_jax.model import forward
from adain_jax.nn import layers

Array = Any


def style_bank(params, styles: Array, dtype=None) -> StyleStats:
    """relu4_1 statistics (S, 1, 1, 512) of style images (S, H, W, 3) in [0, 1]: compute them
    once outside the training step and pass them to :func:`augment` as ``styles``."""
    return StyleStats(*forward.style_stats(
        params, layers.pad_to_multiple(jnp.asarray(styles, jnp.float32)), dtype))


def augment(params, key: Array, images: Array, styles, alpha=(0.0, 1.0), p: float = 0.5,
            dtype=None) -> Array:
    """Stylize a random subset of a batch with random styles at random strengths.

    Pure and traceable: it can be called under ``jax.jit``, ``jax.vmap`` (e.g. over single
    images with one key each) and inside a training step; the same key gives the same output.
    Every image goes through the network (static shapes); the ones not picked are returned
    unchanged.

    Args:
      params: a params tree of any registered model (e.g. ``adain_jax.load_default()``).
      key: a ``jax.random`` key.
      images: (N, H, W, 3) or (H, W, 3), float in [0, 1]; any size (padded to a multiple of 8
        inside, the output has the input's size).
      styles: the bank: style images (S, H', W', 3), or their statistics
        (:class:`~adain_jax.StyleStats` with (S, 1, 1, 512) fields, see :func:`style_bank`).
      alpha: (lo, hi): each picked image's strength is uniform in [lo, hi]; a number fixes it.
      p: probability that an image is stylized.
      dtype: compute dtype of the network (None: float32).
    Returns:
      Images shaped like ``images``, float32 in [0, 1].
    """
    images = jnp.asarray(images, jnp.float32)
    single = images.ndim == 3
    batch = images[None] if single else images
    n, h, w = batch.shape[:3]
    if not isinstance(styles, StyleStats):
        styles = style_bank(params, styles, dtype) if not isinstance(styles, tuple) \
            else StyleStats(*styles)
    lo, hi = (alpha, alpha) if not isinstance(alpha, (tuple, list)) else alpha
    k_style, k_alpha, k_pick = jax.random.split(key, 3)
    idx = jax.random.randint(k_style, (n,), 0, styles.mean.shape[0])
    strength = jax.random.uniform(k_alpha, (n,), jnp.float32, lo, hi)
    picked = jax.random.bernoulli(k_pick, p, (n,))
    out = forward.run(params, layers.pad_to_multiple(batch),
                      forward.adain_own(styles.mean[idx], styles.std[idx]),
                      strength[:, None, None, None], dtype)
    out = forward.finish(out, h, w)
    out = jnp.where(picked[:, None, None, None], out, batch)
    return out[0] if single else out


__all__ = ["augment", "style_bank"]
