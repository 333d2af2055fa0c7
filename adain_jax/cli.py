"""Command-line entry points. They only parse flags and call the library.

Exit codes: 0 all done; 1 some outputs failed (each reported, the others written);
2 a usage or input error (one line on stderr, nothing written).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import AdainError, ConfigError


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _size(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError("must be >= 0 (0 keeps the original size)")
    return v


def _alpha(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError("must be in [0, 1]")
    return v


def stylize_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="stylize.py", description="Arbitrary style transfer with AdaIN (adain-jax).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--content", required=True,
                   help="content image or folder of images (every content x style pair is written)")
    p.add_argument("--style", required=True,
                   help="style image or folder; 'a.jpg,b.jpg' mixes several styles into one output")
    p.add_argument("--output", type=Path, default=None,
                   help="output file (one pair) or folder; default: "
                        "./<content>_stylized_<style>.<ext>")
    p.add_argument("--vgg", default=None, help="VGG weights (.h5/.pth/.t7/.npz); default: shipped")
    p.add_argument("--decoder", default=None, help="decoder weights (.pth/.t7/.npz); default: shipped")
    p.add_argument("--alpha", type=_alpha, default=1.0, help="style strength in [0, 1]")
    p.add_argument("--style-weights", type=_floats, default=None,
                   help="interpolation weights for a comma-separated --style list, e.g. 1,1")
    p.add_argument("--mask", default=None,
                   help="spatial control: one mask per style (comma-separated), or one mask for "
                        "two styles (style 1 where white, style 2 where black)")
    p.add_argument("--preserve-color", action="store_true", help="keep the content's colours")
    p.add_argument("--content-size", type=_size, default=512, help="shorter side; 0 keeps the original")
    p.add_argument("--style-size", type=_size, default=512, help="shorter side; 0 keeps the original")
    p.add_argument("--crop", action="store_true", help="centre-crop to a square of the size")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--batch-size", type=_size, default=4, help="contents per forward pass")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                   help="compute dtype (bfloat16: faster, ~1e-2 relative error)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _split(text: str) -> list[str]:
    return [t for t in text.split(",") if t]


def stylize_main(argv=None) -> int:
    args = stylize_parser().parse_args(argv)
    try:
        return _stylize(args)
    except AdainError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _stylize(args) -> int:
    from . import image_io, load_params, pipeline

    contents = image_io.list_images(args.content)
    style_arg = _split(args.style)
    if len(style_arg) > 1:
        style_groups = [tuple(Path(s) for s in style_arg)]
        for s in style_groups[0]:
            if not s.is_file():
                raise ConfigError(f"style image {s} does not exist")
    else:
        style_groups = [(p,) for p in image_io.list_images(style_arg[0])]
    k = len(style_groups[0])
    if args.style_weights is not None and len(args.style_weights) != k:
        raise ConfigError(f"--style-weights has {len(args.style_weights)} values for {k} style(s)")
    masks = [Path(m) for m in _split(args.mask)] if args.mask else []
    if masks and len(masks) != k and not (len(masks) == 1 and k == 2):
        raise ConfigError(f"{len(masks)} mask(s) for {k} style(s): give one mask per style, "
                          "or one mask for two styles")
    for m in masks:
        if not m.is_file():
            raise ConfigError(f"mask {m} does not exist")
    if masks and args.style_weights is not None:
        raise ConfigError("use either --style-weights or --mask, not both")
    jobs = pipeline.plan_jobs(contents, style_groups, args.output)
    params = load_params(args.vgg, args.decoder)
    progress = None
    if not args.quiet and len(jobs) > 1:
        from tqdm import tqdm

        progress = lambda total: tqdm(total=total, unit="img", desc="stylizing")  # noqa: E731
    import jax.numpy as jnp

    report = pipeline.run(
        params, jobs, alpha=args.alpha, style_weights=args.style_weights, mask_paths=masks,
        preserve_color=args.preserve_color, content_size=args.content_size,
        style_size=args.style_size, crop=args.crop, overwrite=args.overwrite,
        batch_size=max(1, args.batch_size), dtype=jnp.bfloat16 if args.dtype == "bfloat16" else None,
        progress=progress)
    for path in report.written:
        print(f"wrote {path}")
    for what, why in report.failed:
        print(f"failed: {what}: {why}", file=sys.stderr)
    if report.failed:
        print(f"{len(report.failed)} of {len(jobs)} output(s) failed", file=sys.stderr)
        return 1
    return 0
