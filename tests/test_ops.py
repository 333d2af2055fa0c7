"""Pure ops against NumPy references and their defining properties."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jax.numpy as jnp

from adain_jax import ops


def np_stats(x, eps=1e-5):
    mean = x.mean(axis=(1, 2), keepdims=True)
    return mean, np.sqrt(x.var(axis=(1, 2), keepdims=True) + eps)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(2, 9), st.integers(2, 9), st.integers(1, 8), st.integers(0, 2**31 - 1))
def test_adain_gives_content_the_style_statistics(n, h, w, c, seed):
    rng = np.random.default_rng(seed)
    content = rng.normal(2.0, 3.0, (n, h, w, c)).astype(np.float32)
    style = rng.gamma(2.0, 1.5, (n, h + 1, w + 2, c)).astype(np.float32)
    out = np.asarray(ops.adain(content, style))
    s_mean, s_std = np_stats(style.astype(np.float64))
    o_mean, o_std = np_stats(out.astype(np.float64), eps=0.0)
    # Output std is sigma(s) * std(c) / sqrt(var(c) + eps): equal to sigma(s) up to eps.
    c_std = content.astype(np.float64).std(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(o_mean, s_mean, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(o_std, s_std * c_std / np.sqrt(c_std**2 + 1e-5), rtol=1e-4, atol=1e-5)
    # and the formula itself, against NumPy
    c_mean, c_sig = np_stats(content.astype(np.float64))
    ref = (content - c_mean) / c_sig * s_std + s_mean
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


def test_alpha_blends_linearly():
    rng = np.random.default_rng(0)
    c = rng.normal(size=(2, 5, 6, 4)).astype(np.float32)
    s = rng.normal(1, 2, size=(2, 7, 3, 4)).astype(np.float32)
    t = np.asarray(ops.adain(c, s, alpha=1.0))
    np.testing.assert_allclose(np.asarray(ops.adain(c, s, alpha=0.0)), c, atol=1e-6)
    np.testing.assert_allclose(np.asarray(ops.adain(c, s, alpha=0.3)), 0.3 * t + 0.7 * c, atol=1e-5)


def test_mixed_stats_equal_weighted_sum_of_adain_outputs():
    rng = np.random.default_rng(1)
    c = rng.normal(size=(1, 6, 6, 3)).astype(np.float32)
    styles = [rng.normal(k, k + 1, size=(1, 5, 5, 3)).astype(np.float32) for k in range(3)]
    w = np.array([0.5, 2.0, 1.5])
    stats = [ops.channel_stats(s) for s in styles]
    mean, std = ops.mix_stats(jnp.stack([m for m, _ in stats]), jnp.stack([s for _, s in stats]), w)
    mixed = np.asarray(ops.adain_from_stats(c, mean, std))
    ref = sum(wk / w.sum() * np.asarray(ops.adain(c, s)) for wk, s in zip(w, styles))
    np.testing.assert_allclose(mixed, ref, rtol=1e-5, atol=1e-5)


def test_masked_adain_matches_per_region_reference():
    """Binary masks: each region is AdaIN'd with the content statistics of that region only."""
    rng = np.random.default_rng(2)
    c = rng.normal(size=(1, 6, 8, 3)).astype(np.float32)
    masks = np.zeros((1, 6, 8, 2), np.float32)
    masks[:, :, :3, 0] = 1
    masks[:, :, 3:, 1] = 1
    s_means = rng.normal(size=(2, 1, 1, 1, 3)).astype(np.float32)
    s_stds = rng.uniform(0.5, 2, size=(2, 1, 1, 1, 3)).astype(np.float32)
    out = np.asarray(ops.masked_adain(c, s_means, s_stds, masks))
    for k, cols in enumerate((slice(0, 3), slice(3, 8))):
        region = c[:, :, cols].reshape(-1, 3).astype(np.float64)
        mu, sig = region.mean(0), np.sqrt(region.var(0) + 1e-5)
        ref = (c[:, :, cols] - mu) / sig * s_stds[k] + s_means[k]
        np.testing.assert_allclose(out[:, :, cols], ref, rtol=1e-5, atol=1e-5)


def test_losses_against_numpy():
    rng = np.random.default_rng(3)
    outs = [rng.normal(size=(2, 4 + i, 5, 3 + i)).astype(np.float32) for i in range(4)]
    styles = [rng.normal(1, 2, size=(2, 6, 3, 3 + i)).astype(np.float32) for i in range(4)]
    ref = 0.0
    for o, s in zip(outs, styles):
        om, osd = np_stats(o.astype(np.float64))
        sm, ssd = np_stats(s.astype(np.float64))
        ref += np.mean((om - sm) ** 2) + np.mean((osd - ssd) ** 2)
    np.testing.assert_allclose(float(ops.style_loss(outs, styles)), ref, rtol=1e-5)
    np.testing.assert_allclose(float(ops.content_loss(outs[0], outs[0] + 0.5)), 0.25, rtol=1e-6)
    g = np.einsum("nhwc,nhwd->ncd", outs[1], outs[1]) / np.prod(outs[1].shape[1:])
    np.testing.assert_allclose(np.asarray(ops.gram(outs[1])), g, rtol=1e-5, atol=1e-6)
    assert float(ops.gram_loss(outs, outs)) == 0.0
    assert float(ops.gram_loss(outs, [o * 1.1 for o in outs])) > 0.0


def test_coral_matches_target_colour_statistics():
    rng = np.random.default_rng(4)
    src = rng.uniform(0.4, 0.6, (20, 30, 3)).astype(np.float32)  # low contrast: no clipping after
    a = np.array([[0.08, 0.02, 0.0], [0.0, 0.05, 0.01], [0.01, 0.0, 0.06]])
    tgt = (0.5 + rng.normal(size=(25, 20, 3)) @ a.T).astype(np.float32)
    out = np.asarray(ops.coral(src, tgt)).reshape(-1, 3).astype(np.float64)
    t = tgt.reshape(-1, 3).astype(np.float64)
    assert 0.0 < out.min() and out.max() < 1.0
    np.testing.assert_allclose(out.mean(0), t.mean(0), atol=1e-5)
    np.testing.assert_allclose(np.cov(out.T, bias=True), np.cov(t.T, bias=True), atol=2e-5)


@pytest.mark.parametrize("shape", [(1, 7, 9, 3), (2, 16, 16, 5)])
def test_channel_stats_against_numpy(shape):
    x = np.random.default_rng(5).normal(size=shape).astype(np.float32)
    m, s = ops.channel_stats(x)
    rm, rs = np_stats(x.astype(np.float64))
    np.testing.assert_allclose(np.asarray(m), rm, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(s), rs, rtol=1e-5)
