"""``adain-eval`` (also ``python -m adain_jax.eval``): score folders of outputs of any method.

    adain-eval --content C/ --style S/ --method ours=out/ours --method magenta=out/mag \
        --out report/ [--faces-python /path/to/faces-venv/bin/python]
    adain-eval --manifest pairs.csv --out report/

Pairing rules: :mod:`adain_jax.eval.pairs`. Writes ``report.md``, ``report.json`` and
``grid.jpg`` (content | style | each method) into ``--out``. Exit 0 done, 2 a usage or input
error (one ``error:`` line).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from adain_jax.errors import AdainError, ConfigError, one_line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="adain-eval", description=__doc__.split("\n\n")[0])
    src = p.add_argument_group("pairs (a manifest, or folders named <content>__<style>.ext)")
    src.add_argument("--manifest", type=Path, help="CSV with content,style,output[,method,seconds]")
    src.add_argument("--content", type=Path, help="folder of content images")
    src.add_argument("--style", type=Path, help="folder of style images")
    src.add_argument("--method", action="append", default=[], metavar="NAME=DIR",
                     help="a method's output folder (repeat for several methods)")
    p.add_argument("--out", type=Path, required=True, help="folder for report.md/.json, grid.jpg")
    p.add_argument("--style-size", type=int, default=512,
                   help="shorter side the styles are loaded at (0: as stored; default 512)")
    p.add_argument("--vgg", type=Path, help="VGG weight file (default: the shipped normalised VGG)")
    p.add_argument("--cfsd-vgg", type=Path,
                   help="another VGG file for CFSD only (e.g. torchvision's vgg19, as StyleID)")
    p.add_argument("--faces-python", help="python of a venv with facenet-pytorch (MTCNN); "
                   "default $ADAIN_EVAL_FACES_PYTHON; without it faces are not measured")
    p.add_argument("--threads", type=int, default=None, help="threads of the face detector")
    p.add_argument("--grid-rows", type=int, default=6, help="pairs in grid.jpg (0: no grid)")
    p.add_argument("--title", default="adain-eval report")
    p.add_argument("--quiet", action="store_true")
    return p


def collect_pairs(args) -> list:
    from adain_jax.eval import pairs

    if args.manifest is not None:
        if args.method or args.content or args.style:
            raise ConfigError("give either --manifest or --content/--style/--method")
        found = pairs.read_manifest(args.manifest)
    else:
        if not (args.content and args.style and args.method):
            raise ConfigError("give --manifest, or --content, --style and at least one --method")
        methods = dict(pairs.parse_method(m) for m in args.method)
        if len(methods) != len(args.method):
            raise ConfigError("two --method entries share a name")
        found = pairs.from_folders(args.content, args.style, methods)
    if not found:
        raise ConfigError("no pairs to score")
    return found


def run(args) -> dict:
    from adain_jax.eval import faces, report, score
    from adain_jax.nn.backends import xla_flags
    from adain_jax.weights import load_vgg

    xla_flags.configure()
    log = (lambda _m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    found = collect_pairs(args)
    detector = faces.Detector(args.faces_python, threads=args.threads)
    if not detector.available:
        log(f"faces: not measured ({detector.reason})")
    scorer = score.Scorer(load_vgg(args.vgg) if args.vgg else None,
                          load_vgg(args.cfsd_vgg) if args.cfsd_vgg else None, args.style_size)
    result = score.evaluate(found, scorer, detector, log)
    notes = [f"CFSD on {args.cfsd_vgg.name}."] if args.cfsd_vgg else []
    js, md = report.write(result, args.out, args.title, notes)
    if args.grid_rows > 0:
        report.save_picture_grid(result, args.out / "grid.jpg", args.grid_rows)
    log(f"wrote {md} and {js}")
    return result


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except AdainError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
