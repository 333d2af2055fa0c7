"""Image and mask decoding: files (or bytes) to float32 arrays in [0, 1].

Images are (H, W, 3), masks (H, W). Every failure to read (missing, corrupt, truncated,
empty, zero-sized or oversized file) raises :class:`ImageError` with a one-line message
that names the file; bad *arguments* raise :class:`ConfigError`.
"""

from __future__ import annotations

import io
import math
import os
import stat
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from adain_jax.errors import ConfigError, ImageError, one_line
from adain_jax.image_io.resample import BILINEAR, LANCZOS, resize_float, shorter_side_shape

#: compare with ``path.suffix.lower()``.
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
)

#: Largest image (width * height) we agree to decode; larger ones are refused as a
#: possible decompression bomb.  Same as PIL's hard limit (2 * its default).
MAX_PIXELS: int = 178_956_970


#: The only decoders Pillow may use, whatever the file's name or content (``Image.open``'s
#: ``formats=``): EPS, PDF, ... plugins are never reached.
FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "BMP", "TIFF")

#: Bytes a decoded image (before conversion to float) may take unless the caller passes
#: ``max_bytes``; MAX_PIXELS RGB pixels fit.
MAX_IMAGE_BYTES: int = 512 << 20

#: With a small target size the image is decoded at a reduced scale (JPEG ``draft``) or
#: box-reduced by an integer factor right after decoding, keeping at least this many times the
#: target size for the final Lanczos/bilinear resize.
REDUCING_GAP: float = 3.0

_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "La": 2, "RGB": 3, "YCbCr": 3,
                    "LAB": 3, "HSV": 3, "RGBA": 4, "RGBa": 4, "CMYK": 4, "RGBX": 4, "I": 4,
                    "F": 4, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
_REDUCIBLE = frozenset({"L", "LA", "La", "RGB", "RGBA", "RGBa", "I", "F", "CMYK"})
_ORIENTATION = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
                8: Image.Transpose.ROTATE_90}

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as PIL's "L"


# --------------------------------------------------------------------------- listing


