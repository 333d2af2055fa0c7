"""The lite model (adain_jax.nn.lite): shapes, parameter trees, stylize, CLI and training step."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from PIL import Image

import adain_jax
from adain_jax import cli, model, weights as wts
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
    assert model.of(p).name == "lite" and model.of({"vgg": {}, "decoder": {}}).name == "adain"


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


def test_shipped_lite_loads_and_a_file_loads(params, tmp_path):
    shipped = adain_jax.load_default("lite")
    assert model.of(shipped).name == "lite" and set(shipped) == {lite.ENCODER_KEY, "decoder"}
    assert wts.DEFAULT_LITE.stat().st_size <= 5 * 2 ** 20
    wts.save_params(tmp_path / "lite.npz", params)
    loaded = adain_jax.load_params(decoder=tmp_path / "lite.npz", model="lite")
    assert lite.config_of(loaded) == CFG
    bad = dict(params, decoder=models.init_decoder(jax.random.PRNGKey(1)))
    wts.save_params(tmp_path / "bad.npz", bad)
    with pytest.raises(WeightsError, match="do not fit"):
        adain_jax.load_params(decoder=tmp_path / "bad.npz", model="lite")
    with pytest.raises(ConfigError, match="--vgg does not apply"):
        adain_jax.load_params(vgg="v.npz", decoder=tmp_path / "lite.npz", model="lite")


def _images(tmp_path):
    paths = []
    for i, name in enumerate(("c.png", "s.png")):
        Image.fromarray((rand(16, 24, 3, seed=i) * 255).astype(np.uint8)).save(tmp_path / name)
        paths.append(str(tmp_path / name))
    return paths


def test_cli_lite_uses_the_shipped_weights_and_refuses_vgg(tmp_path, capsys):
    c, s = _images(tmp_path)
    base = ["--content", c, "--style", s, "--model", "lite", "--quiet", "--content-size", "0"]
    assert cli.stylize_main(base + ["--output", str(tmp_path / "o.png")]) == 0
    assert Image.open(tmp_path / "o.png").size == (24, 16)
    code = cli.stylize_main(base + ["--vgg", "v.npz", "--output", str(tmp_path / "p.png")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--vgg does not apply" in err
    assert not (tmp_path / "p.png").exists()


def test_cli_lite_with_a_weights_file_and_tiles(params, tmp_path, capsys):
    c, s = _images(tmp_path)
    wts.save_params(tmp_path / "lite.npz", params)
    for extra in ([], ["--tile", "40"]):
        out = tmp_path / f"o{len(extra)}.png"
        code = cli.stylize_main(["--content", c, "--style", s, "--model", "lite", "--decoder",
                                 str(tmp_path / "lite.npz"), "--output", str(out),
                                 "--content-size", "0", "--quiet"] + extra)
        assert code == 0, capsys.readouterr().err
        assert Image.open(out).size == (24, 16)
    # a lite file given as the main model's decoder: said so, in one line, for every CLI
    code = cli.stylize_main(["--content", c, "--style", s, "--decoder", str(tmp_path / "lite.npz"),
                             "--output", str(tmp_path / "main.png"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.splitlines() == [
        f"error: {tmp_path / 'lite.npz'}: holds the lite model (pass --model lite)"]
    from adain_jax.cli.export import export_main

    code = export_main(["--decoder", str(tmp_path / "lite.npz"), "--output",
                        str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "holds the lite model (pass --model lite)" in err
    assert not (tmp_path / "main.png").exists() and not (tmp_path / "m.onnx").exists()


def test_tiled_lite_matches_untiled(params):
    content, style = rand(96, 136, 3, seed=3), rand(32, 32, 3, seed=4)
    want = np.asarray(adain_jax.stylize(params, content, style))
    got = adain_jax.stylize_tiled(params, content, style, tile=48, halo=32)
    assert got.shape == want.shape
    assert float(np.abs(got - want).max()) < 2e-3   # global statistics, halo >= receptive field


def test_train_config_model():
    with pytest.raises(ConfigError, match="model"):
        TrainConfig(workdir="w", model="big").validate()
    TrainConfig(workdir="w", model="lite").validate()
    with pytest.raises(ConfigError, match="lite-width"):
        TrainConfig(workdir="w", model="lite", lite_width=0).validate()
    with pytest.raises(ConfigError, match="distill-weight"):
        TrainConfig(workdir="w", model="lite", distill_weight=-1).validate()
    args = cli.train_parser().parse_args(["--content-data", "a", "--style-data", "b", "--workdir",
                                          "w", "--model", "lite", "--lite-width", "16"])
    assert (args.model, args.lite_width) == ("lite", 16)
    assert TrainConfig(workdir="w", model="lite", lite_width=16).lite_config() == \
        lite.LiteConfig(16, 1)


def test_lite_training_step_updates_the_whole_lite_tree_not_the_vgg():
    mesh = step.make_mesh(jax.devices()[:1])
    vgg = models.init_params(jax.random.PRNGKey(2), 16)["vgg"]
    frozen = step.replicate(vgg, mesh)
    state = step.new_state(mesh, 1e-3, 0.0, seed=0, lite_config=CFG)
    assert set(state.params) == {lite.ENCODER_KEY, "decoder", lite.HEAD_KEY}
    fn = step.compiled_step(mesh, 1e-3, 0.0, 10.0, "float32", lite_config=CFG)
    batch = step.global_batch({"content": rand(2, 16, 16, 3), "style": rand(2, 16, 16, 3, seed=1)},
                              mesh, 2)
    before = jax.tree.map(np.asarray, state.params)
    vgg_before = jax.tree.map(np.asarray, frozen)
    state, metrics = fn(state, frozen, batch)
    assert set(metrics) == {"loss", "content", "style", "distill"}
    assert np.isfinite(float(metrics["loss"])) and int(state.step) == 1
    for part in before:   # every trained part moves; the VGG argument is untouched
        moved = jax.tree.map(lambda a, b: float(np.abs(np.asarray(a) - b).max()),
                             state.params[part], before[part])
        assert max(jax.tree.leaves(moved)) > 0.0, part
    jax.tree.map(np.testing.assert_array_equal, jax.tree.map(np.asarray, frozen), vgg_before)


def _train_params(seed=4):
    return jax.tree.map(np.asarray, lite.init_train_params(jax.random.PRNGKey(seed), CFG))


def test_lite_forward_matches_torch_reference():
    torch = pytest.importorskip("torch")
    from tests.reference import torch_lite

    p = _train_params()
    c, s = rand(2, 24, 32, 3), rand(1, 16, 16, 3, seed=1)
    to_t = lambda x: torch.from_numpy(x).permute(0, 3, 1, 2)  # noqa: E731
    with torch.no_grad():
        ref_feats = torch_lite.encode(p[lite.ENCODER_KEY], to_t(c))
        ref_out = torch_lite.stylize(p, to_t(c), to_t(s)).permute(0, 2, 3, 1).numpy()
    feats = lite.encode(p[lite.ENCODER_KEY], jnp.asarray(c))
    for got, want in zip(feats, ref_feats, strict=True):
        np.testing.assert_allclose(got, want.permute(0, 2, 3, 1).numpy(), rtol=1e-4, atol=1e-5)
    out = lite.decode(p["decoder"], jnp.asarray(adain_jax.adain(feats[-1], lite.encode(
        p[lite.ENCODER_KEY], jnp.asarray(s))[-1])), CFG)
    np.testing.assert_allclose(out, ref_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(adain_jax.stylize(lite.shipped_part(p), c, s),
                               np.clip(ref_out, 0, 1), atol=2e-5)


def test_lite_loss_matches_torch_reference():
    torch = pytest.importorskip("torch")
    from tests.reference import torch_lite
    from tools.reference.params import random_params_np

    p, vgg = _train_params(), random_params_np("vgg", 3)
    c, s = rand(2, 32, 32, 3, seed=5), rand(2, 32, 32, 3, seed=6)
    loss, parts = step.lite_loss_fn(p, vgg, jnp.asarray(c), jnp.asarray(s), 7.0, config=CFG,
                                    distill_weight=0.5)
    to_t = lambda x: torch.from_numpy(x).permute(0, 3, 1, 2)  # noqa: E731
    with torch.no_grad():
        ref_loss, ref_parts = torch_lite.lite_loss(p, vgg, to_t(c), to_t(s), 7.0, 0.5)
    for k in ("content", "style", "distill"):
        assert float(parts[k]) == pytest.approx(float(ref_parts[k]), rel=2e-4), k
    assert float(loss) == pytest.approx(float(ref_loss), rel=2e-4)


def test_lite_train_loop_exports_the_inference_tree_and_resumes(tmp_path):
    from test_training import FakeLoader

    from adain_jax.training import train
    from tools.reference.params import random_params_np

    vgg = random_params_np("vgg", 3)
    cfg = TrainConfig(content_data="-", style_data="-", workdir=str(tmp_path), steps=3,
                      batch_size=2, crop_size=16, resize=16, model="lite", lite_width=8,
                      checkpoint_every=2, sample_every=0, log_every=1)
    train(cfg, loader=FakeLoader(batch=2, size=16), vgg_params=vgg, progress=False,
          verbose=False)
    exported = adain_jax.load_params(model="lite", decoder=tmp_path / "lite.npz")
    assert set(exported) == {lite.ENCODER_KEY, "decoder"} and lite.config_of(exported) == CFG
    assert "distill" in (tmp_path / "metrics.csv").read_text().splitlines()[0]
    cfg.steps = 4
    state = train(cfg, loader=FakeLoader(batch=2, size=16), vgg_params=vgg, progress=False,
                  verbose=False)
    assert int(np.asarray(step.local_copy(state.step))) == 4
    cfg.model = "adain"     # another architecture in the same workdir: refused
    with pytest.raises(ConfigError, match="incompatible"):
        train(cfg, loader=FakeLoader(batch=2, size=16), vgg_params=vgg, progress=False,
              verbose=False)
