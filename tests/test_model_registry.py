"""The model registry: a third model is one module plus one ``register`` call, and every path
(``stylize``, ``stylize_tiled``, ``stylize_video``, the dataset job) runs it; checked against
a NumPy computation of that toy model's AdaIN output."""
from __future__ import annotations

import numpy as np
import pytest

import adain_jax
import jax.numpy as jnp
from adain_jax import image_io, model
from adain_jax.datasets import DatasetJob, stylize_dataset
from adain_jax.errors import ConfigError
from adain_jax.model import registry

KEY, C, S = "toy_encoder", 4, 8
EPS = 1e-5


def toy_params(seed=0) -> dict:
    rng = np.random.default_rng(seed)
    return {KEY: {"kernel": rng.normal(size=(3, C)).astype(np.float32),
                  "bias": rng.normal(size=(C,)).astype(np.float32)},
            "decoder": {"kernel": (0.2 * rng.normal(size=(C, 3))).astype(np.float32),
                        "bias": np.full((3,), 0.5, np.float32)}}


# ---- the toy model: one small module's worth (encoder: 8x8 average pooling + 1x1 conv;
# decoder: 1x1 conv + nearest x8 upsampling)

def _features(params, rgb, dtype=None, backend=None):
    enc = params[KEY]
    n, h, w, _ = rgb.shape
    pooled = rgb.reshape(n, h // S, S, w // S, S, 3).mean(axis=(2, 4))
    return pooled @ enc["kernel"] + enc["bias"]


def _decode(params, feat, dtype=None, backend=None):
    d = params["decoder"]
    y = feat @ d["kernel"] + d["bias"]
    return jnp.repeat(jnp.repeat(y, S, axis=1), S, axis=2)


TOY = registry.Model(
    name="toy", encoder_key=KEY, init=lambda rng: toy_params(), load=lambda *files: toy_params(),
    check=lambda params, where="": params, features=_features, decode=_decode,
    channels=lambda params: C, shipped=lambda trained: trained, export_file="toy.npz")


@pytest.fixture()
def toy():
    registry.register(TOY)
    yield toy_params()
    registry.unregister(TOY.name)


# ---- the NumPy reference

def np_features(p, img):
    h, w, _ = img.shape
    pooled = img.astype(np.float64).reshape(h // S, S, w // S, S, 3).mean(axis=(1, 3))
    return pooled @ p[KEY]["kernel"] + p[KEY]["bias"]


def np_stats(feat):
    mean = feat.mean(axis=(0, 1))
    return mean, np.sqrt(((feat - mean) ** 2).mean(axis=(0, 1)) + EPS)


def np_stylize(p, content, style, alpha=1.0, c_stats=None):
    f = np_features(p, content)
    c_mean, c_std = c_stats or np_stats(f)
    s_mean, s_std = np_stats(np_features(p, style))
    t = alpha * ((f - c_mean) / c_std * s_std + s_mean) + (1 - alpha) * f
    y = t @ p["decoder"]["kernel"] + p["decoder"]["bias"]
    return np.clip(np.repeat(np.repeat(y, S, axis=0), S, axis=1), 0.0, 1.0)


def rand(*shape, seed=1):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


# ---- the tests

def test_registry_tells_models_apart_and_names_them(toy):
    assert model.names() == ("adain", "lite", "toy")
    assert model.of(toy) is TOY and model.of(model.forward.encoder_part(toy)) is TOY
    assert model.of({"vgg": {}, "decoder": {}}).name == "adain"
    assert model.of({"lite_encoder": {}, "decoder": {}}).name == "lite"
    with pytest.raises(ConfigError, match="toy"):
        model.get("nope")
    with pytest.raises(ConfigError, match="hold none of the models"):
        model.of({"decoder": {}})
    assert adain_jax.load_params(model="toy")[KEY]["kernel"].shape == (3, C)
    with pytest.raises(ConfigError, match="--vgg does not apply"):
        adain_jax.load_params("some.npz", "other.npz", model="toy")


def test_toy_model_stylize(toy):
    content, style = rand(32, 48, 3), rand(24, 40, 3, seed=2)
    np.testing.assert_allclose(adain_jax.stylize(toy, content, style),
                               np_stylize(toy, content, style), atol=1e-5)
    np.testing.assert_allclose(adain_jax.stylize(toy, content, style, alpha=0.4),
                               np_stylize(toy, content, style, alpha=0.4), atol=1e-5)
    stats = adain_jax.style_stats(toy, style)
    assert stats.mean.shape == (1, 1, 1, C)
    np.testing.assert_allclose(adain_jax.stylize(toy, content, stats),
                               np_stylize(toy, content, style), atol=1e-5)


def test_toy_model_tiled(toy):
    content, style = rand(48, 64, 3, seed=3), rand(24, 24, 3, seed=4)
    out = adain_jax.stylize_tiled(toy, content, style, tile=16, overlap=8, halo=8, alpha=0.8)
    np.testing.assert_allclose(out, np_stylize(toy, content, style, alpha=0.8), atol=1e-5)


def test_toy_model_video_ema(toy):
    frames = [rand(16, 24, 3, seed=10 + i) for i in range(5)]
    style = rand(16, 16, 3, seed=5)
    out = list(adain_jax.stylize_video(toy, frames, style, temporal="ema", ema_momentum=0.5,
                                       batch_size=2))
    m = s = None
    for frame, got in zip(frames, out, strict=True):
        mean, std = np_stats(np_features(toy, frame))
        if m is None:      # the first frame's own statistics start the average
            m, s = mean, std
        m, s = 0.5 * m + 0.5 * mean, 0.5 * s + 0.5 * std
        np.testing.assert_allclose(got, np_stylize(toy, frame, style, c_stats=(m, s)),
                                   atol=1e-5)


def test_toy_model_dataset_job(toy, tmp_path):
    src, styles = tmp_path / "src", tmp_path / "styles"
    contents = {"a.png": rand(24, 32, 3, seed=6), "b/c.png": rand(40, 16, 3, seed=7)}
    (src / "b").mkdir(parents=True)
    styles.mkdir()
    for rel, img in contents.items():
        image_io.save_image(src / rel, img)
    image_io.save_image(styles / "s.png", rand(32, 32, 3, seed=8))
    style = image_io.load_image(styles / "s.png")
    job = DatasetJob(content=str(src), styles=str(styles), output=str(tmp_path / "out"),
                     alpha=(0.6, 0.6), content_size=0, style_size=0, batch_size=2, bucket=8,
                     workers=1, model="toy")
    for params, out in ((toy, "out"), (None, "out2")):   # given; loaded by the registry entry
        job.output = str(tmp_path / out)
        summary = stylize_dataset(job, params, log=lambda *_: None)
        assert not summary.failed and summary.written == len(contents)
        for rel in contents:
            got = image_io.load_image(tmp_path / out / rel)
            want = np_stylize(toy, image_io.load_image(src / rel), style, alpha=0.6)
            np.testing.assert_allclose(got, want, atol=1 / 255 + 1e-6)
