"""Clips with exactly known motion, for the warping-error metric and its tests: a camera pan,
a zoom and an object moving over a static background, cut from float32 images in [0, 1].

Each :class:`Clip` knows its true flow: ``clip.flow(t, k)`` is the flow from frame ``t`` to
frame ``t - k`` (see :mod:`adain_jax.video.flow` for the convention) and the mask of the
pixels of frame ``t`` that are visible in frame ``t - k``.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from adain_jax.video import flow as flowlib


@dataclasses.dataclass
class Clip:
    name: str
    frames: list[np.ndarray]
    flow: Callable[[int, int], tuple[np.ndarray, np.ndarray]]


def _grid(h: int, w: int):
    return np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))


def pan(src: np.ndarray, n: int, size: tuple[int, int], step: tuple[int, int] = (3, 0)) -> Clip:
    """A window of ``size`` (H, W) moving ``step`` (dx, dy) whole pixels per frame over
    ``src``: frame t at (x, y) is frame t-k at (x + k dx, y + k dy)."""
    h, w = size
    dx, dy = step
    if w + (n - 1) * abs(dx) > src.shape[1] or h + (n - 1) * abs(dy) > src.shape[0]:
        raise ValueError("source image too small for the pan")
    x0 = (n - 1) * abs(dx) if dx < 0 else 0
    y0 = (n - 1) * abs(dy) if dy < 0 else 0
    frames = [src[y0 + t * dy:y0 + t * dy + h, x0 + t * dx:x0 + t * dx + w].copy()
              for t in range(n)]

    def flow(t, k):
        f = np.empty((h, w, 2), np.float32)
        f[..., 0], f[..., 1] = k * dx, k * dy
        return f, flowlib.inside(f)

    return Clip(f"pan{dx:+d},{dy:+d}", frames, flow)


def zoom(src: np.ndarray, n: int, size: tuple[int, int], rate: float = 1.01) -> Clip:
    """Zooming in by ``rate`` per frame about the centre of ``src`` (sampled bicubically):
    frame t at x is frame t-k at c + (x - c) / rate**k."""
    import cv2

    h, w = size
    sh, sw = src.shape[:2]
    gx, gy = _grid(h, w)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    frames = []
    for t in range(n):
        s = rate ** t
        mx = (sw - 1) / 2 + (gx - cx) / s
        my = (sh - 1) / 2 + (gy - cy) / s
        frames.append(np.clip(cv2.remap(src, mx, my, cv2.INTER_CUBIC,
                                        borderMode=cv2.BORDER_REFLECT), 0, 1))

    def flow(t, k):
        f = np.stack([cx + (gx - cx) / rate ** k - gx, cy + (gy - cy) / rate ** k - gy], -1)
        return f.astype(np.float32), flowlib.inside(f)

    return Clip(f"zoom{rate:g}", frames, flow)


def moving_object(background: np.ndarray, obj: np.ndarray, n: int,
                  step: tuple[int, int] = (3, 1), start: tuple[int, int] = (8, 8)) -> Clip:
    """``obj`` pasted at (x, y) = start + t * step over a static ``background`` (both
    whole-pixel): object pixels move by ``step``, the background stays; background pixels
    that the object covered at t-k are occluded."""
    h, w = background.shape[:2]
    oh, ow = obj.shape[:2]
    pos = [(start[0] + t * step[0], start[1] + t * step[1]) for t in range(n)]
    if any(x < 0 or y < 0 or x + ow > w or y + oh > h for x, y in pos):
        raise ValueError("the object leaves the frame")
    frames = []
    for x, y in pos:
        f = background.copy()
        f[y:y + oh, x:x + ow] = obj
        frames.append(f)

    def region(t):
        m = np.zeros((h, w), bool)
        x, y = pos[t]
        m[y:y + oh, x:x + ow] = True
        return m

    def flow(t, k):
        on = region(t)
        f = np.zeros((h, w, 2), np.float32)
        f[on] = (-k * step[0], -k * step[1])
        return f, on | ~region(t - k)

    return Clip(f"object{step[0]:+d},{step[1]:+d}", frames, flow)
