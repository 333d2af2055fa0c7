"""Pixel-level metrics of one output image: decoder grid, checkerboard, noise, colourfulness.

All take float32 (H, W, 3) RGB in [0, 1] and are plain NumPy, so they score any method's
files. ``grid_score`` and ``checkerboard_score`` are 1.0 when the image has no periodic
artefact; ``noise_ratio`` is 1.0 when the output is as grainy as the painting it imitates.
"""
from __future__ import annotations

import numpy as np

from adain_jax import image_io
from adain_jax.errors import ImageError
from adain_jax.image_io.resample import LANCZOS

# Rec. 601 luma weights: the grey image every structural metric looks at.
LUMA = np.array([0.299, 0.587, 0.114], np.float64)
# Added to both sides of a phase ratio, so a flat image scores 1.0 instead of 0/0.
PHASE_EPS = 1e-4
GRID_PERIOD = 8
CHECKER_PERIOD = 2


def grey(img: np.ndarray) -> np.ndarray:
    """(H, W) float64 luma of an (H, W, 3) image, or the image itself when it is (H, W)."""
    a = np.asarray(img, np.float64)
    if a.ndim == 2:
        return a
    if a.ndim != 3 or a.shape[2] != 3:
        raise ImageError(f"expected an (H, W, 3) image, got shape {a.shape}")
    return a @ LUMA


def phase_means(g: np.ndarray, period: int, axis: int) -> np.ndarray:
    """Mean |neighbour difference| along ``axis`` (1 = x, 0 = y), one value per phase.

    The difference between pixels ``i`` and ``i + 1`` belongs to phase ``i mod period``, so
    a decoder that upsamples by ``period`` leaves one phase (its block seams) apart from the
    others."""
    d = np.abs(np.diff(g, axis=axis))
    n = d.shape[axis]
    if n < period:
        raise ImageError(f"image too small for a period-{period} metric ({n + 1} pixels)")
    idx = np.arange(n) % period
    lines = d.mean(axis=1 - axis)
    return np.array([lines[idx == p].mean() for p in range(period)])


def grid_score(img: np.ndarray, period: int = GRID_PERIOD) -> float:
    """Decoder grid: per axis (max / median) over the ``period`` phases of the neighbour
    differences, mean of the x and y ratios. 1.0 = no grid."""
    g = grey(img)
    ratios = []
    for axis in (1, 0):
        m = phase_means(g, period, axis)
        ratios.append((m.max() + PHASE_EPS) / (np.median(m) + PHASE_EPS))
    return float(np.mean(ratios))


def checkerboard_score(img: np.ndarray) -> float:
    """2-px checkerboard: the same at period 2, (max / min) of the two phases, mean of both
    axes. 1.0 = none."""
    g = grey(img)
    ratios = []
    for axis in (1, 0):
        m = phase_means(g, CHECKER_PERIOD, axis)
        ratios.append((m.max() + PHASE_EPS) / (m.min() + PHASE_EPS))
    return float(np.mean(ratios))


def laplacian_energy(img: np.ndarray) -> float:
    """Mean |4-neighbour Laplacian| of the grey image over its interior pixels."""
    g = grey(img)
    if min(g.shape) < 3:
        raise ImageError(f"image too small for the Laplacian: {g.shape}")
    lap = (4.0 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:])
    return float(np.abs(lap).mean())


def cover_crop(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """``img`` resized (Lanczos, aspect kept) to cover ``hw``, then centre-cropped to it."""
    h, w = hw
    ih, iw = img.shape[:2]
    scale = max(h / ih, w / iw)
    rh, rw = max(h, round(ih * scale)), max(w, round(iw * scale))
    big = image_io.resize_float(np.asarray(img, np.float32), (rh, rw), LANCZOS)
    top, left = (rh - h) // 2, (rw - w) // 2
    return big[top:top + h, left:left + w]


def noise_ratio(output: np.ndarray, painting: np.ndarray) -> float:
    """Pixel noise: Laplacian energy of the output / of the painting resized to cover the
    output's size and centre-cropped to it (same pixel scale, aspect kept)."""
    ref = laplacian_energy(cover_crop(painting, output.shape[:2]))
    return laplacian_energy(output) / max(ref, 1e-12)


def colourfulness(img: np.ndarray) -> float:
    """Hasler and Suesstrunk (2003) colourfulness on the 0..255 scale:
    sqrt(var(rg) + var(yb)) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2), rg = R - G,
    yb = (R + G) / 2 - B. A grey image scores 0."""
    a = np.asarray(img, np.float64) * 255.0
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.sqrt(rg.var() + yb.var()) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2))


def pixel_metrics(output: np.ndarray, painting: np.ndarray) -> dict[str, float]:
    """Every metric of this module for one output (and the painting it was given)."""
    return {"grid": grid_score(output), "checkerboard": checkerboard_score(output),
            "noise": noise_ratio(output, painting), "colourfulness": colourfulness(output)}
