"""Images/s of ``adain-stylize-dataset`` next to a per-image PyTorch loop like
bethgelab/stylize-datasets (the loop that made Stylized-ImageNet), same weights, same images,
same style assignment, in one run.

    python -m tools.datasets.bench                   # 32 contents, CPU, float32 and bf16
    python -m tools.datasets.bench --contents 64 --content-size 224 --json out.json

The data are made here: JPEG contents with ImageNet-like sizes (shorter side 256-400, aspect
ratios 3:4 to 16:9) resized to ``--content-size`` on the shorter side, and JPEG styles resized
to ``--style-size``. Weights: the shipped VGG and decoder.

* ``adain-jax`` rows: :func:`adain_jax.datasets.stylize_dataset` (threads read and write, styles
  encoded once, shape buckets, batches on every local device); one untimed run first compiles
  every bucket shape, then a timed run into a fresh folder (wall time of the whole call,
  reading, writing and the style bank included).
* ``torch`` row: bethgelab's loop: per content, read the content and its style with PIL,
  encode both, AdaIN, decode, save (float32, ``torch.inference_mode``, all CPU threads).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import adain_jax  # noqa: F401  (XLA flags before jax starts)
import jax

from tests.reference import torch_adain


def make_images(folder: Path, n: int, seed: int, short=(256, 400)) -> None:
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        s = int(rng.integers(*short))
        ratio = float(rng.choice([0.75, 1.0, 1.333, 1.5, 1.778]))
        h, w = (s, int(s * ratio)) if rng.random() < 0.7 else (int(s * ratio), s)
        y, x = np.mgrid[0:h, 0:w] / max(h, w)
        base = np.stack([np.sin(7 * y + i), x, 1 - x * y], -1) * rng.uniform(0.3, 1.0, 3)
        img = np.clip(base + rng.normal(0, 0.08, (h, w, 3)), 0, 1)
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"n{i:05d}.JPEG", quality=90)


def run_jax(src: Path, styles: Path, work: Path, args, dtype: str) -> dict:
    from adain_jax.datasets import DatasetJob, stylize_dataset

    params = adain_jax.load_default()

    def job(out):
        return DatasetJob(str(src), str(styles), str(out), content_size=args.content_size,
                          style_size=args.style_size, batch_size=args.batch_size,
                          bucket=args.bucket, dtype=dtype, workers=args.workers)

    stylize_dataset(job(work / f"warm-{dtype}"), params, log=lambda m: None)  # compiles
    t0 = time.perf_counter()
    s = stylize_dataset(job(work / f"jax-{dtype}"), params, log=lambda m: None)
    wall = time.perf_counter() - t0
    return {"images": s.written, "wall_s": round(wall, 2),
            "images_per_s": round(s.written / wall, 3)}


def run_torch(src: Path, styles: Path, out: Path, rows: list, args) -> dict:
    """bethgelab/stylize-datasets' loop over the same contents and style assignment."""
    import torch
    from PIL import Image

    ref = torch_adain
    torch.set_num_threads(os.cpu_count() or 1)
    net = ref.Net(ref.make_vgg(), ref.make_decoder()).eval()
    copy_weights(net, adain_jax.load_default())

    def load(path, size):
        im = Image.open(path).convert("RGB")
        w, h = im.size
        if size:
            scale = size / min(w, h)
            im = im.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BICUBIC)
        return torch.from_numpy(np.asarray(im, np.float32) / 255).permute(2, 0, 1)[None]

    t0 = time.perf_counter()
    for content, style, alpha in rows:
        c = load(src / content, args.content_size)
        s = load(styles / style, args.style_size)
        with torch.inference_mode():
            cf, sf = net.encode(c), net.encode(s)
            t = ref.adain(cf, sf)
            t = alpha * t + (1 - alpha) * cf
            img = net.decoder(t).clamp(0, 1)[0].permute(1, 2, 0).numpy()
        target = out / content
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(target, quality=95)
    wall = time.perf_counter() - t0
    return {"images": len(rows), "wall_s": round(wall, 2),
            "images_per_s": round(len(rows) / wall, 3), "threads": torch.get_num_threads()}


