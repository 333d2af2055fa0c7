"""StableHLO export through ``jax.export``: serialized, weights embedded, shapes symbolic.

The serialized artifact (``Exported.serialize()``) holds one function of the graph's inputs
(``graph.INPUTS`` order; the weights are constants inside it) with a symbolic batch ``N`` and
image sides ``8*h``, ``8*w`` (``h, w >= 2``, so sides are multiples of 8 from 16 up). In the
``stylize`` graph the style has the content's batch size (repeat a single style) and its own
sides ``8*sh``, ``8*sw``. Statistics and features have the model's channel count (512, or the
lite model's ``LiteConfig.channels``). Load it with :func:`load` (``jax.export.deserialize``)
and call ``.call(*inputs)`` from JAX; no adain-jax code is needed to run it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import jax
import jax.numpy as jnp

from adain_jax.errors import ConfigError, one_line
from adain_jax.export import graph as graphs
from adain_jax.fs import atomic_write

#: Platforms lowered for by default (one artifact runs on either).
PLATFORMS = ("cpu", "cuda")
#: Platforms ``jax.export`` lowers for.
KNOWN_PLATFORMS = ("cpu", "cuda", "rocm", "tpu")


def input_specs(graph: str, channels: int = 512) -> list[jax.ShapeDtypeStruct]:
    """Symbolic shapes of ``graph``'s inputs (see the module docstring); ``channels``: of the
    model's features (``graph.channels(params)``)."""
    names = ("n", "h", "w", "sh", "sw") if graph == "stylize" else ("n", "h", "w")
    n, h, w, *style_hw = jax.export.symbolic_shape(
        ", ".join(names), constraints=[f"{d} >= 2" for d in names[1:]])
    sh, sw = style_hw or (h, w)

    def f32(*shape):
        return jax.ShapeDtypeStruct(shape, jnp.float32)

    specs = {
        "content": f32(n, 8 * h, 8 * w, 3),
        "style": f32(n, 8 * sh, 8 * sw, 3),
        "alpha": f32(),
        "style_mean": f32(n, 1, 1, channels),
        "style_std": f32(n, 1, 1, channels),
        "features": f32(n, h, w, channels),
    }
    return [specs[name] for name in graphs.INPUTS[graph]]


def export(params, graph: str = "stylize", platforms: Sequence[str] = PLATFORMS):
    """``jax.export.Exported`` of ``graph`` with ``params`` embedded as constants."""
    fn = graphs.function(graph)
    params = jax.tree.map(jnp.asarray, params)
    platforms = tuple(platforms)
    unknown = [p for p in platforms if p not in KNOWN_PLATFORMS]
    if not platforms or unknown:
        raise ConfigError(f"StableHLO platforms must be some of {', '.join(KNOWN_PLATFORMS)}, "
                          f"got {','.join(platforms) or 'none'}")
    try:
        return jax.export.export(jax.jit(lambda *xs: fn(params, *xs)), platforms=platforms)(
            *input_specs(graph, graphs.channels(params)))
    except (ValueError, NotImplementedError) as exc:
        raise ConfigError(f"cannot export for platforms {','.join(platforms)}: "
                          f"{one_line(exc)}") from None


def save(params, path: str | os.PathLike, graph: str = "stylize",
         platforms: Sequence[str] = PLATFORMS, overwrite: bool = True) -> Path:
    """Export ``graph`` and write the serialized bytes to ``path`` atomically."""
    data = bytes(export(params, graph, platforms).serialize())
    return atomic_write(path, data, overwrite=overwrite)


def load(path: str | os.PathLike):
    """A serialized export read back: ``jax.export.Exported`` (call it with ``.call``)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({one_line(exc)})") from None
    try:
        return jax.export.deserialize(bytearray(data))
    except Exception as exc:  # flatbuffer/MLIR errors come in many types
        raise ConfigError(f"{path}: not a serialized StableHLO export ({one_line(exc)})") from None
