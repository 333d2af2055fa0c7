"""Running the model outside JAX: ONNX (:mod:`.onnx`) and serialized StableHLO
(:mod:`.stablehlo`) exports of the graphs defined once in :mod:`.graph`, for either model: the
main one (``{'vgg', 'decoder'}``) or the lite one (``{'lite_encoder', 'decoder'}``,
``nn.lite``), told apart by the params tree.

Every exported graph takes NHWC float32 images in [0, 1] whose height and width are multiples
of 8 (at least 16); :func:`graph.pad_input` pads other sizes the way the library does
(reflection at the bottom/right) and the caller crops the output back.
"""
from adain_jax.export.graph import (GRAPHS, INPUTS, MIN_SIZE, OUTPUTS, crop_output, pad_input,
                                    reference)

FORMATS = ("onnx", "stablehlo")


def export_file(params, path, fmt: str = "onnx", graph: str = "stylize",
                overwrite: bool = False, **options):
    """Write ``graph`` of ``params`` to ``path`` in ``fmt``.

    Args:
      params: ``{'vgg': ..., 'decoder': ...}`` or ``{'lite_encoder': ..., 'decoder': ...}``.
      path: the output file (written atomically).
      fmt: ``'onnx'`` or ``'stablehlo'``.
      graph: one of :data:`GRAPHS`.
      overwrite: replace an existing ``path`` (refused otherwise).
      **options: ``weights=`` for ONNX, ``platforms=`` for StableHLO.
    Returns:
      ``path`` as a ``Path``.
    Raises:
      ConfigError: a bad format, graph or option, an existing output, a failed write.
    """
    from adain_jax.errors import ConfigError, one_line

    if fmt == "onnx":
        from adain_jax.export import onnx as mod
    elif fmt == "stablehlo":
        from adain_jax.export import stablehlo as mod
    else:
        raise ConfigError(f"export format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    try:
        return mod.save(params, path, graph=graph, overwrite=overwrite, **options)
    except FileExistsError:
        raise ConfigError(f"{path}: exists (pass --overwrite to replace it)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write ({one_line(exc)})") from None


__all__ = ["FORMATS", "GRAPHS", "INPUTS", "OUTPUTS", "MIN_SIZE", "pad_input", "crop_output",
           "reference", "export_file"]
