"""Flax (linen) modules: the VGG-19 encoder up to relu4_1 and the AdaIN decoder.

Both take and return NHWC arrays. The layer tables below define the parameter-tree keys that
weight conversion (``adain_jax.weights``) maps onto; the parameter-free layers are in
``nn.layers`` and the convolution backends (XLA, oneDNN) in ``nn.backends``.
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from adain_jax.nn import backends
from adain_jax.nn.layers import DOWNSCALE

Array = Any

# Layer tables: (name, output channels). They define the parameter-tree keys that
# weight conversion (``adain_jax.weights``) maps onto.
ENCODER_LAYERS: tuple[tuple[str, int], ...] = (
    ("conv1_1", 64), ("conv1_2", 64),
    ("conv2_1", 128), ("conv2_2", 128),
    ("conv3_1", 256), ("conv3_2", 256), ("conv3_3", 256), ("conv3_4", 256),
    ("conv4_1", 512),
)
POOL_AFTER = ("conv1_2", "conv2_2", "conv3_4")
FEATURE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
DECODER_LAYERS: tuple[tuple[str, int], ...] = (
    ("conv4_1", 256),
    ("conv3_4", 256), ("conv3_3", 256), ("conv3_2", 256), ("conv3_1", 128),
    ("conv2_2", 128), ("conv2_1", 64),
    ("conv1_2", 64), ("conv1_1", 3),
)
UPSAMPLE_AFTER = ("conv4_1", "conv3_1", "conv2_1")


class Conv3x3(nn.Module):
    """3x3 convolution with reflection padding 1 (+ ReLU). Params: ``kernel`` (3, 3, in, out),
    ``bias``. ``resample`` (``'pool'``: ``max_pool_ceil``, ``'up'``: ``upsample_nearest``)
    is applied to the input first.

    ``backend`` (``nn.backends``): ``'xla'``, or ``'onednn'`` (one custom call with the
    resampling, padding and ReLU fused; with ``dtype=bfloat16``: bf16 inputs, f32 accumulation
    and a bf16 output unless ``is_output``, the network's last layer, kept float32)."""

    features: int
    relu: bool = False
    is_output: bool = False
    resample: str | None = None
    dtype: Any = None
    backend: str = "xla"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            (3, 3, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        return backends.conv3x3(self.backend, x, kernel, bias, relu=self.relu,
                                is_output=self.is_output, resample=self.resample,
                                dtype=self.dtype)


class Encoder(nn.Module):
    """Normalised VGG-19 up to relu4_1.

    Input: RGB in [0, 1], (N, H, W, 3). A 1x1 ``preprocess`` conv maps it to the
    Caffe convention (BGR * 255 - mean) with weights that conversion fills in.
    Returns the features (relu1_1, relu2_1, relu3_1, relu4_1). The max pools after
    conv1_2, conv2_2 and conv3_4 run as the next conv's ``resample``.
    """

    dtype: Any = None
    backend: str | None = None  # None: ``backends.select(dtype)``

    @nn.compact
    def __call__(self, rgb: Array) -> tuple[Array, Array, Array, Array]:
        backend = self.backend or backends.select(self.dtype)
        x = nn.Conv(3, (1, 1), dtype=self.dtype, name="preprocess")(rgb)
        feats, previous = [], None
        for name, ch in ENCODER_LAYERS:
            x = Conv3x3(ch, relu=True, is_output=name == ENCODER_LAYERS[-1][0],
                        resample="pool" if previous in POOL_AFTER else None,
                        dtype=self.dtype, backend=backend, name=name)(x)
            if name.endswith("_1"):
                feats.append(x)
            previous = name
        return tuple(feats)


class Decoder(nn.Module):
    """Mirror of the encoder: relu4_1 features (N, h, w, 512) -> RGB (N, 8h, 8w, 3).

    No normalisation layers; the output is not clipped (the loss sees raw values). The
    nearest upsamplings after conv4_1, conv3_1 and conv2_1 run as the next conv's
    ``resample``.
    """

    dtype: Any = None
    backend: str | None = None  # None: ``backends.select(dtype)``

    @nn.compact
    def __call__(self, feat: Array) -> Array:
        backend = self.backend or backends.select(self.dtype)
        x, previous = feat, None
        for name, ch in DECODER_LAYERS:
            last = name == DECODER_LAYERS[-1][0]
            x = Conv3x3(ch, relu=not last, is_output=last,
                        resample="up" if previous in UPSAMPLE_AFTER else None,
                        dtype=self.dtype, backend=backend, name=name)(x)
            previous = name
        return x


def init_decoder(rng, size: int = 16) -> dict:
    """Random decoder params (flax default init); ``size``: the input image side it is traced
    with (any multiple of 8 gives the same tree)."""
    feat = jnp.zeros((1, size // DOWNSCALE, size // DOWNSCALE, 512), jnp.float32)
    return Decoder(backend="xla").init(rng, feat)["params"]


def init_params(rng, size: int = 64) -> dict:
    """Random ``{'vgg': ..., 'decoder': ...}`` params (flax default init)."""
    import jax

    k1, k2 = jax.random.split(rng)
    x = jnp.zeros((1, size, size, 3), jnp.float32)
    vgg = Encoder(backend="xla").init(k1, x)["params"]
    return {"vgg": vgg, "decoder": init_decoder(k2, size)}


def encode(vgg_params, rgb: Array, dtype=None, backend: str | None = None) -> tuple[Array, ...]:
    """Features (relu1_1..relu4_1) of RGB images in [0, 1] (``backend`` None: the usual
    ``backends.select``; ``'xla'`` forces XLA's convolutions, e.g. for export)."""
    return Encoder(dtype=dtype, backend=backend).apply({"params": vgg_params}, rgb)


def decode(decoder_params, feat: Array, dtype=None, backend: str | None = None) -> Array:
    return Decoder(dtype=dtype, backend=backend).apply({"params": decoder_params}, feat)


def param_shapes(params) -> dict[str, tuple[int, ...]]:
    """Flat ``'a/b/kernel' -> shape`` view, used for key/shape checks."""
    from flax.traverse_util import flatten_dict

    return {"/".join(k): tuple(v.shape) for k, v in flatten_dict(params).items()}


def expected_shapes(part: str) -> dict[str, tuple[int, ...]]:
    """Shapes of a fresh ``'vgg'`` or ``'decoder'`` tree, without allocating weights."""
    import jax

    shapes = jax.eval_shape(lambda: init_params(jax.random.PRNGKey(0), 16))
    return param_shapes(shapes[part])


__all__: Sequence[str] = (
    "Encoder", "Decoder", "init_params", "init_decoder", "encode", "decode", "expected_shapes", "param_shapes",
    "ENCODER_LAYERS", "DECODER_LAYERS", "FEATURE_LAYERS",
)
