"""The measurements of docs/video/results.md: ``python -m tools.video.measure [--only
quality,speed,rss] [--frames 24] [--out docs/video]``.

* quality: synthetic clips with exactly known motion (a pan, a zoom, an object moving over a
  static background, cut from the shipped example photos) stylized with the shipped model
  (swirls style, bf16) by every temporal method; short- and long-term warping error with
  the exact flow, mean abs difference and sharpness against per-frame stylization.
* speed: frames/s at 512 x 512 on this CPU, float32 and bf16, per-frame and ``both``.
* rss: peak RSS of ``stylize.py`` on synthetic 1080p clips of 5 s and 30 s (10 frames/s),
  frames resized to 128 px (the streaming pipeline, decode/encode at 1080p) and one run at
  512 px on the 5 s clip.
Results are merged into ``<out>/results.json`` and ``<out>/results.md`` is rewritten.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
METHODS = {  # name -> stylize_video options
    "per-frame": dict(temporal="none"),
    "ema": dict(temporal="ema"),
    "grid-align": dict(temporal="flow", flow_weight=0.0),
    "flow-blend": dict(temporal="flow", align=False),
    "flow": dict(temporal="flow"),
    "both (default)": dict(temporal="both"),
}


def clips(n: int):
    from adain_jax import image_io
    from adain_jax.video import synthetic

    ex = REPO / "examples" / "content"
    astronaut = image_io.load_image(ex / "astronaut.jpg")
    coffee = image_io.load_image(ex / "coffee.jpg")
    rocket = image_io.load_image(ex / "rocket.jpg")
    cat = image_io.load_image(ex / "chelsea.jpg")
    size = (256, 352)
    return [synthetic.pan(astronaut, n, size, step=(3, 0)),
            synthetic.zoom(coffee, n, size, rate=1.015),
            synthetic.moving_object(rocket[40:40 + size[0], 80:80 + size[1]],
                                    cat[60:156, 160:256].copy(), n, step=(4, 2),
                                    start=(16, 16))]


def quality(n: int, long_k: int) -> dict:
    import jax.numpy as jnp

    import adain_jax
    from adain_jax import image_io
    from adain_jax.video import metrics

    params = adain_jax.load_default()
    style = image_io.load_image(REPO / "examples" / "style" / "swirls.jpg", size=256)
    out = {}
    for clip in clips(n):
        res = {"input": metrics.evaluate(clip.frames, clip.flow, long_k=long_k)}
        ref = None
        for name, opts in METHODS.items():
            t = time.perf_counter()
            frames = list(adain_jax.stylize_video(params, clip.frames, style, batch_size=4,
                                                  dtype=jnp.bfloat16, **opts))
            r = metrics.evaluate(frames, clip.flow, long_k=long_k, reference=ref)
            r["seconds"] = time.perf_counter() - t
            if ref is None:
                ref = frames
            else:
                base = res["per-frame"]
                r["warp_short_ratio"] = r["warp_short"] / base["warp_short"]
                r["warp_long_ratio"] = r["warp_long"] / base["warp_long"]
            res[name] = r
            print(clip.name, name, {k: round(v, 4) for k, v in r.items()}, flush=True)
        out[clip.name] = res
    return {"frames": n, "size": [256, 352], "long_k": long_k, "style": "swirls", "dtype":
            "bfloat16", "clips": out}


def speed(n: int) -> dict:
    import jax.numpy as jnp

    import adain_jax
    from adain_jax import image_io
    from adain_jax.image_io.resample import LANCZOS
    from adain_jax.video import synthetic

    params = adain_jax.load_default()
    src = image_io.load_image(REPO / "examples" / "content" / "astronaut.jpg")
    src = image_io.resize_float(src, (1024, 1024), LANCZOS)
    style = image_io.load_image(REPO / "examples" / "style" / "swirls.jpg", size=512)
    clip = synthetic.pan(src, n + 4, (512, 512), step=(3, 0))
    out = {}
    for dtype in ("float32", "bfloat16"):
        for method in ("none", "both"):
            gen = adain_jax.stylize_video(params, clip.frames, style, batch_size=4,
                                          temporal=method,
                                          dtype=None if dtype == "float32" else jnp.bfloat16)
            for _ in range(4):  # compile + first batch
                next(gen)
            t = time.perf_counter()
            k = sum(1 for _ in gen)
            fps = k / (time.perf_counter() - t)
            out[f"{dtype}/{method}"] = fps
            print(dtype, method, f"{fps:.2f} frames/s", flush=True)
    return {"size": 512, "frames": n, "batch_size": 4, "fps": out}


def flow_overhead(n: int = 12) -> dict:
    """CPU time per 512 px frame of FlowTracker + FlowBlender (host side of 'flow')."""
    from adain_jax import image_io
    from adain_jax.image_io.resample import LANCZOS
    from adain_jax.video import synthetic, temporal

    src = image_io.load_image(REPO / "examples" / "content" / "astronaut.jpg")
    clip = synthetic.pan(image_io.resize_float(src, (1024, 1024), LANCZOS), n + 1, (512, 512))
    out = {}
    for preset in ("medium", "fast"):
        tracker, blender = temporal.FlowTracker(preset), temporal.FlowBlender(0.5)
        blender(clip.frames[0], tracker(clip.frames[0]))
        t = time.process_time()
        for f in clip.frames[1:]:
            blender(f, tracker(f))
        out[preset] = (time.process_time() - t) / n * 1000
    return {"size": 512, "cpu_ms_per_frame": out}


def make_1080p(path: Path, seconds: int, fps: int = 10) -> None:
    import av

    from adain_jax import image_io
    from adain_jax.image_io.resample import LANCZOS

    src = image_io.load_image(REPO / "examples" / "content" / "coffee.jpg")
    big = image_io.to_uint8(image_io.resize_float(src, (1080, 1620), LANCZOS))
    big = np.concatenate([big, big[:, ::-1]], axis=1)  # 3240 px wide, pans back and forth
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = 1920, 1080, "yuv420p"
        s.options = {"preset": "ultrafast"}
        for i in range(seconds * fps):
            x = (i * 8) % (big.shape[1] - 1920)
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(big[:, x:x + 1920]),
                                           format="rgb24")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode(None))


def peak_rss(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of ``stylize.py args`` in a fresh process."""
    probe = ("import resource, subprocess, sys, time; t = time.time(); "
             "r = subprocess.run(sys.argv[1:]).returncode; "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.time() - t, r)")
    res = subprocess.run([sys.executable, "-c", probe, sys.executable,
                          str(REPO / "stylize.py"), *args], capture_output=True, text=True,
                         cwd=REPO)
    kib, secs, rc = res.stdout.split()[-3:]
    if rc != "0":
        raise RuntimeError(res.stderr[-500:])
    return int(kib) / 1024, float(secs)


