"""The exported graphs as pure JAX functions of ``(params, *inputs)``, on the XLA path.

One definition serves the StableHLO export (traced by ``jax.export``), the ONNX writer's tests
(its graph must agree with these) and :func:`reference`. The models are built with
``backend="xla"`` so an export never captures the oneDNN custom calls. ``params`` is either
registered model's tree (``adain_jax.model``: e.g. the main one, ``{'vgg', 'decoder'}``),
through the one forward pass (``model.forward``).

Graphs, inputs and outputs (images NHWC float32 in [0, 1], statistics (N, 1, 1, C) with C the
feature channels, :func:`channels`: 512 for the main model, the model's own otherwise):

* ``stylize``: ``content``, ``style``, ``alpha`` (scalar) -> ``output``
* ``style_stats``: ``style`` -> ``style_mean``, ``style_std`` (relu4_1 statistics; cache them)
* ``stylize_stats``: ``content``, ``style_mean``, ``style_std``, ``alpha`` -> ``output``
* ``decoder``: ``features`` (N, H/8, W/8, C) -> ``output`` (the decoder alone, clipped)

Heights and widths are multiples of 8 and at least :data:`MIN_SIZE`; the library itself pads
other contents by reflection at the bottom/right to a multiple of 8 and crops the result
(:func:`pad_input`, :func:`crop_output` do the same for a client).
"""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from adain_jax import ops
from adain_jax.errors import ConfigError
from adain_jax.model import forward
from adain_jax.nn import layers

Array = Any
#: Smallest exported image side: relu4_1 (1/8 of it) must be 2 pixels for reflection padding.
MIN_SIZE = 2 * layers.DOWNSCALE

GRAPHS = ("stylize", "style_stats", "stylize_stats", "decoder")
INPUTS = {
    "stylize": ("content", "style", "alpha"),
    "style_stats": ("style",),
    "stylize_stats": ("content", "style_mean", "style_std", "alpha"),
    "decoder": ("features",),
}
OUTPUTS = {
    "stylize": ("output",),
    "style_stats": ("style_mean", "style_std"),
    "stylize_stats": ("output",),
    "decoder": ("output",),
}


channels = forward.channels


def encode(params, rgb: Array) -> Array:
    """The AdaIN features (relu4_1, or the model's 1/8 features) of NHWC images (XLA
    convolutions)."""
    return forward.features(params, rgb, backend="xla")


def decode(params, feat: Array) -> Array:
    """Images in [0, 1] decoded from AdaIN features (XLA convolutions)."""
    return jnp.clip(forward.decode(params, feat, backend="xla"), 0.0, 1.0)


def style_stats(params, style: Array) -> tuple[Array, Array]:
    """``style`` (N, H, W, 3) -> feature channel mean and std, each (N, 1, 1, C)."""
    return ops.channel_stats(encode(params, style))


def stylize_stats(params, content: Array, style_mean: Array, style_std: Array, alpha) -> Array:
    """AdaIN of ``content``'s features with cached style statistics, blended by ``alpha``."""
    return jnp.clip(forward.run(params, content, forward.adain_own(style_mean, style_std), alpha,
                                backend="xla"), 0.0, 1.0)


def stylize(params, content: Array, style: Array, alpha) -> Array:
    """``content`` (N, H, W, 3) stylized with ``style`` (N or 1, H', W', 3) at ``alpha``."""
    return stylize_stats(params, content, *style_stats(params, style), alpha)


def decoder(params, features: Array) -> Array:
    """The decoder alone: features (N, h, w, C) -> images (N, 8h, 8w, 3)."""
    return decode(params, features)


FUNCTIONS = {"stylize": stylize, "style_stats": style_stats, "stylize_stats": stylize_stats,
             "decoder": decoder}


def function(graph: str):
    """The pure function of ``graph`` (one of :data:`GRAPHS`)."""
    try:
        return FUNCTIONS[graph]
    except KeyError:
        raise ConfigError(f"graph must be one of {', '.join(GRAPHS)}, not {graph!r}") from None


def reference(params, graph: str, *inputs) -> tuple[np.ndarray, ...]:
    """``graph`` evaluated by JAX on ``inputs``: the outputs an export must reproduce."""
    import jax

    out = jax.jit(function(graph))(params, *inputs)
    return tuple(np.asarray(o) for o in (out if isinstance(out, tuple) else (out,)))


def pad_input(image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """An (H, W, 3) or (N, H, W, 3) image padded (bottom/right, reflection as the library does)
    to multiples of 8, and its original (H, W) for :func:`crop_output`.

    Raises:
      ConfigError: a side shorter than :data:`MIN_SIZE`.
    """
    image = np.asarray(image, np.float32)
    h, w = image.shape[-3:-1]
    if min(h, w) < MIN_SIZE:
        raise ConfigError(f"exported graphs need images of at least {MIN_SIZE}x{MIN_SIZE} "
                          f"pixels, got {w}x{h}")
    return layers.pad_to_multiple(image, layers.DOWNSCALE, xp=np), (h, w)


def crop_output(output: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """The top-left ``hw`` of an (..., H, W, 3) graph output (undoes :func:`pad_input`)."""
    return output[..., :hw[0], :hw[1], :]
