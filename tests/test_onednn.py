"""oneDNN bf16 convolutions (adain_jax.nn.backends.onednn): exact parity with XLA on bf16-rounded
operands, the kernel-rounding compensation, gradients, dispatch and fallback."""
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from adain_jax import training
from adain_jax.nn import layers, models
from adain_jax.nn.backends import onednn
from tools.reference.params import random_params_np

from conftest import REPO


def _cpu_has_bf16() -> bool:
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))


def test_available_where_the_cpu_has_bf16():
    """CI's CPU has AVX512-BF16: a broken build must fail here, not silently fall back."""
    if not (_cpu_has_bf16() and sys.platform == "linux"):
        pytest.skip("no bf16 CPU instructions here")
    assert onednn.available(), onednn.reason()
    assert onednn.isa() in onednn.BF16_ISAS
    assert "float32 + bfloat16" in onednn.describe()
    assert onednn.use_for(None) and onednn.use_for(jnp.float32) and onednn.use_for("bfloat16")
    assert not onednn.use_for(jnp.float16)


needs_onednn = pytest.mark.skipif(not onednn.available(),
                                  reason=f"oneDNN unavailable: {onednn.reason()}")


def rnd(shape, seed, scale=1.0, offset=0.0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape) * scale + offset,
                       jnp.float32)


def random_params():
    return {"vgg": random_params_np("vgg"), "decoder": random_params_np("decoder")}


def rel_l2(a, ref) -> float:
    return float(jnp.linalg.norm(a - ref) / jnp.linalg.norm(ref))


def bf16(a):
    return a.astype(jnp.bfloat16).astype(jnp.float32)


def xla_conv(x, w, pad=0):
    return lax.conv_general_dilated(x, w, (1, 1), [(pad, pad), (pad, pad)],
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                    precision=lax.Precision.HIGHEST)


SHAPES = [(2, 9, 12, 5, 7), (1, 20, 18, 64, 64), (3, 11, 6, 3, 64), (1, 8, 8, 128, 3)]


@needs_onednn
@pytest.mark.parametrize("n,h,w,ci,co", SHAPES)
def test_forward_equals_xla_on_bf16_operands(n, h, w, ci, co):
    """Without compensation the kernel is exactly conv(bf16(x), bf16(w)) + b in f32."""
    x, k, b = rnd((n, h, w, ci), 1), rnd((3, 3, ci, co), 2, 0.1), rnd((co,), 3)
    got = onednn._fwd_call(x.astype(jnp.bfloat16), k, b)
    ref = xla_conv(bf16(x), bf16(k)) + b
    assert got.shape == (n, h - 2, w - 2, co) and got.dtype == jnp.float32
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


@needs_onednn
@pytest.mark.parametrize("n,h,w,ci,co", SHAPES)
def test_compensation_is_mean_times_kernel_rounding(n, h, w, ci, co):
    """Compensated output - plain output == per-image mean(bf16(x)) . sum_hw(w - bf16(w))."""
    x, k, b = rnd((n, h, w, ci), 4, 1.0, 0.7), rnd((3, 3, ci, co), 5, 0.1), rnd((co,), 6)
    xb = x.astype(jnp.bfloat16)
    plain = onednn._fwd_call(xb, k, b)
    comp = onednn._fwd_call(xb, k, b, compensate=True)
    mean = np.asarray(bf16(x), np.float64).mean((1, 2))
    resid = (np.asarray(k, np.float64) - np.asarray(bf16(k), np.float64)).sum((0, 1))
    expect = (mean @ resid)[:, None, None, :]
    np.testing.assert_allclose(comp - plain, np.broadcast_to(expect, plain.shape),
                               rtol=1e-3, atol=2e-6)


@needs_onednn
def test_compensation_is_exact_for_constant_inputs():
    """A constant input makes the compensated bf16 conv equal the f32 conv of bf16(x)."""
    const = float(bf16(jnp.float32(0.8125)))
    x = jnp.full((2, 10, 10, 32), const, jnp.float32)
    k, b = rnd((3, 3, 32, 16), 7, 0.1), rnd((16,), 8)
    got = onednn.conv3x3(x, k, b)
    exact = xla_conv(layers.reflect_pad(x), k) + b
    plain = onednn._fwd_call(x.astype(jnp.bfloat16), k, b, reflect=onednn.REFLECT)
    assert float(jnp.abs(got - exact).max()) < 1e-5 < float(jnp.abs(plain - exact).max())


