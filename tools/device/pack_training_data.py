"""Pack an image folder into one small file of square WebP crops, for a device machine.

The lent GPU machines take at most 64 MiB of working tree per call, so the training photos and
paintings travel as ``SIZE`` x ``SIZE`` centre crops (short side resized to ``SIZE``) encoded
as WebP, in an ``.npz`` of two plain arrays (no pickle): ``data`` (uint8, the concatenated
files) and ``offsets`` (int64, ``len + 1`` boundaries). ``adain_jax.training.packs`` decodes
them once and keeps the pixels on the accelerator (``train.py --content-data PACK.npz``,
``tools.device.train_device``).

    python -m tools.device.pack_training_data ../shared/data/content .devpack/content.npz --limit 2400
"""
from __future__ import annotations

import argparse
import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from adain_jax.image_io import IMAGE_SUFFIXES
from adain_jax.training.packs import read_pack


def encode(path: Path, size: int, quality: int) -> bytes:
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")
        im = ImageOps.fit(im, (size, size), Image.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, "WEBP", quality=quality, method=6)
    return buf.getvalue()


def decode_pack(path, threads: int | None = None) -> np.ndarray:
    """``(N, S, S, 3)`` uint8 pixels of a pack written by this script (the library's reader,
    :func:`adain_jax.training.packs.read_pack`)."""
    return read_pack(path, threads)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--quality", type=int, default=70)
    p.add_argument("--limit", type=int, default=0, help="N files spread over the sorted folder (0: all)")
    args = p.parse_args(argv)
    files = sorted(f for f in args.folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    if args.limit:
        keep = np.unique(np.linspace(0, len(files) - 1, args.limit).round().astype(int))
        files = [files[i] for i in keep]     # spread over the folder's sources
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        blobs = list(pool.map(lambda f: encode(f, args.size, args.quality), files))
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp.npz")
    np.savez(tmp, data=np.frombuffer(b"".join(blobs), np.uint8), offsets=offsets)
    os.replace(tmp, args.out)
    print(f"{args.out}: {len(files)} images, {offsets[-1] / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
