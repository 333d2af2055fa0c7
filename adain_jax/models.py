"""Flax (linen) modules: the VGG-19 encoder up to relu4_1 and the AdaIN decoder.

Both take and return NHWC arrays. Convolutions are 3x3 with reflection padding 1,
as in the authors' Lua/PyTorch code; the encoder max-pools in ceil mode (odd sizes
keep their last row/column), matching ``nn.MaxPool2d(..., ceil_mode=True)``.
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype
from jax import lax

from . import onednn

Array = Any

# Layer tables: (name, output channels). They define the parameter-tree keys that
# weight conversion (``adain_jax.convert``) maps onto.
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
DOWNSCALE = 8  # relu4_1 is 1/8 of the input size; the decoder undoes it.


def reflect_pad(x: Array, pad: int = 1) -> Array:
    """Reflection padding of H and W (NHWC); falls back to edge mode for 1-pixel sides."""
    mode = "reflect" if min(x.shape[1], x.shape[2]) > pad else "edge"
    return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode=mode)


def max_pool_ceil(x: Array) -> Array:
    """2x2/2 max pool in ceil mode: an odd H or W keeps its last row/column.

    A max over a reshape rather than ``reduce_window``: same values, and its gradient is an
    element-wise mask instead of XLA's select-and-scatter, which is ~5x slower on the CPU
    (10% of a training step)."""
    ph, pw = x.shape[1] % 2, x.shape[2] % 2
    if ph or pw:
        x = jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), constant_values=-jnp.inf)
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def upsample_nearest(x: Array, factor: int = 2) -> Array:
    n, h, w, c = x.shape
    x = jnp.broadcast_to(x[:, :, None, :, None, :], (n, h, factor, w, factor, c))
    return x.reshape(n, h * factor, w * factor, c)


def resample(x: Array, how: str | None) -> Array:
    """The input resampling of a ``Conv3x3``: ``'pool'`` (max_pool_ceil), ``'up'``
    (upsample_nearest) or None (unchanged)."""
    if how is None:
        return x
    return {"pool": max_pool_ceil, "up": upsample_nearest}[how](x)


class Conv3x3(nn.Module):
    """3x3 convolution with reflection padding 1 (+ ReLU). Params: ``kernel`` (3, 3, in, out),
    ``bias``. ``resample`` (``'pool'``: ``max_pool_ceil``, ``'up'``: ``upsample_nearest``)
    is applied to the input first.

    On a CPU it runs as one oneDNN custom call (``adain_jax.onednn``) when available, with the
    resampling, padding and ReLU fused; with ``dtype=bfloat16`` there: bf16 inputs, f32
    accumulation and a bf16 output unless ``is_output`` (the network's last layer, kept
    float32)."""

    features: int
    relu: bool = False
    is_output: bool = False
    resample: str | None = None
    dtype: Any = None

    @nn.compact
    def __call__(self, x: Array) -> Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            (3, 3, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        if onednn.use_for(self.dtype):
            compute = jnp.dtype(self.dtype or jnp.float32)
            return onednn.conv3x3(x, kernel, bias, self.relu,
                                  jnp.float32 if self.is_output else compute, self.resample,
                                  compute)
        x, kernel, bias = promote_dtype(resample(x, self.resample), kernel, bias, dtype=self.dtype)
        y = lax.conv_general_dilated(reflect_pad(x), kernel, (1, 1), "VALID",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC")) + bias
        return nn.relu(y) if self.relu else y


class Encoder(nn.Module):
    """Normalised VGG-19 up to relu4_1.

    Input: RGB in [0, 1], (N, H, W, 3). A 1x1 ``preprocess`` conv maps it to the
    Caffe convention (BGR * 255 - mean) with weights that conversion fills in.
    Returns the features (relu1_1, relu2_1, relu3_1, relu4_1). The max pools after
    conv1_2, conv2_2 and conv3_4 run as the next conv's ``resample``.
    """

    dtype: Any = None

    @nn.compact
    def __call__(self, rgb: Array) -> tuple[Array, Array, Array, Array]:
        x = nn.Conv(3, (1, 1), dtype=self.dtype, name="preprocess")(rgb)
        feats, previous = [], None
        for name, ch in ENCODER_LAYERS:
            x = Conv3x3(ch, relu=True, is_output=name == ENCODER_LAYERS[-1][0],
                        resample="pool" if previous in POOL_AFTER else None,
                        dtype=self.dtype, name=name)(x)
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

    @nn.compact
    def __call__(self, feat: Array) -> Array:
        x, previous = feat, None
        for name, ch in DECODER_LAYERS:
            last = name == DECODER_LAYERS[-1][0]
            x = Conv3x3(ch, relu=not last, is_output=last,
                        resample="up" if previous in UPSAMPLE_AFTER else None,
                        dtype=self.dtype, name=name)(x)
            previous = name
        return x


def init_params(rng, size: int = 64) -> dict:
    """Random ``{'vgg': ..., 'decoder': ...}`` params (flax default init)."""
    import jax

    k1, k2 = jax.random.split(rng)
    x = jnp.zeros((1, size, size, 3), jnp.float32)
    vgg = Encoder().init(k1, x)["params"]
    feat = jnp.zeros((1, size // DOWNSCALE, size // DOWNSCALE, 512), jnp.float32)
    decoder = Decoder().init(k2, feat)["params"]
    return {"vgg": vgg, "decoder": decoder}


def random_params_np(part: str, seed: int = 1) -> dict:
    """He-scaled random ``'vgg'`` or ``'decoder'`` params as NumPy (instant, unlike an eager
    flax init); for tests, benchmarks and fault trials."""
    import numpy as np

    rng, out = np.random.default_rng(seed), {}
    for key, shape in sorted(expected_shapes(part).items()):
        layer, name = key.split("/")
        fan_in = int(np.prod(shape[:-1]))
        out.setdefault(layer, {})[name] = (
            rng.standard_normal(shape) * np.sqrt(2.0 / fan_in) if name == "kernel"
            else np.zeros(shape)).astype(np.float32)
    return out


def encode(vgg_params, rgb: Array, dtype=None) -> tuple[Array, ...]:
    """Features (relu1_1..relu4_1) of RGB images in [0, 1]."""
    return Encoder(dtype=dtype).apply({"params": vgg_params}, rgb)


def decode(decoder_params, feat: Array, dtype=None) -> Array:
    return Decoder(dtype=dtype).apply({"params": decoder_params}, feat)


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
    "Encoder", "Decoder", "init_params", "encode", "decode", "expected_shapes", "param_shapes",
    "ENCODER_LAYERS", "DECODER_LAYERS", "FEATURE_LAYERS",
)
