"""ONNX export written from the parameter tree with the ``onnx`` package.

Each layer maps to one or two standard operators: ``Pad(mode=reflect)`` + ``Conv`` for a 3x3
convolution, ``MaxPool(ceil_mode=1)``, ``Resize(nearest)`` for the x2 upsampling,
``ReduceMean``/``Sqrt`` for the channel statistics, ``Clip`` for the output range (opset 17,
which onnxruntime and onnxruntime-web run). The graph computes in NCHW between a transpose
after each image input and one before each output, so its inputs and outputs are NHWC like the
library's. Batch (``N``; the style batch ``S`` is 1 or N) and image sides (``H``, ``W``) are
dynamic; sides are multiples of 8, at least 16 (see ``graph.pad_input``). The layer order and
names come from ``nn.models``; ``graph`` holds the JAX functions this must agree with.

The lite model (``nn.lite``, a ``{'lite_encoder', 'decoder'}`` tree) follows its layer tables:
``SpaceToDepth`` (blocksize 2; channels ordered (block row, block column, channel) as
``layers.space_to_depth``) before the stem's reflect-padded 3x3 ``Conv`` and before each 1x1
``down`` conv, depthwise 3x3 as ``Conv(group=C)`` with zero ``pads`` then a 1x1 ``Conv``
(+ ``Add`` of the block input when the channels match), ``Resize(nearest)`` for ``up`` and
``DepthToSpace(mode=DCR)`` after the output's 1x1 conv to 12 channels. Its encoder first pads
H and W by reflection at the bottom/right to multiples of 8 (a no-op on content sides, which
are multiples of 8; a style may have any size from 16 up, as in the main graph).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from adain_jax import ops
from adain_jax.errors import ConfigError
from adain_jax.export import graph as graphs
from adain_jax.fs import atomic_write
from adain_jax.model import registry
from adain_jax.nn import layers, lite, models
from adain_jax.nn.models import DECODER_LAYERS, ENCODER_LAYERS, POOL_AFTER, UPSAMPLE_AFTER

OPSET = 17
_NCHW, _NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ConfigError("ONNX export needs the onnx package: pip install 'adain-jax[export]'") from None
    return onnx


class _Graph:
    """Nodes and initializers of one graph, with unique names."""

    def __init__(self, dtype=np.float32):
        self.onnx = _onnx()
        self.nodes, self.inits, self.dtype, self._count = [], [], dtype, 0
        self._weights: dict[str, str] = {}  # the encoder runs twice in ``stylize``: one copy

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint: str, value, dtype=None) -> str:
        name = self.name(hint)
        arr = np.asarray(value, dtype or np.float32)
        self.inits.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def weight(self, hint: str, value) -> str:
        """A weight (stored once per ``hint``) in the graph's weight dtype, cast back to
        float32 in the graph if stored as float16."""
        if hint not in self._weights:
            name = self.const(hint, value, self.dtype)
            if self.dtype != np.float32:
                name = self.op("Cast", name, to=self.onnx.TensorProto.FLOAT)
            self._weights[hint] = name
        return self._weights[hint]

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs) -> str:
        out = out or self.name(op_type.lower())
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), [out], **attrs))
        return out


def _conv(g: _Graph, x: str, kernel, bias, name: str, relu: bool = False, **attrs) -> str:
    """``Conv`` (+ ``Relu``) with a flax kernel: HWIO (depthwise: (3, 3, 1, C) with
    ``group=C``), or a ``Dense`` kernel (in, out) as a 1x1 convolution."""
    kernel = np.asarray(kernel, np.float32)
    kernel = np.transpose(kernel[None, None] if kernel.ndim == 2 else kernel, (3, 2, 0, 1))
    x = g.op("Conv", x, g.weight(f"{name}_kernel", kernel),
             g.weight(f"{name}_bias", np.asarray(bias, np.float32)),
             kernel_shape=list(kernel.shape[2:]), **attrs)
    return g.op("Relu", x) if relu else x


def _upsample(g: _Graph, x: str) -> str:
    """Nearest x2 as ``layers.upsample_nearest``."""
    return g.op("Resize", x, "", g.const("scales", [1.0, 1.0, 2.0, 2.0]), mode="nearest",
                nearest_mode="floor", coordinate_transformation_mode="asymmetric")


def _conv3x3(g: _Graph, x: str, p, relu: bool, resample: str | None, name: str) -> str:
    if resample == "pool":
        x = g.op("MaxPool", x, kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)
    elif resample == "up":
        x = _upsample(g, x)
    x = g.op("Pad", x, g.const("pads", [0, 0, 1, 1, 0, 0, 1, 1], np.int64), mode="reflect")
    return _conv(g, x, p["kernel"], p["bias"], name, relu)


def _encode(g: _Graph, vgg, x: str) -> str:
    """relu4_1 (NCHW) of an NCHW image."""
    pre = vgg["preprocess"]
    x = _conv(g, x, pre["kernel"], pre["bias"], "preprocess")
    previous = None
    for name, _ in ENCODER_LAYERS:
        x = _conv3x3(g, x, vgg[name], True, "pool" if previous in POOL_AFTER else None,
                     f"vgg_{name}")
        previous = name
    return x


def _decode(g: _Graph, dec, x: str) -> str:
    """NCHW image (not clipped) of NCHW relu4_1 features."""
    previous = None
    for name, _ in DECODER_LAYERS:
        x = _conv3x3(g, x, dec[name], name != DECODER_LAYERS[-1][0],
                     "up" if previous in UPSAMPLE_AFTER else None, f"decoder_{name}")
        previous = name
    return x


def _pad_to_multiple(g: _Graph, x: str, multiple: int = layers.DOWNSCALE) -> str:
    """NCHW ``x`` padded at the bottom/right by reflection to multiples of ``multiple``
    (``layers.pad_to_multiple`` for sides of at least ``multiple``)."""
    hw = g.op("Slice", g.op("Shape", x), g.const("start", [2], np.int64),
              g.const("end", [4], np.int64))
    extra = g.op("Mod", g.op("Neg", hw), g.const("multiple", [multiple], np.int64))
    pads = g.op("Concat", g.const("no_pads", [0] * 6, np.int64), extra, axis=0)
    return g.op("Pad", x, pads, mode="reflect")


def _separable(g: _Graph, x: str, p, name: str, relu: bool = True) -> str:
    """3x3 depthwise conv (zero padding 1) then 1x1 conv, as ``lite.SeparableBlock`` (without
    the residual) and the first half of ``lite.ShuffleOut``."""
    c = p["dw_kernel"].shape[-1]
    x = _conv(g, x, p["dw_kernel"], p["dw_bias"], f"{name}_dw", group=c, pads=[1, 1, 1, 1])
    return _conv(g, x, p["pw"]["kernel"], p["pw"]["bias"], f"{name}_pw", relu)


def _lite_layer(g: _Graph, x: str, kind: str, p, name: str) -> str:
    """One row of ``lite.encoder_table``/``decoder_table`` on NCHW ``x``."""
    if kind in ("stem", "down"):
        x = g.op("SpaceToDepth", x, blocksize=2)
        if kind == "stem":
            return _conv3x3(g, x, p, True, None, name)
        return _conv(g, x, p["kernel"], p["bias"], name, relu=True)
    if kind == "conv":
        return _conv3x3(g, x, p, True, None, name)
    if kind == "up":
        return _upsample(g, x)
    if kind == "shuffle":
        return g.op("DepthToSpace", _separable(g, x, p, name, relu=False), blocksize=2,
                    mode="DCR")
    y = _separable(g, x, p, name)  # 'ds'
    same = p["pw"]["kernel"].shape[1] == p["dw_kernel"].shape[-1]
    return g.op("Add", y, x) if same else y


def _lite_encode(g: _Graph, enc, config: lite.LiteConfig, x: str) -> str:
    """The lite model's 1/8 features (NCHW) of an NCHW image."""
    x = _pad_to_multiple(g, x)
    for name, kind, _ in lite.encoder_table(config):
        x = _lite_layer(g, x, kind, enc[name], f"lite_{name}")
    return x


