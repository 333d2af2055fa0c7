"""Tests for adain_jax.image_io; every image is generated in the test (tmp_path)."""

from __future__ import annotations

import errno
import io
import struct
import time
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from adain_jax import fs, image_io
from adain_jax.errors import ConfigError, ImageError
from adain_jax.image_io import (
    IMAGE_SUFFIXES,
    list_images,
    load_image,
    load_mask,
    save_grid,
    save_image,
    to_uint8,
)

TOL8 = 0.5 / 255 + 1e-6


def _png_bytes(w: int, h: int, depth: int, ctype: int, raw: bytes = b"") -> bytes:
    """A hand-made PNG (lets us claim any size and any bit depth)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _rgb_u8(h=6, w=8, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# --------------------------------------------------------------------- modes / formats


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".tiff", ".webp", ".PNG"])
def test_lossless_rgb_roundtrip_each_suffix(tmp_path, suffix):
    if suffix == ".webp":
        pytest.importorskip("PIL.WebPImagePlugin")
    u8 = _rgb_u8()
    path = tmp_path / f"a{suffix}"
    Image.fromarray(u8).save(path, **({"lossless": True} if suffix == ".webp" else {}))
    out = load_image(path)
    assert out.dtype == np.float32 and out.shape == (6, 8, 3)
    np.testing.assert_allclose(out, u8 / 255.0, atol=1e-6)


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg", ".JPG"])
def test_jpeg_loads_close(tmp_path, suffix):
    path = tmp_path / f"a{suffix}"
    Image.new("RGB", (16, 16), (200, 40, 90)).save(path, quality=100)
    out = load_image(path)
    assert out.shape == (16, 16, 3)
    np.testing.assert_allclose(out.mean((0, 1)), np.array([200, 40, 90]) / 255, atol=0.02)


def test_greyscale_L_and_1(tmp_path):
    g = np.arange(0, 240, 10, dtype=np.uint8).reshape(4, 6)
    Image.fromarray(g).save(tmp_path / "g.png")
    out = load_image(tmp_path / "g.png")
    assert out.shape == (4, 6, 3)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], g / 255.0, atol=1e-6)
    Image.fromarray(g > 100).save(tmp_path / "b.png")  # mode "1"
    out = load_image(tmp_path / "b.png")
    np.testing.assert_array_equal(out[..., 0], (g > 100).astype(np.float32))


def test_16bit_png_greyscale_is_scaled_not_clipped(tmp_path):
    a = np.full((3, 4), 65535 // 2, dtype=np.uint16)
    a[0, 0], a[0, 1] = 0, 65535
    Image.fromarray(a).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as im:
        assert im.mode in ("I;16", "I")
    out = load_image(tmp_path / "g16.png")
    assert out[1, 1, 0] == pytest.approx(32767 / 65535, abs=1e-6)
    assert out[0, 0, 0] == 0.0 and out[0, 1, 0] == pytest.approx(1.0)
    # hand-made 16-bit greyscale PNG (colour type 0), big-endian samples
    raw = b"".join(b"\x00" + struct.pack(">HH", 1000, 40000) for _ in range(2))
    (tmp_path / "h16.png").write_bytes(_png_bytes(2, 2, 16, 0, raw))
    out = load_image(tmp_path / "h16.png")
    np.testing.assert_allclose(out[0, :, 0], [1000 / 65535, 40000 / 65535], atol=1e-6)


def test_16bit_tiff_little_and_big_endian(tmp_path):
    a = np.array([[0, 257, 32768], [65535, 1234, 50000]], dtype=np.uint16)
    Image.fromarray(a).save(tmp_path / "le.tif")
    Image.frombytes("I;16B", (3, 2), a.astype(">u2").tobytes()).save(tmp_path / "be.tif")
    with Image.open(tmp_path / "be.tif") as im:
        assert im.mode == "I;16B"
    for name in ("le.tif", "be.tif"):
        out = load_image(tmp_path / name)
        np.testing.assert_allclose(out[..., 1], a / 65535.0, atol=1e-6)


def test_int32_mode_I_tiff(tmp_path):
    a = np.array([[0, 32768], [65535, 100]], dtype=np.int32)
    Image.fromarray(a).save(tmp_path / "i.tif")
    with Image.open(tmp_path / "i.tif") as im:
        assert im.mode == "I"
    np.testing.assert_allclose(load_image(tmp_path / "i.tif")[..., 2], a / 65535.0, atol=1e-6)


def test_16bit_rgb_png_opens(tmp_path):
    # PIL opens 16-bit RGB PNG as 8-bit RGB; values must still be right to 8 bits.
    a = np.zeros((2, 3, 3), dtype=">u2")
    a[..., 0], a[..., 1], a[..., 2] = 65535, 32768, 0
    raw = b"".join(b"\x00" + a[r].tobytes() for r in range(2))
    (tmp_path / "rgb16.png").write_bytes(_png_bytes(3, 2, 16, 2, raw))
    out = load_image(tmp_path / "rgb16.png")
    np.testing.assert_allclose(out[0, 0], [1.0, 0.5, 0.0], atol=1 / 255)


def test_float_mode_F_tiff(tmp_path):
    a = np.array([[0.0, 0.25], [0.5, 1.0]], dtype=np.float32)
    Image.fromarray(a).save(tmp_path / "f.tif")
    with Image.open(tmp_path / "f.tif") as im:
        assert im.mode == "F"
    np.testing.assert_allclose(load_image(tmp_path / "f.tif")[..., 0], a, atol=1e-6)


def test_rgba_and_la_composited_on_white(tmp_path):
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)   # opaque red
    rgba[0, 1] = (0, 0, 0, 0)       # fully transparent -> white
    rgba[1, 0] = (0, 0, 0, 51)      # 20% black on white -> 0.8
    rgba[1, 1] = (0, 0, 255, 255)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    np.testing.assert_allclose(out[0, 0], [1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(out[0, 1], [1, 1, 1], atol=1e-6)
    np.testing.assert_allclose(out[1, 0], [0.8, 0.8, 0.8], atol=1e-6)
    np.testing.assert_allclose(out[1, 1], [0, 0, 1], atol=1e-6)
    la = Image.frombytes("LA", (2, 1), bytes([0, 0, 0, 255]))
    la.save(tmp_path / "la.png")
    np.testing.assert_allclose(load_image(tmp_path / "la.png")[0, :, 0], [1.0, 0.0], atol=1e-6)


def test_palette_with_and_without_transparency(tmp_path):
    im = Image.new("P", (3, 1))
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (768 - 9))
    im.putdata([0, 1, 2])
    im.save(tmp_path / "p.png")
    np.testing.assert_allclose(load_image(tmp_path / "p.png")[0], np.eye(3), atol=1e-6)
    im.info["transparency"] = 1
    im.save(tmp_path / "pt.png", transparency=1)
    with Image.open(tmp_path / "pt.png") as chk:
        assert chk.mode == "P" and "transparency" in chk.info
    out = load_image(tmp_path / "pt.png")[0]
    np.testing.assert_allclose(out, [[1, 0, 0], [1, 1, 1], [0, 0, 1]], atol=1e-6)


@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
def test_cmyk(tmp_path, suffix):
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / f"c{suffix}")
    with Image.open(tmp_path / f"c{suffix}") as im:
        assert im.mode == "CMYK"
    out = load_image(tmp_path / f"c{suffix}")
    np.testing.assert_allclose(out.mean((0, 1)), [1, 0, 0], atol=0.02)


# --------------------------------------------------------------------- EXIF, resize, crop


def test_exif_orientation_6_rotates_clockwise(tmp_path):
    stored = np.zeros((16, 32, 3), dtype=np.uint8)  # H=16, W=32
    stored[:8, :8] = (255, 0, 0)      # red block at stored top-left
    stored[8:, 24:] = (0, 0, 255)     # blue block at stored bottom-right
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "o.jpg", exif=exif, quality=100)
    out = load_image(tmp_path / "o.jpg")
    assert out.shape == (32, 16, 3)
    expected = np.rot90(stored, k=-1) / 255.0  # orientation 6 = rotate 90 deg clockwise
    # compare block interiors (JPEG blurs edges)
    np.testing.assert_allclose(out[2:6, 10:14], expected[2:6, 10:14], atol=0.06)  # red now top-right
    np.testing.assert_allclose(out[26:30, 2:6], expected[26:30, 2:6], atol=0.06)  # blue bottom-left
    assert out[3, 12, 0] > 0.9 and out[28, 3, 2] > 0.9


@pytest.mark.parametrize("hw,size,expected", [
    ((20, 30), 10, (10, 15)),   # landscape
    ((30, 20), 10, (15, 10)),   # portrait
    ((17, 23), 8, (8, 11)),     # 23*8/17 = 10.82 -> 11
    ((10, 10), 25, (25, 25)),   # upscale
    ((9, 14), 9, (9, 14)),      # unchanged
])
def test_resize_shorter_side(tmp_path, hw, size, expected):
    Image.fromarray(_rgb_u8(*hw)).save(tmp_path / "r.png")
    out = load_image(tmp_path / "r.png", size=size)
    assert out.shape == (*expected, 3) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_resize_is_float_precise_on_constant_image(tmp_path):
    a = np.full((4, 6), 1000, dtype=np.uint16)  # not representable in 8 bits
    Image.fromarray(a).save(tmp_path / "c.png")
    out = load_image(tmp_path / "c.png", size=2)
    assert out.shape == (2, 3, 3)
    np.testing.assert_allclose(out, 1000 / 65535, atol=1e-6)


@pytest.mark.parametrize("hw", [(20, 30), (30, 20)])
def test_crop_gives_square(tmp_path, hw):
    Image.fromarray(_rgb_u8(*hw)).save(tmp_path / "c.png")
    assert load_image(tmp_path / "c.png", size=10, crop=True).shape == (10, 10, 3)
    assert load_image(tmp_path / "c.png", size=0, crop=True).shape == (*hw, 3)
    assert load_image(tmp_path / "c.png", size=None).shape == (*hw, 3)


def test_crop_is_centred(tmp_path):
    a = np.zeros((4, 8, 3), dtype=np.uint8)
    a[:, 2:6] = 255
    Image.fromarray(a).save(tmp_path / "c.png")
    np.testing.assert_allclose(load_image(tmp_path / "c.png", size=4, crop=True), 1.0)


def test_bad_size_argument(tmp_path):
    Image.fromarray(_rgb_u8()).save(tmp_path / "a.png")
    with pytest.raises(ConfigError):
        load_image(tmp_path / "a.png", size=-1)


# --------------------------------------------------------------------- bad files


def _assert_quick_image_error(path, match=None):
    t0 = time.perf_counter()
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert time.perf_counter() - t0 < 2.0
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg
    if match:
        assert match in msg
    return msg


def test_missing_file(tmp_path):
    _assert_quick_image_error(tmp_path / "nope.png", "not found")


def test_empty_file(tmp_path):
    (tmp_path / "e.png").write_bytes(b"")
    _assert_quick_image_error(tmp_path / "e.png", "empty")


def test_non_image(tmp_path):
    (tmp_path / "t.jpg").write_text("hello, I am not a picture\n" * 10)
    _assert_quick_image_error(tmp_path / "t.jpg", "not a recognised image")


def test_folder_is_not_an_image(tmp_path):
    _assert_quick_image_error(tmp_path)


def test_corrupt_png(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(_rgb_u8(32, 32)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    data[60:90] = b"\xff" * 30  # trash the compressed data
    (tmp_path / "c.png").write_bytes(bytes(data))
    _assert_quick_image_error(tmp_path / "c.png")


@pytest.mark.parametrize("fmt,suffix", [("PNG", ".png"), ("JPEG", ".jpg")])
def test_truncated(tmp_path, fmt, suffix):
    buf = io.BytesIO()
    Image.fromarray(_rgb_u8(64, 64)).save(buf, format=fmt)
    data = buf.getvalue()
    (tmp_path / f"t{suffix}").write_bytes(data[: len(data) // 2])
    _assert_quick_image_error(tmp_path / f"t{suffix}")


def test_decompression_bomb_header(tmp_path):
    (tmp_path / "bomb.png").write_bytes(_png_bytes(100_000, 100_000, 8, 2))
    msg = _assert_quick_image_error(tmp_path / "bomb.png")
    assert "bomb" in msg


def test_own_pixel_limit_even_if_pil_limit_disabled(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    (tmp_path / "big.png").write_bytes(_png_bytes(20_000, 10_000, 8, 0))  # 2e8 > limit
    msg = _assert_quick_image_error(tmp_path / "big.png", "decompression bomb")
    assert "20000x10000" in msg


def test_zero_sized_png(tmp_path):
    (tmp_path / "z.png").write_bytes(_png_bytes(0, 5, 8, 2))
    _assert_quick_image_error(tmp_path / "z.png")


def test_load_mask_errors_are_image_errors(tmp_path):
    (tmp_path / "m.png").write_bytes(b"junk")
    with pytest.raises(ImageError, match="m.png"):
        load_mask(tmp_path / "m.png", (4, 4))
    with pytest.raises(ConfigError):
        load_mask(tmp_path / "m.png", (0, 4))


# --------------------------------------------------------------------- masks


def test_load_mask_grey_16bit_and_rgba(tmp_path):
    g = np.zeros((4, 4), dtype=np.uint8)
    g[:, 2:] = 255
    Image.fromarray(g).save(tmp_path / "m.png")
    m = load_mask(tmp_path / "m.png", (4, 4))
    assert m.shape == (4, 4) and m.dtype == np.float32
    np.testing.assert_array_equal(m, g / 255.0)
    m = load_mask(tmp_path / "m.png", (8, 6))
    assert m.shape == (8, 6) and 0.0 <= m.min() and m.max() <= 1.0
    assert m[:, 0].max() < 0.05 and m[:, -1].min() > 0.95

    Image.fromarray(np.full((3, 3), 32768, dtype=np.uint16)).save(tmp_path / "m16.png")
    np.testing.assert_allclose(load_mask(tmp_path / "m16.png", (3, 3)), 32768 / 65535, atol=1e-6)

    Image.new("RGB", (3, 3), (255, 0, 0)).save(tmp_path / "red.png")
    np.testing.assert_allclose(load_mask(tmp_path / "red.png", (3, 3)), 0.299, atol=1e-3)

    Image.new("RGBA", (3, 3), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    np.testing.assert_allclose(load_mask(tmp_path / "clear.png", (2, 2)), 1.0, atol=1e-6)


# --------------------------------------------------------------------- listing


def test_list_images(tmp_path):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for rel in ["b.PNG", "a.jpg", "sub/c.webp", "sub/deeper/d.TIFF", ".hidden/x.png",
                ".a.png.tmp123.png", "notes.txt"]:
        (tmp_path / rel).write_bytes(b"x")
    found = list_images(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a.jpg", "b.PNG", "sub/c.webp", "sub/deeper/d.TIFF"]
    assert list_images(tmp_path / "notes.txt") == [tmp_path / "notes.txt"]
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no pictures here")
    with pytest.raises(ImageError, match="no images found") as info:
        list_images(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(info.value)
    with pytest.raises(ImageError, match="no such file or folder"):
        list_images(tmp_path / "missing")
    assert ".jpeg" in IMAGE_SUFFIXES and ".tif" in IMAGE_SUFFIXES


# --------------------------------------------------------------------- saving


def test_to_uint8():
    a = np.array([-0.5, 0.0, 0.5 / 255 - 1e-4, 0.5, 1.0, 2.0, np.nan], dtype=np.float32)
    np.testing.assert_array_equal(to_uint8(a), [0, 0, 0, 128, 255, 255, 0])
    assert to_uint8(a).dtype == np.uint8


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg", ".webp"])
def test_save_each_suffix(tmp_path, suffix):
    img = np.random.default_rng(1).random((6, 7, 3)).astype(np.float32)
    save_image(tmp_path / f"o{suffix}", img)
    out = load_image(tmp_path / f"o{suffix}")
    assert out.shape == (6, 7, 3)
    lossy = suffix in (".jpg", ".jpeg", ".webp")
    if not lossy:
        np.testing.assert_allclose(out, img, atol=TOL8)
    assert [p.name for p in tmp_path.iterdir()] == [f"o{suffix}"]


def test_save_greyscale_and_parent_dirs(tmp_path):
    g = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    target = tmp_path / "new" / "dir" / "g.png"
    save_image(target, g)
    with Image.open(target) as im:
        assert im.mode == "L"
    np.testing.assert_allclose(load_image(target)[..., 0], g, atol=TOL8)


def test_save_refuses_overwrite_and_overwrite_replaces(tmp_path):
    target = tmp_path / "o.png"
    save_image(target, np.zeros((2, 2, 3), np.float32))
    with pytest.raises(ImageError, match="exists; pass --overwrite to replace it"):
        save_image(target, np.ones((2, 2, 3), np.float32))
    np.testing.assert_array_equal(load_image(target), 0.0)
    save_image(target, np.ones((2, 2, 3), np.float32), overwrite=True)
    np.testing.assert_array_equal(load_image(target), 1.0)
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]


def test_save_bad_suffix_and_shape(tmp_path):
    with pytest.raises(ImageError, match="unknown image suffix"):
        save_image(tmp_path / "o.gifx", np.zeros((2, 2, 3), np.float32))
    with pytest.raises(ImageError, match="shape"):
        save_image(tmp_path / "o.png", np.zeros((2, 2, 4), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_write_leaves_nothing_and_original_intact(tmp_path, monkeypatch):
    target = tmp_path / "o.png"
    save_image(target, np.zeros((4, 4, 3), np.float32))
    original = target.read_bytes()

    def failing_save(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG partial data")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(ImageError, match="nothing was written") as info:
        save_image(target, np.ones((4, 4, 3), np.float32), overwrite=True)
    assert "No space left" in str(info.value) and str(target) in str(info.value)
    with pytest.raises(ImageError, match="nothing was written"):
        save_image(tmp_path / "fresh.png", np.ones((4, 4, 3), np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png"]
    assert target.read_bytes() == original


def test_failure_in_fsync_cleans_up(tmp_path, monkeypatch):
    def bad_fsync(fd):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(fs.os, "fsync", bad_fsync)
    with pytest.raises(ImageError, match="nothing was written"):
        save_image(tmp_path / "o.tif", np.ones((4, 4, 3), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_save_grid(tmp_path):
    a = np.zeros((10, 20, 3), np.float32)
    b = np.ones((20, 20), np.float32)       # resized to height 10 -> width 10
    c = np.full((10, 10, 3), 0.5, np.float32)
    save_grid(tmp_path / "g.png", [[a, b], [c]], pad=2)
    g = load_image(tmp_path / "g.png")
    # width = max(20 + 10 + 3*2, 10 + 2*2) = 36; height = 2*10 + 3*2 = 26
    assert g.shape == (26, 36, 3)
    np.testing.assert_allclose(g[2:12, 2:22], 0.0, atol=TOL8)
    np.testing.assert_allclose(g[2:12, 24:34], 1.0, atol=TOL8)
    np.testing.assert_allclose(g[14:24, 2:12], 0.5, atol=TOL8)
    np.testing.assert_allclose(g[0], 1.0)  # white padding
    save_grid(tmp_path / "g.png", [[c]], pad=0)  # overwrite=True by default
    assert load_image(tmp_path / "g.png").shape == (10, 10, 3)
    with pytest.raises(ConfigError):
        save_grid(tmp_path / "e.png", [])


# --------------------------------------------------------------------- property test


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(1, 9), w=st.integers(1, 9), grey=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_png_roundtrip_property(tmp_path, h, w, grey, seed):
    rng = np.random.default_rng(seed)
    img = rng.random((h, w) if grey else (h, w, 3)).astype(np.float32)
    path = tmp_path / "p.png"
    save_image(path, img, overwrite=True)
    out = load_image(path)
    assert out.shape == (h, w, 3)
    ref = img[..., None] if grey else img
    assert np.max(np.abs(out - ref)) <= TOL8
