"""Hostile and huge images (issue 12, items 12 and 14): allowed decoders only, FIFOs never
opened, a byte budget before decoding, and reduced decoding for small targets."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from adain_jax import image_io
from adain_jax.errors import ImageError
from limits import assert_clean_error, run_limited


def test_eps_named_png_never_reaches_the_eps_plugin(tmp_path, monkeypatch):
    """Item 12: Image.open gets a formats= allow-list, so PostScript (Ghostscript) and the
    other 38 plugins are unreachable whatever the suffix."""
    from PIL import EpsImagePlugin
    from tools.hardening import craft

    def boom(*a, **k):
        raise AssertionError("the EPS plugin was reached")

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", boom)
    path = craft.eps_as_png(tmp_path / "doc.png")
    with pytest.raises(ImageError, match="not a recognised image file"):
        image_io.load_image(path)
    with pytest.raises(ImageError):
        image_io.decode_bytes(path.read_bytes())


def test_formats_outside_the_allow_list_are_refused(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "x.gif")
    os.rename(tmp_path / "x.gif", tmp_path / "x.png")
    with pytest.raises(ImageError, match="PNG, JPEG, WEBP, BMP, TIFF only"):
        image_io.load_image(tmp_path / "x.png")


def test_fifo_is_never_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    res = run_limited(f"__import__('adain_jax.image_io', fromlist=['x']).load_image("
                      f"{str(tmp_path / 'pipe.png')!r})", cpu_s=10, wall_s=30)
    assert_clean_error(res, "ImageError", match="not a regular file")


def test_decoded_bytes_budget_is_checked_before_decoding(tmp_path):
    Image.new("RGB", (2000, 1000)).save(tmp_path / "big.png")
    with pytest.raises(ImageError, match=r"needs 6000000 bytes, more than the limit of 1000000"):
        image_io.load_image(tmp_path / "big.png", size=64, max_bytes=1_000_000)
    assert image_io.load_image(tmp_path / "big.png", size=64).shape == (64, 128, 3)


def test_huge_png_with_small_target_costs_little(tmp_path):
    """Item 14: a 13000x13000 PNG of zeros (~160 KB) with size 64: reduced right after
    decoding (Pillow ``reduce``), so the float conversion never sees 169 megapixels."""
    setup = ("from pathlib import Path\nfrom tools.hardening import craft\n"
             "import adain_jax.image_io as image_io\n"
             f"path = craft.png_zeros(Path({str(tmp_path)!r}) / 'z.png', 13000)\n")
    res = run_limited("image_io.load_image(path, size=64).shape", setup, cpu_s=20,
                      mem_mb=512 + 200)
    assert res.get("ok") and res["value"] == "(64, 64, 3)", res
    assert res["rss_growth_mb"] < 400 and res["cpu_s"] < 10, res
    assert os.path.getsize(tmp_path / "z.png") < 300_000


def test_reduced_decoding_matches_full_decoding(tmp_path):
    """JPEG draft and integer reduce change the result only slightly."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:1200, 0:1800] / 1800
    img = np.stack([y, x, 1 - x * y], -1) + rng.normal(0, 0.02, (1200, 1800, 3))
    u8 = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    Image.fromarray(u8).save(tmp_path / "a.jpg", quality=95)
    Image.fromarray(u8).save(tmp_path / "a.png")
    full = image_io.resize_float(u8.astype(np.float32) / 255, (64, 96), image_io.resample.LANCZOS)
    for name in ("a.jpg", "a.png"):
        small = image_io.load_image(tmp_path / name, size=64)
        assert small.shape == (64, 96, 3)
        assert np.abs(small - full).mean() < 0.01, name


def test_exif_orientation_survives_reduction(tmp_path):
    im = Image.new("RGB", (900, 300), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    im.save(tmp_path / "o.jpg", exif=exif)
    assert image_io.load_image(tmp_path / "o.jpg", size=32).shape == (96, 32, 3)
    assert image_io.load_image(tmp_path / "o.jpg").shape == (900, 300, 3)


def test_pil_images_convert_as_files_do():
    im = Image.fromarray(np.full((4, 5, 3), 255, np.uint8))
    assert image_io.is_pil_image(im) and not image_io.is_pil_image(np.zeros(3))
    a = image_io.to_float_rgb(im)
    assert a.dtype == np.float32 and a.shape == (4, 5, 3) and a.max() == 1.0
