"""adain_jax.stylize_tiled: tiles with global statistics match untiled stylize."""
import numpy as np
import pytest

import jax
import jax.numpy as jnp

import adain_jax
from adain_jax.inference import tiling
from adain_jax.nn import models
from adain_jax.errors import ConfigError

TILE = dict(tile=128, overlap=32, halo=32)   # windows of 192 px on a 256 px image


@pytest.fixture(scope="module")
def params():
    p = models.init_params(jax.random.PRNGKey(1))
    p["decoder"]["conv1_1"]["bias"] = jnp.full((3,), 0.5)        # outputs away from the clip
    p["decoder"]["conv1_1"]["kernel"] = p["decoder"]["conv1_1"]["kernel"] * 20.0
    return p


def image(h, w, seed):
    """Blocky noise: structure at several scales, so tiles differ."""
    r = np.random.default_rng(seed)
    x = np.kron(r.random((h // 8 + 1, w // 8 + 1, 3)), np.ones((8, 8, 1)))[:h, :w]
    return np.clip(0.7 * x + 0.3 * r.random((h, w, 3)), 0, 1).astype(np.float32)


def psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((np.asarray(a) - np.asarray(b)) ** 2))


@pytest.fixture(scope="module")
def images():
    return image(256, 248, 0), image(64, 64, 1), image(48, 56, 2)


def test_tiled_matches_untiled(params, images):
    c, s, _ = images
    full = np.asarray(adain_jax.stylize(params, c, s))
    out = adain_jax.stylize_tiled(params, c, s, **TILE)
    assert out.shape == c.shape and out.dtype == np.float32
    assert psnr(out, full) >= 40.0
    assert out.std() > 0.03  # not flat


def test_global_stats_exact_with_halo(params, images):
    c = images[0]
    mean, std = tiling.content_stats(params["vgg"], c, tile=96, halo=32)
    feat = np.asarray(models.encode(params["vgg"], jnp.asarray(c)[None])[-1], np.float64)
    ref_mean = feat.mean(axis=(0, 1, 2))
    ref_std = np.sqrt(feat.var(axis=(0, 1, 2)) + 1e-5)
    np.testing.assert_allclose(mean[0], ref_mean, rtol=1e-4, atol=1e-4 * np.abs(ref_mean).max())
    np.testing.assert_allclose(std[0], ref_std, rtol=1e-4, atol=1e-4 * ref_std.max())


def test_options_match_untiled(params, images):
    c, s1, s2 = images
    cases = [
        (dict(alpha=0.5), dict(alpha=0.5)),
        (dict(style_weights=[0.7, 0.3]), dict(style_weights=[0.7, 0.3])),
        (dict(preserve_color=True), dict(preserve_color=True)),
    ]
    for kw_untiled, kw_tiled in cases:
        style = [s1, s2] if "style_weights" in kw_tiled else s1
        full = np.asarray(adain_jax.stylize(params, c, style, **kw_untiled))
        out = adain_jax.stylize_tiled(params, c, style, **TILE, **kw_tiled)
        assert psnr(out, full) >= 40.0, kw_tiled
    masks = np.zeros((2,) + c.shape[:2], np.float32)
    masks[0, :, :100] = 1.0
    masks[1] = 1.0 - masks[0]
    full = np.asarray(adain_jax.stylize(params, c, [s1, s2], masks=masks))
    out = adain_jax.stylize_tiled(params, c, [s1, s2], masks=masks, **TILE)
    assert psnr(out, full) >= 40.0


def test_precomputed_stats_and_bad_arguments(params, images):
    c, s, _ = images
    stats = adain_jax.style_stats(params, s)
    a = adain_jax.stylize_tiled(params, c, stats, **TILE)
    b = adain_jax.stylize_tiled(params, c, s, **TILE)
    np.testing.assert_allclose(a, b, atol=1e-6)
    with pytest.raises(ConfigError):
        adain_jax.stylize_tiled(params, c, s, tile=64, overlap=64)
    with pytest.raises(ConfigError):
        adain_jax.stylize_tiled(params, c, s, alpha=1.5)
    with pytest.raises(ConfigError):
        adain_jax.stylize_tiled(params, c, s, masks=np.ones((2, 8, 8)))


def test_tiling_rule():
    big = int(np.sqrt(tiling.AUTO_TILE_PIXELS)) + 8
    assert tiling.should_tile((big, big), None)
    assert not tiling.should_tile((512, 512), None)
    assert not tiling.should_tile((big, big), 0)
    assert tiling.should_tile((300, 200), 256)
    assert not tiling.should_tile((256, 200), 256)


def test_cli_tile_flag(tmp_path, params, monkeypatch, images):
    """``stylize.py --tile N`` writes the tiled result (weights from a saved npz)."""
    from adain_jax import cli, image_io, weights

    c, s, _ = images
    image_io.save_image(tmp_path / "c.png", c)
    image_io.save_image(tmp_path / "s.png", s)
    weights.save_params(tmp_path / "vgg.npz", {"vgg": params["vgg"]})
    weights.save_params(tmp_path / "dec.npz", {"decoder": params["decoder"]})
    common = ["--content", str(tmp_path / "c.png"), "--style", str(tmp_path / "s.png"),
              "--vgg", str(tmp_path / "vgg.npz"), "--decoder", str(tmp_path / "dec.npz"),
              "--content-size", "0", "--style-size", "0"]
    calls = []
    real = tiling.stylize_tiled
    monkeypatch.setattr(tiling, "stylize_tiled", lambda *a, **k: calls.append(k) or real(*a, **k))
    assert cli.stylize_main(common + ["--tile", "0", "--output", str(tmp_path / "a.png")]) == 0
    assert not calls
    assert cli.stylize_main(common + ["--tile", "128", "--output", str(tmp_path / "b.png")]) == 0
    assert calls and calls[0]["tile"] == 128
    a = image_io.load_image(tmp_path / "a.png")
    b = image_io.load_image(tmp_path / "b.png")
    assert psnr(a, b) >= 35.0  # 8-bit outputs of near-identical images
