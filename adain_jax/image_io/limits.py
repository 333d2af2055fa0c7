"""Caller-chosen limits on untrusted image files (uploads): bytes on disk and pixels.

:func:`check_file` reads only the header (PIL's lazy open), so an oversized upload is refused
before it is decoded; decoding is then :func:`~adain_jax.image_io.decode.load_image`'s job.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from PIL import Image

from adain_jax.errors import ImageError, one_line
from adain_jax.image_io.decode import FORMATS


def _amount(n: int) -> str:
    return f"{n} bytes" if n < 2**20 else f"{n / 2**20:.1f} MiB"


def check_file(path: str | os.PathLike, max_bytes: int, max_pixels: int,
               what: str = "image") -> tuple[int, int]:
    """Refuse ``path`` if it holds more than ``max_bytes`` bytes or ``max_pixels`` pixels.

    Args:
      path: the file.
      max_bytes: largest accepted file size.
      max_pixels: largest accepted width * height (read from the header, not decoded).
      what: how messages name the file (an upload's original name is not trusted).
    Returns:
      The image's (height, width).
    Raises:
      ImageError: missing, unreadable, not an image, or over a limit (one line).
    """
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ImageError(f"{what}: cannot read file ({one_line(exc)})") from None
    if size > max_bytes:
        raise ImageError(f"{what}: file is {_amount(size)}, more than the limit of "
                         f"{_amount(max_bytes)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p, formats=FORMATS) as im:
                w, h = im.size
    except Image.UnidentifiedImageError:
        raise ImageError(f"{what}: not a recognised image file") from None
    except Exception as exc:  # PIL raises many types on corrupt headers
        raise ImageError(f"{what}: cannot read image header ({one_line(exc)})") from None
    if w * h > max_pixels:
        raise ImageError(f"{what}: image is {w}x{h} = {w * h} pixels, more than the limit of "
                         f"{max_pixels}")
    return h, w
