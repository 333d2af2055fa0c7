"""Command-line entry points. They only parse flags and call the library.

Exit codes: 0 all done; 1 some outputs failed (each reported, the others written);
2 a usage or input error (one line on stderr, nothing written).
"""
from __future__ import annotations

import argparse
import math
import signal
import sys
from pathlib import Path

from .errors import AdainError, ConfigError


def _floats(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected finite numbers, got {text!r}")
    return values


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
                   help="compute dtype (bfloat16: ~1.8x faster on CPUs with AVX512-BF16/AMX through "
                        "oneDNN, 1.2x on GPUs; ~1e-2 relative error)")
    p.add_argument("--tile", type=_size, default=None,
                   help="stylize large contents tile by tile in bounded memory (global AdaIN "
                        "statistics, blended overlaps): N = tile side in pixels for any content "
                        "with a side > N, 0 = never tile; default: automatic above 1536x1536 pixels")
    p.add_argument("--optimize", action="store_true",
                   help="reference mode: Gatys et al. optimisation instead of the decoder (slow)")
    p.add_argument("--optimize-steps", type=_size, default=300, help="steps of --optimize")
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
    if not style_arg:
        raise ConfigError("--style is empty: give a style image, a folder or a list a.jpg,b.jpg")
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
    if args.optimize and (k > 1 or masks or args.preserve_color or args.alpha != 1.0):
        raise ConfigError("--optimize takes one style and no --mask/--preserve-color/--alpha")
    jobs = pipeline.plan_jobs(contents, style_groups, args.output)
    if args.optimize:
        from .convert import load_vgg

        params = {"vgg": load_vgg(args.vgg)}
    else:
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
        batch_size=max(1, args.batch_size), optimize_steps=args.optimize_steps if args.optimize else 0,
        dtype=jnp.bfloat16 if args.dtype == "bfloat16" else None,
        progress=progress, tile=args.tile)
    for path in report.written:
        print(f"wrote {path}")
    for what, why in report.failed:
        print(f"failed: {what}: {why}", file=sys.stderr)
    if report.failed:
        print(f"{len(report.failed)} of {len(jobs)} output(s) failed", file=sys.stderr)
        return 1
    return 0


TRAIN_DOC = """Train an AdaIN decoder.

    python train.py --content-data DIR_OR_TFDS --style-data DIR_OR_TFDS --workdir DIR

Re-running with the same --workdir resumes from its latest checkpoint (decoder, Adam
state, step and data position). Outputs in the workdir: checkpoints/, decoder.npz (the
latest decoder, loadable with ``stylize.py --decoder``), config.json, metrics.csv, tb/
(TensorBoard), samples/step_XXXXXXX.jpg.

Exit status: 0 done, or stopped by SIGTERM after saving a checkpoint (pre-emption safe);
130 stopped by Ctrl-C (SIGINT) after saving; 2 bad arguments/inputs (one ``error:`` line);
3 the loss became NaN/inf (nothing saved after the last good checkpoint).
"""


def train_parser() -> argparse.ArgumentParser:
    from .training import TrainConfig

    d = TrainConfig()
    p = argparse.ArgumentParser(prog="train.py", description=TRAIN_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--content-data", required=True, help="folder of content images or a TFDS name")
    p.add_argument("--style-data", required=True, help="folder of style images or a TFDS name")
    p.add_argument("--workdir", required=True, help="checkpoints, logs, samples and decoder.npz go here")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch-size", type=int, default=d.batch_size,
                   help="global batch size; must divide by the number of devices")
    p.add_argument("--crop-size", type=int, default=d.crop_size)
    p.add_argument("--resize", type=int, default=d.resize, help="shorter side before cropping")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--lr-decay", type=float, default=d.lr_decay, help="lr / (1 + lr_decay * step)")
    p.add_argument("--style-weight", type=float, default=d.style_weight)
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default=d.dtype,
                   help="compute dtype; params and optimizer state stay float32 (bfloat16: "
                        "oneDNN kernels on a bf16-capable CPU, ~1.7x faster there)")
    p.add_argument("--vgg", default=None, help="VGG weights (default: the shipped normalised VGG)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--workers", type=int, default=d.workers, help="image decoding workers per host")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--keep", type=int, default=d.keep, help="checkpoints to keep")
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--sample-every", type=int, default=d.sample_every, help="0: no sample images")
    p.add_argument("--tpu", action="store_true",
                   help="call jax.distributed.initialize() and train on every device of every host")
    return p


def train_main(argv=None) -> int:
    args = train_parser().parse_args(argv)
    from .training import TrainConfig, TrainingDiverged, TrainingInterrupted, train

    config = TrainConfig(**{k: v for k, v in vars(args).items()})
    try:
        train(config)
    except TrainingInterrupted as e:
        print(str(e), file=sys.stderr)
        return 0 if e.signum == signal.SIGTERM else 128 + int(e.signum)
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except AdainError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
