"""adain_jax.stylize: shapes, alpha, interpolation, masks, colour, compile reuse."""
import numpy as np
import pytest

import jax
import jax.numpy as jnp

import adain_jax
from adain_jax import ops
from adain_jax.inference import transfer
from adain_jax.nn import models
from adain_jax.errors import ConfigError


@pytest.fixture(scope="module")
def params():
    p = models.init_params(jax.random.PRNGKey(1))
    # A decoder whose last layer adds 0.5 keeps outputs away from the [0, 1] clip, so the
    # comparisons below see real values rather than zeros.
    p["decoder"]["conv1_1"]["bias"] = jnp.full((3,), 0.5)
    p["decoder"]["conv1_1"]["kernel"] = p["decoder"]["conv1_1"]["kernel"] * 20.0
    return p


def rand(shape, seed):
    return np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32)


def reference(params, content, style, alpha):
    """Straight composition of the pieces, without padding tricks (sizes divisible by 8)."""
    c_feat = models.encode(params["vgg"], content[None])[-1]
    s_feat = models.encode(params["vgg"], style[None])[-1]
    t = ops.adain(c_feat, s_feat, alpha)
    return np.clip(np.asarray(models.decode(params["decoder"], t))[0], 0, 1)


def test_matches_composition_of_encoder_adain_decoder(params):
    c, s = rand((32, 40, 3), 0), rand((24, 24, 3), 1)
    for alpha in (1.0, 0.4):
        out = np.asarray(adain_jax.stylize(params, c, s, alpha=alpha))
        np.testing.assert_allclose(out, reference(params, c, s, alpha), atol=2e-5)
    assert 0.05 < out.mean() < 0.95 and out.std() > 0.03  # not clipped flat


def test_alpha_zero_decodes_the_content_features(params):
    c, s = rand((32, 32, 3), 2), rand((16, 24, 3), 3)
    out = np.asarray(adain_jax.stylize(params, c, s, alpha=0.0))
    feat = models.encode(params["vgg"], c[None])[-1]
    ref = np.clip(np.asarray(models.decode(params["decoder"], feat))[0], 0, 1)
    np.testing.assert_allclose(out, ref, atol=2e-5)


@pytest.mark.parametrize("hw", [(37, 45), (9, 17), (8, 8)])
def test_any_size_returns_the_content_size(params, hw):
    out = adain_jax.stylize(params, rand(hw + (3,), 4), rand((20, 13, 3), 5))
    assert out.shape == hw + (3,) and out.dtype == jnp.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_batches_equal_single_images(params):
    cs, s = rand((3, 24, 16, 3), 6), rand((16, 16, 3), 7)
    batch = np.asarray(adain_jax.stylize(params, cs, s))
    for i in range(3):
        np.testing.assert_allclose(batch[i], np.asarray(adain_jax.stylize(params, cs[i], s)), atol=1e-5)
    # one style per content
    ss = rand((3, 16, 16, 3), 8)
    paired = np.asarray(adain_jax.stylize(params, cs, ss))
    np.testing.assert_allclose(paired[2], np.asarray(adain_jax.stylize(params, cs[2], ss[2])), atol=1e-5)


def test_interpolation_weights_one_zero_equal_the_single_style(params):
    c, s1, s2 = rand((24, 24, 3), 9), rand((16, 16, 3), 10), rand((32, 16, 3), 11) * 0.3
    single = np.asarray(adain_jax.stylize(params, c, s1))
    np.testing.assert_allclose(
        np.asarray(adain_jax.stylize(params, c, [s1, s2], style_weights=[1, 0])), single, atol=1e-6)
    mixed = np.asarray(adain_jax.stylize(params, c, [s1, s2], style_weights=[1, 1]))
    assert np.abs(mixed - single).max() > 1e-3


def test_masks_select_styles_per_region(params):
    c, s1, s2 = rand((32, 32, 3), 12), rand((16, 16, 3), 13), rand((16, 16, 3), 14) * 0.2
    ones = np.ones((32, 32), np.float32)
    full = np.asarray(adain_jax.stylize(params, c, [s1, s2], masks=np.stack([ones, 0 * ones])))
    np.testing.assert_allclose(full, np.asarray(adain_jax.stylize(params, c, s1)), atol=1e-5)
    half = np.zeros((32, 32), np.float32)
    half[:, :16] = 1
    split = np.asarray(adain_jax.stylize(params, c, [s1, s2], masks=np.stack([half, 1 - half])))
    only2 = np.asarray(adain_jax.stylize(params, c, s2))
    # away from the seam, the right half looks like style 2 more than style 1
    right = (slice(None), slice(24, None))
    assert np.abs(split[right] - only2[right]).mean() < np.abs(split[right] - full[right]).mean()


def test_precomputed_style_stats_equal_images(params):
    c, s = rand((2, 16, 16, 3), 15), rand((24, 24, 3), 16)
    stats = adain_jax.style_stats(params, s)
    np.testing.assert_allclose(np.asarray(adain_jax.stylize(params, c, stats)),
                               np.asarray(adain_jax.stylize(params, c, s)), atol=1e-6)


def test_preserve_color_recolours_the_style(params):
    c, s = rand((16, 16, 3), 17) * 0.5, rand((16, 16, 3), 18)
    out = np.asarray(adain_jax.stylize(params, c, s, preserve_color=True))
    recoloured = np.asarray(ops.coral(s, c))
    ref = np.asarray(adain_jax.stylize(params, c, recoloured))
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_one_compile_per_shape(params):
    transfer._stylize_stats.clear_cache()
    transfer._style_stats.clear_cache()
    c, s = rand((24, 24, 3), 19), rand((16, 16, 3), 20)
    for alpha in (1.0, 0.5, 0.25):
        adain_jax.stylize(params, c, s, alpha=alpha)
    new_params = jax.tree.map(lambda x: x * 1.01, params)
    adain_jax.stylize(new_params, c, s)
    assert transfer._stylize_stats._cache_size() == 1
    assert transfer._style_stats._cache_size() == 1
    adain_jax.stylize(params, rand((24, 32, 3), 21), s)
    assert transfer._stylize_stats._cache_size() == 2


def test_bad_arguments_raise_config_errors(params):
    c, s = rand((16, 16, 3), 22), rand((16, 16, 3), 23)
    with pytest.raises(ConfigError, match="alpha"):
        adain_jax.stylize(params, c, s, alpha=1.5)
    with pytest.raises(ConfigError, match="RGB"):
        adain_jax.stylize(params, c[..., :2], s)
    with pytest.raises(ConfigError, match="weights"):
        adain_jax.stylize(params, c, [s, s], style_weights=[1])
    with pytest.raises(ConfigError, match="masks"):
        adain_jax.stylize(params, c, [s, s], masks=np.ones((2, 8, 8)))
    with pytest.raises(ConfigError, match="3 style images for 2"):
        adain_jax.stylize(params, np.stack([c, c]), np.stack([s, s, s]))


def test_bfloat16_close_to_float32(params):
    c, s = rand((32, 32, 3), 24), rand((32, 32, 3), 25)
    f32 = np.asarray(adain_jax.stylize(params, c, s))
    bf16 = np.asarray(adain_jax.stylize(params, c, s, dtype=jnp.bfloat16))
    rel = np.abs(bf16 - f32).max() / np.abs(f32).max()
    assert rel < 5e-2
