"""The .t7 reader against files written by the test serializer."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from adain_jax.errors import WeightsError
from adain_jax.weights.torch7 import conv_layers, read_t7

torch = pytest.importorskip("torch")
from tests.reference.torch_adain import (T7Obj, T7Tensor, T7Writer, make_decoder,  # noqa: E402
                                         t7_conv, t7_from_sequential, t7_sequential)


def test_scalars_tables_and_references(tmp_path):
    shared = {"x": 1.5}
    obj = {"n": 3, "f": -0.25, "s": "hello", "b": True, "nil": None, "a": shared, "b2": shared,
           "t": T7Tensor(np.arange(6, dtype=np.float32).reshape(2, 3)),
           "d": T7Tensor(np.ones(2), "torch.DoubleTensor")}
    (tmp_path / "o.t7").write_bytes(bytes(T7Writer().write(obj).out))
    out = read_t7(tmp_path / "o.t7")
    assert out["n"] == 3 and out["f"] == -0.25 and out["s"] == "hello" and out["b"] is True
    assert "nil" not in out or out["nil"] is None
    assert out["a"] is out["b2"]
    np.testing.assert_array_equal(out["t"], np.arange(6).reshape(2, 3))
    assert out["d"].dtype == np.float64


def test_conv_layers_in_order_with_nesting_and_mm(tmp_path):
    torch.manual_seed(0)
    c1, c2, c3 = torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 5, 3), torch.nn.Conv2d(5, 2, 1)
    inner = t7_sequential([t7_conv(c2, "nn.SpatialConvolutionMM"), T7Obj("nn.ReLU", {})])
    root = t7_sequential([t7_conv(c1), inner, t7_conv(c3, "cudnn.SpatialConvolution",
                                                      "torch.CudaTensor")])
    (tmp_path / "n.t7").write_bytes(bytes(T7Writer().write(root).out))
    layers = conv_layers(tmp_path / "n.t7")
    assert [l.class_name for l in layers] == ["nn.SpatialConvolution", "nn.SpatialConvolutionMM",
                                              "cudnn.SpatialConvolution"]
    for layer, conv in zip(layers, (c1, c2, c3)):
        np.testing.assert_array_equal(layer.weight, conv.weight.detach().numpy())
        np.testing.assert_array_equal(layer.bias, conv.bias.detach().numpy())


def test_decoder_round_trip(tmp_path):
    dec = make_decoder()
    (tmp_path / "d.t7").write_bytes(t7_from_sequential(dec))
    layers = conv_layers(tmp_path / "d.t7")
    convs = [m for m in dec if isinstance(m, torch.nn.Conv2d)]
    assert len(layers) == len(convs) == 9
    for layer, conv in zip(layers, convs):
        np.testing.assert_allclose(layer.weight, conv.weight.detach().numpy(), rtol=1e-7)


def test_truncated_and_garbage(tmp_path):
    data = t7_from_sequential(make_decoder())
    for cut in (3, 100, len(data) // 2, len(data) - 1):
        (tmp_path / "t.t7").write_bytes(data[:cut])
        with pytest.raises(WeightsError) as e:
            conv_layers(tmp_path / "t.t7")
        assert "\n" not in str(e.value)
    (tmp_path / "g.t7").write_bytes(struct.pack("<i", 99) + b"xxxx")
    with pytest.raises(WeightsError, match="unknown type tag 99"):
        read_t7(tmp_path / "g.t7")
    # a huge declared storage must not allocate
    bad = T7Writer()
    bad.int32(4), bad.int32(1), bad.string("V 1"), bad.string("torch.FloatStorage")
    bad.int64(1 << 40)
    (tmp_path / "h.t7").write_bytes(bytes(bad.out))
    with pytest.raises(WeightsError, match="truncated"):
        read_t7(tmp_path / "h.t7")
    (tmp_path / "nc.t7").write_bytes(bytes(T7Writer().write(t7_sequential([])).out))
    with pytest.raises(WeightsError, match="no convolution layers"):
        conv_layers(tmp_path / "nc.t7")
