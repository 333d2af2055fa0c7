"""Same-run A/B timing of two checkouts of adain-jax (e.g. before/after a refactor).

Each round runs every task once in a fresh subprocess per checkout, alternating A and B, so
machine load affects both alike; reports the median per task and checkout and the ratio B/A.
Tasks use only API both checkouts share (``adain_jax.stylize``, ``adain_jax.training``)::

    python -m tools.bench.ab --a /path/to/old/checkout --b . --rounds 3 --out results.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap

TASKS = {
    # one 512 px pair (style encoded in the call), timed after a warm-up call
    "stylize512": """
        import time, jax, jax.numpy as jnp, numpy as np, adain_jax
        p = adain_jax.init_params(jax.random.PRNGKey(0))
        c = np.random.default_rng(0).random((512, 512, 3), np.float32)
        f = lambda: np.asarray(adain_jax.stylize(p, c, c, dtype=DTYPE))
        f()
        ts = []
        for _ in range(REPS):
            t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
        print(min(ts))
    """,
    # one training step, batch 8, 256 px crops
    "train256": """
        import time, jax, jax.numpy as jnp, numpy as np, adain_jax
        from adain_jax import training
        mesh = training.make_mesh()
        vgg = training.replicate(adain_jax.init_params(jax.random.PRNGKey(0))["vgg"], mesh)
        state = training.new_state(mesh, 1e-4, 5e-5, 0)
        step = training.compiled_step(mesh, 1e-4, 5e-5, 10.0, DTYPE_NAME)
        rng = np.random.default_rng(0)
        host = {k: rng.random((8, 256, 256, 3), np.float32) for k in ("content", "style")}
        batch = training.global_batch(host, mesh, 8)
        state, m = step(state, vgg, batch); jax.block_until_ready(m)
        ts = []
        for _ in range(REPS):
            t = time.perf_counter(); state, m = step(state, vgg, batch); jax.block_until_ready(m)
            ts.append(time.perf_counter() - t)
        print(min(ts))
    """,
}
DTYPES = {"float32": "None", "bfloat16": "jnp.bfloat16"}


def run_task(tree: str, task: str, dtype: str, reps: int) -> float:
    code = textwrap.dedent(TASKS[task]).replace("DTYPE_NAME", repr(dtype)).replace(
        "DTYPE", DTYPES[dtype]).replace("REPS", str(reps))
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree), JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=os.path.abspath(tree),
                         capture_output=True, text=True, timeout=1800)
    if out.returncode:
        raise SystemExit(f"{tree} {task} {dtype} failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.bench.ab", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", required=True, help="checkout A (e.g. before)")
    p.add_argument("--b", required=True, help="checkout B (e.g. after)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--reps", type=int, default=3, help="timed repeats per subprocess (min kept)")
    p.add_argument("--tasks", default="stylize512,train256")
    p.add_argument("--dtypes", default="float32,bfloat16")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    times: dict[str, dict[str, list[float]]] = {}
    for r in range(args.rounds):
        for task in args.tasks.split(","):
            for dtype in args.dtypes.split(","):
                key = f"{task}/{dtype}"
                for side, tree in (("a", args.a), ("b", args.b)):
                    t = run_task(tree, task, dtype, args.reps)
                    times.setdefault(key, {}).setdefault(side, []).append(t)
                    print(f"round {r + 1} {key} {side}: {t:.4f} s", flush=True)
    rows = {k: {"a_median_s": statistics.median(v["a"]), "b_median_s": statistics.median(v["b"]),
                "ratio_b_over_a": statistics.median(v["b"]) / statistics.median(v["a"]),
                "a_s": v["a"], "b_s": v["b"]} for k, v in times.items()}
    print("| task | A median s | B median s | B / A |\n|---|---:|---:|---:|")
    for k, v in rows.items():
        print(f"| {k} | {v['a_median_s']:.4f} | {v['b_median_s']:.4f} | "
              f"{v['ratio_b_over_a']:.3f} |")
    if args.out:
        from adain_jax import fs

        fs.atomic_write(args.out, json.dumps({"a": args.a, "b": args.b, "rows": rows,
                                              "load_average": os.getloadavg()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
