"""XLA's 3x3 convolution: the portable backend (GPUs, TPUs, multi-device meshes, and CPUs
without the oneDNN kernels)."""
from __future__ import annotations

from typing import Any

import flax.linen as nn
from flax.linen.dtypes import promote_dtype
from jax import lax

from adain_jax.nn import layers

Array = Any


def conv3x3(x: Array, kernel: Array, bias: Array, *, relu: bool, resample: str | None,
            dtype) -> Array:
    """``resample`` (see ``layers.resample``), reflection pad 1, 3x3 conv + bias (+ ReLU),
    computed in ``dtype`` (None: the inputs' promoted dtype)."""
    x, kernel, bias = promote_dtype(layers.resample(x, resample), kernel, bias, dtype=dtype)
    y = lax.conv_general_dilated(layers.reflect_pad(x), kernel, (1, 1), "VALID",
                                 dimension_numbers=("NHWC", "HWIO", "NHWC")) + bias
    return nn.relu(y) if relu else y
