"""Exports (ONNX through onnxruntime, StableHLO through jax.export) against adain_jax.stylize."""
import functools
import re

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

SIZES = [(2, 24, 32), (1, 40, 16)]  # (batch, H, W): two sizes, multiples of 8


def rel_l2(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.fixture(scope="module")
def params():
    """Random weights whose images are not clipped flat (last layer centred on 0.5)."""
    import jax

    from adain_jax.nn.models import init_params

    p = init_params(jax.random.PRNGKey(1), 16)
    last = p["decoder"]["conv1_1"]
    p["decoder"]["conv1_1"] = {"kernel": last["kernel"] * 30.0, "bias": last["bias"] + 0.5}
    return p


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return {size: (rng.random((size[0], size[1], size[2], 3), np.float32),
                   rng.random((1, size[2] + 8, size[1], 3), np.float32)) for size in SIZES}


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def run_onnx(sess, **inputs):
    feed = {k: np.asarray(v, np.float32) for k, v in inputs.items()}
    return sess.run(None, feed)


@pytest.mark.parametrize("size", SIZES)
def test_onnx_stylize_matches_library(params, images, size, xla_convs):
    import adain_jax
    from adain_jax.export import onnx as onnx_export

    content, style = images[size]
    out, = run_onnx(session(onnx_export.build(params)), content=content, style=style, alpha=0.7)
    ref = np.asarray(adain_jax.stylize(params, content, style, alpha=0.7))
    assert out.shape == ref.shape == content.shape
    assert 0.05 < ref.std() and ref.min() > 0 and ref.max() < 1  # not clipped flat
    assert rel_l2(out, ref) < 1e-4


def test_onnx_other_graphs_match(params, images):
    import adain_jax
    from adain_jax.export import graph, onnx as onnx_export

    content, style = images[SIZES[0]]
    mean, std = run_onnx(session(onnx_export.build(params, "style_stats")), style=style)
    ref = adain_jax.style_stats(params, style)
    assert rel_l2(mean, ref.mean) < 1e-4 and rel_l2(std, ref.std) < 1e-4
    out, = run_onnx(session(onnx_export.build(params, "stylize_stats")), content=content,
                    style_mean=mean, style_std=std, alpha=0.5)
    assert rel_l2(out, adain_jax.stylize(params, content, ref, alpha=0.5)) < 1e-4
    feat = np.random.default_rng(1).random((2, 3, 2, 512), np.float32)
    out, = run_onnx(session(onnx_export.build(params, "decoder")), features=feat)
    ref_out, = graph.reference(params, "decoder", feat)
    assert out.shape == (2, 24, 16, 3) and rel_l2(out, ref_out) < 1e-4


def test_onnx_odd_sizes_padded_like_the_library(params, xla_convs):
    import adain_jax
    from adain_jax.export import crop_output, onnx as onnx_export, pad_input

    rng = np.random.default_rng(2)
    content, style = rng.random((21, 30, 3), np.float32), rng.random((19, 27, 3), np.float32)
    padded, hw = pad_input(content)
    assert padded.shape == (24, 32, 3)
    out, = run_onnx(session(onnx_export.build(params)), content=padded[None],
                    style=style[None], alpha=1.0)
    ref = np.asarray(adain_jax.stylize(params, content, style))
    assert rel_l2(crop_output(out[0], hw), ref) < 1e-4


def test_onnx_float16_weights_half_size(params, images):
    from adain_jax.export import onnx as onnx_export

    content, style = images[SIZES[0]]
    m32, m16 = onnx_export.build(params), onnx_export.build(params, weights="float16")
    size32, size16 = len(m32.SerializeToString()), len(m16.SerializeToString())
    assert 0.45 < size16 / size32 < 0.55
    a, = run_onnx(session(m32), content=content, style=style, alpha=1.0)
    b, = run_onnx(session(m16), content=content, style=style, alpha=1.0)
    assert np.abs(a - b).max() < 0.02


@pytest.fixture(scope="module")
def stylize_export(params):
    import jax

    from adain_jax.export import stablehlo

    return jax.export.deserialize(stablehlo.export(params, platforms=("cpu",)).serialize())


@pytest.mark.parametrize("size", SIZES)
def test_stablehlo_matches_library(params, images, stylize_export, size, xla_convs):
    import adain_jax

    content, style = images[size]
    style = np.repeat(style, content.shape[0], axis=0)  # the StableHLO style batch is N
    out = np.asarray(stylize_export.call(content, style, np.float32(0.7)))
    ref = np.asarray(adain_jax.stylize(params, content, style, alpha=0.7))
    assert out.shape == content.shape and rel_l2(out, ref) < 1e-4


def test_stablehlo_never_captures_custom_calls(params):
    """Traced on the XLA path whatever backend the library would pick on this machine."""
    from adain_jax.export import stablehlo

    for graph in ("stylize", "decoder"):
        text = stablehlo.export(params, graph, platforms=("cpu",)).mlir_module()
        assert set(re.findall(r"custom_call @(\w+)", text)) <= {"shape_assertion"}
        assert "onednn" not in text
        assert "stablehlo.convolution" in text


def test_stablehlo_other_graphs(params, images, tmp_path, xla_convs):
    import adain_jax
    from adain_jax.export import stablehlo

    content, style = images[SIZES[0]]
    path = stablehlo.save(params, tmp_path / "stats.shlo", "style_stats", platforms=("cpu",))
    mean, std = stablehlo.load(path).call(content)
    ref = adain_jax.style_stats(params, content)
    assert rel_l2(mean, ref.mean) < 1e-4 and rel_l2(std, ref.std) < 1e-4
    exp = stablehlo.export(params, "stylize_stats", platforms=("cpu",))
    out = exp.call(content, ref.mean, ref.std, np.float32(0.3))
    assert rel_l2(out, adain_jax.stylize(params, content, ref, alpha=0.3)) < 1e-4


def test_shipped_model_within_3_of_255(tmp_path, xla_convs):
    import adain_jax
    from adain_jax.export import onnx as onnx_export, stablehlo

    params = adain_jax.load_default()
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:48, 0:64] / 64.0
    content = np.clip(np.stack([y, x, 1 - x * y], -1) + rng.normal(0, 0.05, (48, 64, 3)), 0, 1)
    content = content[None].astype(np.float32)
    style = rng.random((1, 40, 40, 3), np.float32)
    ref = np.asarray(adain_jax.stylize(params, content, style, alpha=0.9))
    out, = run_onnx(session(onnx_export.build(params)), content=content, style=style, alpha=0.9)
    assert np.abs(out - ref).max() <= 3 / 255
    exp = stablehlo.load(stablehlo.save(params, tmp_path / "m.shlo", platforms=("cpu",)))
    assert np.abs(np.asarray(exp.call(content, style, np.float32(0.9))) - ref).max() <= 3 / 255


