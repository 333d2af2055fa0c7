"""Train the release decoder on one accelerator inside a fixed time budget: the library's
training loop (:func:`adain_jax.training.train`) with the device's defaults.

For a lent GPU machine that is held for minutes: the training images travel as packs of
WebP crops (``tools.device.pack_training_data``), are decoded once and live on the device as
uint8, and every step samples its batch there (:class:`adain_jax.training.packs.PackFeed`:
random images, random ``--crop-size`` crops, random horizontal flips, keyed by the step
number), so the host never feeds the loop. The loop stops when ``--seconds`` are spent
(counted from the start of this script) and exports the decoder (float32 ``.npz``,
atomically) every ``--export-every-s`` seconds and at the end, so a run that is killed at its
limit still leaves its last export. No orbax checkpoints (``--workdir``, a temporary folder
by default, holds the loop's own files).

    python -m tools.device.train_device --content-pack .devpack/content.npz \
        --style-pack .devpack/style.npz --out out/ --seconds 400

The same run without this script: ``python train.py --content-data .devpack/content.npz
--style-data .devpack/style.npz --workdir out/ --seconds 400 --batch-size 16 --crop-size 224
--lr 2e-4 --dtype bfloat16 --log-every 200 --export-every-s 60 --checkpoint-every 0
--sample-every 0``. Writes ``decoder.npz``, ``metrics.csv`` (the loop's) and
``train_summary.json`` into ``--out``.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import jax

from adain_jax import training
from adain_jax.training.packs import PackFeed, read_pack


def device_parser(doc: str, **defaults) -> argparse.ArgumentParser:
    """The flags both device trainers share (``defaults`` overrides some)."""
    d = dict(steps=160_000, lr=2e-4, seconds_help="wall-clock budget, data and compile included")
    d.update(defaults)
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--content-pack", required=True)
    p.add_argument("--style-pack", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--workdir", type=Path, default=None,
                   help="the loop's files (config.json, metrics.csv, tb/); default: a temporary folder")
    p.add_argument("--seconds", type=float, required=True, help=d["seconds_help"])
    p.add_argument("--steps", type=int, default=d["steps"], help="stop earlier at this many steps")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--crop-size", type=int, default=224)
    p.add_argument("--lr", type=float, default=d["lr"])
    p.add_argument("--lr-decay", type=float, default=5e-5)
    p.add_argument("--style-weight", type=float, default=10.0)
    p.add_argument("--dtype", choices=sorted(training.DTYPES), default="bfloat16")
    p.add_argument("--vgg", default=None, help="default: the shipped normalised VGG")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=200)
    p.add_argument("--export-every-s", type=float, default=60.0)
    return p


def open_packs(args) -> PackFeed:
    """The on-device feed of the two packs (decoded once)."""
    t = time.perf_counter()
    feed = PackFeed(read_pack(args.content_pack), read_pack(args.style_pack),
                    training.make_mesh(), args.batch_size, args.crop_size, args.seed)
    print(f"data: {feed.shapes['content']} content, {feed.shapes['style']} style, decoded and "
          f"on {jax.devices()[0]} in {time.perf_counter() - t:.1f} s", flush=True)
    return feed


def config_for(args, workdir: Path, seconds: float, export: Path, **model) -> training.TrainConfig:
    """The library config of a device run: no checkpoints, no samples, periodic export."""
    return training.TrainConfig(
        content_data=str(args.content_pack), style_data=str(args.style_pack),
        workdir=str(workdir), steps=args.steps, batch_size=args.batch_size,
        crop_size=args.crop_size, resize=max(512, args.crop_size), lr=args.lr,
        lr_decay=args.lr_decay, style_weight=args.style_weight, dtype=args.dtype, vgg=args.vgg,
        seed=args.seed, workers=0, log_every=args.log_every, checkpoint_every=0,
        sample_every=0, seconds=max(seconds, 1e-3), export_every_s=args.export_every_s,
        export=str(export), **model)


def run(config: training.TrainConfig, feed, report: dict) -> bool:
    """One library run, its record in ``report``; returns whether the loss diverged (the last
    export stays) or a signal stopped it (the weights were exported)."""
    try:
        training.train(config, feed=feed, progress=False, report=report)
    except training.TrainingDiverged as e:
        print(f"{e}; keeping the last export", flush=True)
        return True
    except training.TrainingInterrupted as e:
        print(str(e), file=sys.stderr, flush=True)
    return False


def summary(args, report: dict, wall: float, diverged: bool, data_shapes: dict) -> dict:
    """The run summary (JSON-ready): steps, timings, images/s of the loop (compile excluded),
    the last log, the flags, the data's shapes and the machine."""
    n = report.get("steps", 0) - report.get("start", 0)
    compile_s = report.get("compile_s") or 0.0
    loop_s = max(report.get("loop_s", 0.0) - compile_s, 1e-9)
    return {"steps": report.get("steps", 0), "diverged": diverged, "wall_s": round(wall, 1),
            "compile_s": round(compile_s, 1),
            "steps_per_s_loop": round(max(n - 1, 0) / loop_s, 2),
            "images_per_s_loop": round(max(n - 1, 0) * args.batch_size / loop_s, 1),
            "stopped": report.get("stopped"), "last_log": report.get("last_log"),
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "data": {k: list(v) for k, v in data_shapes.items()},
            "device": jax.devices()[0].device_kind, "jax": jax.__version__,
            "python": platform.python_version()}


def main(argv=None) -> None:
    p = device_parser(__doc__)
    p.add_argument("--init", default=None, help="warm-start from this decoder file")
    args = p.parse_args(argv)
    t_start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="adain_device_"))
    feed = open_packs(args)
    left = args.seconds - (time.perf_counter() - t_start)
    config = config_for(args, workdir, left, args.out / "decoder.npz", init=args.init)
    report: dict = {}
    diverged = run(config, feed, report)
    if (workdir / "metrics.csv").exists():
        shutil.copyfile(workdir / "metrics.csv", args.out / "metrics.csv")
    out = summary(args, report, time.perf_counter() - t_start, diverged, feed.shapes)
    (args.out / "train_summary.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