def copy_weights(net, params) -> None:
    """Our weights into the torch network (HWIO -> OIHW, layer order)."""
    import torch

    from adain_jax.nn import models

    vgg = jax.tree.map(np.asarray, params["vgg"])
    dec = jax.tree.map(np.asarray, params["decoder"])
    names = [(vgg, "preprocess")] + [(vgg, n) for n, _ in models.ENCODER_LAYERS]
    names += [(dec, n) for n, _ in models.DECODER_LAYERS]
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == len(names), (len(convs), len(names))
    with torch.no_grad():
        for conv, (tree, name) in zip(convs, names):
            conv.weight.copy_(torch.from_numpy(
                tree[name]["kernel"].astype(np.float32).transpose(3, 2, 0, 1).copy()))
            conv.bias.copy_(torch.from_numpy(tree[name]["bias"].astype(np.float32).copy()))


def mean_abs_diff(a: Path, b: Path, rows: list) -> float:
    from adain_jax import image_io

    diffs = []
    for content, _, _ in rows:
        x, y = image_io.load_image(a / content), image_io.load_image(b / content)
        h, w = min(x.shape[0], y.shape[0]), min(x.shape[1], y.shape[1])
        diffs.append(float(np.abs(x[:h, :w] - y[:h, :w]).mean()))
    return round(float(np.mean(diffs)), 4)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--contents", type=int, default=32)
    p.add_argument("--styles", type=int, default=8)
    p.add_argument("--content-size", type=int, default=256)
    p.add_argument("--style-size", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--bucket", type=int, default=64)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--dtypes", default="float32,bfloat16")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    from adain_jax.datasets import manifest
    from adain_jax.nn import backends

    work = Path(tempfile.mkdtemp(prefix="adain-dsbench-"))
    try:
        make_images(work / "src" / "n01440764", args.contents // 2, 0)
        make_images(work / "src" / "n01443537", args.contents - args.contents // 2, 1)
        make_images(work / "styles", args.styles, 2, short=(400, 700))
        rows_out = {}
        for dtype in args.dtypes.split(","):
            rows_out[f"adain-jax {dtype}"] = run_jax(work / "src", work / "styles", work, args,
                                                     dtype)
            print(dtype, rows_out[f"adain-jax {dtype}"], flush=True)
        rows = manifest.read(work / "jax-float32") if "float32" in args.dtypes else \
            manifest.read(work / f"jax-{args.dtypes.split(',')[0]}")
        rows_out["torch float32 per-image loop"] = run_torch(work / "src", work / "styles",
                                                             work / "torch", rows, args)
        print("torch", rows_out["torch float32 per-image loop"], flush=True)
        first = args.dtypes.split(",")[0]
        result = {
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
            "backend": backends.describe(), "jax": jax.__version__,
            "devices": f"{jax.local_device_count()} x {jax.devices()[0].platform}",
            "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
            "settings": {k: getattr(args, k) for k in ("contents", "styles", "content_size",
                                                       "style_size", "batch_size", "bucket",
                                                       "workers")},
            "rows": rows_out,
            "mean_abs_diff_jax_vs_torch": mean_abs_diff(work / f"jax-{first}", work / "torch",
                                                        rows),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    torch_ips = result["rows"]["torch float32 per-image loop"]["images_per_s"]
    print("\n| implementation | images | wall s | images/s | vs torch |\n|---|---:|---:|---:|---:|")
    for name, r in result["rows"].items():
        print(f"| {name} | {r['images']} | {r['wall_s']} | {r['images_per_s']} | "
              f"{r['images_per_s'] / torch_ips:.2f}x |")
    print(json.dumps(result, indent=1))
    if args.json:
        from adain_jax import fs

        fs.atomic_write(args.json, json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
