"""Builds docs/images/examples.jpg: the shipped demo contents x demo styles, stylized with the
shipped weights (first row: the styles; first column: the contents); ``--model lite`` the same
with the lite model (``docs/images/examples_lite.jpg``)."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import adain_jax
from adain_jax import image_io

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--decoder", default=None)
    p.add_argument("--model", choices=adain_jax.MODELS, default="adain")
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    name = "examples.jpg" if args.model == "adain" else f"examples_{args.model}.jpg"
    args.out = args.out or ROOT / "docs" / "images" / name
    params = adain_jax.load_params(None, args.decoder, model=args.model)
    contents = image_io.list_images(ROOT / "examples" / "content")
    styles = image_io.list_images(ROOT / "examples" / "style")
    tile = args.size // 2
    blank = np.ones((tile, tile, 3), np.float32)
    header = [blank] + [image_io.load_image(s, size=tile, crop=True) for s in styles]
    rows = [header]
    stats = [adain_jax.style_stats(params, image_io.load_image(s, size=args.size))
             for s in styles]                      # each style read and encoded once
    for c in contents:
        content = image_io.load_image(c, size=args.size, crop=True)
        rows.append([content] + [np.asarray(adain_jax.stylize(params, content, st))
                                 for st in stats])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image_io.save_grid(args.out, rows, tile_height=tile)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
