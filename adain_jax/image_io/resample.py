"""The resamplers of the library (float32 in, float32 out), in one place.

``resize_float`` resizes whole images (PIL's float mode, antialiased Lanczos or bilinear);
``resized_window`` computes one crop window of a resized image without resizing the rest
(triangle filter, as PIL's BILINEAR), which keeps training crops of large images cheap.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

LANCZOS, BILINEAR = Image.Resampling.LANCZOS, Image.Resampling.BILINEAR


def resize_float(
    a: np.ndarray, hw: tuple[int, int], resample: Image.Resampling
) -> np.ndarray:
    """Resize float32 (H, W, C) per channel in PIL's 32-bit float mode (antialiased)."""
    h, w = hw
    if a.shape[:2] == (h, w):
        return a
    chans = []
    for c in range(a.shape[2]):
        ch = Image.fromarray(np.ascontiguousarray(a[..., c], dtype=np.float32))
        chans.append(np.asarray(ch.resize((w, h), resample=resample), dtype=np.float32))
    return np.clip(np.stack(chans, axis=-1), 0.0, 1.0)


def round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))



def shorter_side_shape(h: int, w: int, size: int) -> tuple[int, int]:
    """(H, W) after resizing so that the shorter side equals ``size`` (aspect kept)."""
    if h <= w:
        return size, max(1, round_half_up(w * size / h))
    return max(1, round_half_up(h * size / w)), size


def axis_taps(n_in: int, n_out: int, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Filter taps for outputs ``start..start+count`` of an ``n_in -> n_out`` resize along
    one axis: triangle filter, widened when downscaling (antialiased), edges handled by
    dropping outside taps and renormalising -- the same as PIL's BILINEAR.

    Returns ``(idx, w)``, both (count, taps): ``out[j] = sum_k w[j, k] * x[idx[j, k]]``.
    """
    scale = n_in / n_out
    support = max(scale, 1.0)  # triangle half-width in input pixels
    centre = (np.arange(start, start + count, dtype=np.float64) + 0.5) * scale - 0.5
    taps = int(math.ceil(2 * support)) + 1
    first = np.floor(centre - support).astype(np.int64) + 1
    idx = first[:, None] + np.arange(taps)[None, :]
    w = np.maximum(0.0, 1.0 - np.abs(idx - centre[:, None]) / support)
    w[(idx < 0) | (idx >= n_in)] = 0.0
    w /= w.sum(axis=1, keepdims=True)
    keep = w.any(axis=0)  # drop tap columns that are zero for every output
    return np.clip(idx[:, keep], 0, n_in - 1), w[:, keep].astype(np.float32)


def resized_window(a: np.ndarray, full_hw: tuple[int, int], top: int, left: int,
                    size: int) -> np.ndarray:
    """The ``size`` x ``size`` window at (top, left) of ``a`` resized to ``full_hw``.

    Only the window is computed (separable taps), so the cost does not depend on how
    large the resized image would be.
    """
    h, w, _ = a.shape
    fh, fw = full_hw
    if (fh, fw) == (h, w):
        return a[top:top + size, left:left + size]
    iy, wy = axis_taps(h, fh, top, size)
    ix, wx = axis_taps(w, fw, left, size)
    x0, x1 = int(ix.min()), int(ix.max()) + 1
    a = a[:, x0:x1]
    ix = ix - x0
    rows = a[iy[:, 0]] * wy[:, 0, None, None]
    for k in range(1, iy.shape[1]):
        rows += a[iy[:, k]] * wy[:, k, None, None]
    out = rows[:, ix[:, 0]] * wx[None, :, 0, None]
    for k in range(1, ix.shape[1]):
        out += rows[:, ix[:, k]] * wx[None, :, k, None]
    return np.clip(out, 0.0, 1.0, out=out)
