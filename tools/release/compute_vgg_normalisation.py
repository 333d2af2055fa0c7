"""Measure the per-channel mean activations of the un-normalised VGG-19 (Keras/Caffe weights).

These are the constants of the authors' "normalised VGG" (each channel rescaled so its mean
activation over images and positions is 1), used by ``adain_jax.weights.normalise_vgg``:

    python -m tools.release.compute_vgg_normalisation --images ../shared/data/content \
        --count 500 --size 256 --weights ../shared/weights/vgg19_notop_to_block4_conv1.h5 \
        --out adain_jax/assets/vgg_normalisation.json

Images: the sorted list of image files in --images, the first --count of them; each is resized
so its shorter side is --size and centre-cropped to --size x --size
(``adain_jax.image_io.load_image``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from adain_jax import image_io
from adain_jax.fs import atomic_write

REPO = Path(__file__).resolve().parents[2]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
LOADER = "adain_jax.image_io.load_image(path, size=S, crop=True) (Lanczos, centre crop)"


def load_image(path: Path, size: int) -> np.ndarray:
    img = np.asarray(image_io.load_image(path, size=size, crop=True), np.float32)
    return img.reshape(img.shape[-3:])


def layer_means_fn():
    import jax
    import jax.numpy as jnp
    from jax import lax

    from adain_jax.nn.layers import max_pool_ceil, reflect_pad
    from adain_jax.nn.models import ENCODER_LAYERS, POOL_AFTER

    @jax.jit
    def fn(params, x):
        p = params["preprocess"]
        x = jnp.einsum("nhwc,cd->nhwd", x, p["kernel"][0, 0]) + p["bias"]
        sums = {}
        for name, _ in ENCODER_LAYERS:
            k, b = params[name]["kernel"], params[name]["bias"]
            x = lax.conv_general_dilated(reflect_pad(x), k, (1, 1), "VALID",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC")) + b
            x = jax.nn.relu(x)
            sums[name] = x.mean(axis=(1, 2))  # (N, C): per image, every image has equal area
            if name in POOL_AFTER:
                x = max_pool_ceil(x)
        return sums

    return fn


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", required=True, type=Path)
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--weights", type=Path,
                    default=REPO.parent / "shared" / "weights" / "vgg19_notop_to_block4_conv1.h5")
    ap.add_argument("--out", type=Path,
                    default=REPO / "adain_jax" / "assets" / "vgg_normalisation.json")
    args = ap.parse_args(argv)

    from adain_jax.weights import read_keras_vgg
    from adain_jax.errors import AdainError

    try:
        params = read_keras_vgg(args.weights)
    except AdainError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    files = files[:args.count]
    if len(files) < args.count:
        print(f"error: only {len(files)} images in {args.images}", file=sys.stderr)
        return 2
    fn = layer_means_fn()
    t0 = time.time()
    totals = None
    for start in range(0, len(files), args.batch):
        batch = np.stack([load_image(p, args.size) for p in files[start:start + args.batch]])
        sums = fn(params, batch)
        sums = {k: np.asarray(v, np.float64).sum(0) for k, v in sums.items()}
        totals = sums if totals is None else {k: totals[k] + sums[k] for k in totals}
        done = start + len(batch)
        print(f"{done}/{len(files)} images, {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    means = {k: (v / len(files)).tolist() for k, v in totals.items()}
    names = "\n".join(p.name for p in files).encode()
    meta = {
        "description": "per-channel mean ReLU activation of the un-normalised (Caffe/Keras) "
                       "VGG-19, reflection padding 1, max-pool ceil mode, input RGB in [0,1] "
                       "mapped to Caffe BGR*255-mean",
        "weights": args.weights.name,
        "images": f"{os.path.relpath(args.images.resolve(), REPO)}"
                  f" (the research-only content set of ../shared; not in the repo), sorted file "
                  f"list, first {len(files)}: {files[0].name} .. {files[-1].name}",
        "image_list_sha256": hashlib.sha256(names).hexdigest(),
        "count": len(files), "size": args.size,
        "preprocessing": LOADER,
        "seconds": round(time.time() - t0, 1),
        "command": "python -m tools.release.compute_vgg_normalisation --images DIR "
                   f"--count {args.count} --size {args.size}",
    }
    atomic_write(args.out, json.dumps({"metadata": meta, "means": means}, indent=1))
    print(f"wrote {args.out} ({meta['seconds']}s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
