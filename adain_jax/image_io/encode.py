"""Image encoding: float32 arrays in [0, 1] to files, written atomically.

Refuses to replace an existing file unless ``overwrite``; the encoded bytes go through
:func:`adain_jax.fs.atomic_write`, so on any failure nothing (not even a partial file) is
written and an existing file is left intact.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from adain_jax import fs
from adain_jax.errors import ConfigError, ImageError, one_line
from adain_jax.image_io.decode import check_size
from adain_jax.image_io.resample import LANCZOS, resize_float, round_half_up

# Output formats chosen from the target's suffix.
_SAVE_FORMATS: dict[str, str] = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] -> uint8 (clipped, rounded to nearest; NaN -> 0)."""
    a = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)


def _as_hw_or_hw3(img: np.ndarray, path: Path) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)) or 0 in a.shape:
        raise ImageError(
            f"{path}: cannot save an array of shape {a.shape}; expected (H, W, 3) or (H, W)"
        )
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)
            or a.dtype == np.bool_):
        raise ImageError(f"{path}: cannot save an array of dtype {a.dtype}")
    return a



def save_image(
    path: str | os.PathLike, img: np.ndarray, overwrite: bool = False, quality: int = 95
) -> None:
    """Write a float image (H, W, 3) or (H, W) in [0, 1]; format from the suffix.

    Refuses to replace an existing file unless ``overwrite``; written atomically
    (:func:`adain_jax.fs.atomic_write`).
    """
    p = Path(path)
    fmt = _SAVE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise ImageError(
            f"{p}: unknown image suffix {p.suffix!r}; use one of "
            f"{', '.join(sorted(_SAVE_FORMATS))}"
        )
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) \
            or not 1 <= quality <= 100:
        raise ConfigError(f"quality must be an integer in 1..100, got {quality!r}")
    a = _as_hw_or_hw3(img, p)
    if p.is_dir():
        raise ImageError(f"{p}: is a folder; cannot write an image there")
    if p.exists() and not overwrite:
        raise ImageError(f"{p} exists; pass --overwrite to replace it")

    pil = Image.fromarray(to_uint8(a))  # "L" or "RGB"
    params: dict = {}
    if fmt in ("JPEG", "WEBP"):
        params["quality"] = int(quality)

    # Encode in memory: PIL writes straight to a real file's descriptor and ignores short
    # writes, so on a full disk it could leave a truncated file without an error.
    buf = io.BytesIO()
    try:
        pil.save(buf, format=fmt, **params)
        fs.atomic_write(p, buf.getbuffer(), overwrite=overwrite)
    except FileExistsError:
        raise ImageError(f"{p} exists; pass --overwrite to replace it") from None
    except Exception as exc:
        raise ImageError(f"{p}: could not write image ({one_line(exc)}); "
                         "nothing was written") from exc


def save_grid(
    path: str | os.PathLike,
    rows: Sequence[Sequence[np.ndarray]],
    pad: int = 4,
    overwrite: bool = True,
    *,
    tile_height: int | None = None,
) -> None:
    """Tile images into one picture and save it (atomically, see :func:`save_image`).

    Each image ((H, W, 3) or (H, W) float in [0, 1]) is resized (aspect kept) to a
    common tile height -- ``tile_height``, by default the smallest image height --
    and placed left to right; rows go top to bottom, with ``pad`` white pixels
    between tiles and around the border.
    """
    p = Path(path)
    if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)) or pad < 0:
        raise ConfigError(f"grid pad must be a non-negative integer, got {pad!r}")
    tiles_rows = [[_as_hw_or_hw3(t, p) for t in row] for row in rows]
    tiles_rows = [row for row in tiles_rows if row]
    if not tiles_rows:
        raise ConfigError(f"{p}: no images to put in the grid")
    if tile_height is None:
        th = min(t.shape[0] for row in tiles_rows for t in row)
    else:
        th = check_size(tile_height)
        if th == 0:
            raise ConfigError("grid tile_height must be positive")
    out_rows = []
    for row in tiles_rows:
        resized = []
        for t in row:
            t = np.clip(np.nan_to_num(t.astype(np.float32)), 0.0, 1.0)
            if t.ndim == 2:
                t = t[..., None]
            tw = max(1, round_half_up(t.shape[1] * th / t.shape[0]))
            t = resize_float(t, (th, tw), LANCZOS)
            if t.shape[2] == 1:
                t = np.repeat(t, 3, axis=2)
            resized.append(t)
        out_rows.append(resized)
    width = max(sum(t.shape[1] for t in row) + pad * (len(row) + 1) for row in out_rows)
    height = len(out_rows) * th + pad * (len(out_rows) + 1)
    canvas = np.ones((height, width, 3), dtype=np.float32)
    y = pad
    for row in out_rows:
        x = pad
        for t in row:
            canvas[y:y + th, x:x + t.shape[1]] = t
            x += t.shape[1] + pad
        y += th + pad
    save_image(p, canvas, overwrite=overwrite)
