"""Speed of lite model variants next to the main model and Magenta, on this CPU, in one run.

    python -m tools.bench.lite_speed [--quick] [--no-main] [--no-magenta]

One pair = one content image (256, 512, 1024 px squares and 3840x2160) + one 512 px style image,
both encoded in the timed call, as ``tools.bench.bench``'s ``stylize`` tasks. Rows:

* ``lite-NAME[@{max_side}]``: trained lite files (``--weights``; the shipped one by default;
  ``--weights ''``: random-weight ``VARIANTS``) through ``adain_jax.stylize`` (float32), ``@N``:
  internal resolution (content resized so its longer side is at most N before encoding,
  output upsampled back).
* 4K memory (``--memory``): one 4K pair per child process, the shipped lite model untiled and
  tiled (``stylize_tiled``) and the main model tiled; wall time and peak resident memory.
* ``adain-f32`` / ``adain-bf16``: the main model through ``adain_jax.stylize`` (4K through
  ``adain_jax.stylize_tiled``, its bounded-memory path), run in a child process with the
  installed package's environment (the oneDNN kernels where the install has them); the row
  records which package and backend ran.
* ``magenta``: ``tools.bench.magenta`` (onnxruntime; stylizes at 384 px internally).

Writes ``tools/bench/results/lite_speed.{json,md}``: median seconds per pair, GFLOP per pair
(convolutions, multiply-adds counted twice; not known for Magenta) and time ratios to Magenta
and to the main model in bfloat16.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIZES = {"256": (256, 256), "512": (512, 512), "1024": (1024, 1024), "4K": (2160, 3840)}
STYLE_SIZE = 512  # as tools.bench.bench's stylize tasks
# (width, depth, max_side or None)
VARIANTS = ((16, 1, None), (32, 1, None), (32, 2, None), (32, 1, 1024), (48, 2, 512))
RESULTS = Path(__file__).resolve().parent / "results"
EDITABLE_SKIP = "SKBUILD_EDITABLE_SKIP"


def image(hw, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((*hw, 3), dtype=np.float32)


def timed(fn, repeats: int) -> dict:
    """One warm-up call (compilation), then ``repeats`` timed calls."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"warmup_s": round(first, 3), "times_s": [round(t, 4) for t in times],
            "median_s": round(float(np.median(times)), 4)}


def repeats_for(size: str, quick: bool) -> int:
    return 1 if quick or size == "4K" else 3


def main_flops(h: int, w: int, decoder: bool = True) -> float:
    """Convolution FLOPs of the main model's encoder (+ decoder) at (h, w) (padded to 8)."""
    from adain_jax.nn import models

    h, w = -(-h // 8) * 8, -(-w // 8) * 8
    total, hh, ww, cin = 2.0 * 9 * h * w, h, w, 3  # 1x1 preprocess, 3 -> 3
    for name, ch in models.ENCODER_LAYERS:
        total += 2.0 * 9 * cin * ch * hh * ww
        cin = ch
        if name in models.POOL_AFTER:
            hh, ww = -(-hh // 2), -(-ww // 2)
    hh, ww, cin = h // 8, w // 8, 512
    for name, ch in models.DECODER_LAYERS if decoder else ():
        total += 2.0 * 9 * cin * ch * hh * ww
        cin = ch
        if name in models.UPSAMPLE_AFTER:
            hh, ww = hh * 2, ww * 2
    return total


def pair_flops_main(hw) -> float:
    """One pair: encoder + decoder at the content's size, encoder at the style's."""
    return main_flops(*hw) + main_flops(STYLE_SIZE, STYLE_SIZE, decoder=False)


def internal_size(hw, max_side):
    h, w = hw
    if max_side is None or max(h, w) <= max_side:
        return h, w
    scale = max_side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def lite_models(weights: str, max_sides: str) -> list[tuple[str, dict, int | None]]:
    """(row name, params, max_side): the trained files of ``weights`` (``NAME=PATH,...``) at
    each of ``max_sides`` (0: full resolution), or random-weight ``VARIANTS`` when empty."""
    import jax

    import adain_jax
    from adain_jax.nn import lite

    if not weights:
        return [(f"lite-w{w}d{d}" + (f"@{m}" if m else "") + " (random)",
                 lite.init_params(jax.random.PRNGKey(0), lite.LiteConfig(w, d)), m)
                for w, d, m in VARIANTS]
    out = []
    for item in weights.split(","):
        name, _, path = item.partition("=")
        params = adain_jax.load_params(model="lite", decoder=path or None)
        for m in (int(x) for x in max_sides.split(",")):
            out.append((f"lite-{name}" + (f"@{m}" if m else ""), params, m or None))
    return out


def lite_rows(sizes, quick: bool, models: list) -> list[dict]:
    import jax

    import adain_jax
    from adain_jax.nn import backends, lite

    style = image((STYLE_SIZE, STYLE_SIZE), 1)
    rows = []
    for name, params, max_side in models:
        cfg = lite.config_of(params)
        n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))
        for size in sizes:
            hw = SIZES[size]
            content = image(hw, 2)
            fn = lambda: jax.block_until_ready(  # noqa: E731
                adain_jax.stylize(params, content, style, max_side=max_side))
            r = timed(fn, repeats_for(size, quick))
            ih, iw = internal_size(hw, max_side)
            fl = lite.flops(cfg, ih, iw)
            r.update(model=name, dtype="float32", size=size, params=n_params,
                     gflop=round((fl["encoder"] + fl["decoder"]
                                  + lite.flops(cfg, STYLE_SIZE, STYLE_SIZE)["encoder"]) / 1e9, 3),
                     backend=backends.select(None), internal=[ih, iw])
            rows.append(r)
            print(f"{name:18s} {size:>5s} {r['median_s']:.4f} s", flush=True)
    return rows


