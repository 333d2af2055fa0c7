"""Image and mask I/O: the only module in the library that touches PIL or uint8.

Everything returned to the rest of the library is float32 in [0, 1]:
images are (H, W, 3), masks are (H, W).  Every user-facing failure (missing,
corrupt, truncated, empty, zero-sized or oversized file; unwritable target;
existing target without ``overwrite``) raises :class:`ImageError` with a
one-line message that names the file.  Bad *arguments* (negative size, bad
shape) raise :class:`ConfigError`.

Files are written atomically: encoded into a hidden temp file in the target
folder, fsynced and renamed over the target, so a failure never leaves a
partial file behind and never damages an existing one.
"""

from __future__ import annotations

import errno
import io
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps

from adain_jax.errors import ConfigError, ImageError

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "list_images",
    "load_image",
    "load_mask",
    "to_uint8",
    "save_image",
    "save_grid",
    "shorter_side_shape",
]

#: File suffixes (lower case, with the dot) treated as images by :func:`list_images`;
#: compare with ``path.suffix.lower()``.
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
)

#: Largest image (width * height) we agree to decode; larger ones are refused as a
#: possible decompression bomb.  Same as PIL's hard limit (2 * its default).
MAX_PIXELS: int = 178_956_970

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


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _open_decoded(path: str | os.PathLike) -> Image.Image:
    """Open, size-check, fully decode and EXIF-transpose one image; file closed on return."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ImageError(f"{p}: file not found") from None
    except OSError as exc:
        raise ImageError(f"{p}: cannot read file ({_one_line(exc)})") from None
    if p.is_dir():
        raise ImageError(f"{p}: is a folder, not an image file")
    if st.st_size == 0:
        raise ImageError(f"{p}: empty file, not an image")
    try:
        with warnings.catch_warnings():
            # Our own MAX_PIXELS check below decides; PIL's soft warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                w, h = im.size
                if w <= 0 or h <= 0:
                    raise ImageError(f"{p}: zero-sized image ({w}x{h})")
                if w * h > MAX_PIXELS:
                    raise ImageError(
                        f"{p}: image is {w}x{h} = {w * h} pixels, more than the limit of "
                        f"{MAX_PIXELS} (possible decompression bomb); refusing to decode"
                    )
                im.load()  # full decode here, so truncation/corruption is caught here
                out = ImageOps.exif_transpose(im)
                out.load()
                if out is im:  # never hand back the object tied to the file
                    out = im.copy()
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(
            f"{p}: refusing to decode, possible decompression bomb ({_one_line(exc)})"
        ) from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"{p}: not a recognised image file") from None
    except MemoryError:
        raise ImageError(f"{p}: out of memory while decoding") from None
    except Exception as exc:  # PIL raises many types on corrupt data
        raise ImageError(
            f"{p}: cannot decode image, corrupt or truncated ({_one_line(exc)})"
        ) from None
    return out


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


def _to_float(im: Image.Image) -> np.ndarray:
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
        return _to_float(im)
    if mode in ("RGBA", "RGBa", "La", "PA"):
        a = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        return _composite_on_white(a[..., :3], a[..., 3])
    # CMYK, YCbCr, LAB, HSV, anything else PIL can convert.
    try:
        rgb = im.convert("RGB")
    except Exception as exc:
        fname = getattr(im, "filename", "") or "image"
        raise ImageError(f"{fname}: unsupported image mode {mode!r} ({_one_line(exc)})") from None
    return np.asarray(rgb, dtype=np.float32) / 255.0


def _resize_float(
    a: np.ndarray, hw: tuple[int, int], resample: Image.Resampling
) -> np.ndarray:
    """Resize float32 (H, W, C) per channel in PIL's 32-bit float mode (antialiased)."""
    h, w = hw
    if a.shape[:2] == (h, w):
        return a
    chans = []
    for c in range(a.shape[2]):
        ch = Image.fromarray(np.ascontiguousarray(a[..., c], dtype=np.float32))
        chans.append(np.asarray(ch.resize((w, h), resample=resample), dtype=np.float32))
    return np.clip(np.stack(chans, axis=-1), 0.0, 1.0)


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def _check_size(size: int | None) -> int:
    if size is None:
        return 0
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
        raise ConfigError(f"image size must be a non-negative integer or None, got {size!r}")
    return int(size)


def _check_pixels(hw: tuple[int, int], what: str) -> None:
    """Refuse output sizes over MAX_PIXELS before allocating (a huge --content-size)."""
    if hw[0] * hw[1] > MAX_PIXELS:
        raise ConfigError(f"{what} would give {hw[1]}x{hw[0]} = {hw[0] * hw[1]} pixels, more "
                          f"than the limit of {MAX_PIXELS}")


