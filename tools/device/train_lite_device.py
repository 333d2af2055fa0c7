"""Train several lite variants side by side on one accelerator, inside a fixed time budget.

The lite counterpart of ``tools.device.train_device`` (same packs, same on-device batch
sampling): every step samples one batch, runs the frozen VGG teacher on it once
(:func:`adain_jax.training.step.lite_teacher`) and updates every variant with the library's
lite loss (:func:`adain_jax.training.step.lite_student_loss`: the full model's AdaIN target
in relu4_1, the VGG style loss, relu4_1 distillation), so the variants see the same data and
the teacher's cost is paid once.

    python -m tools.device.train_lite_device --content-pack .devpack/content.npz \
        --style-pack .devpack/style.npz --out out/ --seconds 300 --variants w16d1,w32d1

A variant is ``w<width>d<depth>``, optionally ``-nodistill`` (distillation weight 0).
Writes ``lite_<variant>.npz`` (the inference tree, float32, atomically, every
``--export-every-s`` and at the end), ``lite_metrics.csv`` and ``lite_summary.json``.
``train.py --model lite`` is the general trainer of one variant (folders, tfds, checkpoints).
"""
from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import re
import time
from pathlib import Path

import jax
import numpy as np
import optax

from adain_jax import training
from adain_jax.nn import lite
from adain_jax.training.checkpoint import export_decoder
from adain_jax.training.step import lite_student_loss, lite_teacher
from adain_jax.weights import load_vgg
from tools.device import budget_loop
from tools.device.pack_training_data import decode_pack
from tools.device.train_device import sample_batch

_VARIANT = re.compile(r"^w(\d+)d(\d+)(-nodistill)?$")


def parse_variants(text: str) -> dict[str, tuple[lite.LiteConfig, float]]:
    """``'w16d1,w32d1-nodistill'`` -> {name: (LiteConfig, distill weight)}."""
    out = {}
    for name in (v.strip() for v in text.split(",") if v.strip()):
        m = _VARIANT.match(name)
        if not m:
            raise SystemExit(f"bad variant {name!r}: expected w<width>d<depth>[-nodistill]")
        out[name] = (lite.LiteConfig(int(m[1]), int(m[2])), 0.0 if m[3] else 1.0)
    if not out:
        raise SystemExit("no variants given")
    return out


