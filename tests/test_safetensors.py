"""Weights in safetensors: round trip, sniffing by content, PyTorch state dicts, header checks,
and ``load_params(path)`` for a user-trained decoder."""
import json
import struct

import jax
import numpy as np
import pytest

import adain_jax
from adain_jax import weights
from adain_jax.errors import WeightsError
from adain_jax.nn import init_params
from adain_jax.weights import safetensors_io


@pytest.fixture(scope="module")
def params():
    return jax.tree_util.tree_map(np.asarray, init_params(jax.random.PRNGKey(1)))


def assert_trees_equal(a, b):
    fa, fb = weights.flatten(a), weights.flatten(b)
    assert fa.keys() == fb.keys()
    for k in fa:
        np.testing.assert_array_equal(np.asarray(fa[k], np.float32), fb[k], err_msg=k)


def test_round_trip_any_name(tmp_path, params):
    path = weights.save_params(tmp_path / "dec.safetensors", {"decoder": params["decoder"]})
    weird = tmp_path / "decoder.bin"  # sniffed by content, not by name
    weird.write_bytes(path.read_bytes())
    for p in (path, weird):
        assert weights.sniff_format(p) == "safetensors"
        assert_trees_equal(params["decoder"], weights.load_decoder(p))
    assert weights.parts_in(path) == {"decoder"}
    header = safetensors_io.read_header(path)
    assert header["__metadata__"] == {"format": weights.FORMAT_TAG}


def test_float16_and_both_parts(tmp_path, params):
    path = weights.save_params(tmp_path / "all.safetensors", params, dtype=np.float16)
    vgg = weights.load_vgg(path)
    assert vgg["conv1_1"]["kernel"].dtype == np.float32
    np.testing.assert_allclose(vgg["conv1_1"]["kernel"], params["vgg"]["conv1_1"]["kernel"],
                               rtol=1e-3, atol=1e-4)


def test_readable_by_the_safetensors_package(tmp_path, params):
    from safetensors.numpy import load_file

    path = weights.save_params(tmp_path / "dec.safetensors", {"decoder": params["decoder"]})
    flat = load_file(str(path))
    np.testing.assert_array_equal(flat["decoder/conv4_1/kernel"],
                                  params["decoder"]["conv4_1"]["kernel"])


def test_pytorch_state_dict(tmp_path, params):
    """A decoder.pth converted with safetensors.torch (nn.Sequential indices, OIHW)."""
    from safetensors.numpy import save_file

    from adain_jax.weights.tables import AUTHORS_DECODER_PTH

    flat = {}
    for ours, index in AUTHORS_DECODER_PTH.items():
        k = params["decoder"][ours]
        flat[f"{index}.weight"] = np.ascontiguousarray(np.transpose(k["kernel"], (3, 2, 0, 1)))
        flat[f"{index}.bias"] = np.asarray(k["bias"])
    save_file(flat, str(tmp_path / "decoder.safetensors"))
    assert weights.parts_in(tmp_path / "decoder.safetensors") is None
    assert_trees_equal(params["decoder"], weights.load_decoder(tmp_path / "decoder.safetensors"))


def test_existing_file_kept_without_overwrite(tmp_path, params):
    path = weights.save_params(tmp_path / "d.safetensors", {"decoder": params["decoder"]})
    with pytest.raises(WeightsError, match="exists"):
        weights.save_params(path, {"decoder": params["decoder"]})


def _header_file(path, header, data=b""):
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


@pytest.mark.parametrize("header,data,message", [
    ({"decoder/conv1_1/kernel": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}},
     b"\0" * 8, "not F16/F32"),
    ({"decoder/conv1_1/kernel": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}},
     b"\0" * 8, "truncated"),
    ({"decoder/conv1_1/kernel": {"dtype": "F32", "shape": [1 << 30], "data_offsets": [0, 4]}},
     b"\0" * 4, "limit"),
    ({"a/b/c": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "a/b/d": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12, "overlapping"),
])
def test_bad_headers_are_one_line_errors(tmp_path, header, data, message):
    path = _header_file(tmp_path / "bad.safetensors", header, data)
    with pytest.raises(WeightsError, match=message) as e:
        weights.load_decoder(path)
    assert "\n" not in str(e.value)


def test_load_params_of_a_user_trained_decoder(tmp_path, params):
    path = weights.save_params(tmp_path / "mine.safetensors", {"decoder": params["decoder"]})
    loaded = adain_jax.load_params(path)
    assert_trees_equal(params["decoder"], loaded["decoder"])
    assert_trees_equal(weights.load_vgg(None), loaded["vgg"])  # the shipped VGG
    both = weights.save_params(tmp_path / "both.npz", params)
    assert_trees_equal(params, adain_jax.load_params(both))
    vgg_only = weights.save_params(tmp_path / "vgg.npz", {"vgg": params["vgg"]})
    got = adain_jax.load_params(vgg_only)  # the old meaning: a VGG file, shipped decoder
    assert_trees_equal(params["vgg"], got["vgg"])
    assert_trees_equal(weights.load_decoder(None), got["decoder"])
    assert_trees_equal(params, adain_jax.load_params(vgg=vgg_only, decoder=path))


def test_keras_without_h5py_is_a_one_line_error(tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_h5py(name, *a, **k):
        if name == "h5py":
            raise ImportError("No module named 'h5py'")
        return real(name, *a, **k)

    path = tmp_path / "vgg.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    monkeypatch.setattr(builtins, "__import__", no_h5py)
    with pytest.raises(WeightsError, match=r"needs h5py: pip install 'adain-jax\[keras\]'"):
        weights.load_vgg(path)
