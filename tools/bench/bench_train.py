"""Training throughput: adain-jax vs the PyTorch reference (``tests.reference.torch_adain``).

One training step (encode content + style, AdaIN, decode, encode the output, losses,
backward through decoder + encoder, Adam) at batch 8, 256 px, random weights, on this
machine's CPU; float32 and bfloat16 (jax: ``dtype='bfloat16'``; torch: bf16 autocast with
channels_last). Median of ``--steps`` timed steps after ``--warmup`` (the first jax step
includes compilation, reported separately). Writes ``results/train_<tag>.json`` and ``.md``.

    python -m tools.bench.bench_train --steps 3
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import adain_jax  # noqa: F401  (XLA flags before jax starts)
import jax
import numpy as np

from adain_jax import training
from tools.reference.params import random_params_np

HERE = Path(__file__).resolve().parent


def random_vgg(seed=1) -> dict:
    return random_params_np("vgg", seed)


def batch(b, size, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((b, size, size, 3), dtype=np.float32),
            rng.random((b, size, size, 3), dtype=np.float32))


def time_steps(fn, warmup, steps, inner=1, finish=lambda: None):
    """``steps`` timings of ``inner`` calls of ``fn`` followed by ``finish()`` (per call)."""
    t0 = time.perf_counter()
    for _ in range(warmup):
        fn()
    finish()
    first = time.perf_counter() - t0
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        finish()
        times.append((time.perf_counter() - t) / inner)
    return first, times


def bench_jax(dtype, b, size, warmup, steps, inner=1):
    mesh = training.make_mesh()
    step = training.compiled_step(mesh, 1e-4, 5e-5, 10.0, dtype)
    state = [training.new_state(mesh, 1e-4, 5e-5, seed=0)]
    vgg = training.replicate(random_vgg(), mesh)
    c, s = batch(b, size)
    gb = training.global_batch({"content": c, "style": s}, mesh, b)
    pending = []

    def run():
        state[0], m = step(state[0], vgg, gb)
        pending.append(m["loss"])

    def finish():                            # blocks until the last step is done
        jax.block_until_ready(pending[-1])
    first, times = time_steps(run, warmup, steps, inner, finish)
    return first, times, [float(x) for x in pending]


def bench_torch(bf16, channels_last, b, size, warmup, steps, device="cpu", inner=1):
    import torch

    from tests.reference import torch_adain

    torch.set_num_threads(os.cpu_count() or 1)
    step = torch_adain.make_trainer(bf16=bf16, channels_last=channels_last, device=device)
    c, s = batch(b, size)
    c = torch.from_numpy(c).permute(0, 3, 1, 2).contiguous().to(device)
    s = torch.from_numpy(s).permute(0, 3, 1, 2).contiguous().to(device)
    pending = []

    def run():
        loss, _, _ = step(c, s)
        pending.append(loss)

    def finish():
        if device != "cpu":
            torch.cuda.synchronize()
    first, times = time_steps(run, warmup, steps, inner, finish)
    return first, times, [float(x) for x in pending]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--tag", default="cpu")
    p.add_argument("--only", choices=("jax", "torch"), default=None)
    args = p.parse_args()

    import torch

    runs = []
    cases = []
    if args.only != "torch":
        cases += [("adain-jax", "float32", lambda: bench_jax("float32", args.batch, args.size,
                                                             args.warmup, args.steps)),
                  ("adain-jax", "bfloat16", lambda: bench_jax("bfloat16", args.batch, args.size,
                                                              args.warmup, args.steps))]
    if args.only != "jax":
        cases += [("torch", "float32", lambda: bench_torch(False, False, args.batch, args.size,
                                                          args.warmup, args.steps)),
                  ("torch", "bf16 autocast, channels_last",
                   lambda: bench_torch(True, True, args.batch, args.size, args.warmup, args.steps))]
    for impl, mode, fn in cases:
        print(f"{impl} {mode} ...", flush=True)
        first, times, losses = fn()
        med = statistics.median(times)
        runs.append({"impl": impl, "mode": mode, "first_step_s": round(first, 3),
                     "step_times_s": [round(t, 3) for t in times], "median_step_s": round(med, 3),
                     "steps_per_s": round(1.0 / med, 4), "images_per_s": round(args.batch / med, 3),
                     "losses": [round(x, 5) for x in losses]})
        print(f"  first {first:.1f} s, median {med:.2f} s/step ({1 / med:.3f} steps/s), "
              f"losses {losses}", flush=True)

    def sps(impl, mode):
        return next((r["steps_per_s"] for r in runs if r["impl"] == impl and r["mode"] == mode), None)
    ratios = {}
    tf32, tbf = sps("torch", "float32"), sps("torch", "bf16 autocast, channels_last")
    jf32, jbf = sps("adain-jax", "float32"), sps("adain-jax", "bfloat16")
    if jf32 and tf32:
        ratios["jax_f32 / torch_f32"] = round(jf32 / tf32, 3)
    if jbf and tbf:
        ratios["jax_bf16 / torch_bf16"] = round(jbf / tbf, 3)
    if jbf and jf32:
        ratios["jax_bf16 / jax_f32"] = round(jbf / jf32, 3)
    if tbf and tf32:
        ratios["torch_bf16 / torch_f32"] = round(tbf / tf32, 3)

    env = {"machine": platform.machine(), "processor": platform.processor(),
           "cpu_count": os.cpu_count(), "python": platform.python_version(),
           "jax": jax.__version__, "jaxlib": jax.lib.__version__ if hasattr(jax.lib, "__version__")
           else None, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
           "jax_devices": [str(d) for d in jax.devices()],
           "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
           "loadavg_1min_at_end": round(os.getloadavg()[0], 2)}
    result = {"benchmark": "AdaIN training step (forward + backward + Adam), random weights",
              "batch": args.batch, "size": args.size, "timed_steps": args.steps,
              "warmup_steps": args.warmup, "env": env, "runs": runs, "ratios": ratios}
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"train_{args.tag}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Training step throughput ({args.tag})", "",
             f"Batch {args.batch}, {args.size} px crops, one step = encode content+style, AdaIN, "
             "decode, encode output, losses, backward, Adam. Random weights. Median of "
             f"{args.steps} timed steps after {args.warmup} warm-up step(s) (the first jax step "
             "includes compilation).", "",
             f"Machine: {env['cpu_count']} CPU cores ({env['machine']}), jax {env['jax']}, "
             f"torch {env['torch']} ({env['torch_threads']} threads), XLA_FLAGS=`{env['XLA_FLAGS']}`, "
             f"1-min load average at the end {env['loadavg_1min_at_end']} (other jobs inflate times).",
             "Losses differ between the implementations only because their random inits differ.",
             "", "| implementation | mode | median s/step | steps/s | images/s | first step s |",
             "|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['impl']} | {r['mode']} | {r['median_step_s']} | {r['steps_per_s']} | "
                     f"{r['images_per_s']} | {r['first_step_s']} |")
    lines += ["", "Ratios (steps/s): " + ", ".join(f"{k} = {v}" for k, v in ratios.items()), "",
              "Reproduce: `python -m tools.bench.bench_train --steps 3`.", ""]
    (out / f"train_{args.tag}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