def _lite_decode(g: _Graph, dec, config: lite.LiteConfig, x: str) -> str:
    """NCHW image (not clipped) of the lite model's NCHW features."""
    for name, kind, _ in lite.decoder_table(config):
        x = _lite_layer(g, x, kind, dec.get(name), f"decoder_{name}")
    return x


def _stats(g: _Graph, x: str) -> tuple[str, str]:
    """Channel mean and std (N, C, 1, 1) as ``ops.channel_stats``."""
    mean = g.op("ReduceMean", x, axes=[2, 3], keepdims=1)
    diff = g.op("Sub", x, mean)
    var = g.op("ReduceMean", g.op("Mul", diff, diff), axes=[2, 3], keepdims=1)
    return mean, g.op("Sqrt", g.op("Add", var, g.const("eps", ops.EPS)))


def _adain_blend(g: _Graph, feat: str, s_mean: str, s_std: str, alpha: str) -> str:
    """``alpha * AdaIN(feat) + (1 - alpha) * feat`` as ``ops.adain_from_stats``/``ops.blend``."""
    c_mean, c_std = _stats(g, feat)
    norm = g.op("Div", g.op("Sub", feat, c_mean), c_std)
    target = g.op("Add", g.op("Mul", norm, s_std), s_mean)
    keep = g.op("Sub", g.const("one", 1.0), alpha)
    return g.op("Add", g.op("Mul", alpha, target), g.op("Mul", keep, feat))


