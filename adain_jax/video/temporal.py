"""Temporal consistency for video stylization: the two methods and their state.

* ``ema``: AdaIN's *content* statistics (relu4_1 channel mean and std) are an exponential
  moving average over the frames instead of each frame's own, so the normalisation does not
  jump with every frame. Runs inside the jitted device step (:func:`stylize_frames`), a
  ``lax.scan`` over the batch carrying the average from batch to batch.
* ``flow``: each output is blended with the previous output warped to the current frame by
  the optical flow of the *content* frames (OpenCV DIS), where a forward-backward check says
  the flow is reliable (:class:`FlowBlender`, on the host). Occluded or newly visible
  pixels keep the frame's own stylization.

``both`` (the default) applies the two in sequence.
"""
from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from adain_jax import ops
from adain_jax.model import forward
from adain_jax.nn import layers
from adain_jax.video import flow as flowlib

Array = Any
METHODS = ("both", "ema", "flow", "none")


@functools.partial(jax.jit, static_argnames="dtype")
def stylize_frames(params, content: Array, s_mean: Array, s_std: Array, alpha, c_mean: Array,
                   c_std: Array, momentum, fresh, dtype=None):
    """Stylizes a batch of consecutive frames (N, H, W, 3) with the style statistics
    (1, 1, 1, C) and content statistics smoothed over time.

    ``c_mean``/``c_std`` (1, 1, 1, C): the running average after the previous batch (ignored
    when ``fresh``: the first frame's own statistics start it). ``momentum`` 0 gives
    independent per-frame AdaIN. Returns (frames, c_mean, c_std after the last frame).
    """
    h, w = content.shape[1:3]

    def restyle(feat):   # content statistics: the running average over the frames
        mean, std = ops.channel_stats(feat)
        c_m = jnp.where(fresh, mean[:1], c_mean)
        c_s = jnp.where(fresh, std[:1], c_std)

        def step(carry, x):
            m = momentum * carry[0] + (1.0 - momentum) * x[0]
            s = momentum * carry[1] + (1.0 - momentum) * x[1]
            return (m, s), (m, s)

        last, (ms, ss) = jax.lax.scan(step, (c_m[0], c_s[0]), (mean, std))
        return forward.adain_with(feat, ms, ss, s_mean, s_std), last

    out, (m_last, s_last) = forward.run(params, layers.pad_to_multiple(content), restyle, alpha,
                                        dtype, has_aux=True)
    return forward.finish(out, h, w), m_last[None], s_last[None]


class StatsSmoother:
    """Carries the EMA of the content statistics between device batches."""

    def __init__(self, momentum: float):
        self.momentum = float(momentum)
        self.mean = self.std = None

    def __call__(self, params, batch, s_mean, s_std, alpha, dtype=None) -> np.ndarray:
        fresh = self.mean is None
        c = s_mean.shape[-1]
        zero = jnp.zeros((1, 1, 1, c), jnp.float32)
        out, self.mean, self.std = stylize_frames(
            params, batch, s_mean, s_std, jnp.float32(alpha),
            zero if fresh else self.mean, zero if fresh else self.std,
            jnp.float32(self.momentum), jnp.bool_(fresh), dtype=dtype)
        return out


class FlowTracker:
    """The content flow of each frame to the previous one (DIS, forward-backward checked),
    and the clip's accumulated global translation (median flow over reliable pixels) that
    :func:`grid_pad` uses to keep the encoder's 8-pixel pooling grid fixed to the scene."""

    def __init__(self, preset: str = "medium"):
        self._flow = flowlib.FlowEstimator(preset)
        self._prev = None
        self.offset = np.zeros(2)  # (x, y) of the frame's origin in the first frame's pixels

    def __call__(self, content: np.ndarray):
        """(flow to the previous frame, mask), or None for the first frame (or a size change)."""
        g = flowlib.grey(content)
        res = None
        if self._prev is not None and self._prev.shape == g.shape:
            f, mask = flowlib.flow_and_mask(self._flow, g, self._prev)
            if mask.mean() > 0.25:  # a mostly consistent flow: follow the scene
                self.offset += np.median(f[mask], axis=0)
            res = f, mask
        self._prev = g
        return res


def grid_pad(offset) -> tuple[int, int]:
    """Left and top padding (0..7) that puts the scene point at the first frame's origin on
    the same 8-pixel pooling-grid phase in every frame (for a camera pan, the encoder then
    sees the same cells and the per-frame output moves with the scene instead of changing)."""
    from adain_jax.nn import layers

    ox, oy = (int(np.floor(v + 0.5)) % layers.DOWNSCALE for v in offset)
    return ox, oy


def pad_frames(frames: list[np.ndarray], pads: list[tuple[int, int]]) -> np.ndarray:
    """Reflect-pads each frame by its (left, top) and 8 - that on the right and bottom: one
    (N, H + 8, W + 8, 3) batch."""
    from adain_jax.nn import layers

    d = layers.DOWNSCALE
    return np.stack([np.pad(f, ((top, d - top), (left, d - left), (0, 0)), mode="reflect")
                     for f, (left, top) in zip(frames, pads)])


class FlowBlender:
    """Flow-guided blending of the previous output, one frame at a time.

    ``out_t = (1 - w m) s_t + w m warp(out_{t-1})`` where ``s_t`` is the frame's own
    stylization, ``m`` the forward-backward consistency mask of the content flow (softened
    by a small blur at its edges) and ``w`` = ``weight``. The previous output is warped with
    bicubic interpolation, which keeps repeated warps sharp."""

    def __init__(self, weight: float = 0.5):
        self.weight = float(weight)
        self._prev_out = None

    def __call__(self, stylized: np.ndarray, flow) -> np.ndarray:
        """``flow``: (flow to the previous frame, mask) from :class:`FlowTracker`, or None."""
        if self._prev_out is None or flow is None or self.weight == 0:
            out = stylized
        else:
            import cv2

            f, mask = flow
            m = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.0) * mask
            warped = flowlib.warp(self._prev_out, f, cubic=True)
            wm = (self.weight * m)[..., None]
            out = (1.0 - wm) * stylized + wm * warped
        self._prev_out = out
        return out