@needs_onednn
@pytest.mark.parametrize("compensate", [False, True])
def test_fused_relu_and_bf16_output(compensate):
    """ReLU post-op and bf16 output equal the f32 result, ReLU'd and rounded."""
    x, k, b = rnd((2, 10, 12, 16), 16, 1.0, 0.3), rnd((3, 3, 16, 32), 17, 0.1), rnd((32,), 18)
    xb = x.astype(jnp.bfloat16)
    f32 = onednn._fwd_call(xb, k, b, compensate=compensate)
    got = onednn._fwd_call(xb, k, b, compensate=compensate, relu=True, out_dtype=jnp.bfloat16)
    assert got.dtype == jnp.bfloat16 and float(f32.min()) < 0
    np.testing.assert_array_equal(np.asarray(got.astype(jnp.float32)),
                                  np.asarray(bf16(jnp.maximum(f32, 0))))


@needs_onednn
def test_relu_gradient_masks_with_the_output():
    x, k, b = rnd((2, 9, 9, 8), 19), rnd((3, 3, 8, 8), 20, 0.3), rnd((8,), 21)
    g = rnd((2, 9, 9, 8), 22)
    loss = lambda relu: lambda *a: jnp.sum(  # noqa: E731
        onednn.conv3x3(*a, relu=relu).astype(jnp.float32) * g)
    got = jax.grad(loss(True), argnums=(0, 1, 2))(x, k, b)
    y = onednn.conv3x3(x, k, b)
    mask = (y > 0).astype(jnp.float32)
    g_masked = g * mask
    ref = jax.grad(lambda *a: jnp.sum(onednn.conv3x3(*a) * g_masked), argnums=(0, 1, 2))(x, k, b)
    for a, r in zip(got, ref):
        np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-5)


@needs_onednn
def test_zero_padded_call_is_a_full_convolution():
    x, k, b = rnd((2, 7, 9, 16), 9), rnd((3, 3, 16, 8), 10, 0.1), rnd((8,), 11)
    got = onednn._fwd_call(x.astype(jnp.bfloat16), k, b, pad=2)
    np.testing.assert_allclose(got, xla_conv(bf16(x), bf16(k), pad=2) + b, rtol=1e-5, atol=1e-5)


@needs_onednn
@pytest.mark.parametrize("n,h,w,ci,co", [(2, 9, 12, 5, 7), (1, 20, 18, 64, 64), (3, 1, 6, 3, 16),
                                        (2, 5, 1, 8, 4), (1, 2, 3, 4, 5)])