def _body(g: _Graph, params, graph: str) -> None:
    """Nodes from the named NHWC inputs to the named NHWC outputs of ``graph``."""
    entry = registry.of(params)
    if entry.net is lite:
        config = lite.config_of(params)

        def encode(x):
            return _lite_encode(g, params[lite.ENCODER_KEY], config, x)

        def decode(x):
            return _lite_decode(g, params["decoder"], config, x)
    elif entry.net is models:
        def encode(x):
            return _encode(g, params["vgg"], x)

        def decode(x):
            return _decode(g, params["decoder"], x)
    else:
        raise ConfigError(f"the ONNX writer has no layers for the {entry.name} model")

    def output(x):
        x = g.op("Clip", x, g.const("zero", 0.0), g.const("one", 1.0))
        g.op("Transpose", x, out="output", perm=_NHWC)

    nchw = {name: g.op("Transpose", name, perm=_NCHW)
            for name in graphs.INPUTS[graph] if name != "alpha"}
    if graph == "decoder":
        return output(decode(nchw["features"]))
    if graph in ("stylize", "style_stats"):
        s_mean, s_std = _stats(g, encode(nchw["style"]))
    else:
        s_mean, s_std = nchw["style_mean"], nchw["style_std"]
    if graph == "style_stats":
        g.op("Transpose", s_mean, out="style_mean", perm=_NHWC)
        g.op("Transpose", s_std, out="style_std", perm=_NHWC)
        return
    feat = encode(nchw["content"])
    output(decode(_adain_blend(g, feat, s_mean, s_std, "alpha")))


def _value_info(onnx, name: str, graph: str, channels: int):
    # The style batch S of the stylize graphs is 1 or N; style_stats has one batch.
    s = "N" if graph == "style_stats" else "S"
    shapes = {
        "content": ["N", "H", "W", 3], "style": [s, "SH", "SW", 3], "alpha": [],
        "style_mean": [s, 1, 1, channels], "style_std": [s, 1, 1, channels],
        "features": ["N", "h", "w", channels],
        "output": ["N", "h8", "w8", 3] if graph == "decoder" else ["N", "H", "W", 3],
    }
    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shapes[name])


def build(params, graph: str = "stylize", weights: str = "float32"):
    """The ``onnx.ModelProto`` of ``graph`` (``graph.GRAPHS``) with ``params`` as initializers.

    Args:
      params: ``{'vgg': ..., 'decoder': ...}`` or the lite ``{'lite_encoder': ...,
        'decoder': ...}``.
      graph: which graph (see ``export.graph``).
      weights: ``'float32'``, or ``'float16'`` to store the weights at half the size (each is
        cast to float32 in the graph; the computation stays float32).
    """
    graphs.function(graph)  # validates the name
    dtypes = {"float32": np.float32, "float16": np.float16}
    if weights not in dtypes:
        raise ConfigError(f"ONNX weights must be float32 or float16, not {weights!r}")
    g = _Graph(dtypes[weights])
    entry = registry.of(params)
    _body(g, params, graph)
    onnx, channels = g.onnx, graphs.channels(params)
    body = onnx.helper.make_graph(
        g.nodes, f"adain_{'' if entry.net is models else entry.name + '_'}{graph}",
        [_value_info(onnx, n, graph, channels) for n in graphs.INPUTS[graph]],
        [_value_info(onnx, n, graph, channels) for n in graphs.OUTPUTS[graph]], g.inits)
    model = onnx.helper.make_model(body, opset_imports=[onnx.helper.make_opsetid("", OPSET)],
                                   producer_name="adain-jax")
    model.ir_version = 8  # readable by onnxruntime >= 1.14 and onnxruntime-web
    onnx.checker.check_model(model)
    return model


def save(params, path: str | os.PathLike, graph: str = "stylize", weights: str = "float32",
         overwrite: bool = True) -> Path:
    """Build ``graph`` and write it to ``path`` atomically (one self-contained ``.onnx`` file)."""
    return atomic_write(path, build(params, graph, weights).SerializeToString(),
                        overwrite=overwrite)
