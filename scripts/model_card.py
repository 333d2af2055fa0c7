"""Writes docs/MODEL_CARD.md and docs/images/training_loss.png from a training workdir."""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]


def read_metrics(workdir: Path) -> dict[str, np.ndarray]:
    with open(workdir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def plot(path: Path, steps, series: dict[str, np.ndarray], size=(720, 360)) -> None:
    """A small log-scale line plot (PIL only: no plotting dependency)."""
    w, h = size
    m = 48
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    ys = np.concatenate([np.log10(np.maximum(v, 1e-6)) for v in series.values()])
    lo, hi = np.floor(ys.min()), np.ceil(ys.max())
    x = lambda s: m + (s - steps.min()) / max(1, steps.max() - steps.min()) * (w - 2 * m)  # noqa
    y = lambda v: h - m - (np.log10(max(v, 1e-6)) - lo) / max(hi - lo, 1e-6) * (h - 2 * m)  # noqa
    d.rectangle([m, m, w - m, h - m], outline="black")
    for e in range(int(lo), int(hi) + 1):
        d.line([m, y(10.0 ** e), w - m, y(10.0 ** e)], fill=(220, 220, 220))
        d.text((4, y(10.0 ** e) - 6), f"1e{e}", fill="black")
    d.text((w // 2 - 20, h - m + 8), f"step (0 .. {int(steps.max())})", fill="black")
    colours = [(200, 30, 30), (30, 90, 200), (30, 150, 60)]
    for i, (name, v) in enumerate(series.items()):
        k = max(1, len(v) // 200)
        sm = np.convolve(v, np.ones(k) / k, mode="valid")
        pts = [(x(s), y(val)) for s, val in zip(steps[k - 1:], sm)]
        d.line(pts, fill=colours[i % 3], width=2)
        d.text((m + 8 + 110 * i, m + 6), name, fill=colours[i % 3])
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("workdir", type=Path)
    p.add_argument("--hardware", default="2 vCPU (AMD EPYC, AVX-512), no accelerator")
    p.add_argument("--notes", default="")
    args = p.parse_args()
    cfg = json.loads((args.workdir / "config.json").read_text())
    train = cfg.get("train", cfg)
    mt = read_metrics(args.workdir)
    steps = mt["step"]
    last = slice(-10, None)  # the last 10 log points
    wall = (mt["wall_time"][-1] - mt["wall_time"][0]) / 3600
    plot(ROOT / "docs" / "images" / "training_loss.png", steps,
         {"total": mt["loss"], "content": mt["content"], "style": mt["style"]})
    table = "\n".join(f"| {int(s)} | {l:.2f} | {c:.3f} | {st:.3f} |" for s, l, c, st in zip(
        steps[::max(1, len(steps) // 8)], mt["loss"][::max(1, len(steps) // 8)],
        mt["content"][::max(1, len(steps) // 8)], mt["style"][::max(1, len(steps) // 8)]))
    text = f"""# Model card: the shipped AdaIN decoder (`adain_jax/assets/decoder.npz`)

**What it is.** The decoder of AdaIN (Huang & Belongie 2017), trained by this project with
`train.py` against the shipped normalised VGG-19 (relu4_1). Stored in float16 (7 MB), loaded as
float32. It is the default of `stylize.py` and `adain_jax.load_default()`.

**Status: an interim, CPU-trained model.** It was trained for only {int(steps[-1]):,} steps (the
paper: 160,000) because no accelerator was available; it stylizes recognisably but with
visible high-frequency artefacts and weaker content fidelity than the authors' decoder. A GPU
retrain with the paper's settings is planned; the authors' `decoder.pth`/`decoder.t7` (with
their `vgg_normalised`) load with `--vgg/--decoder` for the paper's quality.
{args.notes}
| | |
|---|---|
| data | content: 3,000 photographs (ImageNet, COCO, BSD, Kodak, ... samples), style: 1,819 paintings (WikiArt, Louvre, Monet, Van Gogh, ...); research-only images, not redistributed; the held-out `eval/` set was never used for training |
| steps | {int(steps[-1]):,} |
| batch | {train.get('batch_size')} |
| crop | {train.get('crop_size')} px random crops (random flips) of images resized to {train.get('resize')} px on the shorter side |
| optimiser | Adam, lr {train.get('lr')} decayed as lr / (1 + {train.get('lr_decay')} step) |
| loss | content (relu4_1 MSE to the AdaIN target) + {train.get('style_weight')} x style (mean/std MSE over relu1_1..relu4_1) |
| VGG | normalised VGG-19 converted from the Keras h5 (float32) |
| compute dtype | {train.get('dtype')} |
| hardware | {args.hardware} |
| wall time | {wall:.2f} h (shared with other work on the same 2 cores) |
| final losses (mean of the last 10 log points) | total {mt['loss'][last].mean():.2f}, content {mt['content'][last].mean():.3f}, style {mt['style'][last].mean():.3f} |

![training loss](images/training_loss.png)

| step | total | content | style |
|---:|---:|---:|---:|
{table}

Quality against Gatys et al. and the Magenta model on the held-out set: `docs/quality/report.md`.

Reproduce: `python train.py --content-data ../shared/data/content --style-data ../shared/data/style
--workdir runs/release --batch-size {train.get('batch_size')} --crop-size {train.get('crop_size')}
--resize {train.get('resize')} --lr {train.get('lr')} --vgg ../shared/weights/vgg19_notop_to_block4_conv1.h5`,
stopped with SIGTERM, then `python scripts/convert_weights.py decoder runs/release/decoder.npz
adain_jax/assets/decoder.npz --dtype float16`.
"""
    out = ROOT / "docs" / "MODEL_CARD.md"
    out.write_text(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
