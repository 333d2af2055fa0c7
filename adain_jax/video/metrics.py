"""Temporal-consistency metrics for a stylized clip, shared by the tests and
``python -m tools.video.warp_error``.

* warping error (Lai et al. 2018, L1 version): the mean absolute difference, over the
  pixels visible in both frames, between output frame t and output frame t-k warped to it
  by the flow of the *content* clip; k = 1 is short-term, larger k long-term consistency.
  The flow is exact for synthetic clips (:mod:`.synthetic`) or estimated by DIS with a
  forward-backward occlusion check (:func:`dis_flows`).
* sharpness: the mean gradient magnitude (finite differences), compared against per-frame
  stylization to show that blending does not blur.
* mean absolute difference between two clips (e.g. temporal vs per-frame output).
Frames are float32 (H, W, 3) in [0, 1].
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from adain_jax.video import flow as flowlib

FlowFn = Callable[[int, int], "tuple[np.ndarray, np.ndarray]"]


def warping_error(frames: Sequence[np.ndarray], flow: FlowFn, k: int = 1) -> float:
    """Mean over t >= k of the masked mean |frame_t - warp(frame_{t-k}, flow(t, k))|
    (per pixel and channel); ``flow(t, k)`` -> (flow t -> t-k, visibility mask)."""
    if len(frames) <= k:
        raise ValueError(f"need more than {k} frames")
    errs = []
    for t in range(k, len(frames)):
        f, mask = flow(t, k)
        diff = np.abs(np.asarray(frames[t], np.float32) - flowlib.warp(frames[t - k], f))
        m = mask.astype(np.float32)
        if m.sum() > 0:
            errs.append(float((diff.mean(-1) * m).sum() / m.sum()))
    return float(np.mean(errs)) if errs else float("nan")


def dis_flows(content: Sequence[np.ndarray], preset: str = "medium") -> FlowFn:
    """Flow function from DIS on the content frames, occlusions by forward-backward check
    (results cached per (t, k))."""
    est = flowlib.FlowEstimator(preset)
    greys = [flowlib.grey(f) for f in content]
    cache: dict = {}

    def flow(t, k):
        if (t, k) not in cache:
            cache[(t, k)] = flowlib.flow_and_mask(est, greys[t], greys[t - k])
        return cache[(t, k)]

    return flow


def sharpness(frames: Sequence[np.ndarray]) -> float:
    """Mean gradient magnitude (forward differences, per channel) over the frames."""
    vals = []
    for f in frames:
        f = np.asarray(f, np.float32)
        gx = f[:-1, 1:] - f[:-1, :-1]
        gy = f[1:, :-1] - f[:-1, :-1]
        vals.append(float(np.sqrt(gx * gx + gy * gy).mean()))
    return float(np.mean(vals))


def mean_abs_diff(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    """Mean |a - b| over frames, pixels and channels."""
    return float(np.mean([np.abs(np.asarray(x, np.float32) - y).mean() for x, y in zip(a, b)]))


def evaluate(stylized: Sequence[np.ndarray], flow: FlowFn, *, long_k: int = 8,
             reference: Sequence[np.ndarray] | None = None) -> dict:
    """Short- and long-term warping error and sharpness of a clip; with ``reference``
    (per-frame stylization) also the mean abs difference to it and the sharpness ratio."""
    out = {"warp_short": warping_error(stylized, flow, 1),
           "warp_long": warping_error(stylized, flow, long_k) if len(stylized) > long_k
           else float("nan"),
           "long_k": long_k, "sharpness": sharpness(stylized)}
    if reference is not None:
        out["mad_to_per_frame"] = mean_abs_diff(stylized, reference)
        out["sharpness_ratio"] = out["sharpness"] / max(sharpness(reference), 1e-12)
    return out
