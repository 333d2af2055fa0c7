"""The lite model (adain_jax.nn.lite): shapes, parameter trees, stylize, CLI and training step."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from PIL import Image

import adain_jax
from adain_jax import cli, weights as wts
from adain_jax.errors import ConfigError, WeightsError
from adain_jax.nn import layers, lite, models
from adain_jax.training import TrainConfig, step

CFG = lite.LiteConfig(width=8, depth=1)


@pytest.fixture(scope="module")
def params():
    return lite.init_params(jax.random.PRNGKey(0), CFG)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


@pytest.mark.parametrize("hw", [(8, 8), (24, 40), (64, 32)])
def test_feature_and_output_shapes(params, hw):
    feats = lite.encode(params[lite.ENCODER_KEY], jnp.asarray(rand(2, *hw, 3)))
    h, w = hw
    assert [f.shape for f in feats] == [(2, h // 2, w // 2, 8), (2, h // 4, w // 4, 16),
                                        (2, h // 8, w // 8, CFG.channels)]
    assert float(feats[-1].min()) >= 0.0   # relu4_1-like: non-negative
    assert lite.decode(params["decoder"], feats[-1], CFG).shape == (2, h, w, 3)


@pytest.mark.parametrize("cfg", [lite.LiteConfig(8, 1), lite.LiteConfig(8, 3),
                                 lite.LiteConfig(16, 2, feat=48)])
def test_param_keys_follow_the_tables(cfg):
    p = jax.eval_shape(lambda: lite.init_params(jax.random.PRNGKey(0), cfg))
    assert set(p[lite.ENCODER_KEY]) == {n for n, _, _ in lite.encoder_table(cfg)}
    assert set(p["decoder"]) == {n for n, k, _ in lite.decoder_table(cfg) if k != "up"}
    assert p[lite.ENCODER_KEY]["b3_1"]["pw"]["kernel"].shape == (cfg.channels, cfg.channels)
    assert lite.config_of(p) == cfg
    assert lite.is_lite(p) and not lite.is_lite({"vgg": {}, "decoder": {}})


def test_depthwise_matches_grouped_convolution():
    x, k = jnp.asarray(rand(2, 7, 9, 5)), jnp.asarray(rand(3, 3, 1, 5, seed=1))
    ref = lax.conv_general_dilated(x, k, (1, 1), ((1, 1), (1, 1)), feature_group_count=5,
                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(lite.depthwise3x3(x, k), ref, rtol=1e-5, atol=1e-5)


def test_space_to_depth_round_trip():
    x = jnp.asarray(rand(1, 6, 4, 3))
    assert layers.space_to_depth(x).shape == (1, 3, 2, 12)
    np.testing.assert_array_equal(layers.depth_to_space(layers.space_to_depth(x)), x)


def test_flops_grow_with_size_and_width():
    small = sum(lite.flops(CFG, 256, 256).values())
    assert sum(lite.flops(CFG, 512, 512).values()) == pytest.approx(4 * small)
    assert sum(lite.flops(lite.LiteConfig(16, 1), 256, 256).values()) > 2 * small


def test_stylize_with_lite_params_at_odd_sizes(params):
    content, style = rand(37, 53, 3), rand(20, 30, 3, seed=1)
    out = adain_jax.stylize(params, content, style)
    assert out.shape == (37, 53, 3) and 0.0 <= float(out.min()) <= float(out.max()) <= 1.0
    small = adain_jax.stylize(params, content, style, max_side=24)   # internal resolution
    assert small.shape == (37, 53, 3)
    stats = adain_jax.style_stats(params, style)
    assert stats.mean.shape == (1, 1, 1, CFG.channels)
    np.testing.assert_allclose(adain_jax.stylize(params, content, stats), out, atol=1e-5)
    masks = np.stack([np.ones((37, 53), np.float32), np.zeros((37, 53), np.float32)])
    assert adain_jax.stylize(params, content, [style, style], masks=masks,
                             max_side=24).shape == (37, 53, 3)
    with pytest.raises(ConfigError, match="max_side"):
        adain_jax.stylize(params, content, style, max_side=3)


def test_no_lite_weights_ship_and_a_file_loads(params, tmp_path):
    with pytest.raises(WeightsError, match="not trained yet"):
        adain_jax.load_default("lite")
    wts.save_params(tmp_path / "lite.npz", params)
    loaded = adain_jax.load_params(decoder=tmp_path / "lite.npz", model="lite")
    assert lite.config_of(loaded) == CFG
    bad = dict(params, decoder=models.init_decoder(jax.random.PRNGKey(1)))
    wts.save_params(tmp_path / "bad.npz", bad)
    with pytest.raises(WeightsError, match="do not fit"):
        adain_jax.load_params(decoder=tmp_path / "bad.npz", model="lite")


def _images(tmp_path):
    paths = []
    for i, name in enumerate(("c.png", "s.png")):
        Image.fromarray((rand(16, 24, 3, seed=i) * 255).astype(np.uint8)).save(tmp_path / name)
        paths.append(str(tmp_path / name))
    return paths


def test_cli_lite_without_weights_is_one_error_line(tmp_path, capsys):
    c, s = _images(tmp_path)
    code = cli.stylize_main(["--content", c, "--style", s, "--model", "lite",
                             "--output", str(tmp_path / "o.png"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "lite" in err and "not trained yet" in err and not (tmp_path / "o.png").exists()


def test_cli_lite_with_a_weights_file(params, tmp_path, capsys):
    c, s = _images(tmp_path)
    wts.save_params(tmp_path / "lite.npz", params)
    code = cli.stylize_main(["--content", c, "--style", s, "--model", "lite", "--decoder",
                             str(tmp_path / "lite.npz"), "--output", str(tmp_path / "o.png"),
                             "--content-size", "0", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert Image.open(tmp_path / "o.png").size == (24, 16)


def test_train_config_model():
    with pytest.raises(ConfigError, match="model"):
        TrainConfig(workdir="w", model="big").validate()
    with pytest.raises(ConfigError, match="lite"):
        TrainConfig(workdir="w", model="lite").validate()
    assert cli.train_parser().parse_args(
        ["--content-data", "a", "--style-data", "b", "--workdir", "w", "--model", "lite"]
    ).model == "lite"


def test_lite_training_step_compiles_with_the_vgg_loss_network():
    mesh = step.make_mesh(jax.devices()[:1])
    full = models.init_params(jax.random.PRNGKey(2), 16)
    enc = lite.init_params(jax.random.PRNGKey(3), CFG)[lite.ENCODER_KEY]
    frozen = step.replicate({"vgg": full["vgg"], lite.ENCODER_KEY: enc}, mesh)
    state = step.new_state(mesh, 1e-3, 0.0, seed=0, lite_config=CFG)
    assert set(state.params) == set(lite.init_decoder(jax.random.PRNGKey(0), CFG))
    fn = step.compiled_step(mesh, 1e-3, 0.0, 10.0, "float32", lite_config=CFG)
    batch = step.global_batch({"content": rand(2, 16, 16, 3), "style": rand(2, 16, 16, 3, seed=1)},
                              mesh, 2)
    before = jax.tree.map(np.asarray, state.params)
    state, metrics = fn(state, frozen, batch)
    assert np.isfinite(float(metrics["loss"])) and int(state.step) == 1
    moved = jax.tree.map(lambda a, b: float(np.abs(np.asarray(a) - b).max()), state.params, before)
    assert max(jax.tree.leaves(moved)) > 0.0