def test_cli_export(tmp_path, monkeypatch, capsys, params):
    import adain_jax
    from adain_jax.cli.export import export_main

    monkeypatch.setattr(adain_jax, "load_params",
                        lambda vgg=None, decoder=None, model="adain": params)
    out = tmp_path / "m.onnx"
    assert export_main(["--output", str(out), "--graph", "style_stats"]) == 0
    assert out.stat().st_size > 1e6
    assert export_main(["--output", str(out)]) == 2  # exists, no --overwrite
    assert "exists" in capsys.readouterr().err
    assert export_main(["--output", str(out), "--overwrite", "--weights", "float16"]) == 0
    assert export_main(["--format", "stablehlo", "--output", str(tmp_path / "x"),
                        "--weights", "float16"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and "onnx only" in err[-1]
    assert export_main(["--format", "stablehlo", "--output", str(tmp_path / "y"),
                        "--platforms", "cpu,gpu"]) == 2
    assert "platforms must be some of" in capsys.readouterr().err
    shlo = tmp_path / "m.shlo"
    assert export_main(["--format", "stablehlo", "--output", str(shlo), "--graph", "decoder",
                        "--platforms", "cpu"]) == 0
    assert shlo.stat().st_size > 1e6


# The lite model (nn.lite): the same graphs, written from its layer tables.

@functools.cache
def random_lite():
    """Small random lite weights whose images are not clipped flat (output centred on 0.5);
    made once (flax's init takes seconds), never modified."""
    import jax

    from adain_jax.nn import lite

    p = lite.init_params(jax.random.PRNGKey(0), lite.LiteConfig(8, 1))
    out = p["decoder"]["out"]["pw"]
    p["decoder"]["out"]["pw"] = {"kernel": out["kernel"] * 3.0, "bias": out["bias"] + 0.5}
    return p


@pytest.fixture(scope="module", params=["random", "shipped"])
def lite_params(request):
    import adain_jax

    if request.param == "random":
        return random_lite()
    try:
        return adain_jax.load_default("lite")
    except adain_jax.WeightsError as exc:
        pytest.skip(f"no shipped lite weights: {exc}")


def lite_images():
    """A content batch (2, 24, 32) and a style of odd size (the ONNX lite encoder pads it)."""
    rng = np.random.default_rng(4)
    y, x = np.mgrid[0:24, 0:32] / 32.0
    ramp = np.stack([y, x, 1 - x * y], -1)
    content = np.clip(ramp + rng.normal(0, 0.1, (2, 24, 32, 3)), 0, 1).astype(np.float32)
    return content, rng.random((1, 19, 27, 3), np.float32)


def test_lite_onnx_matches_library(lite_params, xla_convs):
    import adain_jax
    from adain_jax.export import onnx as onnx_export

    content, style = lite_images()
    model = onnx_export.build(lite_params)
    assert {"SpaceToDepth", "DepthToSpace"} <= {n.op_type for n in model.graph.node}
    out, = run_onnx(session(model), content=content, style=style, alpha=0.7)
    ref = np.asarray(adain_jax.stylize(lite_params, content, style, alpha=0.7))
    assert out.shape == ref.shape == content.shape
    assert 0.05 < ref.std() and 0 < ref.mean() < 1  # not clipped flat
    assert np.abs(out - ref).max() < 1e-4


def test_lite_onnx_other_graphs_and_odd_sizes(xla_convs):
    import adain_jax
    from adain_jax.export import crop_output, graph, onnx as onnx_export, pad_input

    params, (content, style) = random_lite(), lite_images()
    mean, std = run_onnx(session(onnx_export.build(params, "style_stats")), style=style)
    ref = adain_jax.style_stats(params, style)
    assert mean.shape == (1, 1, 1, 32)
    assert np.abs(mean - ref.mean).max() < 1e-5 and np.abs(std - ref.std).max() < 1e-5
    out, = run_onnx(session(onnx_export.build(params, "stylize_stats")), content=content,
                    style_mean=mean, style_std=std, alpha=0.5)
    assert np.abs(out - adain_jax.stylize(params, content, ref, alpha=0.5)).max() < 1e-4
    feat = np.random.default_rng(1).random((2, 3, 2, 32), np.float32)
    out, = run_onnx(session(onnx_export.build(params, "decoder")), features=feat)
    ref_out, = graph.reference(params, "decoder", feat)
    assert out.shape == (2, 24, 16, 3) and np.abs(out - ref_out).max() < 1e-4
    odd = content[0, :21, :30]
    padded, hw = pad_input(odd)
    out, = run_onnx(session(onnx_export.build(params)), content=padded[None], style=style,
                    alpha=1.0)
    ref = np.asarray(adain_jax.stylize(params, odd, style[0]))
    assert np.abs(crop_output(out[0], hw) - ref).max() < 1e-4


def test_lite_stablehlo_round_trip(lite_params, tmp_path, xla_convs):
    import adain_jax
    from adain_jax.export import crop_output, pad_input, stablehlo

    content, style = lite_images()
    style = np.repeat(pad_input(style)[0], 2, axis=0)  # StableHLO: sides 8k, style batch N
    path = stablehlo.save(lite_params, tmp_path / "lite.shlo", platforms=("cpu",))
    exp = stablehlo.load(path)
    text = exp.mlir_module()
    assert set(re.findall(r"custom_call @(\w+)", text)) <= {"shape_assertion"}
    out = np.asarray(exp.call(content, style, np.float32(0.7)))
    ref = np.asarray(adain_jax.stylize(lite_params, content, style, alpha=0.7))
    assert out.shape == content.shape and np.abs(out - ref).max() < 1e-4
    padded, hw = pad_input(content[:, :21, :30])
    out = np.asarray(exp.call(padded, style, np.float32(1.0)))
    ref = np.asarray(adain_jax.stylize(lite_params, content[:, :21, :30], style))
    assert np.abs(crop_output(out, hw) - ref).max() < 1e-4


def test_cli_export_lite(tmp_path, capsys):
    from adain_jax.cli.export import export_main
    from adain_jax.weights import save_params

    weights = save_params(tmp_path / "lite.npz", random_lite())
    out = tmp_path / "lite.onnx"
    assert export_main(["--model", "lite", "--decoder", str(weights), "--output", str(out)]) == 0
    assert 1e4 < out.stat().st_size < 1e5 and "model lite" in capsys.readouterr().err
    assert export_main(["--model", "lite", "--vgg", str(weights), "--output",
                        str(tmp_path / "x.onnx")]) == 2
    assert "--vgg applies to --model adain only" in capsys.readouterr().err
    assert export_main(["--decoder", str(weights), "--output", str(tmp_path / "y.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pass --model lite" in err[0]
