"""High-resolution stylization in bounded memory: tiles with global AdaIN statistics.

``stylize_tiled`` gives (nearly) the result of ``transfer.stylize`` on images too large to
encode in one piece (a 4096 x 4096 image needs several GB of activations untiled):

1. **Global content statistics.** The image (virtually padded to a multiple of 8, as
   ``stylize`` pads it) is cut into non-overlapping *cores*; each core is encoded inside a
   window that adds ``halo`` pixels of real image context on every side (no context is
   needed at the image border, where ``stylize`` reflects too), and the relu4_1 channel
   sums are taken over the core's features only. With ``halo`` >= the relu4_1 receptive
   radius (about 40 px for VGG-19; see ``tools/bench/results``), the core features are
   those of the whole image up to float rounding, so the statistics are exact too.
   Sums are combined in float64 on the host (mean and centred second moments, Chan et al.).
2. **Stylize per tile.** Output tiles of ``tile`` pixels overlapping by ``overlap`` pixels
   are each computed from a window with ``halo`` pixels of context: encode, AdaIN with the
   *global* content statistics, decode, crop the tile. Tiles are blended with linear-ramp
   weights in their overlaps (normalised by the summed weights).

All windows of a pass have the same shape (windows near the border are shifted inwards, not
shrunk), so each jitted step compiles once. Host memory: the content, the output
accumulator and the weight map at full resolution (about 200 + 200 + 67 MB at 4096^2),
plus one window's activations.
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from adain_jax import ops
from adain_jax.errors import ConfigError
from adain_jax.inference import validate
from adain_jax.inference.transfer import StyleStats, resolve_style
from adain_jax.model import forward, registry
from adain_jax.nn import layers

Array = Any

DEFAULT_TILE = 1024
DEFAULT_OVERLAP = 32
DEFAULT_HALO = 32
#: ``stylize.py`` tiles contents with more pixels than this unless ``--tile`` says otherwise.
AUTO_TILE_PIXELS = 1536 * 1536
S = layers.DOWNSCALE


def _round8(x: int) -> int:
    return -(-int(x) // S) * S


def _window(img: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """Rows [y0, y1) and columns [x0, x1) (multiples of 8, within the padded size) of the image
    padded to a multiple of 8 as ``stylize`` pads it; only the window is copied."""
    return np.ascontiguousarray(layers.pad_to_multiple(img[y0:y1, x0:x1], S, xp=np))


def _balanced(n: int, tile: int, overlap: int = 0) -> int:
    """The tile side (a multiple of 8, at most ``tile``) that covers ``n`` with as few
    equal tiles as ``tile`` needs, overlapping by ``overlap``: 2160 rows take three 744-row
    tiles rather than 1024 + 1024 + 112 (the last moved back), so less is computed twice."""
    if tile >= n:
        return n
    count = -(-(n - overlap) // (tile - overlap))
    return min(tile, _round8(-(-(n - overlap) // count) + overlap))


def _starts(n: int, size: int, step: int) -> list[int]:
    """Starts (multiples of 8) of tiles of ``size`` covering [0, n) with the given step;
    the last tile is moved back to end at ``n``."""
    if size >= n:
        return [0]
    starts = list(range(0, n - size, step)) + [n - size]
    return sorted(set(starts))


def _window_start(t0: int, halo: int, win: int, n: int) -> int:
    return int(np.clip(t0 - halo, 0, max(n - win, 0)))


@functools.partial(jax.jit, static_argnames="dtype")
def _core_moments(enc, window, bounds, fmasks, dtype=None):
    """Per-region (count, mean, centred M2) of relu4_1 over the core [fy0,fy1)x[fx0,fx1)
    of the window's feature map; ``fmasks`` (fh, fw, K) are region weights."""
    return forward.region_moments(enc, window, bounds, fmasks, dtype)


@functools.partial(jax.jit, static_argnames="dtype")
def _stylize_window(params, window, c_mean, c_std, s_mean, s_std, fmasks, alpha, dtype=None):
    """Encode, AdaIN with given content/style stats per region (K, C), decode one window."""
    masks = ops.normalise_masks(fmasks)
    out = forward.run(params, window[None], lambda feat: ops.regional_adain(
        feat[0], masks, c_mean, c_std, s_mean, s_std)[None], alpha, dtype)
    return forward.finish(out)[0]


