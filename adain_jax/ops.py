"""Pure functions: channel statistics, AdaIN, losses and colour transfer.

Features are NHWC; statistics are taken over H and W and kept as (N, 1, 1, C).
The standard deviation is ``sqrt(biased variance + eps)`` (the paper's sigma).
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

EPS = 1e-5


def channel_stats(feat, eps: float = EPS):
    """Per-sample, per-channel mean and std over space: (N,H,W,C) -> 2 x (N,1,1,C)."""
    feat = feat.astype(jnp.float32)
    mean = feat.mean(axis=(1, 2), keepdims=True)
    var = jnp.square(feat - mean).mean(axis=(1, 2), keepdims=True)
    return mean, jnp.sqrt(var + eps)


def masked_channel_stats(feat, mask, eps: float = EPS):
    """Mean/std over the pixels weighted by ``mask`` (N,H,W,1) in [0, 1]."""
    feat = feat.astype(jnp.float32)
    total = jnp.maximum(mask.sum(axis=(1, 2), keepdims=True), 1e-8)
    mean = (feat * mask).sum(axis=(1, 2), keepdims=True) / total
    var = (jnp.square(feat - mean) * mask).sum(axis=(1, 2), keepdims=True) / total
    return mean, jnp.sqrt(var + eps)


def adain_from_stats(content_feat, style_mean, style_std, eps: float = EPS):
    """Normalise content per channel, then give it the style's mean and std."""
    c_mean, c_std = channel_stats(content_feat, eps)
    return (content_feat.astype(jnp.float32) - c_mean) / c_std * style_std + style_mean


def adain(content_feat, style_feat, alpha: float = 1.0, eps: float = EPS):
    """AdaIN(c, s) = sigma(s) (c - mu(c)) / sigma(c) + mu(s), blended as alpha*t + (1-alpha)*c."""
    s_mean, s_std = channel_stats(style_feat, eps)
    t = adain_from_stats(content_feat, s_mean, s_std, eps)
    return blend(t, content_feat, alpha)


def blend(target, content_feat, alpha):
    return alpha * target + (1.0 - alpha) * content_feat.astype(target.dtype)


def mix_stats(means, stds, weights):
    """Style interpolation: weighted sum of K style statistics, (K,N,1,1,C) -> (N,1,1,C).

    Because AdaIN is affine in the style statistics, ``sum_k w_k AdaIN(c, s_k)`` with
    weights summing to one equals AdaIN with the mixed statistics.
    """
    w = jnp.asarray(weights, jnp.float32)
    w = w / w.sum()
    return jnp.tensordot(w, means, axes=1), jnp.tensordot(w, stds, axes=1)


def feature_masks(masks, factor: int = 8):
    """Region weights at feature resolution: means over ``factor`` x ``factor`` blocks of
    (..., H, W, K) masks whose H and W are multiples of ``factor`` (NumPy or jax arrays)."""
    *lead, h, w, k = masks.shape
    blocks = masks.reshape(*lead, h // factor, factor, w // factor, factor, k)
    return blocks.mean(axis=(-4, -2))


def normalise_masks(masks):
    """Soft region weights (..., K) scaled to sum to one at every position (0 where all are 0)."""
    return masks / jnp.maximum(masks.sum(axis=-1, keepdims=True), 1e-8)


def regional_adain(content_feat, masks, content_means, content_stds, style_means, style_stds):
    """``sum_k masks_k * AdaIN_k(content)``, AdaIN_k with region k's given content and style
    statistics (indexable by k, broadcasting against ``content_feat``); ``masks`` (..., K)
    already normalised (:func:`normalise_masks`)."""
    out = jnp.zeros(content_feat.shape, jnp.float32)
    for k in range(masks.shape[-1]):
        t = (content_feat - content_means[k]) / content_stds[k] * style_stds[k] + style_means[k]
        out = out + masks[..., k:k + 1] * t
    return out


def masked_adain(content_feat, style_means, style_stds, masks, eps: float = EPS):
    """Spatial control: K styles, each on the region of its mask.

    ``masks`` (N,H,W,K) are soft region weights at feature resolution. Per region the
    content statistics are taken inside the region only (as the authors' Lua code does for
    binary masks), and the results are combined with the masks normalised to sum to one.
    ``style_means``/``style_stds``: (K, N or 1, 1, 1, C).
    """
    masks = normalise_masks(masks)
    stats = [masked_channel_stats(content_feat, masks[..., k:k + 1], eps)
             for k in range(masks.shape[-1])]
    return regional_adain(content_feat, masks, [m for m, _ in stats], [s for _, s in stats],
                          style_means, style_stds)


def mse(a, b):
    return jnp.mean(jnp.square(a.astype(jnp.float32) - b.astype(jnp.float32)))


def content_loss(out_feat, target_feat):
    """MSE between relu4_1 of the stylised image and the AdaIN target."""
    return mse(out_feat, target_feat)


def style_loss(out_feats: Sequence, style_feats: Sequence, eps: float = EPS):
    """Sum over layers of MSE(channel means) + MSE(channel stds)."""
    total = 0.0
    for o, s in zip(out_feats, style_feats, strict=True):
        o_mean, o_std = channel_stats(o, eps)
        s_mean, s_std = channel_stats(s, eps)
        total = total + mse(o_mean, s_mean) + mse(o_std, s_std)
    return total


def gram(feat):
    """Gram matrix normalised by the number of elements: (N,H,W,C) -> (N,C,C)."""
    n, h, w, c = feat.shape
    f = feat.astype(jnp.float32).reshape(n, h * w, c)
    return jnp.einsum("npc,npd->ncd", f, f) / (h * w * c)


def gram_loss(out_feats: Sequence, style_feats: Sequence):
    """Sum over layers of MSE between Gram matrices (Gatys et al.)."""
    return sum(mse(gram(o), gram(s)) for o, s in zip(out_feats, style_feats, strict=True))


def _sqrtm(cov, inverse: bool = False):
    vals, vecs = jnp.linalg.eigh(cov)
    vals = jnp.maximum(vals, 1e-8)
    p = -0.5 if inverse else 0.5
    return (vecs * vals[..., None, :] ** p) @ jnp.swapaxes(vecs, -1, -2)


def color_moments(img, eps: float = 1e-5):
    """Colour mean (3,) and covariance (3, 3) (+ ``eps`` I) of an (..., 3) image."""
    flat = img.reshape(-1, 3).astype(jnp.float32)
    mean = flat.mean(0)
    centred = flat - mean
    return mean, centred.T @ centred / flat.shape[0] + eps * jnp.eye(3)


def coral_to_moments(source, t_mean, t_cov, eps: float = 1e-5):
    """Give ``source`` (H,W,3) the colour mean ``t_mean`` and covariance ``t_cov``."""
    s_mean, s_cov = color_moments(source, eps)
    transform = _sqrtm(jnp.asarray(t_cov, jnp.float32)) @ _sqrtm(s_cov, inverse=True)
    out = (source.reshape(-1, 3).astype(jnp.float32) - s_mean) @ transform.T + t_mean
    return jnp.clip(out.reshape(source.shape), 0.0, 1.0)


def coral(source, target, eps: float = 1e-5):
    """CORAL colour transfer: give ``source`` (H,W,3) the colour mean and covariance of
    ``target`` (H',W',3). Used for colour preservation (style recoloured to the content)."""
    t_mean, t_cov = color_moments(target, eps)
    return coral_to_moments(source, t_mean, t_cov, eps)


coral_jit = jax.jit(coral)
