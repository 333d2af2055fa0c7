"""Random parameters as NumPy, for tests, benchmarks and fault trials (not part of the library)."""
from __future__ import annotations

import numpy as np

from adain_jax.nn.models import expected_shapes


def random_params_np(part: str, seed: int = 1) -> dict:
    """He-scaled random ``'vgg'`` or ``'decoder'`` params as NumPy (instant, unlike an eager
    flax init): kernels N(0, 2 / fan_in), biases zero."""
    rng, out = np.random.default_rng(seed), {}
    for key, shape in sorted(expected_shapes(part).items()):
        layer, name = key.split("/")
        fan_in = int(np.prod(shape[:-1]))
        out.setdefault(layer, {})[name] = (
            rng.standard_normal(shape) * np.sqrt(2.0 / fan_in) if name == "kernel"
            else np.zeros(shape)).astype(np.float32)
    return out
