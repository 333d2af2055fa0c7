"""Weight conversion: every format against an independent PyTorch reference."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from adain_jax import weights
from adain_jax.errors import WeightsError
from adain_jax.nn.models import decode, encode, expected_shapes

SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_H5 = SHARED / "weights" / "vgg19_notop_to_block4_conv1.h5"
H, W = 37, 45  # odd sizes exercise ceil-mode pooling


def rel_err(ours, ref) -> float:
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


def nchw(x):
    return np.asarray(x).transpose(0, 2, 3, 1)


@pytest.fixture(scope="module")
def torch_nets():
    torch = pytest.importorskip("torch")
    from tests.reference.torch_adain import make_decoder, make_vgg

    torch.manual_seed(0)
    return make_vgg().eval(), make_decoder().eval()


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).uniform(0, 1, (1, H, W, 3)).astype(np.float32)


def _check_encoder(vgg_tree, vgg, image):
    import torch
    from tests.reference.torch_adain import vgg_features

    with torch.no_grad():
        ref = vgg_features(vgg, torch.from_numpy(image.transpose(0, 3, 1, 2)))
    ours = encode(vgg_tree, image)
    for o, r in zip(ours, ref, strict=True):
        assert rel_err(o, nchw(r)) <= 1e-4


def _check_decoder(dec_tree, dec):
    import torch

    feat = np.random.default_rng(1).uniform(0, 2, (1, 5, 6, 512)).astype(np.float32)
    with torch.no_grad():
        ref = dec(torch.from_numpy(feat.transpose(0, 3, 1, 2)))
    out = decode(dec_tree, feat)
    assert out.shape == (1, 40, 48, 3)
    assert rel_err(out, nchw(ref)) <= 1e-4


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_authors_pth_matches_torch(torch_nets, image, tmp_path, zip_format):
    import torch

    vgg, dec = torch_nets
    torch.save(vgg.state_dict(), tmp_path / "vgg_normalised.pth",
               _use_new_zipfile_serialization=zip_format)
    torch.save(dec.state_dict(), tmp_path / "decoder.pth",
               _use_new_zipfile_serialization=zip_format)
    _check_encoder(weights.load_vgg(tmp_path / "vgg_normalised.pth"), vgg, image)
    _check_decoder(weights.load_decoder(tmp_path / "decoder.pth"), dec)


def test_wrapped_and_half_state_dict(torch_nets, tmp_path):
    import torch

    _, dec = torch_nets
    sd = {k: v.half() for k, v in dec.state_dict().items()}
    torch.save({"state_dict": sd, "epoch": 7}, tmp_path / "d.pth")
    tree = weights.load_decoder(tmp_path / "d.pth")
    assert tree["conv1_1"]["kernel"].dtype == np.float32
    np.testing.assert_array_equal(tree["conv4_1"]["kernel"],
                                  sd["1.weight"].float().numpy().transpose(2, 3, 1, 0))


def test_t7_matches_torch(torch_nets, image, tmp_path):
    from tests.reference.torch_adain import t7_from_sequential

    vgg, dec = torch_nets
    (tmp_path / "vgg_normalised.t7").write_bytes(t7_from_sequential(vgg))
    (tmp_path / "decoder.t7").write_bytes(t7_from_sequential(dec))
    _check_encoder(weights.load_vgg(tmp_path / "vgg_normalised.t7"), vgg, image)
    _check_decoder(weights.load_decoder(tmp_path / "decoder.t7"), dec)


def test_torchvision_layout_matches_torch(image, tmp_path):
    torch = pytest.importorskip("torch")
    from tests.reference.torch_adain import TorchvisionVGG19, torchvision_reference_features

    torch.manual_seed(1)
    model = TorchvisionVGG19().eval()
    torch.save(model.state_dict(), tmp_path / "vgg19-dcbb9e9d.pth")
    tree = weights.load_vgg(tmp_path / "vgg19-dcbb9e9d.pth")
    with torch.no_grad():
        ref = torchvision_reference_features(model, torch.from_numpy(image.transpose(0, 3, 1, 2)))
    for o, r in zip(encode(tree, image), ref, strict=True):
        assert rel_err(o, nchw(r)) <= 1e-4


def _write_keras_h5(path, kernels, biases, extra_layers=True):
    import h5py

    names = ["input_1"]
    with h5py.File(path, "w") as f:
        f.create_group("input_1").attrs["weight_names"] = np.array([], np.float64)
        for (ours, theirs), k, b in zip(weights.KERAS_VGG.items(), kernels, biases):
            g = f.create_group(theirs)
            wn = [f"{theirs}_W_1:0".encode(), f"{theirs}_b_1:0".encode()]
            g.attrs["weight_names"] = np.array(wn)
            g[wn[0].decode()] = k
            g[wn[1].decode()] = b
            names.append(theirs)
            if theirs.endswith("conv2") and theirs[5] in "12" or theirs == "block3_conv4":
                pool = theirs.split("_")[0] + "_pool"
                f.create_group(pool).attrs["weight_names"] = np.array([], np.float64)
                names.append(pool)
        if extra_layers:  # the full file's later layers (tiny stand-ins: ignored anyway)
            for theirs in weights.KERAS_IGNORED:
                g = f.create_group(theirs)
                wn = [f"{theirs}_W_1:0".encode(), f"{theirs}_b_1:0".encode()]
                g.attrs["weight_names"] = np.array(wn)
                g[wn[0].decode()] = np.zeros((3, 3, 2, 2), np.float32)
                g[wn[1].decode()] = np.zeros((2,), np.float32)
                names.append(theirs)
        f.attrs["layer_names"] = np.array([n.encode() for n in names])


def _random_caffe_vgg(seed=0):
    rng = np.random.default_rng(seed)
    shapes = expected_shapes("vgg")
    kernels, biases = [], []
    for name in weights.ENCODER_NAMES:
        k = shapes[f"{name}/kernel"]
        fan_in = k[0] * k[1] * k[2]
        kernels.append(rng.normal(0, np.sqrt(2 / fan_in), k).astype(np.float32))
        biases.append(rng.normal(0, 0.1, (k[3],)).astype(np.float32))
    kernels[0] /= 100.0  # inputs are 0..255
    return kernels, biases


@pytest.mark.parametrize("full", [True, False], ids=["full-16-layers", "truncated"])
def test_keras_layout_matches_caffe_reference(tmp_path, full):
    pytest.importorskip("torch")
    from tests.reference.torch_adain import caffe_reference_features

    kernels, biases = _random_caffe_vgg()
    _write_keras_h5(tmp_path / "v.h5", kernels, biases, extra_layers=full)
    rgb = np.random.default_rng(2).uniform(0, 1, (H, W, 3)).astype(np.float32)
    ref = caffe_reference_features(kernels, biases, rgb)
    raw = weights.load_vgg(tmp_path / "v.h5", normalise=False)
    for o, r in zip(encode(raw, rgb[None]), ref, strict=True):
        assert rel_err(o[0], r) <= 1e-4
    # normalised: every channel divided by its constant
    means = {n: np.random.default_rng(3).uniform(0.5, 50, k.shape[-1])
             for n, k in zip(weights.ENCODER_NAMES, kernels)}
    means["conv2_1"][5] = 0.0  # a dead channel keeps scale 1
    norm = weights.normalise_vgg(raw, means)
    for o, r, n in zip(encode(norm, rgb[None]), ref, ("conv1_1", "conv2_1", "conv3_1",
                                                      "conv4_1"), strict=True):
        m = np.where(means[n] > 1e-8, means[n], 1.0)
        assert rel_err(o[0], r / m) <= 1e-4


def test_keras_missing_layer_is_reported(tmp_path):
    kernels, biases = _random_caffe_vgg()
    _write_keras_h5(tmp_path / "v.h5", kernels, biases)
    import h5py

    with h5py.File(tmp_path / "v.h5", "a") as f:
        del f["block3_conv2"]
    with pytest.raises(WeightsError, match="missing: block3_conv2"):
        weights.load_vgg(tmp_path / "v.h5")
    with pytest.raises(WeightsError, match="holds no decoder"):
        weights.load_decoder(tmp_path / "v.h5")


def test_caffe_preprocess_is_bgr_minus_mean():
    p = weights.caffe_preprocess()
    rgb = np.array([0.2, 0.5, 0.9], np.float32)
    out = rgb @ p["kernel"][0, 0] + p["bias"]
    np.testing.assert_allclose(out, [0.9 * 255 - 103.939, 0.5 * 255 - 116.779,
                                     0.2 * 255 - 123.68], rtol=1e-6)


# --- real weights (../shared) ----------------------------------------------------------------
needs_shared = pytest.mark.skipif(not SHARED_H5.exists(), reason="../shared/weights absent")


@needs_shared
def test_real_vgg_against_caffe_reference():
    pytest.importorskip("torch")
    import h5py
    from tests.reference.torch_adain import caffe_reference_features

    from adain_jax.image_io import load_image

    photos = sorted((SHARED / "data" / "content").glob("*.jpg"))
    if not photos:
        pytest.skip("no content photos in ../shared")
    rgb = load_image(photos[0], size=40)[:40, :44]
    with h5py.File(SHARED_H5, "r") as f:
        kernels = [f[t][f"{t}_W_1:0"][()] for t in weights.KERAS_VGG.values()]
        biases = [f[t][f"{t}_b_1:0"][()] for t in weights.KERAS_VGG.values()]
    ref = caffe_reference_features(kernels, biases, rgb.astype(np.float64))
    raw = encode(weights.load_vgg(SHARED_H5, normalise=False), rgb[None])
    norm = encode(weights.load_vgg(SHARED_H5), rgb[None])
    shipped = encode(weights.load_vgg(None), rgb[None])
    consts = json.loads(weights.NORMALISATION_JSON.read_text())["means"]
    for r, o, n, s, layer in zip(ref, raw, norm, shipped, ("conv1_1", "conv2_1", "conv3_1",
                                                          "conv4_1"), strict=True):
        assert rel_err(o[0], r) <= 1e-4
        m = np.asarray(consts[layer])
        assert rel_err(n[0], r / m) <= 1e-4
        assert rel_err(s[0], r / m) <= 5e-3  # shipped float16 copy
        assert 0.2 < float(np.mean(n)) < 5  # normalised: activations of order 1


# --- own format ------------------------------------------------------------------------------
def _random_tree(part, seed=0):
    rng = np.random.default_rng(seed)
    return weights.unflatten({k: rng.normal(size=s).astype(np.float32)
                              for k, s in expected_shapes(part).items()})


def test_npz_round_trip(tmp_path):
    tree = {"vgg": _random_tree("vgg"), "decoder": _random_tree("decoder", 1)}
    weights.save_params(tmp_path / "p.npz", tree)
    assert [p.name for p in tmp_path.iterdir()] == ["p.npz"]  # no temp files left
    np.testing.assert_array_equal(weights.load_vgg(tmp_path / "p.npz")["conv3_2"]["kernel"],
                                  tree["vgg"]["conv3_2"]["kernel"])
    dec = weights.load_decoder(tmp_path / "p.npz")
    np.testing.assert_array_equal(dec["conv1_1"]["bias"], tree["decoder"]["conv1_1"]["bias"])
    with np.load(tmp_path / "p.npz", allow_pickle=False) as z:
        assert "vgg/conv1_1/kernel" in z.files and "decoder/conv4_1/bias" in z.files
    with pytest.raises(WeightsError, match="exists"):
        weights.save_params(tmp_path / "p.npz", tree)
    weights.save_params(tmp_path / "p.npz", {"decoder": tree["decoder"]}, dtype=np.float16,
                        overwrite=True)
    half = weights.load_decoder(tmp_path / "p.npz")
    assert half["conv2_1"]["kernel"].dtype == np.float32
    assert rel_err(half["conv2_1"]["kernel"], tree["decoder"]["conv2_1"]["kernel"]) < 1e-3
    with pytest.raises(WeightsError, match="no 'vgg' weights"):
        weights.load_vgg(tmp_path / "p.npz")


def test_npz_wrong_shape_and_extra_key(tmp_path):
    tree = _random_tree("decoder")
    tree["conv3_3"]["kernel"] = np.zeros((3, 3, 256, 128), np.float32)
    tree["conv9_9"] = {"kernel": np.zeros(1, np.float32)}
    del tree["conv1_2"]["bias"]
    weights.save_params(tmp_path / "d.npz", {"decoder": tree})
    with pytest.raises(WeightsError) as e:
        weights.load_decoder(tmp_path / "d.npz")
    msg = str(e.value)
    assert "\n" not in msg
    assert "missing: conv1_2/bias" in msg
    assert "unexpected: conv9_9/kernel" in msg
    assert "conv3_3/kernel (3,3,256,128) != expected (3,3,256,256)" in msg


def test_npz_rejects_pickled_objects(tmp_path):
    np.savez(tmp_path / "o.npz", **{"vgg/conv1_1/kernel": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(WeightsError):
        weights.load_vgg(tmp_path / "o.npz")


def test_pth_wrong_keys_and_shapes(torch_nets, tmp_path):
    import torch

    _, dec = torch_nets
    sd = dict(dec.state_dict())
    del sd["28.weight"]
    sd["99.weight"] = torch.zeros(1)
    torch.save(sd, tmp_path / "d.pth")
    with pytest.raises(WeightsError, match=r"missing: 28.weight; unexpected: 99.weight"):
        weights.load_decoder(tmp_path / "d.pth")
    sd = dict(dec.state_dict())
    sd["1.weight"] = torch.zeros(128, 512, 3, 3)
    torch.save(sd, tmp_path / "d.pth")
    with pytest.raises(WeightsError, match=r"conv4_1/kernel \(3,3,512,128\) != expected"):
        weights.load_decoder(tmp_path / "d.pth")
    # a decoder file passed as the VGG
    torch.save(dec.state_dict(), tmp_path / "d.pth")
    with pytest.raises(WeightsError, match=r"missing: 0.bias, 0.weight, 2.bias.*unexpected: 1.bias, 1.weight"):
        weights.load_vgg(tmp_path / "d.pth")


def test_t7_wrong_layer_count(torch_nets, tmp_path):
    from tests.reference.torch_adain import t7_from_sequential

    vgg, _ = torch_nets
    (tmp_path / "d.t7").write_bytes(t7_from_sequential(vgg))
    with pytest.raises(WeightsError, match="expected 9 convolution layers"):
        weights.load_decoder(tmp_path / "d.t7")


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_files(torch_nets, tmp_path, cut):
    import torch

    _, dec = torch_nets
    for fmt in (True, False):
        torch.save(dec.state_dict(), tmp_path / "d.pth", _use_new_zipfile_serialization=fmt)
        data = (tmp_path / "d.pth").read_bytes()
        (tmp_path / "d.pth").write_bytes(data[:int(len(data) * cut)])
        with pytest.raises(WeightsError, match="d.pth"):
            weights.load_decoder(tmp_path / "d.pth")
    weights.save_params(tmp_path / "d.npz", {"decoder": _random_tree("decoder")})
    data = (tmp_path / "d.npz").read_bytes()
    (tmp_path / "d.npz").write_bytes(data[:int(len(data) * cut)])
    with pytest.raises(WeightsError, match="d.npz"):
        weights.load_decoder(tmp_path / "d.npz")


def test_missing_unknown_and_garbage(tmp_path, monkeypatch):
    with pytest.raises(WeightsError, match="not found"):
        weights.load_vgg(tmp_path / "nope.pth")
    (tmp_path / "x.bin").write_bytes(b"hello world, not weights")
    with pytest.raises(WeightsError, match="unknown weight format"):
        weights.load_vgg(tmp_path / "x.bin")
    for suffix in (".pth", ".h5", ".npz", ".t7"):
        (tmp_path / f"g{suffix}").write_bytes(np.random.default_rng(0).bytes(300))
        with pytest.raises(WeightsError, match=f"g\\{suffix}"):
            weights.load_decoder(tmp_path / f"g{suffix}")
    from adain_jax.weights import load

    monkeypatch.setattr(load, "DEFAULT_DECODER", tmp_path / "absent.npz")
    with pytest.raises(WeightsError, match="no trained decoder ships yet: pass --decoder"):
        weights.load_decoder(None)


def test_shipped_vgg_loads():
    if not weights.DEFAULT_VGG.exists():
        pytest.skip("assets/vgg_normalised.npz not built")
    tree = weights.load_vgg(None)
    assert weights.check_tree("vgg", tree)
    with np.load(weights.DEFAULT_VGG, allow_pickle=False) as z:
        assert z["vgg/conv4_1/kernel"].dtype == np.float16


def test_convert_cli(torch_nets, tmp_path):
    import torch

    from tools.release import convert_weights as cli

    _, dec = torch_nets
    torch.save(dec.state_dict(), tmp_path / "decoder.pth")
    assert cli.main(["decoder", str(tmp_path / "decoder.pth"), str(tmp_path / "d.npz")]) == 0
    assert cli.main(["decoder", str(tmp_path / "decoder.pth"), str(tmp_path / "d.npz")]) == 2
    tree = weights.load_decoder(tmp_path / "d.npz")
    np.testing.assert_array_equal(tree["conv1_1"]["bias"], dec[28].bias.detach().numpy())


@pytest.mark.parametrize("hw", [(6, 8), (7, 9)])
def test_max_pool_value_and_gradient_match_torch(hw):
    """The reshape-based ceil-mode pool equals torch's max_pool2d, forward and backward."""
    torch = pytest.importorskip("torch")
    import jax
    import jax.numpy as jnp

    from adain_jax.nn.layers import max_pool_ceil

    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, *hw, 3)).astype(np.float32)       # no ties: a unique argmax
    g = rng.standard_normal((2, -(-hw[0] // 2), -(-hw[1] // 2), 3)).astype(np.float32)
    out, vjp = jax.vjp(max_pool_ceil, jnp.asarray(x))
    (grad,) = vjp(jnp.asarray(g))
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
    ref = torch.nn.functional.max_pool2d(xt, 2, 2, ceil_mode=True)
    ref.backward(torch.from_numpy(g.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_array_equal(np.asarray(out), nchw(ref.detach().numpy()))
    np.testing.assert_array_equal(np.asarray(grad), nchw(xt.grad.numpy()))