def _feature_masks(masks: np.ndarray | None, hp: int, wp: int) -> np.ndarray:
    """(K, H, W) masks -> (hp/8, wp/8, K) region weights, as ``stylize`` computes them; one
    all-ones region without masks."""
    if masks is None:
        return np.ones((hp // S, wp // S, 1), np.float32)
    padded = layers.pad_to_multiple(np.moveaxis(masks, 0, -1), S, xp=np)
    return ops.feature_masks(padded, S).astype(np.float32)


def _ramp(n: int, overlap: int, lead: bool, trail: bool) -> np.ndarray:
    w = np.ones(n, np.float32)
    o = min(overlap, n // 2)
    if o > 0:
        r = (np.arange(o, dtype=np.float32) + 0.5) / o
        if lead:
            w[:o] = r
        if trail:
            w[n - o:] = np.minimum(w[n - o:], r[::-1])
    return w


def content_stats(params, content: np.ndarray, *, tile: int = DEFAULT_TILE,
                  halo: int = DEFAULT_HALO, masks: np.ndarray | None = None,
                  dtype=None) -> tuple[np.ndarray, np.ndarray]:
    """Global AdaIN-feature (mean, std) of one (H, W, 3) image, computed tile by tile: (K, C)
    each, one row per mask region (K = 1 without masks). ``std = sqrt(biased var + eps)``.
    ``params``: a params tree (or its encoder part), or a bare encoder tree of the default
    model (the VGG)."""
    found = registry.find(params)
    enc = found.encoder_part(params) if found else {registry.default().encoder_key: params}
    h, w = content.shape[:2]
    hp, wp = _round8(h), _round8(w)
    tile, halo = _round8(tile), _round8(halo)
    th, tw = _balanced(hp, tile), _balanced(wp, tile)
    wh, ww = min(th + 2 * halo, hp), min(tw + 2 * halo, wp)
    fm = _feature_masks(masks, hp, wp)
    k = fm.shape[-1]
    count = np.zeros(k)
    mean, m2 = None, None
    for cy in range(0, hp, th):
        for cx in range(0, wp, tw):
            cy1, cx1 = min(cy + th, hp), min(cx + tw, wp)
            y0, x0 = _window_start(cy, halo, wh, hp), _window_start(cx, halo, ww, wp)
            win = _window(content, y0, y0 + wh, x0, x0 + ww)
            bounds = np.array([cy - y0, cy1 - y0, cx - x0, cx1 - x0], np.int32) // S
            fwin = fm[y0 // S:(y0 + wh) // S, x0 // S:(x0 + ww) // S]
            n_b, mean_b, m2_b = (np.asarray(a, np.float64) for a in
                                 _core_moments(enc, win, bounds, fwin, dtype=dtype))
            if mean is None:
                mean, m2 = np.zeros_like(mean_b), np.zeros_like(m2_b)
            total = count + n_b
            safe = np.maximum(total, 1e-12)[:, None]
            delta = mean_b - mean
            mean = mean + delta * (n_b[:, None] / safe)
            m2 = m2 + m2_b + delta ** 2 * (count * n_b)[:, None] / safe
            count = total
    var = m2 / np.maximum(count, 1e-12)[:, None]
    return mean.astype(np.float32), np.sqrt(var + ops.EPS).astype(np.float32)


def _content_color_moments(content: np.ndarray, eps: float = 1e-5, chunk: int = 256):
    """``ops.color_moments`` of a huge image, accumulated in row chunks (float64), so the
    content is never copied whole."""
    n, s1, s2 = 0, np.zeros(3), np.zeros((3, 3))
    for y in range(0, content.shape[0], chunk):
        px = content[y:y + chunk].reshape(-1, 3).astype(np.float64)
        n += px.shape[0]
        s1 += px.sum(0)
        s2 += px.T @ px
    mean = s1 / n
    return mean, s2 / n - np.outer(mean, mean) + eps * np.eye(3)


def stylize_tiled(params, content, style, *, tile: int = DEFAULT_TILE,
                  overlap: int = DEFAULT_OVERLAP, halo: int = DEFAULT_HALO, alpha: float = 1.0,
                  style_weights: Sequence[float] | None = None, masks=None,
                  preserve_color: bool = False, dtype=None, stats_tile: int | None = None
                  ) -> np.ndarray:
    """``transfer.stylize`` for one large (H, W, 3) image, tile by tile (see the module doc).

    Args:
      params, style, alpha, style_weights, masks, preserve_color, dtype: as ``stylize``
        (``masks``: (K, H, W); ``style``: an image, ``StyleStats`` or a list of either).
      tile: output tile side in pixels (rounded up to a multiple of 8); peak memory grows
        with ``(tile + 2 * halo) ** 2``.
      overlap: pixels shared by neighbouring tiles, blended with linear ramps.
      halo: context pixels around every tile and statistics core, discarded after use.
      stats_tile: core size of the statistics pass (default ``tile``).
    Returns:
      float32 (H, W, 3) in [0, 1], a NumPy array.
    """
    alpha = validate.alpha(alpha)
    content = validate.single_image(content)
    validate.tiling(tile, overlap, halo)
    h, w = content.shape[:2]
    tile, halo, overlap = _round8(tile), _round8(halo), _round8(overlap)
    styles = validate.styles(style, style_weights, masks, StyleStats)
    moments = _content_color_moments(content) if preserve_color else None
    means, stds = [], []
    for s in styles:
        st = resolve_style(params, s, preserve_color,
                           lambda img: ops.coral_to_moments(validate.single_image(img), *moments),
                           dtype)
        if st.mean.shape[0] != 1:
            raise ConfigError("stylize_tiled takes one style image (or statistics) per style")
        means.append(np.asarray(st.mean, np.float32).reshape(-1))
        stds.append(np.asarray(st.std, np.float32).reshape(-1))
    if masks is not None:
        masks = np.moveaxis(validate.masks(masks, 1, len(styles), (h, w), xp=np)[0], -1, 0)
        s_mean, s_std = np.stack(means), np.stack(stds)
    else:
        weights = validate.style_weights(style_weights, len(styles))
        s_mean, s_std = (a[None] for a in ops.mix_stats(np.stack(means), np.stack(stds), weights))

    hp, wp = _round8(h), _round8(w)
    c_mean, c_std = content_stats(forward.encoder_part(params), content, tile=stats_tile or tile, halo=halo,
                                  masks=masks, dtype=dtype)
    fm = _feature_masks(masks, hp, wp)
    out = np.zeros((h, w, 3), np.float32)
    wsum = np.zeros((h, w, 1), np.float32)
    th, tw = _balanced(hp, tile, overlap), _balanced(wp, tile, overlap)
    wh, ww = min(th + 2 * halo, hp), min(tw + 2 * halo, wp)
    step_y, step_x = max(th - overlap, S), max(tw - overlap, S)
    ys, xs = _starts(hp, th, step_y), _starts(wp, tw, step_x)
    alpha = jnp.float32(alpha)
    c_mean, c_std, s_mean, s_std = map(jnp.asarray, (c_mean, c_std, s_mean, s_std))
    for ty in ys:
        ry = _ramp(th, overlap, ty > 0, ty + th < hp)
        y0 = _window_start(ty, halo, wh, hp)
        for tx in xs:
            rx = _ramp(tw, overlap, tx > 0, tx + tw < wp)
            x0 = _window_start(tx, halo, ww, wp)
            win = _window(content, y0, y0 + wh, x0, x0 + ww)
            fwin = fm[y0 // S:(y0 + wh) // S, x0 // S:(x0 + ww) // S]
            res = np.asarray(_stylize_window(params, win, c_mean, c_std, s_mean, s_std, fwin,
                                             alpha, dtype=dtype))
            part = res[ty - y0:ty - y0 + th, tx - x0:tx - x0 + tw]
            wt = ry[:, None, None] * rx[None, :, None]
            vh, vw = min(th, h - ty), min(tw, w - tx)   # the part inside the real image
            out[ty:ty + vh, tx:tx + vw] += part[:vh, :vw] * wt[:vh, :vw]
            wsum[ty:ty + vh, tx:tx + vw] += wt[:vh, :vw]
    out /= wsum
    return out


def should_tile(shape: Sequence[int], tile: int | None) -> bool:
    """``stylize.py``'s rule: ``tile`` None = automatic (more than ``AUTO_TILE_PIXELS``),
    0 = never, N > 0 = whenever a side exceeds N."""
    h, w = int(shape[0]), int(shape[1])
    if tile is None:
        return h * w > AUTO_TILE_PIXELS
    return tile > 0 and max(h, w) > tile


__all__ = ["stylize_tiled", "content_stats", "should_tile", "DEFAULT_TILE", "DEFAULT_OVERLAP",
           "DEFAULT_HALO", "AUTO_TILE_PIXELS"]
