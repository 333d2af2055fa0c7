"""adain_jax.inference.gatys (Gatys et al. pixel optimisation): objective goes down, shape/range, one compile."""
import numpy as np
import pytest

from adain_jax import ops
from adain_jax.inference import gatys
from adain_jax.nn import models
from adain_jax.errors import ConfigError


def rand(shape, seed):
    return np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32)


@pytest.fixture(scope="module")
def vgg(random_params):
    return random_params["vgg"]


def test_objective_decreases_and_output_is_an_image(vgg):
    c, s = rand((24, 24, 3), 0), rand((24, 32, 3), 1)
    hist = []
    out = gatys.gatys(vgg, c, s, steps=20, lr=0.02, style_weight=1e4,
                         progress=lambda i, l: hist.append(l))
    assert out.shape == c.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert len(hist) == 20 and [sorted(h) for h in hist[:1]] == [["content", "style", "total"]]
    start = gatys.objective(vgg, c, c, s, style_weight=1e4)
    end = gatys.objective(vgg, out, c, s, style_weight=1e4)
    assert start["content"] == 0.0
    assert end["total"] < 0.7 * start["total"]
    assert end["style"] < start["style"]
    assert hist[-1]["total"] < hist[0]["total"]
    assert not np.allclose(out, c)


def test_objective_matches_ops(vgg):
    c, s, x = rand((24, 24, 3), 2), rand((16, 24, 3), 3), rand((24, 24, 3), 4)
    fx, fc, fs = (models.encode(vgg, a[None]) for a in (x, c, s))
    got = gatys.objective(vgg, x, c, s, style_weight=7.0, content_weight=2.0)
    want_c = float(ops.mse(fx[-1], fc[-1]))
    want_s = float(ops.gram_loss(fx, fs))
    np.testing.assert_allclose([got["content"], got["style"]], [want_c, want_s], rtol=1e-5)
    np.testing.assert_allclose(got["total"], 2.0 * want_c + 7.0 * want_s, rtol=1e-5)


def test_step_compiles_once_per_shape(vgg):
    c, s = rand((24, 24, 3), 5), rand((24, 24, 3), 6)
    gatys.gatys(vgg, c, s, steps=2)  # warm-up for this shape
    before = gatys.TRACE_COUNT["step"]
    gatys.gatys(vgg, c, s, steps=3, lr=0.05, style_weight=3e3, content_weight=0.5)
    gatys.gatys(vgg, rand((24, 24, 3), 7), rand((24, 24, 3), 8), steps=2, init="noise")
    assert gatys.TRACE_COUNT["step"] == before


def test_inits_and_zero_steps(vgg):
    c, s = rand((16, 24, 3), 9), rand((16, 16, 3), 10)
    np.testing.assert_array_equal(gatys.gatys(vgg, c, s, steps=0), c)
    noise = gatys.gatys(vgg, c, s, steps=0, init="noise", seed=1)
    assert noise.shape == c.shape and not np.allclose(noise, c)
    with pytest.raises(ConfigError):
        gatys.gatys(vgg, c, s, init="style")
    with pytest.raises(ConfigError):
        gatys.gatys(vgg, c[..., :2], s)
