"""The lite encoder/decoder pair: AdaIN on small features, for fast CPU stylization.

Same contract as ``nn.models``: NHWC RGB in [0, 1] in, a tuple of features out whose last
element is "relu4_1-like" (1/8 of the input size, non-negative, ``feat`` channels), on which
AdaIN is the core operation; the decoder maps those features back to RGB at 8x the size.

Encoder: a space-to-depth stem (2x2 pixels -> 12 channels) and a dense 3x3 conv at 1/2, then
two downsampling steps (space-to-depth + 1x1 conv) to 1/4 and 1/8; every stage has ``depth``
depthwise-separable blocks (3x3 depthwise with zero padding, 1x1 pointwise, ReLU, residual).
Decoder: a dense 3x3 conv at 1/8, then nearest upsampling and ``depth`` depthwise-separable
blocks per stage, and a sub-pixel output (:class:`ShuffleOut`: 1/2 resolution -> RGB).

The layer tables (``encoder_table``/``decoder_table``) define the parameter-tree keys and are
functions of ``LiteConfig`` (width, depth, feature channels); ``config_of`` reads the config
back from a parameter tree, so a tree of this model describes itself. A params tree of the
lite model is ``{'lite_encoder': ..., 'decoder': ...}`` (the main model's is
``{'vgg': ..., 'decoder': ...}``); ``adain_jax.model`` tells them apart.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from adain_jax.nn import backends, layers
from adain_jax.nn.models import Conv3x3

Array = Any
ENCODER_KEY = "lite_encoder"
MAX_WIDTH, MAX_DEPTH, MAX_FEATURES = 512, 8, 2048   # what a weights file may describe
HEAD_KEY = "distill_head"   # training only: lite features -> VGG relu4_1 (never shipped)
TEACHER_CHANNELS = 512      # relu4_1 of the VGG


@dataclasses.dataclass(frozen=True)
class LiteConfig:
    """A lite variant. ``width``: channels at 1/2 (2x at 1/4); ``depth``: depthwise-separable
    blocks per stage; ``feat``: channels of the 1/8 features (default 4 * width)."""

    width: int = 32
    depth: int = 1
    feat: int | None = None

    @property
    def channels(self) -> int:
        return self.feat or 4 * self.width


# A table row: (name, kind, output channels). Kinds: 'stem' (space-to-depth 2 + dense 3x3 +
# ReLU), 'down' (space-to-depth 2 + 1x1 + ReLU), 'ds' (depthwise-separable block, residual
# when the channels match), 'conv' (dense 3x3 + ReLU), 'up' (nearest x2, no params),
# 'shuffle' (depthwise 3x3 + 1x1 to 4x3 channels + depth-to-space: RGB at 2x, no ReLU).
def encoder_table(cfg: LiteConfig) -> tuple[tuple[str, str, int], ...]:
    w, d, f = cfg.width, cfg.depth, cfg.channels
    rows = [("stem", "stem", w)] + [(f"b1_{i + 1}", "ds", w) for i in range(d)]
    rows += [("down2", "down", 2 * w)] + [(f"b2_{i + 1}", "ds", 2 * w) for i in range(d)]
    rows += [("down3", "down", f)] + [(f"b3_{i + 1}", "ds", f) for i in range(d)]
    return tuple(rows)


def decoder_table(cfg: LiteConfig) -> tuple[tuple[str, str, int], ...]:
    w, d = cfg.width, cfg.depth
    rows = [("conv3", "conv", 2 * w), ("up3", "up", 2 * w)]
    rows += [(f"b2_{i + 1}", "ds", 2 * w) for i in range(d)]
    rows += [("up2", "up", 2 * w)] + [(f"b1_{i + 1}", "ds", w) for i in range(d)]
    rows += [("out", "shuffle", 3)]
    return tuple(rows)


def depthwise3x3(x: Array, kernel: Array) -> Array:
    """3x3 depthwise convolution with zero padding 1: ``kernel`` (3, 3, 1, C).

    A sum of nine shifted, per-channel scaled copies, which XLA fuses into one loop; its
    grouped convolution (``feature_group_count=C``) runs several times slower on a CPU, and
    reflection padding here breaks the fusion (zero padding, as in MobileNet)."""
    h, w = x.shape[1:3]
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return sum(xp[:, i:i + h, j:j + w, :] * kernel[i, j, 0] for i in range(3) for j in range(3))


def _depthwise(module: nn.Module, x: Array, dtype) -> tuple[Array, Array]:
    """A block's 3x3 depthwise conv (zero padding 1; params ``dw_kernel``, ``dw_bias`` of
    ``module``): (the input in the compute dtype, the conv's output)."""
    c = x.shape[-1]
    k = module.param("dw_kernel", nn.initializers.lecun_normal(), (3, 3, 1, c))
    b = module.param("dw_bias", nn.initializers.zeros_init(), (c,))
    xd, k, b = nn.dtypes.promote_dtype(x, k, b, dtype=dtype)
    return xd, depthwise3x3(xd, k) + b


class ShuffleOut(nn.Module):
    """The RGB output at twice the input's resolution: 3x3 depthwise conv (zero padding,
    ``dw_kernel``/``dw_bias``), 1x1 conv to ``4 * features`` channels (``pw``, no ReLU), then
    depth-to-space (sub-pixel convolution). XLA's dense 3x3 convolutions with few output
    channels run far below the CPU's speed; this path avoids them at the finest scale."""

    features: int = 3
    dtype: Any = None

    @nn.compact
    def __call__(self, x: Array) -> Array:
        _, y = _depthwise(self, x, self.dtype)
        y = nn.Dense(4 * self.features, dtype=self.dtype, name="pw")(y)
        return layers.depth_to_space(y.astype(jnp.float32))


class SeparableBlock(nn.Module):
    """3x3 depthwise conv (zero padding 1, params ``dw_kernel``/``dw_bias``) then 1x1 conv
    (``pw``) + ReLU; the input is added back when the channel counts match."""

    features: int
    dtype: Any = None

    @nn.compact
    def __call__(self, x: Array) -> Array:
        xd, y = _depthwise(self, x, self.dtype)
        y = nn.relu(nn.Dense(self.features, dtype=self.dtype, name="pw")(y))
        return y + xd if self.features == x.shape[-1] else y


class LiteEncoder(nn.Module):
    """RGB (N, H, W, 3) -> (1/2, 1/4, 1/8 features); the last is the AdaIN feature
    (N, ceil(H/8), ceil(W/8), ``config.channels``). Sides that are not multiples of 8 are
    padded first (``layers.pad_to_multiple``), as the main encoder's ceil-mode pools keep
    the last row/column."""

    config: LiteConfig = LiteConfig()
    dtype: Any = None
    backend: str | None = None  # None: ``backends.select(dtype)`` for the dense 3x3 convs

    @nn.compact
    def __call__(self, rgb: Array) -> tuple[Array, ...]:
        backend = self.backend or backends.select(self.dtype)
        rgb = layers.pad_to_multiple(rgb)
        x, feats = rgb, []
        for name, kind, ch in encoder_table(self.config):
            if kind in ("stem", "down") and x is not rgb:
                feats.append(x)
            if kind == "stem":
                x = Conv3x3(ch, relu=True, dtype=self.dtype, backend=backend,
                            name=name)(layers.space_to_depth(x))
            elif kind == "down":
                x = nn.relu(nn.Dense(ch, dtype=self.dtype, name=name)(layers.space_to_depth(x)))
            else:
                x = SeparableBlock(ch, dtype=self.dtype, name=name)(x)
        return (*feats, x)


class LiteDecoder(nn.Module):
    """Features (N, h, w, C) -> RGB (N, 8h, 8w, 3), not clipped (the loss sees raw values)."""

    config: LiteConfig = LiteConfig()
    dtype: Any = None
    backend: str | None = None

    @nn.compact
    def __call__(self, feat: Array) -> Array:
        backend = self.backend or backends.select(self.dtype)
        x = feat
        for name, kind, ch in decoder_table(self.config):
            if kind == "up":
                x = layers.upsample_nearest(x)
            elif kind == "conv":
                x = Conv3x3(ch, relu=True, dtype=self.dtype, backend=backend, name=name)(x)
            elif kind == "shuffle":
                x = ShuffleOut(ch, dtype=self.dtype, name=name)(x)
            else:
                x = SeparableBlock(ch, dtype=self.dtype, name=name)(x)
        return x


def init_params(rng, config: LiteConfig = LiteConfig(), size: int = 16) -> dict:
    """Random ``{'lite_encoder': ..., 'decoder': ...}`` (flax default init); any ``size``
    that is a multiple of 8 gives the same tree."""
    k1, k2 = jax.random.split(rng)
    x = jnp.zeros((1, size, size, 3), jnp.float32)
    enc = LiteEncoder(config, backend="xla").init(k1, x)["params"]
    return {ENCODER_KEY: enc, "decoder": init_decoder(k2, config, size)}


def init_decoder(rng, config: LiteConfig = LiteConfig(), size: int = 16) -> dict:
    f = jnp.zeros((1, size // 8, size // 8, config.channels), jnp.float32)
    return LiteDecoder(config, backend="xla").init(rng, f)["params"]


def init_train_params(rng, config: LiteConfig = LiteConfig(), size: int = 16) -> dict:
    """What training updates: :func:`init_params` plus the distillation head
    (``HEAD_KEY``: a 1x1 conv from the lite features to the VGG's relu4_1 channels)."""
    k1, k2 = jax.random.split(rng)
    head = nn.Dense(TEACHER_CHANNELS).init(k2, jnp.zeros((1, config.channels)))["params"]
    return {**init_params(k1, config, size), HEAD_KEY: head}


def distill_head(head_params, feat: Array) -> Array:
    """The head's estimate of the teacher's relu4_1 from lite features (ReLU, as relu4_1)."""
    y = feat @ head_params["kernel"].astype(feat.dtype) + head_params["bias"].astype(feat.dtype)
    return nn.relu(y.astype(jnp.float32))


def shipped_part(params) -> dict:
    """The inference tree of a (training) lite tree: ``{'lite_encoder', 'decoder'}``."""
    return {ENCODER_KEY: params[ENCODER_KEY], "decoder": params["decoder"]}


def config_of(params) -> LiteConfig:
    """The ``LiteConfig`` of a lite params tree (or of its encoder part), read from shapes."""
    enc = params.get(ENCODER_KEY, params)
    width = enc["stem"]["kernel"].shape[-1]
    depth = sum(1 for k in enc if k.startswith("b1_"))
    feat = enc["down3"]["kernel"].shape[-1]
    if not (1 <= width <= MAX_WIDTH and 1 <= depth <= MAX_DEPTH and 1 <= feat <= MAX_FEATURES):
        raise ValueError(f"a lite model of width {width}, depth {depth}, {feat} features is "
                         f"outside the supported range (width <= {MAX_WIDTH}, depth <= "
                         f"{MAX_DEPTH}, features <= {MAX_FEATURES})")
    return LiteConfig(width, depth, None if feat == 4 * width else feat)


def encode(enc_params, rgb: Array, dtype=None, backend: str | None = None) -> tuple[Array, ...]:
    """Lite features (1/2, 1/4, 1/8) of RGB images in [0, 1] (any size)."""
    return LiteEncoder(config_of(enc_params), dtype=dtype, backend=backend).apply(
        {"params": enc_params}, rgb)


def decode(decoder_params, feat: Array, config: LiteConfig, dtype=None,
           backend: str | None = None) -> Array:
    return LiteDecoder(config, dtype=dtype, backend=backend).apply({"params": decoder_params},
                                                                   feat)


def flops(config: LiteConfig, height: int, width: int) -> dict[str, float]:
    """Multiply-add FLOPs (2 per MAC) of the encoder and the decoder at an input size (sides
    rounded up to multiples of 8), from the layer tables."""
    h, w = -(-height // 8) * 8, -(-width // 8) * 8

    def tally(table, size, cin):
        total, (hh, ww) = 0.0, size
        for _, kind, ch in table:
            if kind in ("stem", "down"):
                hh, ww, cin = hh // 2, ww // 2, cin * 4
            if kind == "up":
                hh, ww = hh * 2, ww * 2
            elif kind == "shuffle":
                total += 2.0 * (9 * cin + cin * 4 * ch) * hh * ww
            if kind in ("stem", "conv"):
                total += 2.0 * 9 * cin * ch * hh * ww
            elif kind == "down":
                total += 2.0 * cin * ch * hh * ww
            elif kind == "ds":
                total += 2.0 * (9 * cin + cin * ch) * hh * ww
            cin = ch
        return total

    return {"encoder": tally(encoder_table(config), (h, w), 3),
            "decoder": tally(decoder_table(config), (h // 8, w // 8), config.channels)}
