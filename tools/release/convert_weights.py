"""Convert a VGG or decoder weight file (Keras .h5, PyTorch .pth, Lua .t7, .npz) to our .npz.

    python -m tools.release.convert_weights vgg \
        ../shared/weights/vgg19_notop_to_block4_conv1.h5 adain_jax/assets/vgg_normalised.npz \
        --dtype float16
    python -m tools.release.convert_weights decoder decoder.pth decoder.npz
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("part", choices=("vgg", "decoder"))
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    ap.add_argument("--no-normalise", action="store_true",
                    help="Keras h5 only: keep the un-normalised Caffe VGG")
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)

    from adain_jax.weights import load_decoder, load_vgg, save_params
    from adain_jax.errors import AdainError

    try:
        if args.part == "vgg":
            tree = load_vgg(args.src, normalise=not args.no_normalise)
        else:
            tree = load_decoder(args.src)
        save_params(args.dst, {args.part: tree}, dtype=args.dtype, overwrite=args.overwrite)
    except AdainError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