def rss() -> dict:
    out = {}
    style = str(REPO / "examples" / "style" / "swirls.jpg")
    with tempfile.TemporaryDirectory() as d:
        for seconds, size in ((5, 128), (30, 128), (5, 512)):
            clip = Path(d) / f"clip{seconds}.mp4"
            if not clip.exists():
                make_1080p(clip, seconds)
            mib, secs = peak_rss(["--content", str(clip), "--style", style, "--output",
                                  str(Path(d) / f"out{seconds}_{size}.mp4"), "--content-size",
                                  str(size), "--dtype", "bfloat16", "--quiet", "--overwrite"])
            out[f"{seconds}s@{size}"] = {"seconds_of_video": seconds, "frames": seconds * 10,
                                         "content_size": size, "peak_rss_mib": mib,
                                         "wall_s": secs}
            print(seconds, size, f"{mib:.0f} MiB", f"{secs:.0f} s", flush=True)
    return {"input": "1920x1080 H.264, 10 frames/s", "runs": out}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.video.measure", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="quality,speed,rss")
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--long-k", type=int, default=5)
    p.add_argument("--out", type=Path, default=REPO / "docs" / "video")
    args = p.parse_args(argv)
    from adain_jax import fs

    path = args.out / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results["machine"] = {"cpu": platform.processor() or platform.machine(),
                          "python": platform.python_version()}
    parts = args.only.split(",")
    if "quality" in parts:
        results["quality"] = quality(args.frames, args.long_k)
    if "speed" in parts:
        results["speed"] = speed(max(8, args.frames // 2))
        results["flow_overhead"] = flow_overhead()
    if "rss" in parts:
        results["rss"] = rss()
    fs.atomic_write(path, json.dumps(results, indent=2) + "\n")
    from tools.video import report

    fs.atomic_write(args.out / "results.md", report.markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
