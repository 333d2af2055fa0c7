"""Train several lite variants on one accelerator inside a fixed time budget: one run of the
library's training loop (:func:`adain_jax.training.train`, ``model='lite'``) per variant, one
after the other, on the same on-device packs as ``tools.device.train_device``.

Every variant sees the same batches (sampled on the device, keyed by the step number) and
gets an equal share of the time left when it starts. The loss is the library's lite loss
(:func:`adain_jax.training.step.lite_loss_fn`: the full model's AdaIN target in relu4_1, the
VGG style loss, relu4_1 distillation).

    python -m tools.device.train_lite_device --content-pack .devpack/content.npz \
        --style-pack .devpack/style.npz --out out/ --seconds 300 --variants w16d1,w32d1

A variant is ``w<width>d<depth>``, optionally ``-nodistill`` (distillation weight 0); one
variant alone is ``python train.py --model lite --lite-width W --lite-depth D`` with the
flags ``tools.device.train_device`` lists. Writes ``lite_<variant>.npz`` (the inference
tree, float32, atomically, every ``--export-every-s`` and at the end), ``lite_metrics.csv``
(the loops' metrics with a variant column) and ``lite_summary.json``.
"""
from __future__ import annotations

import csv
import json
import re
import tempfile
import time
from pathlib import Path

from adain_jax.nn import lite
from tools.device.train_device import config_for, device_parser, open_packs, run, summary

_VARIANT = re.compile(r"^w(\d+)d(\d+)(-nodistill)?$")


def parse_variants(text: str) -> dict[str, tuple[lite.LiteConfig, float]]:
    """``'w16d1,w32d1-nodistill'`` -> {name: (LiteConfig, distill weight)}."""
    out = {}
    for name in (v.strip() for v in text.split(",") if v.strip()):
        m = _VARIANT.match(name)
        if not m:
            raise SystemExit(f"bad variant {name!r}: expected w<width>d<depth>[-nodistill]")
        out[name] = (lite.LiteConfig(int(m[1]), int(m[2])), 0.0 if m[3] else 1.0)
    if not out:
        raise SystemExit("no variants given")
    return out


def merge_metrics(workdir: Path, names, path: Path) -> None:
    """The variants' ``metrics.csv`` as one table with a ``variant`` column, by step."""
    rows = []
    for order, name in enumerate(names):
        f = workdir / name / "metrics.csv"
        if f.exists():
            with open(f, newline="") as fh:
                rows += [(int(r["step"]), order, {"variant": name, **r}) for r in csv.DictReader(fh)]
    if not rows:
        return
    rows.sort(key=lambda r: r[:2])
    fields = ["step", "variant"] + [k for k in rows[0][2] if k not in ("step", "variant")]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(r[2] for r in rows)


def main(argv=None) -> None:
    p = device_parser(__doc__, steps=1_000_000, lr=5e-4,
                      seconds_help="wall-clock budget of all variants, data and compile included")
    p.add_argument("--variants", default="w16d1,w32d1,w32d2,w32d1-nodistill")
    args = p.parse_args(argv)
    variants = parse_variants(args.variants)
    t_start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="adain_lite_device_"))
    feed = open_packs(args)
    runs, any_diverged = {}, False
    for i, (name, (cfg, dw)) in enumerate(variants.items()):
        t_variant = time.perf_counter()
        share = (args.seconds - (t_variant - t_start)) / (len(variants) - i)
        print(f"variant {name}: {share:.0f} s", flush=True)
        config = config_for(args, workdir / name, share, args.out / f"lite_{name}.npz",
                            model="lite", lite_width=cfg.width, lite_depth=cfg.depth,
                            distill_weight=dw)
        report: dict = {}
        diverged = run(config, feed, report)
        any_diverged |= diverged
        merge_metrics(workdir, list(variants), args.out / "lite_metrics.csv")
        runs[name] = {"width": cfg.width, "depth": cfg.depth, "features": cfg.channels,
                      "distill_weight": dw,
                      **summary(args, report, time.perf_counter() - t_variant, diverged,
                                feed.shapes)}
    out = summary(args, {}, time.perf_counter() - t_start, any_diverged, feed.shapes)
    for k in ("compile_s", "steps_per_s_loop", "images_per_s_loop", "stopped"):
        out.pop(k)
    out.update(steps=min(r["steps"] for r in runs.values()),
               last_log={n: r["last_log"] for n, r in runs.items()}, variants=runs)
    for r in runs.values():
        for k in ("config", "data", "device", "jax", "python"):
            r.pop(k, None)
    (args.out / "lite_summary.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
