"""Validation of user arguments, done once at the API boundary (``stylize``,
``stylize_tiled``, the file pipeline); the CLIs only convert flags and rely on it.

Every check raises :class:`~adain_jax.errors.ConfigError` with a one-line message.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from adain_jax import image_io
from adain_jax.errors import ConfigError, ImageError
from adain_jax.model import registry

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
    """(H, W, 3) or (N, H, W, 3) -> (float32 batch, whether it was a single image).

    Accepted: float arrays in [0, 1] (used as given); uint8 arrays (0..255, divided by 255);
    uint16 arrays (divided by 65535); a PIL image (converted by ``image_io.to_float_rgb``:
    8-bit /255, alpha composited on white). Anything else (other integer or bool dtypes,
    paths, bytes) raises :class:`ConfigError` instead of being cast silently.
    """
    if isinstance(img, (str, os.PathLike, bytes, bytearray)):
        raise ConfigError(f"{what} is a path or bytes, not an image array; read the file with "
                          "adain_jax.image_io.load_image first")
    if image_io.is_pil_image(img):
        try:
            img = image_io.to_float_rgb(img)
        except ImageError as e:
            raise ConfigError(f"{what}: {e}") from None
    dtype = img.dtype if isinstance(img, (jax.Array, np.ndarray)) else np.asarray(img).dtype
    if dtype == np.uint8 or dtype == np.uint16:
        scale = 1.0 / (255.0 if dtype == np.uint8 else 65535.0)
        arr = jnp.asarray(img, jnp.float32) * jnp.float32(scale)
    elif jnp.issubdtype(dtype, jnp.floating):
        arr = (img.astype(jnp.float32) if isinstance(img, jax.Array)
               else jnp.asarray(img, jnp.float32))
    else:
        raise ConfigError(f"{what} has dtype {dtype}: pass float32 in [0, 1], uint8 (0..255) "
                          "or a PIL image")
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
    """Interpolation weights for K styles (default equal): finite, non-negative, positive sum.

    Returns them normalised to sum to one, computed in float64, so that weights beyond
    float32's range (``1e39,1``) are not turned into inf/NaN by the float32 mix."""
    ws = list(weights) if weights is not None else [1.0] * k
    try:
        ws = [float(w) for w in ws]
    except (TypeError, ValueError):
        raise ConfigError(f"style weights must be numbers, got {weights!r}") from None
    if (len(ws) != k or not all(math.isfinite(w) for w in ws) or min(ws) < 0
            or sum(ws) <= 0):
        raise ConfigError(f"need {k} non-negative style weights with a positive sum, got {ws}")
    try:
        total = math.fsum(ws)
    except OverflowError:
        total = math.inf
    if not math.isfinite(total):
        raise ConfigError(f"style weights are too large to add up (got {ws})")
    return [w / total for w in ws]


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
    mask_coverage(m, axis=1)
    return xp.moveaxis(xp.broadcast_to(m, (n,) + m.shape[1:]), 1, -1)


def mask_coverage(m, axis: int = 0) -> None:
    """Masks ((K, H, W), or batched with the style axis ``axis``) must be finite, in [0, 1]
    and give at least one pixel a style: all-black masks would decode zero features into a
    flat grey image."""
    a = np.asarray(m, np.float32)
    if not np.isfinite(a).all() or a.min(initial=0.0) < 0.0 or a.max(initial=0.0) > 1.0:
        raise ConfigError("masks must be finite values in [0, 1]")
    covered = a.sum(axis=axis)
    covered = covered.reshape(-1, *covered.shape[-2:]) if covered.ndim > 2 else covered[None]
    if not (covered > 0).any(axis=(1, 2)).all():
        raise ConfigError("the masks are black everywhere (no pixel gets a style); white marks "
                          "where a style applies")


def tiling(tile: int, overlap: int, halo: int) -> None:
    """Tiled stylization's geometry."""
    if tile < 8 or overlap < 0 or halo < 0 or overlap >= tile:
        raise ConfigError(f"need tile >= 8, 0 <= overlap < tile and halo >= 0; got tile={tile}, "
                          f"overlap={overlap}, halo={halo}")


def tile_option(tile: int | None, overlap: int) -> None:
    """The file pipeline's ``tile``: None (automatic), 0 (never) or a tile side larger than
    the pipeline's fixed ``overlap`` between tiles."""
    if tile is None:
        return
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile < 0:
        raise ConfigError(f"tile must be a non-negative integer, got {tile!r}")
    if 0 < tile <= overlap:
        raise ConfigError(f"tile must be 0 (never tile) or more than {overlap} pixels (tiles "
                          f"overlap by {overlap}), got {tile}")


def outputs(paths: Sequence[Path], inputs: Iterable[Path] = ()) -> None:
    """Every output path distinct (also ignoring case, for case-insensitive file systems) and
    none of them an input, so no job can overwrite another job's output or an input."""
    seen: dict[str, Path] = {}
    for p in paths:
        key = os.path.normcase(os.path.abspath(p)).casefold()
        if key in seen:
            raise ConfigError(f"two outputs would be written to {p} (and {seen[key]}): rename "
                              "the inputs or stylize them in separate runs; nothing was written")
        seen[key] = p
    for p in inputs:
        key = os.path.normcase(os.path.abspath(p)).casefold()
        if key in seen:
            raise ConfigError(f"output {seen[key]} would overwrite the input {p}; nothing was "
                              "written")


