"""``adain-export``: write the model as ONNX or serialized StableHLO (parses flags and calls
:func:`adain_jax.export.export_file`)."""
from __future__ import annotations

import argparse
import sys

from adain_jax.cli import common

EXPORT_DOC = """Export the AdaIN model to run outside JAX.

    adain-export --format onnx --output adain.onnx
    adain-export --format stablehlo --output adain.stablehlo
    adain-export --model lite --output lite.onnx      # the fast lite model (shipped weights)
    adain-export --model lite --decoder my_lite.npz --output lite.onnx

Graphs (--graph): stylize (content, style, alpha -> output), style_stats (style -> style_mean,
style_std), stylize_stats (content, style_mean, style_std, alpha -> output; reuse a cached
style), decoder (features -> output). Images are NHWC float32 in [0, 1]; batch and sizes are
dynamic, sides multiples of 8 from 16 up: pad other sizes by reflection at the bottom/right
(adain_jax.export.pad_input) and crop the output. Statistics and features have 512 channels
(--model adain) or the lite model's feature channels (128 for the shipped one). Details:
docs/export.md.

Exit status: 0 written; 2 bad arguments or an unwritable output (one error: line).
"""


def export_parser() -> argparse.ArgumentParser:
    from adain_jax.model import names
    from adain_jax.export import FORMATS, GRAPHS

    p = argparse.ArgumentParser(prog="adain-export", description=EXPORT_DOC,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--format", choices=FORMATS, default="onnx", help="output format")
    p.add_argument("--output", required=True, help="the file to write")
    p.add_argument("--graph", choices=GRAPHS, default="stylize", help="which graph to export")
    p.add_argument("--model", choices=names(), default="adain",
                   help="adain: VGG encoder + decoder; lite: the fast lite model")
    p.add_argument("--vgg", default=None,
                   help="--model adain: VGG weights (default: the shipped ones)")
    p.add_argument("--decoder", default=None,
                   help="decoder weights (default: the shipped ones); with --model lite, the "
                        "lite model's file (encoder and decoder)")
    p.add_argument("--weights", choices=("float32", "float16"), default="float32",
                   help="ONNX only: weight storage (float16 halves the file; compute stays float32)")
    p.add_argument("--platforms", type=common.split, default=None,
                   help="StableHLO only: comma-separated platforms to lower for (default cpu,cuda)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    return p


def _export(args) -> int:
    import adain_jax
    from adain_jax.errors import ConfigError
    from adain_jax.export import export_file

    options = {}
    if args.format == "onnx":
        options["weights"] = args.weights
    elif args.weights != "float32":
        raise ConfigError("--weights float16 applies to --format onnx only")
    if args.platforms is not None:
        if args.format != "stablehlo":
            raise ConfigError("--platforms applies to --format stablehlo only")
        options["platforms"] = args.platforms
    if args.vgg is not None and not adain_jax.model.get(args.model).encoder_file:
        raise ConfigError("--vgg applies to --model adain only (a lite file goes to --decoder)")
    params = adain_jax.load_params(args.vgg, args.decoder, model=args.model)
    path = export_file(params, args.output, args.format, args.graph, overwrite=args.overwrite,
                       **options)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB, {args.format}, model "
          f"{args.model}, graph {args.graph})", file=sys.stderr)
    return 0


def export_main(argv=None) -> int:
    """``adain-export``."""
    args = export_parser().parse_args(argv)
    return common.report_errors(lambda: _export(args))


if __name__ == "__main__":
    sys.exit(export_main())
