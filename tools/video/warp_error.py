"""Warping error of a stylized clip: ``python -m tools.video.warp_error --content clip.mp4
--stylized out.mp4 [--reference per_frame.mp4] [--long-k 8] [--json out.json]``.

Flow is estimated on the *content* clip (OpenCV DIS, resized to the stylized clip's size)
with a forward-backward occlusion check; the output frame t is compared with frame t-1
(short-term) and t-k (long-term) warped to it. The content clip's own warping error is
printed too (near 0 when the flow is good). With ``--reference`` (the same clip stylized
per frame) the mean abs difference and the sharpness ratio to it are reported. Clips are
read whole (``--max-frames`` limits them): a measuring tool for short clips.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from adain_jax import image_io
from adain_jax.errors import AdainError, one_line
from adain_jax.image_io.resample import LANCZOS
from adain_jax.video import io as vio
from adain_jax.video import metrics


def read_clip(path, max_frames: int, hw=None) -> list[np.ndarray]:
    frames = []
    for rgb in vio.FrameReader(path):
        f = image_io.to_float_rgb(rgb)
        frames.append(image_io.resize_float(f, hw, LANCZOS) if hw else f)
        if len(frames) >= max_frames:
            break
    if len(frames) < 2:
        raise AdainError(f"{path}: needs at least 2 decodable frames")
    return frames


def measure(content, stylized, reference=None, long_k: int = 8, preset: str = "medium") -> dict:
    """The metrics for clips already in memory (float32 frames)."""
    n = min(len(content), len(stylized))
    content, stylized = content[:n], stylized[:n]
    flow = metrics.dis_flows(content, preset)
    k = min(long_k, n - 1)
    out = {"frames": n, "content": metrics.evaluate(content, flow, long_k=k),
           "stylized": metrics.evaluate(stylized, flow, long_k=k,
                                        reference=reference[:n] if reference else None)}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.video.warp_error", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--content", required=True, help="the input clip")
    p.add_argument("--stylized", required=True, help="its stylization")
    p.add_argument("--reference", default=None, help="per-frame stylization to compare with")
    p.add_argument("--long-k", type=int, default=8, help="frame gap of the long-term error")
    p.add_argument("--max-frames", type=int, default=120)
    p.add_argument("--preset", choices=("ultrafast", "fast", "medium"), default="medium")
    p.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = p.parse_args(argv)
    try:
        sty = read_clip(args.stylized, args.max_frames)
        hw = sty[0].shape[:2]
        con = read_clip(args.content, args.max_frames, hw)
        ref = read_clip(args.reference, args.max_frames, hw) if args.reference else None
        res = measure(con, sty, ref, args.long_k, args.preset)
    except AdainError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    c, s = res["content"], res["stylized"]
    print(f"{res['frames']} frames; warping error short (k=1) / long (k={s['long_k']}):")
    print(f"  content   {c['warp_short']:.4f} / {c['warp_long']:.4f}")
    print(f"  stylized  {s['warp_short']:.4f} / {s['warp_long']:.4f}   "
          f"sharpness {s['sharpness']:.4f}")
    if "mad_to_per_frame" in s:
        print(f"  vs reference: mean abs diff {s['mad_to_per_frame']:.4f}, sharpness ratio "
              f"{s['sharpness_ratio']:.3f}")
    if args.json:
        from adain_jax import fs

        fs.atomic_write(args.json, json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
