"""Writes docs/MODEL_CARD.md and docs/images/training_loss.png from runs of
``tools.device.train_device``."""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[2]


def read_metrics(workdir: Path) -> dict[str, np.ndarray]:
    with open(workdir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0] if rows[0][k] != ""}


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


def read_stage(folder: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """One ``tools/device/train_device.py`` run: its summary and metrics."""
    return json.loads((folder / "train_summary.json").read_text()), read_metrics(folder)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("stages", type=Path, nargs="+",
                   help="output folders of tools/device/train_device.py runs, in training order "
                        "(each later one warm-started from the previous decoder)")
    p.add_argument("--hardware", default="one NVIDIA H100 80GB HBM3 (lent machine), jax 0.11.2")
    args = p.parse_args()
    stages = [read_stage(f) for f in args.stages]
    offset, steps, series = 0, [], {"loss": [], "content": [], "style": []}
    rows = []
    for i, (summary, mt) in enumerate(stages):
        cfg = summary["config"]
        steps.append(mt["step"] + offset)
        for k in series:
            series[k].append(mt[k])
        rows.append(f"| {i + 1} | {offset + 1:,}-{offset + summary['steps']:,} | "
                    f"{'fresh init' if not cfg.get('init') else 'previous stage'} | "
                    f"{cfg['lr']:g} / (1 + {cfg['lr_decay']:g} t) | {cfg['batch_size']} | "
                    f"{cfg['crop_size']} | {cfg['dtype']} | {summary['wall_s'] / 60:.1f} min "
                    f"({summary['compile_s']:.0f} s compile) | {summary['steps_per_s_loop']:.1f} "
                    f"({summary['images_per_s_loop']:.0f} img/s) |")
        offset += summary["steps"]
    steps = np.concatenate(steps)
    series = {k: np.concatenate(v) for k, v in series.items()}
    last = slice(-10, None)  # the last 10 log points
    plot(ROOT / "docs" / "images" / "training_loss.png", steps,
         {"total": series["loss"], "content": series["content"], "style": series["style"]})
    pick = np.unique(np.linspace(0, len(steps) - 1, 10).round().astype(int))
    table = "\n".join(f"| {int(steps[j]):,} | {series['loss'][j]:.2f} | {series['content'][j]:.3f} | "
                      f"{series['style'][j]:.3f} |" for j in pick)
    quality = ""
    qpath = ROOT / "docs" / "quality" / "metrics.json"
    if qpath.exists():
        g = json.loads(qpath.read_text())["goals"]
        m, gy = g["style_vs_magenta"], g["style_vs_gatys"]
        quality = (f"Held-out quality (`docs/quality/report.md`, 400 pairs at 512 px): content loss "
                   f"{m['ours_content']:.2f}, style loss {m['ours_style']:.2f} against Magenta's "
                   f"{m['magenta_content']:.2f} / {m['magenta_style']:.2f}; style loss {gy['ratio']:.2f}x "
                   f"that of Gatys et al. optimisation on its 4-pair subset.")
    first = stages[0][0]
    data = first["data"]
    cfg0 = first["config"]
    images = sum(s["steps"] * s["config"]["batch_size"] for s, _ in stages)
    text = f"""# Model card: the shipped AdaIN decoder (`adain_jax/assets/decoder.npz`)

**What it is.** The decoder of AdaIN (Huang & Belongie 2017), trained by this project against
the shipped normalised VGG-19 (relu4_1) with the library's training step
(`adain_jax.training.train_step`). Stored in float16 (7 MB), loaded as float32. It is the
default of `stylize.py` and `adain_jax.load_default()`.

**Training budget.** {offset:,} steps at batch {cfg0['batch_size']} = {images:,} training images
seen, on one GPU in {sum(s['wall_s'] for s, _ in stages) / 60:.0f} minutes (the paper: 160,000
steps at batch 8 = 1,280,000 images). The lent GPU time of one session was the limit, not
convergence: the loss was still falling slowly at the end.

| | |
|---|---|
| data | content: {data['content'][0]:,} of the 3,000 training photographs (ImageNet, COCO, BSD, Kodak, ... samples), style: all {data['style'][0]:,} training paintings (WikiArt, Louvre, Monet, Van Gogh, ...); research-only images, not redistributed; the held-out `eval/` set was never used for training |
| preprocessing | shorter side resized to {data['content'][1]} px, centre {data['content'][1]} x {data['content'][2]} crop, stored as WebP q70 (`tools/device/pack_training_data.py`: the packs had to fit the 64 MiB a GPU call may carry); per step random {cfg0['crop_size']} px crops and random horizontal flips sampled on the GPU |
| loss | content (relu4_1 MSE to the AdaIN target) + {cfg0['style_weight']:g} x style (mean/std MSE over relu1_1..relu4_1), as in the paper |
| optimiser | Adam (0.9, 0.999, 1e-8), gradients w.r.t. the decoder only, float32 params and moments |
| compute dtype | {cfg0['dtype']} (convolutions), float32 statistics and losses |
| VGG | the shipped normalised VGG-19 (`adain_jax/assets/vgg_normalised.npz`) |
| hardware | {args.hardware} |
| final losses (mean of the last 10 log points) | total {series['loss'][last].mean():.2f}, content {series['content'][last].mean():.3f}, style {series['style'][last].mean():.3f} |

| stage | steps | init | lr | batch | crop | dtype | wall | steps/s |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

The second stage restarted Adam's moments from zero and its schedule from the first stage's
final learning rate (the script has no optimiser-state resume; `train.py` does).

![training loss](images/training_loss.png)

| step | total | content | style |
|---:|---:|---:|---:|
{table}

{quality or "Quality against Gatys et al. and the Magenta model: `docs/quality/report.md`."}

Reproduce (on a GPU machine; the packs come from `../shared/data`):

```bash
python -m tools.device.pack_training_data ../shared/data/content .devpack/content.npz --limit {data['content'][0]}
python -m tools.device.pack_training_data ../shared/data/style .devpack/style.npz
python -m tools.device.train_device --content-pack .devpack/content.npz --style-pack .devpack/style.npz \\
    --out runs/gpu1 --seconds 390
python -m tools.release.convert_weights decoder runs/gpu1/decoder.npz .devpack/decoder_s1.npz --dtype float16
python -m tools.device.train_device --content-pack .devpack/content.npz --style-pack .devpack/style.npz \\
    --out runs/gpu2 --seconds 200 --init .devpack/decoder_s1.npz --lr 8.7e-5 --seed 1
python -m tools.release.convert_weights decoder runs/gpu2/decoder.npz adain_jax/assets/decoder.npz --dtype float16
python -m tools.release.model_card runs/gpu1 runs/gpu2
```

On any machine, `train.py` trains the same model from image folders or tfds with orbax
checkpoints and exact resume (the previous shipped decoder, 2,097 CPU steps at 128 px, came
from it).
"""
    out = ROOT / "docs" / "MODEL_CARD.md"
    out.write_text(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
