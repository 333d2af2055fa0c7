"""Optical flow between frames (OpenCV's DIS), backward warping and forward-backward
occlusion masks; used by the flow-guided temporal blending and by the warping-error metric.

Conventions: a flow ``f`` from frame a to frame b is (H, W, 2) float32 (dx, dy) with
``a[y, x] ~ b[y + dy, x + dx]``. :func:`warp` (``img``, ``f``) samples ``img`` (frame b) at
``x + f(x)``, giving frame b aligned to frame a. Images are float32 (H, W, 3) in [0, 1]
(uint8 grey for the flow estimator comes from :func:`adain_jax.image_io.to_uint8`).
"""
from __future__ import annotations

import numpy as np

from adain_jax import image_io
from adain_jax.errors import ImageError


def _cv2():
    try:
        import cv2
    except ImportError:  # pragma: no cover - the [video] extra is missing
        raise ImageError("flow-guided temporal consistency needs OpenCV: "
                         "pip install 'adain-jax[video]' (or use temporal='ema')") from None
    return cv2


def grey(img: np.ndarray) -> np.ndarray:
    """Float RGB (H, W, 3) in [0, 1] -> uint8 luma, the flow estimator's input."""
    cv2 = _cv2()
    return cv2.cvtColor(image_io.to_uint8(img), cv2.COLOR_RGB2GRAY)


class FlowEstimator:
    """DIS optical flow (Kroeger et al. 2016, OpenCV), one instance per stream (not
    thread-safe). ``preset``: 'ultrafast', 'fast' or 'medium' (default: quality)."""

    def __init__(self, preset: str = "medium"):
        cv2 = _cv2()
        presets = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
                   "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                   "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
        self._dis = cv2.DISOpticalFlow_create(presets[preset])

    def __call__(self, a_grey: np.ndarray, b_grey: np.ndarray) -> np.ndarray:
        """Flow from frame a to frame b (uint8 grey images of one size)."""
        return self._dis.calc(a_grey, b_grey, None)


def warp(img: np.ndarray, flow: np.ndarray, cubic: bool = False) -> np.ndarray:
    """``img`` sampled at ``x + flow(x)`` (border pixels repeated outside), float32."""
    cv2 = _cv2()
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    out = cv2.remap(np.ascontiguousarray(img, dtype=np.float32), gx + flow[..., 0],
                    gy + flow[..., 1], cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return np.clip(out, 0.0, 1.0) if cubic else out


def inside(flow: np.ndarray) -> np.ndarray:
    """Where ``x + flow(x)`` lands inside the frame (bool (H, W))."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    x, y = gx + flow[..., 0], gy + flow[..., 1]
    return (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)


def consistent(flow_ab: np.ndarray, flow_ba: np.ndarray, rel: float = 0.01,
               abs_px: float = 0.5) -> np.ndarray:
    """Forward-backward check (Sundaram et al. 2010): pixels of frame a whose flow to b,
    followed by b's flow back, returns within ``rel * (|f|^2 + |b|^2) + abs_px`` squared
    pixels, and lands inside frame b. False marks occlusions and flow errors."""
    back = warp(flow_ba, flow_ab)
    err = np.square(flow_ab + back).sum(-1)
    scale = np.square(flow_ab).sum(-1) + np.square(back).sum(-1)
    return (err <= rel * scale + abs_px) & inside(flow_ab)


def flow_and_mask(estimator: FlowEstimator, a_grey: np.ndarray, b_grey: np.ndarray):
    """(flow a -> b, bool mask of the pixels of a that it maps reliably)."""
    fab = estimator(a_grey, b_grey)
    fba = estimator(b_grey, a_grey)
    return fab, consistent(fab, fba)