def list_images(path: str | os.PathLike) -> list[Path]:
    """A file -> ``[file]``; a folder -> its images (recursive, sorted).

    Hidden files and folders (name starting with ``.``, e.g. our own temp files)
    are skipped.  Raises :class:`ImageError` if nothing is found.
    """
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise ImageError(f"{p}: no such file or folder")
    found = []
    for f in p.rglob("*"):
        rel = f.relative_to(p)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file():
            found.append(f)
    if not found:
        raise ImageError(
            f"{p}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return sorted(found)


# --------------------------------------------------------------------------- decoding

def _check_decoded_size(im: Image.Image, what: str, max_bytes: int | None) -> None:
    w, h = im.size
    if w <= 0 or h <= 0:
        raise ImageError(f"{what}: zero-sized image ({w}x{h})")
    if w * h > MAX_PIXELS:
        raise ImageError(
            f"{what}: image is {w}x{h} = {w * h} pixels, more than the limit of "
            f"{MAX_PIXELS} (possible decompression bomb); refusing to decode")
    limit = MAX_IMAGE_BYTES if max_bytes is None else int(max_bytes)
    need = w * h * _BYTES_PER_PIXEL.get(im.mode, 4)
    if need > limit:
        raise ImageError(f"{what}: decoding this {w}x{h} {im.mode} image needs {need} bytes, "
                         f"more than the limit of {limit} (max_bytes)")


def _reduction(size: tuple[int, int], target_hw: tuple[int, int] | None) -> float:
    """Largest scale-down factor that keeps ``REDUCING_GAP`` times ``target_hw`` (H, W)."""
    if not target_hw:
        return 1.0
    w, h = size
    return min(h / target_hw[0], w / target_hw[1]) / REDUCING_GAP


def _decode(im: Image.Image, what: str, target_hw, max_bytes) -> Image.Image:
    """Size-check and fully decode an opened image, reduced for a small target; EXIF
    orientation applied. Returns an image not tied to the file."""
    _check_decoded_size(im, what, max_bytes)
    orientation = im.getexif().get(0x0112, 1)
    if target_hw and orientation in (5, 6, 7, 8):  # the stored image is transposed
        target_hw = (target_hw[1], target_hw[0])
    factor = _reduction(im.size, target_hw)
    if factor >= 2 and im.format == "JPEG":
        w, h = im.size
        im.draft(im.mode, (math.ceil(w / factor), math.ceil(h / factor)))
        _check_decoded_size(im, what, max_bytes)
    im.load()  # full decode here, so truncation/corruption is caught here
    factor = int(_reduction(im.size, target_hw))
    if factor >= 2 and im.mode in _REDUCIBLE:
        out = im.reduce(factor)
    else:
        out = im.copy()  # never hand back the object tied to the file
    method = _ORIENTATION.get(orientation) if isinstance(orientation, int) else None
    return out.transpose(method) if method is not None else out


def _open_decoded(path: str | os.PathLike, target_hw: tuple[int, int] | None = None,
                  max_bytes: int | None = None) -> Image.Image:
    """Open (allowed formats only), size-check, decode and EXIF-transpose one image; the file
    is closed on return. ``target_hw``: the size the caller resizes to (decoding is reduced
    when it is much smaller)."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ImageError(f"{p}: file not found") from None
    except OSError as exc:
        raise ImageError(f"{p}: cannot read file ({one_line(exc)})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{p}: is a folder, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(f"{p}: not a regular file (a FIFO, device or socket is never opened)")
    if st.st_size == 0:
        raise ImageError(f"{p}: empty file, not an image")
    try:
        with warnings.catch_warnings():
            # Our own MAX_PIXELS check decides; PIL's soft warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p, formats=FORMATS) as im:
                return _decode(im, str(p), target_hw, max_bytes)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(
            f"{p}: refusing to decode, possible decompression bomb ({one_line(exc)})"
        ) from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"{p}: not a recognised image file (read as "
                         f"{', '.join(FORMATS)} only)") from None
    except MemoryError:
        raise ImageError(f"{p}: out of memory while decoding") from None
    except Exception as exc:  # PIL raises many types on corrupt data
        raise ImageError(
            f"{p}: cannot decode image, corrupt or truncated ({one_line(exc)})"
        ) from None


def _int_array_to_unit(a: np.ndarray, mode: str) -> np.ndarray:
    """Integer samples of a 16/32-bit mode -> float32 in [0, 1]."""
    a = a.astype(np.float64)
    if mode.startswith("I;16"):
        scale = 65535.0
    else:  # mode "I" (int32): 16-bit data in PIL's 32-bit container unless it is larger
        hi = float(a.max()) if a.size else 0.0
        scale = 65535.0 if hi <= 65535.0 else 2147483647.0
    return np.clip(a / scale, 0.0, 1.0).astype(np.float32)


def _float_array_to_unit(a: np.ndarray) -> np.ndarray:
    """Mode "F" samples -> [0, 1]: kept if already in [0, 1], else 8- or 16-bit range."""
    a = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    hi = float(a.max()) if a.size else 0.0
    if hi <= 1.0:
        scale = 1.0
    elif hi <= 255.0:
        scale = 255.0
    elif hi <= 65535.0:
        scale = 65535.0
    else:
        scale = hi
    return np.clip(a / scale, 0.0, 1.0).astype(np.float32)


def _composite_on_white(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return colour * alpha[..., None] + (1.0 - alpha[..., None])


def to_float(im: Image.Image) -> np.ndarray:
    """Decoded PIL image -> float32 (H, W, C) in [0, 1] with C = 1 (grey) or 3 (colour).

    Alpha is composited on white; 16-bit data is scaled by 1/65535.
    """
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        return _int_array_to_unit(np.asarray(im), mode)[..., None]
    if mode == "F":
        return _float_array_to_unit(np.asarray(im))[..., None]
    if mode in ("1", "L"):
        return (np.asarray(im.convert("L"), dtype=np.float32) / 255.0)[..., None]
    if mode == "LA":
        a = np.asarray(im, dtype=np.float32) / 255.0
        return _composite_on_white(a[..., :1], a[..., 1])
    if mode == "RGB":
        return np.asarray(im, dtype=np.float32) / 255.0
    if mode == "P":
        has_alpha = "transparency" in im.info or (
            im.palette is not None and "A" in im.palette.mode
        )
        im = im.convert("RGBA" if has_alpha else "RGB")
        return to_float(im)
    if mode in ("RGBA", "RGBa", "La", "PA"):
        a = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        return _composite_on_white(a[..., :3], a[..., 3])
    # CMYK, YCbCr, LAB, HSV, anything else PIL can convert.
    try:
        rgb = im.convert("RGB")
    except Exception as exc:
        fname = getattr(im, "filename", "") or "image"
        raise ImageError(f"{fname}: unsupported image mode {mode!r} ({one_line(exc)})") from None
    return np.asarray(rgb, dtype=np.float32) / 255.0


def check_size(size: int | None) -> int:
    if size is None:
        return 0
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
        raise ConfigError(f"image size must be a non-negative integer or None, got {size!r}")
    return int(size)


def check_pixels(hw: tuple[int, int], what: str) -> None:
    """Refuse output sizes over MAX_PIXELS before allocating (a huge --content-size)."""
    if hw[0] * hw[1] > MAX_PIXELS:
        raise ConfigError(f"{what} would give {hw[1]}x{hw[0]} = {hw[0] * hw[1]} pixels, more "
                          f"than the limit of {MAX_PIXELS}")


def working_shape(h: int, w: int, size: int | None, crop: bool = False,
                  what: str = "image") -> tuple[int, int]:
    """The (H, W) an (h, w) image has at the working size (see :func:`to_working_size`).

    Raises :class:`ConfigError` when the resized image would exceed :data:`MAX_PIXELS`.
    """
    size = check_size(size)
    if not size:
        return h, w
    hw = shorter_side_shape(h, w, size)
    check_pixels(hw, f"{what}: resizing to a shorter side of {size}")
    return (size, size) if crop else hw


def to_working_size(a: np.ndarray, size: int | None, crop: bool = False,
                    what: str = "image", source_hw: tuple[int, int] | None = None) -> np.ndarray:
    """The one rule for the working size of images, video frames and dataset contents.

    float32 (H, W, C) resized (Lanczos, antialiased, in float) so the shorter side equals
    ``size``, then centre-cropped to ``size`` x ``size`` with ``crop``; ``size`` None or 0
    keeps ``a`` (``crop`` ignored). ``what`` names the image in the pixel-cap error;
    ``source_hw`` (default ``a``'s) sizes the resize, so every frame of a stream gets the
    stream's shape.
    """
    size = check_size(size)
    if not size:
        return a
    hw = working_shape(*(source_hw or a.shape[:2]), size, False, what)
    a = resize_float(a, hw, LANCZOS)
    if crop:
        top, left = (hw[0] - size) // 2, (hw[1] - size) // 2
        a = a[top:top + size, left:left + size]
    return a


def load_image(
    path: str | os.PathLike, size: int | None = None, crop: bool = False,
    max_bytes: int | None = None,
) -> np.ndarray:
    """Read an image as float32 (H, W, 3) RGB in [0, 1].

    Any PIL mode is accepted (grey, LA, RGBA and palette transparency composited on
    white, CMYK, 16-bit and 32-bit integer, float); EXIF orientation is applied.
    ``size`` > 0 resizes (Lanczos, antialiased, in float) so the shorter side equals
    ``size``; ``crop=True`` then centre-crops to ``size`` x ``size``.  With ``size``
    None or 0 the image keeps its original size and ``crop`` is ignored. An image more
    than ``2 * REDUCING_GAP`` times larger than ``size`` is first decoded at a reduced
    scale (JPEG) or box-reduced by an integer factor, so a huge image with a small
    ``size`` costs little memory. Only :data:`FORMATS` are decoded; ``max_bytes``
    (default :data:`MAX_IMAGE_BYTES`) bounds the decoded image's bytes.
    """
    size = check_size(size)
    im = _open_decoded(path, (size, size) if size else None, max_bytes)
    try:
        a = to_float(im)
    finally:
        im.close()
    a = to_working_size(a, size, crop, str(path))
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a, dtype=np.float32)


def load_mask(path: str | os.PathLike, shape_hw: Sequence[int],
              max_bytes: int | None = None) -> np.ndarray:
    """Read a mask as float32 (H, W) in [0, 1], resized (bilinear) to ``shape_hw``.

    The mask value is the grey level of the image (luma of RGB, after compositing
    any alpha on white; 16-bit data scaled by 1/65535).
    """
    try:
        h, w = (int(v) for v in shape_hw)
        ok = len(shape_hw) == 2 and h > 0 and w > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"mask shape must be two positive integers (H, W), got {shape_hw!r}")
    check_pixels((h, w), f"{path}: mask shape {tuple(shape_hw)!r}")
    im = _open_decoded(path, (h, w), max_bytes)
    try:
        a = to_float(im)
    finally:
        im.close()
    if a.shape[2] == 3:
        a = np.clip(a @ _LUMA, 0.0, 1.0)[..., None]
    a = resize_float(a, (h, w), BILINEAR)
    return np.ascontiguousarray(a[..., 0], dtype=np.float32)



def decode_bytes(data: bytes, what: str = "image bytes",
                 max_bytes: int | None = None) -> np.ndarray:
    """Encoded image bytes -> float32 (H, W, C) in [0, 1] (C = 1 or 3), in memory, with the
    conversion rules and limits of :func:`load_image` (no EXIF transpose)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as im:
                _check_decoded_size(im, what, max_bytes)
                im.load()
                return to_float(im)
    except ImageError:
        raise
    except MemoryError:
        raise ImageError(f"{what}: out of memory while decoding") from None
    except Exception as exc:  # PIL raises many types on corrupt data
        raise ImageError(f"cannot decode {what} ({one_line(exc)})") from None


def is_pil_image(obj: Any) -> bool:
    """Whether ``obj`` is a PIL image (lets other sub-systems ask without importing PIL)."""
    return isinstance(obj, Image.Image)


def to_float_rgb(image: Any) -> np.ndarray:
    """An already-decoded image (or encoded bytes) -> float32 (H, W, 3) in [0, 1].

    Accepts a PIL image (any mode, converted as :func:`load_image` does: 8-bit /255,
    alpha composited on white), uint8 (/255), uint16 (/65535), bool, or float (assumed in
    [0, 1], clipped) arrays of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) (alpha
    dropped), and ``bytes`` holding an encoded image.  Raises :class:`ImageError` otherwise.
    """
    if isinstance(image, (bytes, bytearray, memoryview)):
        a = decode_bytes(bytes(image))
    elif isinstance(image, Image.Image):
        try:
            _check_decoded_size(image, "PIL image", None)
            image.load()
            a = to_float(image)
        except ImageError:
            raise
        except Exception as exc:  # a lazily loaded image whose file is corrupt or closed
            raise ImageError(f"cannot read the PIL image ({one_line(exc)})") from None
    else:
        a = np.asarray(image)
        if a.dtype == np.uint8:
            a = a.astype(np.float32) * np.float32(1 / 255)
        elif a.dtype == np.uint16:
            a = a.astype(np.float32) * np.float32(1 / 65535)
        elif a.dtype == np.bool_:
            a = a.astype(np.float32)
        elif np.issubdtype(a.dtype, np.floating):
            a = np.clip(np.nan_to_num(a.astype(np.float32)), 0.0, 1.0)
        else:
            raise ImageError(f"unsupported image array dtype {a.dtype}")
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.shape[0] == 0 or a.shape[1] == 0:
        raise ImageError(f"unsupported image array shape {a.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        a = a[..., :3]
    return a
