"""Train the release decoder on one accelerator inside a fixed time budget.

For a lent GPU machine that is held for minutes: the training images travel as packs of
WebP crops (``tools.device.pack_training_data``), are decoded once and live on the device as
uint8, and every step samples its batch there (random images, random ``--crop-size`` crops,
random horizontal flips; keyed by the step number), so the host never feeds the loop. The
step itself is the library's :func:`adain_jax.training.train_step` (gradients w.r.t. the
decoder only, Adam with lr / (1 + decay * step), compute in ``--dtype`` with float32
params). The decoder is exported (float32 ``.npz``, atomically) every ``--export-every-s``
seconds and at the end, so a run that is killed at its limit still leaves its last export.

    python -m tools.device.train_device --content-pack .devpack/content.npz \
        --style-pack .devpack/style.npz --out out/ --seconds 400

Writes ``decoder.npz``, ``metrics.csv`` (step, losses, lr, steps/s, elapsed) and
``train_summary.json``. ``train.py`` remains the general trainer (folders, tfds,
multi-host, orbax checkpoints and exact resume).
"""
from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from adain_jax import training
from adain_jax.training.checkpoint import export_decoder
from adain_jax.weights import load_decoder, load_vgg
from tools.device import budget_loop
from tools.device.pack_training_data import decode_pack

def sample_batch(pixels, key, batch: int, crop: int):
    """``(batch, crop, crop, 3)`` float32 in [0, 1]: random images of ``pixels`` (uint8
    ``(N, S, S, 3)`` on the device), random crops, random horizontal flips."""
    n, size = pixels.shape[0], pixels.shape[1]
    k_idx, k_off, k_flip = jax.random.split(key, 3)
    idx = jax.random.randint(k_idx, (batch,), 0, n)
    off = jax.random.randint(k_off, (batch, 2), 0, size - crop + 1)
    flip = jax.random.bernoulli(k_flip, 0.5, (batch,))

    def one(i, o, f):
        img = jax.lax.dynamic_slice(pixels[i], (o[0], o[1], 0), (crop, crop, 3))
        return jnp.where(f, img[:, ::-1], img)
    return jax.vmap(one)(idx, off, flip).astype(jnp.float32) / 255.0


def make_step(tx, batch: int, crop: int, style_weight: float, dtype, seed: int):
    base = jax.random.PRNGKey(seed)

    @functools.partial(jax.jit, donate_argnums=(0,))
    def step(state, vgg, content_px, style_px):
        k_c, k_s = jax.random.split(jax.random.fold_in(base, state.step))
        data = {"content": sample_batch(content_px, k_c, batch, crop),
                "style": sample_batch(style_px, k_s, batch, crop)}
        return training.train_step(state, vgg, data, tx=tx, style_weight=style_weight, dtype=dtype)
    return step


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--content-pack", required=True)
    p.add_argument("--style-pack", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seconds", type=float, required=True, help="wall-clock budget of the loop")
    p.add_argument("--steps", type=int, default=160_000, help="stop earlier at this many steps")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--crop-size", type=int, default=224)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--lr-decay", type=float, default=5e-5)
    p.add_argument("--style-weight", type=float, default=10.0)
    p.add_argument("--dtype", choices=sorted(training.DTYPES), default="bfloat16")
    p.add_argument("--vgg", default=None, help="default: the shipped normalised VGG")
    p.add_argument("--init", default=None, help="warm-start from this decoder file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=200)
    p.add_argument("--export-every-s", type=float, default=60.0)
    args = p.parse_args(argv)
    t_start = time.perf_counter()
    deadline = t_start + args.seconds
    args.out.mkdir(parents=True, exist_ok=True)
    content_np, style_np = decode_pack(args.content_pack), decode_pack(args.style_pack)
    if min(content_np.shape[1], style_np.shape[1]) < args.crop_size:
        raise SystemExit(f"--crop-size {args.crop_size} is larger than the packed images")
    content_px, style_px = jax.device_put(content_np), jax.device_put(style_np)
    print(f"data: {content_np.shape} content, {style_np.shape} style, decoded and on "
          f"{jax.devices()[0]} in {time.perf_counter() - t_start:.1f} s", flush=True)

    tx = training.make_optimizer(args.lr, args.lr_decay)
    state = jax.jit(lambda k: training.init_state(k, tx))(jax.random.PRNGKey(args.seed))
    if args.init:
        params = jax.tree.map(jnp.asarray, load_decoder(args.init))
        state = training.TrainState(step=state.step, params=params, opt_state=tx.init(params))
    vgg = jax.device_put(load_vgg(args.vgg))   # load_vgg checks keys and shapes
    step_fn = make_step(tx, args.batch_size, args.crop_size, args.style_weight,
                        training.DTYPES[args.dtype], args.seed)

    metrics_path = args.out / "metrics.csv"
    fields = ["step", "loss", "content", "style", "lr", "steps_per_s", "elapsed_s"]
    csv_file = open(metrics_path, "w", newline="")
    writer = csv.DictWriter(csv_file, fieldnames=fields)
    writer.writeheader()

    def export(state, step: int, tag: str) -> None:
        t = time.perf_counter()
        export_decoder(args.out / "decoder.npz", state.params)
        print(f"[{tag}] step {step}: decoder exported in {time.perf_counter() - t:.1f} s", flush=True)

    last = None

    def log(step: int, vals, steps_per_s: float, now: float) -> bool:
        nonlocal last
        mean = {k: float(np.mean([v[k] for v in vals])) for k in ("loss", "content", "style")}
        if not all(math.isfinite(v) for v in mean.values()):
            print(f"non-finite loss at step {step}: {mean}; keeping the last export", flush=True)
            return True
        last = {"step": step, **{k: round(v, 5) for k, v in mean.items()},
                "lr": training.lr_at(args.lr, args.lr_decay, step - 1),
                "steps_per_s": steps_per_s, "elapsed_s": round(now - t_start, 1)}
        writer.writerow(last)
        csv_file.flush()
        print(" ".join(f"{k}={v}" for k, v in last.items()), flush=True)
        return False

    state, step, compile_s, diverged = budget_loop.run(
        lambda st: step_fn(st, vgg, content_px, style_px), state, steps=args.steps,
        t_start=t_start, deadline=deadline, log_every=args.log_every,
        export_every_s=args.export_every_s, log=log, export=export)
    wall = time.perf_counter() - t_start
    if not diverged:
        export(state, step, "final")
    csv_file.close()
    summary = budget_loop.summary(args, step, wall, compile_s, diverged, last,
                                  {"content": content_np.shape, "style": style_np.shape})
    (args.out / "train_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