def main_rows(sizes, quick: bool) -> list[dict]:
    """The main model (run in the child process)."""
    import jax
    import jax.numpy as jnp

    import adain_jax
    from adain_jax.nn import backends

    params = adain_jax.load_default()   # shipped weights: same cost as random ones
    style = image((STYLE_SIZE, STYLE_SIZE), 1)
    rows = []
    for dtype_name, dtype in (("bfloat16", jnp.bfloat16), ("float32", None)):
        for size in sizes:
            hw = SIZES[size]
            content = image(hw, 2)
            if size == "4K":
                fn = lambda: adain_jax.stylize_tiled(params, content, style,  # noqa: E731
                                                     dtype=dtype)
            else:
                fn = lambda: jax.block_until_ready(  # noqa: E731
                    adain_jax.stylize(params, content, style, dtype=dtype))
            r = timed(fn, repeats_for(size, quick))
            r.update(model=f"adain-{'bf16' if dtype else 'f32'}", dtype=dtype_name, size=size,
                     gflop=round(pair_flops_main(hw) / 1e9, 3), backend=backends.select(dtype),
                     package=adain_jax.__file__, tiled=size == "4K")
            rows.append(r)
            print(f"{r['model']:18s} {size:>5s} {r['median_s']:.4f} s", file=sys.stderr,
                  flush=True)
    return rows