def job_options(*, alpha_value, weights, n_styles: int, n_masks: int, optimize: bool,
                preserve_color: bool, tile: int | None = None, overlap: int = 0) -> None:
    """Everything the file pipeline can check before it reads or writes a file."""
    several = len(alphas(alpha_value)) > 1
    tile_option(tile, overlap)
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


def distributed(coordinator: str | None, num_processes: int | None, process_id: int | None,
                auto: bool = False) -> None:
    """Multi-host flags: ``HOST:PORT``; N >= 1; 0 <= I < N; explicit flags need all three
    unless ``auto`` (cluster auto-detection fills the rest)."""
    if coordinator is not None:
        host, sep, port = str(coordinator).rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"--coordinator must be HOST:PORT, got {coordinator!r}")
    if num_processes is not None and int(num_processes) < 1:
        raise ConfigError(f"--num-processes must be at least 1, got {num_processes}")
    if process_id is not None and (int(process_id) < 0 or (
            num_processes is not None and int(process_id) >= int(num_processes))):
        raise ConfigError(f"--process-id must be in [0, {num_processes}), got {process_id}")
    given = [coordinator is not None, num_processes is not None, process_id is not None]
    if any(given) and not all(given) and not auto:
        raise ConfigError("--coordinator, --num-processes and --process-id go together "
                          "(or use --tpu to detect the cluster)")


MODELS = registry.names()   # the shipped models; ``registry.names()`` has any added since


def model(name: str, vgg=None) -> str:
    """A registered model's name (``adain_jax.model.names()``); a model whose encoder is part
    of its own weights file takes no VGG file, and one given with it is a mistake, not
    something to ignore."""
    entry = registry.get(name)
    if not entry.encoder_file and vgg is not None:
        raise ConfigError(f"--vgg does not apply to --model {name} (its encoder is part of the "
                          f"{name} weights file)")
    return name


def dataset_options(*, alpha_range, seed, batch_size: int, bucket: int, workers: int) -> None:
    """The dataset job's numbers (``alpha_range``: (lo, hi) within [0, 1])."""
    lo, hi = alpha_range
    alpha(lo), alpha(hi)
    if lo > hi:
        raise ConfigError(f"--alpha range must be LO,HI with LO <= HI, got {lo},{hi}")
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"--seed must be a non-negative integer, got {seed!r}")
    if batch_size < 1 or workers < 1:
        raise ConfigError(f"--batch-size and --workers must be positive, got {batch_size}, "
                          f"{workers}")
    if bucket < 8 or bucket % 8:
        raise ConfigError(f"--bucket must be a positive multiple of 8, got {bucket}")


# --------------------------------------------------------------------------- video

VIDEO_TEMPORAL = ("both", "ema", "flow", "none")


def video_options(*, temporal, batch_size, ema_momentum, flow_weight) -> str:
    """Options of video stylization; returns the temporal method (True -> 'both',
    False/None -> 'none')."""
    if temporal is True:
        temporal = "both"
    elif temporal is False or temporal is None:
        temporal = "none"
    if temporal not in VIDEO_TEMPORAL:
        raise ConfigError(f"temporal must be one of {', '.join(VIDEO_TEMPORAL)}, got {temporal!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ConfigError(f"batch size must be a positive integer, got {batch_size!r}")
    for name, v in (("ema momentum", ema_momentum), ("flow weight", flow_weight)):
        try:
            ok = 0.0 <= float(v) < 1.0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ConfigError(f"{name} must be a number in [0, 1), got {v!r}")
    return temporal


def video_frame(frame, hw: tuple[int, int] | None, index: int) -> tuple[int, int]:
    """One frame of a clip: (H, W, 3); every frame the size of the first. Returns (H, W)."""
    shape = tuple(np.shape(frame))
    if len(shape) != 3 or shape[-1] != 3 or 0 in shape:
        raise ConfigError(f"video frame {index} must be (H, W, 3) RGB, got shape {shape}")
    if hw is not None and shape[:2] != hw:
        raise ConfigError(f"video frame {index} is {shape[1]}x{shape[0]}, the clip's frames are "
                          f"{hw[1]}x{hw[0]}: every frame must have one size")
    return shape[:2]


def video_job(*, n_styles: int, n_masks: int, optimize: bool, tile, content_folder: bool,
              n_alphas: int = 1) -> None:
    """What the stylize CLI refuses for a video content before it reads or writes a file."""
    if n_alphas != 1:
        raise ConfigError("a video takes one --alpha (several strengths are for images)")
    if content_folder:
        raise ConfigError("a video content takes one output file, not a folder of contents")
    if n_masks:
        raise ConfigError("masks are for images; a video takes no --mask")
    if optimize:
        raise ConfigError("the optimisation mode is for images, not video")
    if tile:
        raise ConfigError("--tile is for images; video frames are stylized whole")
    if n_styles < 1:
        raise ConfigError("at least one style is needed")


def max_side(value) -> int | None:
    """The internal resolution of ``stylize`` (longer side in pixels, at least 8) or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 8:
        raise ConfigError(f"max_side must be an integer of at least 8 pixels, got {value!r}")
    return int(value)
