"""Validation of user arguments, done once at the API boundary (``stylize``,
``stylize_tiled``, the file pipeline); the CLIs only convert flags and rely on it.

Every check raises :class:`~adain_jax.errors.ConfigError` with a one-line message.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from adain_jax.errors import ConfigError

Array = Any


def alpha(value) -> float:
    """Style strength in [0, 1]."""
    try:
        a = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"alpha must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= a <= 1.0:
        raise ConfigError(f"alpha must be in [0, 1], got {value}")
    return a


def alphas(value) -> list[float]:
    """One style strength or several (``--alpha 0.25,0.5,1``: one output each), each in
    [0, 1], no two the same once written into an output name."""
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise ConfigError("give at least one alpha")
    out = [alpha(v) for v in values]
    tags = [alpha_tag(a) for a in out]
    if len(set(tags)) != len(tags):
        raise ConfigError(f"alphas {', '.join(tags)} repeat a value; each gives one output")
    return out


def alpha_tag(value: float) -> str:
    """How an alpha appears in an output name: ``0.25`` -> ``'0.25'``, ``1.0`` -> ``'1'``."""
    return f"{value:g}"


def save_ext(value: str | None) -> str | None:
    """Output extension (``'jpg'`` or ``'.jpg'``) -> ``'.jpg'``; None keeps the content's."""
    if value is None or value == "":
        return None
    from adain_jax.image_io import IMAGE_SUFFIXES

    ext = value.lower() if value.startswith(".") else f".{value.lower()}"
    if ext not in IMAGE_SUFFIXES:
        raise ConfigError(f"output extension {value!r} is not one of "
                          f"{', '.join(sorted(IMAGE_SUFFIXES))}")
    return ext


def as_batch(img, what: str) -> tuple[Array, bool]:
    """(H, W, 3) or (N, H, W, 3) -> (float32 batch, whether it was a single image)."""
    arr = (img.astype(jnp.float32) if isinstance(img, jax.Array)
           else jnp.asarray(img, jnp.float32))
    single = arr.ndim == 3
    if single:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ConfigError(f"{what} must be (H, W, 3) or (N, H, W, 3) RGB, got shape "
                          f"{tuple(np.shape(img))}")
    return arr, single


def single_image(img) -> np.ndarray:
    """(H, W, 3) float32 NumPy from an image or a batch of one."""
    a = np.asarray(img, np.float32)
    a = a[0] if a.ndim == 4 and a.shape[0] == 1 else a
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ConfigError(f"expected one (H, W, 3) RGB image, got shape {a.shape}")
    return a


def styles(style, style_weights=None, masks=None, stats_type=tuple) -> list:
    """The K styles of a call (a single style or a list); weights and masks exclude each other.
    ``stats_type``: the precomputed-statistics type, which is a tuple but one style."""
    items = (list(style) if isinstance(style, (list, tuple)) and not isinstance(style, stats_type)
             else [style])
    if not items:
        raise ConfigError("at least one style is needed")
    if style_weights is not None and masks is not None:
        raise ConfigError("use either style weights (interpolation) or masks (spatial control), "
                          "not both")
    return items


def style_weights(weights: Sequence[float] | None, k: int) -> list[float]:
    """Interpolation weights for K styles (default equal): finite, non-negative, positive sum."""
    ws = list(weights) if weights is not None else [1.0] * k
    try:
        ws = [float(w) for w in ws]
    except (TypeError, ValueError):
        raise ConfigError(f"style weights must be numbers, got {weights!r}") from None
    if (len(ws) != k or not all(math.isfinite(w) for w in ws) or min(ws) < 0
            or sum(ws) <= 0):
        raise ConfigError(f"need {k} non-negative style weights with a positive sum, got {ws}")
    return ws


def mask_count(n_masks: int, k: int) -> None:
    """One mask per style, or one mask for two styles (the second gets its complement)."""
    if n_masks and n_masks != k and not (n_masks == 1 and k == 2):
        raise ConfigError(f"{n_masks} mask(s) for {k} style(s): give one mask per style, "
                          "or one mask for two styles")


def masks(value, n: int, k: int, hw: tuple[int, int], xp=jnp) -> Array:
    """(K, H, W) or (N, K, H, W) masks at the content's size -> (N, H, W, K) float32 (a view
    with ``xp=numpy``)."""
    m = xp.asarray(value, xp.float32)
    if m.ndim == 3:
        m = xp.broadcast_to(m[None], (n,) + m.shape)
    if m.ndim != 4 or m.shape[1] != k or m.shape[2:] != hw or m.shape[0] not in (1, n):
        raise ConfigError(f"masks must be (K, H, W) or (N, K, H, W) with K={k} styles and the "
                          f"content's size {hw}, got {tuple(np.shape(value))}")
    return xp.moveaxis(xp.broadcast_to(m, (n,) + m.shape[1:]), 1, -1)


def tiling(tile: int, overlap: int, halo: int) -> None:
    """Tiled stylization's geometry."""
    if tile < 8 or overlap < 0 or halo < 0 or overlap >= tile:
        raise ConfigError(f"need tile >= 8, 0 <= overlap < tile and halo >= 0; got tile={tile}, "
                          f"overlap={overlap}, halo={halo}")


def job_options(*, alpha_value, weights, n_styles: int, n_masks: int, optimize: bool,
                preserve_color: bool) -> None:
    """Everything the file pipeline can check before it reads or writes a file."""
    several = len(alphas(alpha_value)) > 1
    if weights is not None:
        if n_masks:
            raise ConfigError("use either style weights or masks, not both")
        if len(weights) != n_styles:
            raise ConfigError(f"{len(weights)} style weights for {n_styles} style(s)")
        style_weights(weights, n_styles)
    mask_count(n_masks, n_styles)
    if optimize and (n_styles > 1 or n_masks or preserve_color or several
                     or alphas(alpha_value)[0] != 1.0):
        raise ConfigError("the optimisation mode takes one style and no masks, colour "
                          "preservation or alpha")
