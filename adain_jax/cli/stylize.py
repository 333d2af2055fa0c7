"""``adain-stylize`` / ``python stylize.py``: parse flags, call the file pipeline
(:mod:`adain_jax.inference.pipeline`), which validates them.

The PyTorch port's flag names (``--content_dir``, ``--style_size``, ``--save_ext``, ...) are
accepted as aliases, so commands copied from it work."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from adain_jax.cli import common
from adain_jax.errors import ConfigError


def _dtype_help() -> str:
    from adain_jax.nn.backends import BF16_REL_ERROR

    return ("compute dtype; auto: bfloat16 where the hardware computes it natively (CPUs with "
            "AVX512-BF16/AMX through the oneDNN kernels, GPUs, TPUs), float32 elsewhere. "
            "bfloat16 is ~1.8x faster than float32 on such a CPU at a relative error of "
            f"{BF16_REL_ERROR['cpu']:.1e} against float32 (~{BF16_REL_ERROR['gpu']:.0e} on a "
            "GPU)")


def stylize_parser() -> argparse.ArgumentParser:
    from adain_jax import model
    from adain_jax.nn.backends import DTYPE_CHOICES

    p = argparse.ArgumentParser(
        prog="stylize.py", description="Arbitrary style transfer with AdaIN (adain-jax).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--content", "--content_dir", dest="content", required=True,
                   help="content image, folder of images (every content x style pair is written) "
                        "or video file (stylized frame by frame into one video)")
    p.add_argument("--style", "--style_dir", dest="style", required=True,
                   help="style image or folder; 'a.jpg,b.jpg' mixes several styles into one output")
    p.add_argument("--output", type=Path, default=None,
                   help="output file (one pair) or folder; default: "
                        "./<content>_stylized_<style>.<ext>")
    p.add_argument("--model", choices=model.names(), default=model.default().name,
                   help="adain: VGG-19 encoder + decoder (best quality); lite: the small fast "
                        "model (adain_jax.nn.lite, ~10x faster on a CPU; another lite weights "
                        "file is given with --decoder)")
    p.add_argument("--vgg", default=None,
                   help="VGG weights (.h5/.pth/.t7/.npz/.safetensors); default: shipped")
    p.add_argument("--decoder", default=None,
                   help="decoder weights (.pth/.t7/.npz/.safetensors); default: shipped")
    p.add_argument("--save-ext", "--save_ext", dest="save_ext", default=None,
                   help="output format of generated names, e.g. .jpg (default: the content's)")
    p.add_argument("--alpha", type=common.floats, default=[1.0],
                   help="style strength in [0, 1]; several (0.25,0.5,1) write one output each, "
                        "named <output>_alpha<value>, from one encoding of the images")
    p.add_argument("--style-weights", "--style_interpolation_weights", dest="style_weights",
                   type=common.floats, default=None,
                   help="interpolation weights for a comma-separated --style list, e.g. 1,1")
    p.add_argument("--mask", default=None,
                   help="spatial control: one mask per style (comma-separated), or one mask for "
                        "two styles (style 1 where white, style 2 where black)")
    p.add_argument("--preserve-color", "--preserve_color", dest="preserve_color",
                   action="store_true", help="keep the content's colours")
    p.add_argument("--content-size", "--content_size", dest="content_size", type=common.size,
                   default=512, help="shorter side; 0 keeps the original")
    p.add_argument("--style-size", "--style_size", dest="style_size", type=common.size,
                   default=512, help="shorter side; 0 keeps the original")
    p.add_argument("--crop", action="store_true", help="centre-crop to a square of the size")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--batch-size", type=common.size, default=4,
                   help="contents (video: frames) per forward pass")
    p.add_argument("--dtype", choices=DTYPE_CHOICES, default="auto", help=_dtype_help())
    p.add_argument("--tile", type=common.size, default=None,
                   help="stylize large contents tile by tile in bounded memory (global AdaIN "
                        "statistics, blended overlaps): N = tile side in pixels for any content "
                        "with a side > N, 0 = never tile; default: automatic above 1536x1536 pixels")
    p.add_argument("--optimize", action="store_true",
                   help="reference mode: Gatys et al. optimisation instead of the decoder (slow)")
    p.add_argument("--optimize-steps", type=common.size, default=300, help="steps of --optimize")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no notes")
    p.add_argument("--no-compilation-cache", action="store_true",
                   help="do not keep compiled programs in the user cache folder")
    v = p.add_argument_group("video (a --content that FFmpeg reads as video; detected by content)")
    v.add_argument("--temporal", choices=("both", "ema", "flow", "none"), default="both",
                   help="temporal consistency: 'ema' averages the content statistics over "
                        "time; 'flow' keeps the pooling grid on the scene's motion and blends "
                        "the warped previous output (OpenCV DIS flow); both; or none")
    v.add_argument("--no-temporal", action="store_true",
                   help="independent per-frame stylization (= --temporal none)")
    return p


def stylize_main(argv=None) -> int:
    """``adain-stylize`` / ``python stylize.py``."""
    args = stylize_parser().parse_args(argv)
    common.prepare_runtime(compilation_cache=not args.no_compilation_cache)
    return common.report_errors(lambda: _stylize(args))


def _stylize(args) -> int:
    from adain_jax import image_io, load_params
    from adain_jax.inference import pipeline

    if _video_kind(args.content) == "video":
        return _stylize_video(args)
    contents = image_io.list_images(args.content)
    style_arg = common.split(args.style)
    if not style_arg:
        raise ConfigError("--style is empty: give a style image, a folder or a list a.jpg,b.jpg")
    if len(style_arg) > 1:
        style_groups = [tuple(Path(s) for s in style_arg)]
        for s in style_groups[0]:
            if not s.is_file():
                raise ConfigError(f"style image {s} does not exist")
    else:
        style_groups = [(p,) for p in image_io.list_images(style_arg[0])]
    masks = [Path(m) for m in common.split(args.mask)] if args.mask else []
    for m in masks:
        if not m.is_file():
            raise ConfigError(f"mask {m} does not exist")
    _check_model(args)
    jobs = pipeline.plan_jobs(contents, style_groups, args.output, suffix=args.save_ext)
    if args.optimize:
        from adain_jax.weights import load_vgg

        params = {"vgg": load_vgg(args.vgg)}
    else:
        params = load_params(args.vgg, args.decoder, model=args.model)
    progress = None
    if not args.quiet and len(jobs) > 1:
        from tqdm import tqdm

        progress = lambda total: tqdm(total=total, unit="img", desc="stylizing")  # noqa: E731
    from adain_jax.nn.backends import resolve_dtype

    report = pipeline.run(
        params, jobs, alpha=args.alpha, style_weights=args.style_weights, mask_paths=masks,
        preserve_color=args.preserve_color, content_size=args.content_size,
        style_size=args.style_size, crop=args.crop, overwrite=args.overwrite,
        batch_size=max(1, args.batch_size), optimize_steps=args.optimize_steps if args.optimize else 0,
        dtype=resolve_dtype(args.dtype),
        progress=progress, tile=args.tile)
    for path in report.written:
        print(f"wrote {path}")
    if report.written and not args.optimize:
        common.note_backend(args.quiet)
    for what, why in report.failed:
        print(f"failed: {what}: {why}", file=sys.stderr)
    if report.failed:
        print(f"{len(report.failed)} of {len(jobs)} output(s) failed", file=sys.stderr)
        return 1
    return 0


def _check_model(args) -> None:
    """``--model lite``: no ``--vgg``; no ``--optimize`` (Gatys uses no decoder)."""
    from adain_jax.inference import validate

    from adain_jax import model

    validate.model(args.model, args.vgg)
    if args.optimize and not model.get(args.model).encoder_file:
        raise ConfigError(f"--optimize (Gatys et al.) runs on the VGG alone; drop --model "
                          f"{args.model}")


def _video_kind(path: str) -> str:
    """'video', or 'other' for images and folders: a file that is not named as an image is
    probed by content (FFmpeg); a media file without a video stream is an input error (exit 2).
    Without PyAV only video suffixes are refused, with the install hint."""
    from adain_jax.image_io import IMAGE_SUFFIXES

    p = Path(path)
    if not p.is_file() or p.suffix.lower() in IMAGE_SUFFIXES:  # images stay with PIL
        return "other"
    import importlib.util

    if importlib.util.find_spec("av") is None:
        from adain_jax.video.io import OUTPUT_FORMATS

        if p.suffix.lower() in OUTPUT_FORMATS and p.suffix.lower() != ".gif":
            raise ConfigError(f"{p}: video needs PyAV: pip install 'adain-jax[video]'")
        return "other"
    from adain_jax.errors import ImageError
    from adain_jax.video import io as vio

    kind = vio.classify(p)
    if kind == "no-video":
        raise ImageError(f"{p}: no video stream (audio or data only); nothing written")
    if kind == "other" and p.suffix.lower() in vio.OUTPUT_FORMATS and p.suffix.lower() != ".gif":
        vio.probe(p)  # a video by name that FFmpeg cannot read: its one-line error, exit 2
        raise ImageError(f"{p}: no readable video stream")
    return kind


def _stylize_video(args) -> int:
    from adain_jax import image_io, load_params
    from adain_jax.inference import pipeline, validate
    from adain_jax.nn.backends import resolve_dtype
    from adain_jax.video import files, io as vio

    content = Path(args.content)
    style_arg = common.split(args.style)
    style_paths = ([Path(s) for s in style_arg] if len(style_arg) > 1
                   else image_io.list_images(style_arg[0]) if style_arg else [])
    if len(style_arg) <= 1 and len(style_paths) > 1:
        raise ConfigError("a video takes one style (or a mix a.jpg,b.jpg), not a folder of "
                          f"{len(style_paths)} styles")
    validate.video_job(n_styles=len(style_paths), n_masks=len(common.split(args.mask or "")),
                       optimize=args.optimize, tile=args.tile, content_folder=False,
                       n_alphas=len(validate.alphas(args.alpha)))
    (alpha,) = validate.alphas(args.alpha)
    validate.job_options(alpha_value=args.alpha, weights=args.style_weights,
                         n_styles=len(style_paths), n_masks=0, optimize=False,
                         preserve_color=args.preserve_color)
    suffix = content.suffix.lower() if content.suffix.lower() in vio.OUTPUT_FORMATS else ".mp4"
    out = args.output
    if out is None or out.is_dir() or not out.suffix:
        out = (out or Path.cwd()) / pipeline.output_name(content, style_paths, suffix)
    vio.check_output(out)
    if out.exists() and not args.overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to replace it")
    styles = [image_io.load_image(s, size=args.style_size or None, crop=args.crop)
              for s in style_paths]
    _check_model(args)
    params = load_params(args.vgg, args.decoder, model=args.model)
    report = files.stylize_file(
        params, content, out, styles if len(styles) > 1 else styles[0],
        style_weights=args.style_weights, alpha=alpha, preserve_color=args.preserve_color,
        content_size=args.content_size, crop=args.crop, overwrite=args.overwrite,
        progress=not args.quiet, batch_size=max(1, args.batch_size),
        temporal="none" if args.no_temporal else args.temporal,
        dtype=resolve_dtype(args.dtype))
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {report.output} ({report.frames} frames)")
    if report.stopped:
        print(f"partial: {content}: {report.stopped}; the {report.frames} frames before it "
              "were written", file=sys.stderr)
        return 1
    return 0