def test_reflection_padded_conv_and_gradients_match_xla_on_bf16_operands(n, h, w, ci, co):
    """conv3x3 pads inside the kernel (reflection; edge for 1-pixel sides, as
    layers.reflect_pad). Gradients: dx = full conv of bf16(dy) with bf16(w) flipped, through
    the padding's transpose; dw, db from bf16(x) and bf16(dy)."""
    x, k, b = rnd((n, h, w, ci), 12), rnd((3, 3, ci, co), 13, 0.1), rnd((co,), 14)
    g = rnd((n, h, w, co), 15)
    y = onednn._fwd_call(x.astype(jnp.bfloat16), k, b, reflect=onednn._border_mode(x.shape))
    np.testing.assert_allclose(y, xla_conv(layers.reflect_pad(bf16(x)), bf16(k)) + b,
                               rtol=1e-5, atol=1e-5)
    dx, dk, db = jax.jit(jax.grad(lambda *a: jnp.sum(onednn.conv3x3(*a) * g),
                                  argnums=(0, 1, 2)))(x, k, b)
    gb = bf16(g)
    _, vjp = jax.vjp(lambda x_, k_: xla_conv(layers.reflect_pad(x_), k_), bf16(x), bf16(k))
    rx, rk = vjp(gb)
    np.testing.assert_allclose(dx, rx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dk, rk, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(db, gb.sum((0, 1, 2)), rtol=1e-5, atol=1e-4)
    assert dx.dtype == dk.dtype == db.dtype == jnp.float32


RESAMPLE_CASES = [("pool", (2, 9, 7, 16, 8)), ("pool", (1, 2, 5, 4, 4)), ("pool", (1, 8, 8, 64, 32)),
                  ("up", (2, 5, 3, 16, 8)), ("up", (1, 1, 1, 8, 4)), (None, (1, 1, 4, 8, 4))]


@needs_onednn
@pytest.mark.parametrize("resample,shape", RESAMPLE_CASES)
def test_fused_resampling_matches_the_model_ops(resample, shape):
    """Max pool (ceil mode) / nearest upsampling inside the kernel equal layers.max_pool_ceil /
    upsample_nearest followed by the padded conv; gradients flow through their transposes."""
    n, h, w, ci, co = shape
    x, k, b = rnd((n, h, w, ci), 23), rnd((3, 3, ci, co), 24, 0.1), rnd((co,), 25)
    ref_fn = lambda x_, k_: xla_conv(  # noqa: E731
        layers.reflect_pad(layers.resample(x_, resample)), k_)
    mode = onednn._border_mode(x.shape, resample)
    got = onednn._fwd_call(x.astype(jnp.bfloat16), k, b, reflect=mode, resample=resample)
    np.testing.assert_allclose(got, ref_fn(bf16(x), bf16(k)) + b, rtol=1e-5, atol=1e-5)
    y, vjp = jax.vjp(ref_fn, bf16(x), bf16(k))
    g = rnd(y.shape, 26)
    dx, dk = jax.grad(lambda x_, k_: jnp.sum(onednn.conv3x3(x_, k_, b, resample=resample) * g),
                      argnums=(0, 1))(x, k)
    rx, rk = vjp(bf16(g))
    np.testing.assert_allclose(dx, rx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dk, rk, rtol=1e-4, atol=1e-3)


@needs_onednn
@pytest.mark.parametrize("resample,shape", RESAMPLE_CASES)
def test_float32_kernels_match_xla_float32(resample, shape):
    """float32 compute: the same function as XLA's f32 convolution, to f32 rounding."""
    n, h, w, ci, co = shape
    x, k, b = rnd((n, h, w, ci), 27), rnd((3, 3, ci, co), 28, 0.1), rnd((co,), 29)
    ref_fn = lambda x_, k_, b_: jax.nn.relu(  # noqa: E731
        xla_conv(layers.reflect_pad(layers.resample(x_, resample)), k_) + b_)
    got_fn = lambda x_, k_, b_: onednn.conv3x3(x_, k_, b_, relu=True, resample=resample,  # noqa: E731
                                               dtype=jnp.float32)
    y = got_fn(x, k, b)
    assert y.dtype == jnp.float32
    np.testing.assert_allclose(y, ref_fn(x, k, b), rtol=1e-5, atol=1e-5)
    g = rnd(y.shape, 30)
    got = jax.jit(jax.grad(lambda *a: jnp.sum(got_fn(*a) * g), argnums=(0, 1, 2)))(x, k, b)
    with jax.default_matmul_precision("highest"):
        ref = jax.grad(lambda *a: jnp.sum(ref_fn(*a) * g), argnums=(0, 1, 2))(x, k, b)
    for a, r in zip(got, ref):
        np.testing.assert_allclose(a, r, rtol=1e-4, atol=1e-4)


@needs_onednn
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize("resample", [None, "pool", "up"])
def test_non_finite_values_propagate_through_the_fused_relu(dtype, resample):
    """oneDNN's ReLU maps NaN to 0; the kernel makes such an image all-NaN instead (XLA gives
    NaN in the pixels the bad value reaches), and leaves the other images alone."""
    x = np.array(rnd((2, 6, 7, 4), 34))
    x[0, 2, 3, 1] = np.nan
    k, b = rnd((3, 3, 4, 3), 35, 0.1), rnd((3,), 36)
    y = onednn.conv3x3(jnp.asarray(x), k, b, relu=True, resample=resample, dtype=dtype)
    ref = jax.nn.relu(
        xla_conv(layers.reflect_pad(layers.resample(jnp.asarray(x), resample)), k) + b)
    assert bool(jnp.isnan(ref[0]).any()) and bool(jnp.isnan(y[0]).all())
    assert not bool(jnp.isnan(y[1]).any())
    inf_kernel = onednn.conv3x3(jnp.asarray(x[1:]), k.at[1, 1, 0, 0].set(jnp.inf), b, relu=True,
                                dtype=dtype)
    assert bool(jnp.isnan(inf_kernel).all())


def test_bad_arguments_are_value_errors():
    x, k, b = jnp.zeros((1, 4, 4, 2)), jnp.zeros((3, 3, 2, 2)), jnp.zeros(2)
    with pytest.raises(ValueError, match="resample"):
        onednn.conv3x3(x, k, b, resample="avg")
    with pytest.raises(ValueError, match="out_dtype"):
        onednn.conv3x3(x, k, b, out_dtype=jnp.float16)
    with pytest.raises(ValueError, match="out_dtype"):
        onednn.conv3x3(x, k, b, out_dtype=jnp.bfloat16, dtype=jnp.float32)
    with pytest.raises(ValueError, match="dtype must be"):
        onednn.conv3x3(x, k, b, dtype=jnp.float16)


@needs_onednn
def test_bfloat16_models_use_onednn_and_stay_close_to_float32():
    params = random_params()
    rgb = jnp.asarray(np.random.default_rng(0).random((1, 32, 40, 3)), jnp.float32)
    hlo = jax.jit(lambda v, x: models.encode(v, x, jnp.bfloat16)).lower(
        params["vgg"], rgb).as_text()
    # bf16 outputs between layers; relu4_1 (the network's output) in f32
    assert hlo.count(f"@{onednn.FWD_BF16}(") == len(models.ENCODER_LAYERS) - 1
    assert hlo.count(f"@{onednn.FWD}(") == 1
    with jax.default_matmul_precision("highest"):
        ref = models.encode(params["vgg"], rgb)
        ref_img = models.decode(params["decoder"], ref[-1])
    got = models.encode(params["vgg"], rgb, jnp.bfloat16)
    img = models.decode(params["decoder"], ref[-1], jnp.bfloat16)
    assert [a.dtype for a in got + (img,)] == [jnp.bfloat16] * 3 + [jnp.float32] * 2
    for a, r in zip(got + (img,), ref + (ref_img,)):
        a = a.astype(jnp.float32)
        assert rel_l2(a, r) < 1.5e-2


@needs_onednn
@pytest.mark.parametrize("dtype,tol", [(jnp.float32, 1e-5), (jnp.bfloat16, 3e-2)])
def test_onednn_and_xla_paths_agree(monkeypatch, dtype, tol):
    """XLA's path (GPUs, CPUs without oneDNN) and oneDNN's compute the same model: in float32
    to rounding. The default (float32) models run on oneDNN on this CPU."""
    params = random_params()
    rgb = jnp.asarray(np.random.default_rng(2).random((2, 24, 40, 3)), jnp.float32)
    hlo = jax.jit(models.encode).lower(params["vgg"], rgb).as_text()
    assert hlo.count(f"@{onednn.FWD_F32}(") == len(models.ENCODER_LAYERS)

    def run():
        feats = models.encode(params["vgg"], rgb, dtype)
        return feats + (models.decode(params["decoder"], feats[-1], dtype),)

    fast = run()
    monkeypatch.setattr(onednn, "use_for", lambda d: False)
    with jax.default_matmul_precision("highest"):
        xla = run()
    for a, r in zip(fast, xla):
        a, r = a.astype(jnp.float32), r.astype(jnp.float32)
        assert rel_l2(a, r) < tol


@needs_onednn
def test_vmap_over_the_custom_call():
    x, k, b = rnd((3, 1, 6, 6, 4), 31), rnd((3, 3, 4, 5), 32, 0.1), rnd((5,), 33)
    got = jax.vmap(lambda t: onednn.conv3x3(t, k, b, dtype=jnp.float32))(x)
    ref = jnp.stack([xla_conv(layers.reflect_pad(t), k) + b for t in x])
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


@needs_onednn
@pytest.mark.parametrize("dtype,target", [("bfloat16", onednn.BWD_W), ("float32", onednn.BWD_W_F32)])
def test_training_step_computes_no_vgg_weight_gradients(dtype, target):
    """The frozen VGG's kernel gradients are dead code: only the decoder's 9 layers call
    the backward-weights kernel in the compiled step."""
    mesh = training.make_mesh()
    step = training.compiled_step(mesh, 1e-4, 5e-5, 10.0, dtype)
    state = training.new_state(mesh, 1e-4, 5e-5, seed=0)
    vgg = training.replicate(random_params_np("vgg"), mesh)
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    batch = training.global_batch({"content": x, "style": x[::-1]}, mesh, 2)
    compiled = step.lower(state, vgg, batch).compile().as_text()
    assert compiled.count(f'custom_call_target="{target}"') == len(models.DECODER_LAYERS)
    state, metrics = step(state, vgg, batch)
    assert np.isfinite(float(metrics["loss"]))


def test_disabled_by_env_falls_back_to_xla():
    code = ("import jax.numpy as jnp; from adain_jax.nn.backends import onednn;"
            "print(onednn.use_for(jnp.bfloat16), onednn.available(), onednn.reason())")
    env = dict(os.environ, ADAIN_JAX_ONEDNN="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False False disabled by ADAIN_JAX_ONEDNN=0"


def test_float16_never_uses_onednn():
    assert not onednn.use_for(jnp.float16)