def make_step(variants, tx, batch: int, crop: int, style_weight: float, dtype, seed: int):
    base = jax.random.PRNGKey(seed)
    first = next(iter(variants))

    @functools.partial(jax.jit, donate_argnums=(0,))
    def step(states, vgg, content_px, style_px):
        k_c, k_s = jax.random.split(jax.random.fold_in(base, states[first].step))
        c = sample_batch(content_px, k_c, batch, crop)
        s = sample_batch(style_px, k_s, batch, crop)
        teacher = lite_teacher(vgg, c, s, dtype)
        new, metrics = {}, {}
        for name, (cfg, dw) in variants.items():
            st = states[name]
            loss = functools.partial(lite_student_loss, config=cfg, distill_weight=dw)
            (val, parts), grads = jax.value_and_grad(loss, has_aux=True)(
                st.params, vgg, c, s, teacher, style_weight, dtype)
            updates, opt = tx.update(grads, st.opt_state, st.params)
            new[name] = training.TrainState(step=st.step + 1,
                                            params=optax.apply_updates(st.params, updates),
                                            opt_state=opt)
            metrics[name] = {"loss": val, **parts}
        return new, metrics
    return step


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--content-pack", required=True)
    p.add_argument("--style-pack", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seconds", type=float, required=True, help="wall-clock budget, compile included")
    p.add_argument("--variants", default="w16d1,w32d1,w32d2,w32d1-nodistill")
    p.add_argument("--steps", type=int, default=1_000_000, help="stop earlier at this many steps")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--crop-size", type=int, default=224)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--lr-decay", type=float, default=5e-5)
    p.add_argument("--style-weight", type=float, default=10.0)
    p.add_argument("--dtype", choices=sorted(training.DTYPES), default="bfloat16")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=200)
    p.add_argument("--export-every-s", type=float, default=60.0)
    args = p.parse_args(argv)
    variants = parse_variants(args.variants)
    t_start = time.perf_counter()
    deadline = t_start + args.seconds
    args.out.mkdir(parents=True, exist_ok=True)
    content_np, style_np = decode_pack(args.content_pack), decode_pack(args.style_pack)
    if min(content_np.shape[1], style_np.shape[1]) < args.crop_size:
        raise SystemExit(f"--crop-size {args.crop_size} is larger than the packed images")
    content_px, style_px = jax.device_put(content_np), jax.device_put(style_np)
    print(f"data: {content_np.shape} content, {style_np.shape} style on {jax.devices()[0]} "
          f"in {time.perf_counter() - t_start:.1f} s", flush=True)

    tx = training.make_optimizer(args.lr, args.lr_decay)
    keys = jax.random.split(jax.random.PRNGKey(args.seed), len(variants))
    states = {name: jax.jit(functools.partial(training.init_state, tx=tx, lite_config=cfg))(k)
              for (name, (cfg, _)), k in zip(variants.items(), keys)}
    vgg = jax.device_put(load_vgg())
    step_fn = make_step(variants, tx, args.batch_size, args.crop_size, args.style_weight,
                        training.DTYPES[args.dtype], args.seed)

    fields = ["step", "variant", "loss", "content", "style", "distill", "lr", "steps_per_s",
              "elapsed_s"]
    csv_file = open(args.out / "lite_metrics.csv", "w", newline="")
    writer = csv.DictWriter(csv_file, fieldnames=fields)
    writer.writeheader()

    def export(states, step: int, tag: str) -> None:
        t = time.perf_counter()
        for name in variants:
            export_decoder(args.out / f"lite_{name}.npz", states[name].params)
        print(f"[{tag}] step {step}: {len(variants)} variants exported in "
              f"{time.perf_counter() - t:.1f} s", flush=True)

    last = {}

    def log(step: int, vals, steps_per_s: float, now: float) -> bool:
        diverged = False
        for name in variants:
            mean = {k: float(np.mean([v[name][k] for v in vals]))
                    for k in ("loss", "content", "style", "distill")}
            if not all(math.isfinite(v) for v in mean.values()):
                print(f"{name}: non-finite loss at step {step}; keeping the last export", flush=True)
                diverged = True
            last[name] = {"step": step, "variant": name,
                          **{k: round(v, 5) for k, v in mean.items()},
                          "lr": training.lr_at(args.lr, args.lr_decay, step - 1),
                          "steps_per_s": steps_per_s, "elapsed_s": round(now - t_start, 1)}
            writer.writerow(last[name])
        csv_file.flush()
        print(f"step {step} {steps_per_s} steps/s " + " | ".join(
            f"{n} c={r['content']:.3f} s={r['style']:.3f} d={r['distill']:.3f}"
            for n, r in last.items()), flush=True)
        return diverged

    states, step, compile_s, diverged = budget_loop.run(
        lambda st: step_fn(st, vgg, content_px, style_px), states, steps=args.steps,
        t_start=t_start, deadline=deadline, log_every=args.log_every,
        export_every_s=args.export_every_s, log=log, export=export)
    wall = time.perf_counter() - t_start
    if not diverged:
        export(states, step, "final")
    csv_file.close()
    summary = budget_loop.summary(args, step, wall, compile_s, diverged, last,
                                  {"content": content_np.shape, "style": style_np.shape})
    summary["variants"] = {n: {"width": c.width, "depth": c.depth, "features": c.channels,
                               "distill_weight": dw} for n, (c, dw) in variants.items()}
    (args.out / "lite_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
