#!/usr/bin/env python
"""Wall time of the README command (``adain-stylize --content examples/content/astronaut.jpg
--style examples/style/swirls.jpg``) run twice with a fresh, empty HOME (so an empty user cache),
from an unrelated folder, with no compiler on PATH: the first run compiles, the second finds
the programs in the persistent compilation cache. Also with ``--no-compilation-cache`` for
reference. Prints JSON lines and medians.

    python -m tools.bench.first_second_run /tmp/venv/bin --pairs 3
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def once(bindir: str, home: Path, work: Path, extra=()) -> float:
    env = {"PATH": bindir, "HOME": str(home), "LANG": "C.UTF-8"}
    t = time.perf_counter()
    done = subprocess.run([f"{bindir}/adain-stylize", "--content", "astronaut.jpg", "--style",
                           "swirls.jpg", "--overwrite", *extra], cwd=work, env=env,
                          capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - t
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    if done.stderr.strip():
        print("stderr:", done.stderr.strip(), file=sys.stderr)
    return wall


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("bindir", help="the venv's bin folder holding adain-stylize")
    p.add_argument("--pairs", type=int, default=3)
    args = p.parse_args()
    results = {"first": [], "second": [], "nocache_first": [], "nocache_second": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "unrelated"
        work.mkdir()
        shutil.copy(REPO / "examples/content/astronaut.jpg", work)
        shutil.copy(REPO / "examples/style/swirls.jpg", work)
        for i in range(args.pairs):
            for kind, extra in (("", ()), ("nocache_", ("--no-compilation-cache",))):
                home = Path(tmp) / f"home{i}{kind}"
                home.mkdir()
                a = once(args.bindir, home, work, extra)
                b = once(args.bindir, home, work, extra)
                results[f"{kind}first"].append(a)
                results[f"{kind}second"].append(b)
                print(json.dumps({"pair": i, "cache": not kind, "first": a, "second": b}),
                      flush=True)
    print(f"load average at the end: {os.getloadavg()}")
    for k, v in results.items():
        print(f"{k}: median {statistics.median(v):.2f} s ({', '.join(f'{x:.2f}' for x in v)})")


if __name__ == "__main__":
    sys.exit(main())