def main_child(sizes, quick: bool) -> list[dict]:
    """Runs :func:`main_rows` in a child process whose environment drops ``EDITABLE_SKIP``, so
    the installed package (with its compiled kernels) runs the main model."""
    env = {k: v for k, v in os.environ.items() if k != EDITABLE_SKIP}
    cmd = [sys.executable, "-m", "tools.bench.lite_speed", "--child-main",
           "--sizes", ",".join(sizes)] + (["--quick"] if quick else [])
    out = subprocess.run(cmd, env=env, cwd=Path(__file__).resolve().parents[2],
                         stdout=subprocess.PIPE, check=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def magenta_rows(sizes, quick: bool) -> list[dict]:
    try:
        from tools.bench.magenta import MagentaModel

        model = MagentaModel(threads=os.cpu_count())
    except ImportError as e:
        print(f"magenta skipped: {e}", flush=True)
        return []
    style = image((STYLE_SIZE, STYLE_SIZE), 1)
    rows = []
    for size in sizes:
        content = image(SIZES[size], 2)
        r = timed(lambda: model.stylize(content, style), repeats_for(size, quick))
        r.update(model="magenta", dtype="float32", size=size, gflop=None, backend="onnxruntime")
        rows.append(r)
        print(f"{'magenta':18s} {size:>5s} {r['median_s']:.4f} s", flush=True)
    return rows


def summarise(rows: list[dict]) -> None:
    """Adds ``vs_magenta`` and ``vs_adain_bf16`` (time ratios at the same size) to each row."""
    ref = {(r["model"], r["size"]): r["median_s"] for r in rows}
    for r in rows:
        for key, peer in (("vs_magenta", "magenta"), ("vs_adain_bf16", "adain-bf16")):
            p = ref.get((peer, r["size"]))
            r[key] = round(r["median_s"] / p, 3) if p else None


def markdown(result: dict) -> str:
    rows, sizes = result["rows"], result["sizes"]
    models = list(dict.fromkeys(r["model"] for r in rows))
    by = {(r["model"], r["size"]): r for r in rows}
    head = "| model | " + " | ".join(f"{s} s (x Magenta)" for s in sizes) + \
        " | GFLOP/pair " + "/".join(sizes) + " |"
    out = [f"# Lite model speed ({result['when']})", "",
           f"CPU: {result['cpu']} ({result['cores']} cores). Median seconds per pair "
           f"(content + {STYLE_SIZE} px style, both encoded); ratio to Magenta at the same size in "
           "parentheses. adain 4K runs tiled (`stylize_tiled`). Lite rows: "
           "float32 on the backend in the JSON; adain rows: the installed package "
           "(oneDNN kernels where built). Every process runs with the XLA flag the command-line "
           f"tools set (XLA_FLAGS=`{result.get('xla_flags', '')}`).", "", head,
           "|" + "---|" * (len(sizes) + 2)]
    for m in models:
        cells, flops = [], []
        for s in sizes:
            r = by.get((m, s))
            if r is None:
                cells.append("-")
                flops.append("-")
                continue
            ratio = f" ({r['vs_magenta']:.2f}x)" if r.get("vs_magenta") else ""
            cells.append(f"{r['median_s']:.3f}{ratio}")
            flops.append("-" if r.get("gflop") is None else f"{r['gflop']:.3g}")
        out.append(f"| {m} | " + " | ".join(cells) + " | " + " / ".join(flops) + " |")
    if result.get("memory_4k"):
        out += ["", "4K (3840x2160) pair, one child process each, second call: wall seconds and "
                "peak resident memory of the process (weights, compiled code and images included).",
                "", "| mode | s | peak RSS MB |", "|---|---:|---:|"]
        out += [f"| {r['mode']} | {r['seconds']:.2f} | {r['peak_rss_mb']:.0f} |"
                for r in result["memory_4k"]]
    return "\n".join(out) + "\n"


MEMORY_MODES = ("lite-untiled", "lite-tiled", "adain-tiled")


def memory_child(mode: str) -> dict:
    """One 4K pair in this (fresh) process: wall seconds of the second call, peak RSS."""
    import jax

    import adain_jax

    params = adain_jax.load_default("adain" if mode.startswith("adain") else "lite")
    content, style = image(SIZES["4K"], 2), image((STYLE_SIZE, STYLE_SIZE), 1)
    if mode.endswith("-tiled"):
        fn = lambda: adain_jax.stylize_tiled(params, content, style)  # noqa: E731
    else:
        fn = lambda: adain_jax.stylize(params, content, style)  # noqa: E731
    jax.block_until_ready(fn())
    t = time.perf_counter()
    jax.block_until_ready(fn())
    return {"mode": mode, "seconds": round(time.perf_counter() - t, 3),
            "peak_rss_mb": round(peak_rss_kb() / 1024, 1)}


def peak_rss_kb() -> int:
    """This process's peak resident memory (VmHWM). Not ``getrusage``'s ru_maxrss: Linux
    carries the parent's peak into a child across fork + exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_rows() -> list[dict]:
    out = []
    for mode in MEMORY_MODES:
        proc = subprocess.run([sys.executable, "-m", "tools.bench.lite_speed", "--child-memory",
                               mode], capture_output=True, text=True, check=True)
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(out[-1], flush=True)
    return out


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default=",".join(SIZES), help="comma list of " + ",".join(SIZES))
    p.add_argument("--quick", action="store_true", help="one timed call per case")
    p.add_argument("--no-main", action="store_true")
    p.add_argument("--no-magenta", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--weights", default="shipped=",
                   help="NAME=PATH,... trained lite files (empty PATH: the shipped one); '' "
                        "for the random-weight variants")
    p.add_argument("--max-sides", default="0", help="internal resolutions of --weights rows")
    p.add_argument("--memory", action="store_true", help="4K time and peak memory rows")
    p.add_argument("--memory-only", action="store_true",
                   help="measure only the 4K memory rows into the existing results")
    p.add_argument("--child-main", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--child-memory", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    from adain_jax.nn.backends import xla_flags

    xla_flags.configure()   # as the command-line tools do, in this process and its children
    sizes = [s for s in args.sizes.split(",") if s]
    bad = [s for s in sizes if s not in SIZES]
    if bad:
        p.error(f"unknown sizes {bad}; choose from {list(SIZES)}")
    if args.child_main:
        print(json.dumps(main_rows(sizes, args.quick)))
        return 0
    if args.child_memory:
        print(json.dumps(memory_child(args.child_memory)))
        return 0
    if args.memory_only:
        result = json.loads((args.out / "lite_speed.json").read_text())
        result["memory_4k"] = memory_rows()
        result["memory_4k_when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        (args.out / "lite_speed.json").write_text(json.dumps(result, indent=1) + "\n")
        (args.out / "lite_speed.md").write_text(markdown(result))
        print(markdown(result))
        return 0
    t0 = time.perf_counter()
    rows = [] if args.no_magenta else magenta_rows(sizes, args.quick)
    rows += lite_rows(sizes, args.quick, lite_models(args.weights, args.max_sides))
    if not args.no_main:
        rows += main_child(sizes, args.quick)
    summarise(rows)
    result = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_name(),
              "cores": os.cpu_count(), "sizes": sizes, "style_size": STYLE_SIZE,
              "weights": args.weights, "max_sides": args.max_sides,
              "xla_flags": os.environ.get("XLA_FLAGS", ""),
              "memory_4k": memory_rows() if args.memory else None,
              "total_s": round(time.perf_counter() - t0, 1), "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lite_speed.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "lite_speed.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
