"""adain-stylize: the PyTorch port's flag names, --save-ext, several alphas from one encoding,
--dtype auto and its help."""
import jax
import numpy as np
import pytest

from adain_jax import cli, image_io, weights
from adain_jax.inference import transfer
from adain_jax.nn import init_params
from conftest import run_stylize, write_noise_images


@pytest.fixture(scope="module")
def weight_flags(tmp_path_factory):
    d = tmp_path_factory.mktemp("w")
    p = init_params(jax.random.PRNGKey(3))
    weights.save_params(d / "vgg.npz", {"vgg": p["vgg"]})
    weights.save_params(d / "dec.safetensors", {"decoder": p["decoder"]})
    return ["--vgg", str(d / "vgg.npz"), "--decoder", str(d / "dec.safetensors")]


def make_images(folder, n, seed, size=(20, 28)):
    return write_noise_images(folder, n, seed, size)[0].parent


run = run_stylize


def test_pytorch_port_command_works(tmp_path, weight_flags, capsys):
    c, s = make_images(tmp_path / "c", 2, 0), make_images(tmp_path / "s", 1, 1)
    out = tmp_path / "output"
    code, _, err = run(["--content_dir", str(c), "--style_dir", str(s), "--output", str(out),
                        "--content_size", "16", "--style_size", "16", "--save_ext", ".jpg",
                        "--preserve_color", "--alpha", "0.5", "--quiet", "--dtype", "float32",
                        *weight_flags], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["img0_stylized_img0.jpg",
                                                     "img1_stylized_img0.jpg"]


def test_style_interpolation_weights_alias(tmp_path, weight_flags, capsys):
    c, s = make_images(tmp_path / "c", 1, 0), make_images(tmp_path / "s", 2, 1)
    out = tmp_path / "mix.png"
    code, _, err = run(["--content", str(c / "img0.png"),
                        "--style", f"{s / 'img0.png'},{s / 'img1.png'}",
                        "--style_interpolation_weights", "1,3", "--output", str(out),
                        "--dtype", "float32", *weight_flags], capsys)
    assert code == 0, err and out.exists()


def test_several_alphas_one_output_each(tmp_path, weight_flags, capsys):
    c, s = make_images(tmp_path / "c", 1, 0), make_images(tmp_path / "s", 1, 1)
    out = tmp_path / "o"
    code, _, err = run(["--content", str(c), "--style", str(s), "--output", str(out),
                        "--alpha", "0.25,0.5,1", "--content-size", "0", "--dtype", "float32",
                        *weight_flags], capsys)
    assert code == 0, err
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"img0_stylized_img0_alpha{a}.png" for a in ("0.25", "0.5", "1")]
    # each equals a single-alpha run (same weights, same compute)
    params = {"vgg": weights.load_vgg(weight_flags[1]),
              "decoder": weights.load_decoder(weight_flags[3])}
    content = image_io.load_image(c / "img0.png")
    style = image_io.load_image(s / "img0.png", size=512)
    for a in (0.25, 0.5, 1.0):
        single = np.asarray(transfer.stylize(params, content, style, alpha=a))
        got = image_io.load_image(out / f"img0_stylized_img0_alpha{a:g}.png")
        assert np.abs(got - single).max() <= 1.5 / 255


def test_stylize_alphas_matches_stylize(weight_flags):
    params = {"vgg": weights.load_vgg(weight_flags[1]),
              "decoder": weights.load_decoder(weight_flags[3])}
    rng = np.random.default_rng(0)
    content = rng.random((2, 16, 24, 3), np.float32)
    style = rng.random((16, 16, 3), np.float32)
    outs = np.asarray(transfer.stylize_alphas(params, content, style, [0.0, 0.7]))
    assert outs.shape == (2, 2, 16, 24, 3)
    for out, a in zip(outs, (0.0, 0.7)):
        np.testing.assert_allclose(out, transfer.stylize(params, content, style, alpha=a),
                                   atol=1e-5)


@pytest.mark.parametrize("args,message", [
    (["--alpha", "0.5,0.50"], "repeat"),
    (["--alpha", "0.5,1.5"], "alpha must be in [0, 1]"),
    (["--save-ext", "gif"], "output extension"),
    (["--alpha", "0.5,1", "--optimize"], "optimisation mode"),
])
def test_bad_values_are_one_line_errors(tmp_path, weight_flags, capsys, args, message):
    c, s = make_images(tmp_path / "c", 1, 0), make_images(tmp_path / "s", 1, 1)
    code, _, err = run(["--content", str(c), "--style", str(s), "--output", str(tmp_path / "o"),
                        *args, *weight_flags], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_dtype_auto_is_the_default_and_documented():
    parser = cli.stylize_parser()
    assert parser.get_default("dtype") == "auto"
    text = " ".join(parser.format_help().split())
    assert "auto: bfloat16 where the hardware computes it natively" in text
    assert "relative error of 8.3e-03" in text
    args = parser.parse_args(["--content", "c", "--style", "s", "--dtype", "bfloat16"])
    assert args.dtype == "bfloat16"


def test_several_alphas_when_tiling(tmp_path, weight_flags, capsys):
    c, s = make_images(tmp_path / "c", 1, 0, size=(64, 96)), make_images(tmp_path / "s", 1, 1)
    out = tmp_path / "o" / "tiled.png"
    code, _, err = run(["--content", str(c / "img0.png"), "--style", str(s), "--output",
                        str(out), "--alpha", "0,1", "--content-size", "0", "--tile", "48",
                        "--dtype", "float32", *weight_flags], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiled_alpha0.png", "tiled_alpha1.png"]
    a0, a1 = (image_io.load_image(out.parent / f"tiled_alpha{a}.png") for a in (0, 1))
    assert a0.shape == a1.shape == (64, 96, 3)