def shorter_side_shape(h: int, w: int, size: int) -> tuple[int, int]:
    """(H, W) after resizing so that the shorter side equals ``size`` (aspect kept)."""
    if h <= w:
        return size, max(1, _round_half_up(w * size / h))
    return max(1, _round_half_up(h * size / w)), size


def load_image(
    path: str | os.PathLike, size: int | None = None, crop: bool = False
) -> np.ndarray:
    """Read an image as float32 (H, W, 3) RGB in [0, 1].

    Any PIL mode is accepted (grey, LA, RGBA and palette transparency composited on
    white, CMYK, 16-bit and 32-bit integer, float); EXIF orientation is applied.
    ``size`` > 0 resizes (Lanczos, antialiased, in float) so the shorter side equals
    ``size``; ``crop=True`` then centre-crops to ``size`` x ``size``.  With ``size``
    None or 0 the image keeps its original size and ``crop`` is ignored.
    """
    size = _check_size(size)
    im = _open_decoded(path)
    try:
        a = _to_float(im)
    finally:
        im.close()
    if size:
        hw = shorter_side_shape(a.shape[0], a.shape[1], size)
        _check_pixels(hw, f"{path}: resizing to a shorter side of {size}")
        a = _resize_float(a, hw, Image.Resampling.LANCZOS)
        if crop:
            h, w = a.shape[:2]
            top, left = (h - size) // 2, (w - size) // 2
            a = a[top:top + size, left:left + size]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a, dtype=np.float32)


def load_mask(path: str | os.PathLike, shape_hw: Sequence[int]) -> np.ndarray:
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
    _check_pixels((h, w), f"{path}: mask shape {tuple(shape_hw)!r}")
    im = _open_decoded(path)
    try:
        a = _to_float(im)
    finally:
        im.close()
    if a.shape[2] == 3:
        a = np.clip(a @ _LUMA, 0.0, 1.0)[..., None]
    a = _resize_float(a, (h, w), Image.Resampling.BILINEAR)
    return np.ascontiguousarray(a[..., 0], dtype=np.float32)


# --------------------------------------------------------------------------- encoding


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


def _new_file_mode() -> int:
    """Permissions a normally created file would get (0o666 minus the umask), for files made
    with ``mkstemp`` (0600). Read from /proc where possible: setting the umask to learn it
    briefly changes it for every thread (orbax saves asynchronously)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_image(
    path: str | os.PathLike, img: np.ndarray, overwrite: bool = False, quality: int = 95
) -> None:
    """Write a float image (H, W, 3) or (H, W) in [0, 1]; format from the suffix.

    Refuses to replace an existing file unless ``overwrite``.  The data is written to
    a hidden temp file in the same folder, fsynced and renamed over the target, so on
    any failure nothing (not even a partial file) is written and an existing file is
    left intact.
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

    folder = p.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageError(f"{p}: cannot create folder {folder} ({_one_line(exc)}); "
                         "nothing was written") from None
    tmp: str | None = None
    try:
        # Encode in memory: PIL writes straight to a real file's descriptor and ignores
        # short writes, so on a full disk it can leave a truncated file without an error.
        buf = io.BytesIO()
        pil.save(buf, format=fmt, **params)
        data = buf.getbuffer()
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=p.suffix, dir=folder)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            if os.fstat(f.fileno()).st_size != len(data):
                raise OSError(errno.EIO, f"short write ({os.fstat(f.fileno()).st_size} of "
                                         f"{len(data)} bytes)")
        del data
        os.chmod(tmp, _new_file_mode())
        os.replace(tmp, p)
        tmp = None
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if not isinstance(exc, Exception):  # KeyboardInterrupt etc.: clean up, re-raise
            raise
        raise ImageError(f"{p}: could not write image ({_one_line(exc)}); "
                         "nothing was written") from exc
    _fsync_dir(folder)


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
        th = _check_size(tile_height)
        if th == 0:
            raise ConfigError("grid tile_height must be positive")
    out_rows = []
    for row in tiles_rows:
        resized = []
        for t in row:
            t = np.clip(np.nan_to_num(t.astype(np.float32)), 0.0, 1.0)
            if t.ndim == 2:
                t = t[..., None]
            tw = max(1, _round_half_up(t.shape[1] * th / t.shape[0]))
            t = _resize_float(t, (th, tw), Image.Resampling.LANCZOS)
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
