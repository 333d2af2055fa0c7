#!/usr/bin/env python
"""Same-run stylize512 timing of several adain-jax installs (e.g. before/after a change).

Each VARIANT is ``name=python[:pythonpath]``: an interpreter (a venv's python) and optionally a
source tree to import adain_jax from. Rounds alternate the variants so that they share the
machine's load; each round runs every variant in a fresh process, which times
``adain_jax.stylize`` on one 512 x 512 content + style pair (shipped weights) in float32 and
bfloat16 after a warm-up. Prints one JSON line per round and a median table.

    python -m tools.bench.time_stylize512 --rounds 3 --repeats 5 \\
        before=/tmp/before311/bin/python after=/tmp/after311/bin/python
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, os, sys, time
try:  # after the packaging change the flag is set by the CLIs or this explicit call
    from adain_jax.nn.backends import xla_flags
    xla_flags.configure()
except ImportError:  # before: set on import
    pass
import numpy as np
import jax, jax.numpy as jnp
import adain_jax
try:
    from adain_jax.nn.backends import describe
except ImportError:
    from adain_jax.onednn import describe
params = adain_jax.load_default()
rng = np.random.default_rng(0)
c = rng.random((512, 512, 3), np.float32)
s = rng.random((512, 512, 3), np.float32)
out = {"jax": jax.__version__, "backend": describe(), "file": adain_jax.__file__}
for name, dtype in (("float32", None), ("bfloat16", jnp.bfloat16)):
    np.asarray(adain_jax.stylize(params, c, s, dtype=dtype))
    times = []
    for _ in range(int(sys.argv[1])):
        t = time.perf_counter()
        np.asarray(adain_jax.stylize(params, c, s, dtype=dtype))
        times.append(time.perf_counter() - t)
    out[name] = times
print(json.dumps(out))
"""


def run(python, pythonpath, repeats):
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "PYTHONPATH")}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    done = subprocess.run([python, "-c", CHILD, str(repeats)], env=env, capture_output=True,
                          text=True, timeout=1800, cwd="/")
    if done.returncode:
        raise SystemExit(f"{python}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("variants", nargs="+", help="name=python[:pythonpath]")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    variants = []
    for v in args.variants:
        name, _, rest = v.partition("=")
        python, _, path = rest.partition(":")
        variants.append((name, python, path))
    times = {n: {"float32": [], "bfloat16": []} for n, _, _ in variants}
    info = {}
    for r in range(args.rounds):
        for name, python, path in (variants if r % 2 == 0 else variants[::-1]):
            got = run(python, path, args.repeats)
            info[name] = {k: got[k] for k in ("jax", "backend", "file")}
            for d in ("float32", "bfloat16"):
                times[name][d] += got[d]
            print(json.dumps({"round": r, "variant": name, **got}), flush=True)
    print(f"load average at the end: {os.getloadavg()}")
    print("| variant | jax | backend | float32 median s | bfloat16 median s |")
    print("|---|---|---|---:|---:|")
    for name, _, _ in variants:
        t = times[name]
        print(f"| {name} | {info[name]['jax']} | {info[name]['backend']} | "
              f"{statistics.median(t['float32']):.3f} | {statistics.median(t['bfloat16']):.3f} |")


if __name__ == "__main__":
    sys.exit(main())
