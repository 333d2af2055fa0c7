"""``stylize_video``: a generator that stylizes a stream of frames, batched on the device,
with the style encoded once and temporal consistency (:mod:`adain_jax.video.temporal`)."""
from __future__ import annotations

import itertools
from typing import Iterable, Iterator, Sequence

import jax.numpy as jnp
import numpy as np

from adain_jax import image_io, ops
from adain_jax.errors import ConfigError
from adain_jax.inference import transfer, validate
from adain_jax.video import temporal as temporal_lib


def _recolour(style, frame):
    """The style image recoloured (CORAL) to one frame's colours."""
    style = validate.single_image(style)
    return ops.coral_jit(jnp.asarray(style), frame)[None]


def _style_stats(params, style, style_weights, preserve_color, first_frame, dtype):
    """One (1, 1, 1, C) mean/std pair for the whole clip: each style encoded once (recoloured
    to the first frame with ``preserve_color``), several styles mixed by their weights."""
    styles = validate.styles(style, style_weights, None, transfer.StyleStats)
    first = jnp.asarray(first_frame)
    stats = []
    for s in styles:
        st = transfer.resolve_style(params, s, preserve_color,
                                    lambda img: _recolour(img, first), dtype)
        if st.mean.shape[0] != 1:
            raise ConfigError(f"a video takes one image per style, got a batch of "
                              f"{st.mean.shape[0]}")
        stats.append(st)
    if len(stats) == 1:
        return stats[0].mean, stats[0].std
    weights = validate.style_weights(style_weights, len(stats))
    return ops.mix_stats(jnp.stack([s.mean for s in stats]), jnp.stack([s.std for s in stats]),
                         weights)


def stylize_video(params, frames: Iterable, style, *, alpha: float = 1.0,
                  style_weights: Sequence[float] | None = None, preserve_color: bool = False,
                  dtype=None, batch_size: int = 4, temporal="both", ema_momentum: float = 0.9,
                  flow_weight: float = 0.5, flow_preset: str = "medium",
                  align: bool = True) -> Iterator[np.ndarray]:
    """Stylize a clip frame by frame, lazily: yields one float32 (H, W, 3) frame in [0, 1] per
    input frame, in order, pulling ``batch_size`` frames at a time from ``frames`` (memory
    does not grow with the clip's length).

    Args:
      params: ``{'vgg': ..., 'decoder': ...}``.
      frames: an iterable of (H, W, 3) frames of one size, float in [0, 1] or uint8.
      style: a style image, ``StyleStats`` of one image, or a list of them (mixed by
        ``style_weights``), as for :func:`adain_jax.stylize`; encoded once for the clip.
      alpha, style_weights, dtype: as for :func:`adain_jax.stylize`.
      preserve_color: recolour the style to the *first* frame's colours (CORAL) before it is
        encoded (once; per-frame recolouring would flicker).
      batch_size: frames per device batch (the last batch is padded to it, so one compile).
      temporal: 'both' (default), 'ema' (content statistics averaged over time), 'flow'
        (flow-guided blending of the previous output) or 'none'; True/False = both/none.
      ema_momentum: weight of the running average per frame for 'ema' (0 = per-frame).
      flow_weight: weight of the warped previous output where the flow is reliable.
      flow_preset: DIS preset: 'ultrafast', 'fast' or 'medium'.
      align: with 'flow'/'both', pad each frame so that the encoder's 8-pixel pooling grid
        follows the scene's global motion (removes most of the flicker of camera pans).
    """
    method = validate.video_options(temporal=temporal, batch_size=batch_size,
                                    ema_momentum=ema_momentum, flow_weight=flow_weight)
    alpha = validate.alpha(alpha)
    # Checked now, not at the first next(): a generator body runs late.
    validate.styles(style, style_weights, None, transfer.StyleStats)
    if style_weights is not None:
        validate.style_weights(style_weights, len(style) if isinstance(style, (list, tuple))
                               and not isinstance(style, transfer.StyleStats) else 1)
    return _generate(params, iter(frames), style, alpha=alpha, style_weights=style_weights,
                     preserve_color=preserve_color, dtype=dtype, batch_size=int(batch_size),
                     method=method, ema_momentum=float(ema_momentum),
                     flow_weight=float(flow_weight), flow_preset=flow_preset, align=bool(align))


def _generate(params, it, style, *, alpha, style_weights, preserve_color, dtype, batch_size,
              method, ema_momentum, flow_weight, flow_preset, align) -> Iterator[np.ndarray]:
    smoother = temporal_lib.StatsSmoother(ema_momentum if method in ("both", "ema") else 0.0)
    use_flow = method in ("both", "flow")
    tracker = temporal_lib.FlowTracker(flow_preset) if use_flow else None
    blender = temporal_lib.FlowBlender(flow_weight) if use_flow else None
    hw = None
    s_mean = s_std = None
    index = 0
    while True:
        batch = []
        for frame in itertools.islice(it, batch_size):
            hw = validate.video_frame(frame, hw, index + len(batch))
            batch.append(image_io.to_float_rgb(frame))
        if not batch:
            return
        if s_mean is None:
            s_mean, s_std = _style_stats(params, style, style_weights, preserve_color, batch[0],
                                         dtype)
        n = len(batch)
        flows, pads = [], []
        for f in batch:
            flows.append(tracker(f) if use_flow else None)
            if use_flow and align:
                pads.append(temporal_lib.grid_pad(tracker.offset))
        frames = batch + [batch[-1]] * (batch_size - n)  # one shape, one compile
        if pads:
            pads += [pads[-1]] * (batch_size - n)
            stack = temporal_lib.pad_frames(frames, pads)
        else:
            stack = np.stack(frames)
        out = np.asarray(smoother(params, stack, s_mean, s_std, alpha, dtype))[:n]
        if pads:
            h, w = hw
            out = [o[top:top + h, left:left + w] for o, (left, top) in zip(out, pads)]
        for styled, fl in zip(out, flows):
            yield blender(styled, fl) if blender is not None else styled
        index += n
