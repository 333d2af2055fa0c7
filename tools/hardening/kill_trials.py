"""Kill -9 a tiny training run at random moments and check that resuming loses nothing.

    python -m tools.hardening.kill_trials --trials 20 --seed 0

Writes ``docs/security/kill_trials.{json,md}``.

Set-up (all generated): a random He-scaled VGG saved as ``.npz``, folders of tiny random
images, and ``train.py --batch-size 2 --crop-size 16 --resize 16 --steps 12
--checkpoint-every 2 --workers 0``.  Two uninterrupted reference runs are made first (they
must agree bit for bit: the determinism baseline; the first also fills a JAX persistent
compilation cache so that restarts are quick).  Then every trial, in a fresh workdir,
starts the run, ``SIGKILL``s it 1-3 times (seeded) and restarts it until it completes.
Kills are either at a random moment of the run or right after (0-30 ms) a checkpoint or
``decoder.npz`` temp file appears, i.e. during a save.  Checked after every kill and
restart:

* every restart resumes from the last *complete* checkpoint that existed when the
  process died (``resuming from .../checkpoints/N at step N``; a fresh start when there
  was none), and never fails;
* ``decoder.npz``, when present, is always a complete, loadable file;
* the run that completes ends with a decoder bit-identical to the reference's.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

STEPS, EVERY = 12, 2
RESUME_RE = re.compile(r"resuming from .*checkpoints/(\d+) at step (\d+)")


def random_vgg(seed=1) -> dict:
    from tools.reference.params import random_params_np

    return random_params_np("vgg", seed)


def setup(base: Path) -> dict:
    from PIL import Image

    from adain_jax.weights import save_params

    rng = np.random.default_rng(0)
    for kind in ("content", "style"):
        (base / kind).mkdir(parents=True, exist_ok=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (20 + 2 * i, 24, 3), dtype=np.uint8)).save(
                base / kind / f"{i}.png")
    vgg = base / "vgg.npz"
    if not vgg.exists():
        save_params(vgg, {"vgg": random_vgg()})
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu",
               JAX_COMPILATION_CACHE_DIR=str(base / "jax-cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    return {"base": base, "vgg": vgg, "env": env}


def command(ctx, workdir: Path) -> list[str]:
    b = ctx["base"]
    return [sys.executable, str(ROOT / "train.py"), "--content-data", str(b / "content"),
            "--style-data", str(b / "style"), "--workdir", str(workdir), "--vgg", str(ctx["vgg"]),
            "--batch-size", "2", "--crop-size", "16", "--resize", "16", "--steps", str(STEPS),
            "--checkpoint-every", str(EVERY), "--keep", "3", "--log-every", "1",
            "--sample-every", "0", "--workers", "0", "--seed", "0"]


def complete_steps(workdir: Path) -> list[int]:
    d = workdir / "checkpoints"
    if not d.is_dir():
        return []
    return sorted(int(p.name) for p in d.iterdir() if p.name.isdigit() and p.is_dir())


def temp_entries(workdir: Path) -> list[str]:
    out = []
    d = workdir / "checkpoints"
    if d.is_dir():
        out += [p.name for p in d.iterdir() if "tmp" in p.name]
    if workdir.is_dir():
        out += [p.name for p in workdir.iterdir() if p.name.startswith("decoder.npz.")]
    return out


def decoder(workdir: Path) -> dict:
    from adain_jax.weights import load_decoder

    return load_decoder(workdir / "decoder.npz")


def same(a: dict, b: dict) -> bool:
    import jax

    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


def start(ctx, workdir: Path, log: Path) -> subprocess.Popen:
    f = open(log, "w")
    p = subprocess.Popen(command(ctx, workdir), env=ctx["env"], stdout=f,
                         stderr=subprocess.STDOUT, cwd=ctx["base"])
    p._log = f  # type: ignore[attr-defined]
    return p


def finish(p: subprocess.Popen, timeout: float = 600) -> int:
    try:
        rc = p.wait(timeout=timeout)
    finally:
        p._log.close()  # type: ignore[attr-defined]
    return rc


def run_to_end(ctx, workdir: Path, log: Path) -> tuple[int, float]:
    t0 = time.perf_counter()
    rc = finish(start(ctx, workdir, log))
    return rc, time.perf_counter() - t0


def kill_during_save(p: subprocess.Popen, workdir: Path, rng: random.Random,
                     deadline: float) -> tuple[bool, bool]:
    """Poll for a new temp checkpoint / decoder file; SIGKILL 0-30 ms after it appears.
    Returns (killed, a temp entry existed at the kill)."""
    before = set(temp_entries(workdir))
    skip = rng.randrange(0, 3)  # not always the first save
    seen = 0
    while p.poll() is None and time.perf_counter() < deadline:
        now = set(temp_entries(workdir))
        new = now - before
        if new:
            seen += 1
            before = now
            if seen > skip:
                time.sleep(rng.uniform(0, 0.03))
                during = bool(temp_entries(workdir))
                p.send_signal(signal.SIGKILL)
                p.wait()
                return True, during
        time.sleep(0.002)
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
        p.wait()
        return True, bool(temp_entries(workdir))
    return False, False


def trial(ctx, t: int, seed: int, window: float, ref: dict, stats: dict, events: list) -> None:
    rng = random.Random(f"{seed}:{t}")
    wd = ctx["base"] / f"trial{t:03d}"
    shutil.rmtree(wd, ignore_errors=True)
    n_kills = rng.choice((1, 2, 2, 3))
    expected_resume: int | None = None
    run_i = 0
    killed_here = 0
    while True:
        log = ctx["base"] / f"trial{t:03d}-run{run_i}.log"
        want_kill = killed_here < n_kills
        p = start(ctx, wd, log)
        killed = during = False
        mode = ""
        if want_kill:
            mode = rng.choice(("random", "save"))
            if mode == "random":
                try:
                    p.wait(timeout=rng.uniform(0.0, window))
                except subprocess.TimeoutExpired:
                    during = bool(temp_entries(wd))
                    p.send_signal(signal.SIGKILL)
                    p.wait()
                    killed = True
            else:
                killed, during = kill_during_save(p, wd, rng, time.perf_counter() + window * 3)
        rc = finish(p)
        text = log.read_text(errors="replace")
        m = RESUME_RE.search(text)
        resumed = int(m.group(1)) if m else None
        ev = {"trial": t, "run": run_i, "mode": mode or "to-end", "killed": killed,
              "during_save": during, "rc": rc, "resumed_from": resumed,
              "expected_resume": expected_resume}
        # a started run must resume from the last complete checkpoint at the previous kill
        # (it may die before printing it: then nothing is checked for this run)
        started = "config:" in text
        if started and resumed != expected_resume:
            stats["resume_mismatches"] += 1
            ev["problem"] = "resumed from the wrong checkpoint"
        if started:
            stats["restarts_checked"] += 1 if run_i else 0
        if not killed and rc != 0:
            stats["crashes"] += 1
            ev["problem"] = f"exit {rc}: {text[-500:]}"
        if killed:
            stats["kills"] += 1
            stats["kills_during_save"] += int(during or mode == "save")
            killed_here += 1
            steps = complete_steps(wd)
            expected_resume = steps[-1] if steps else None
            ev["complete_after_kill"] = steps
            ev["temp_left"] = temp_entries(wd)
            if (wd / "decoder.npz").exists():
                try:
                    decoder(wd)
                except Exception as e:  # noqa: BLE001
                    stats["broken_decoder_files"] += 1
                    ev["problem"] = f"decoder.npz unreadable after kill: {e}"
        events.append(ev)
        if "problem" in ev:
            print(f"  PROBLEM {ev}", flush=True)
        run_i += 1
        if not killed:
            break
        if run_i > 10:
            ev["problem"] = "too many restarts"
            break
    final_ok = rc == 0 and (wd / "decoder.npz").exists() and same(decoder(wd), ref)
    stats["trials"] += 1
    stats["final_mismatches"] += int(not final_ok)
    print(f"trial {t}: {killed_here} kill(s), {run_i} run(s), final "
          f"{'bit-identical' if final_ok else 'MISMATCH'}", flush=True)
    if final_ok:
        shutil.rmtree(wd, ignore_errors=True)
        for f in ctx["base"].glob(f"trial{t:03d}-run*.log"):
            f.unlink()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-minutes", type=float, default=25.0,
                    help="stop starting new trials after this long (reported)")
    ap.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "security")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args(argv)
    base = a.workdir or Path(tempfile.mkdtemp(prefix="adain-kill-"))
    base.mkdir(parents=True, exist_ok=True)
    ctx = setup(base)
    t_start = time.perf_counter()
    rc1, d1 = run_to_end(ctx, base / "ref1", base / "ref1.log")
    rc2, d2 = run_to_end(ctx, base / "ref2", base / "ref2.log")
    if rc1 or rc2:
        print((base / "ref1.log").read_text()[-3000:])
        raise SystemExit("reference run failed")
    ref = decoder(base / "ref1")
    deterministic = same(ref, decoder(base / "ref2"))
    print(f"reference runs: {d1:.1f} s (cold), {d2:.1f} s (cached); bit-identical: "
          f"{deterministic}", flush=True)
    stats = {"trials": 0, "kills": 0, "kills_during_save": 0, "restarts_checked": 0,
             "resume_mismatches": 0, "final_mismatches": 0, "crashes": 0,
             "broken_decoder_files": 0}
    events: list = []
    stopped_early = False
    for t in range(a.trials):
        if (time.perf_counter() - t_start) / 60 > a.max_minutes:
            stopped_early = True
            break
        trial(ctx, t, a.seed, d2, ref, stats, events)
    minutes = (time.perf_counter() - t_start) / 60
    report = {"seed": a.seed, "config": {"steps": STEPS, "checkpoint_every": EVERY,
                                         "batch_size": 2, "crop_size": 16},
              "reference_seconds": {"cold": round(d1, 1), "cached": round(d2, 1)},
              "reference_runs_bit_identical": deterministic, **stats,
              "trials_requested": a.trials, "stopped_early": stopped_early,
              "minutes": round(minutes, 1),
              "problems": [e for e in events if "problem" in e], "events": events}
    print(json.dumps({k: v for k, v in report.items() if k != "events"}, indent=1))
    if not a.no_write:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "kill_trials.json").write_text(json.dumps(report, indent=1) + "\n")
        (a.out / "kill_trials.md").write_text(markdown(report))
    if a.workdir is None:
        shutil.rmtree(base, ignore_errors=True)
    bad = (stats["resume_mismatches"] + stats["final_mismatches"] + stats["crashes"]
           + stats["broken_decoder_files"] + (not deterministic))
    return 1 if bad else 0


def markdown(r: dict) -> str:
    rows = [("trials", r["trials"]), ("SIGKILLs", r["kills"]),
            ("SIGKILLs during a checkpoint/decoder save", r["kills_during_save"]),
            ("restarts whose resume step was checked", r["restarts_checked"]),
            ("resumed from the wrong checkpoint", r["resume_mismatches"]),
            ("final decoder not bit-identical to the reference", r["final_mismatches"]),
            ("crashes of a run that was not killed", r["crashes"]),
            ("unreadable decoder.npz after a kill", r["broken_decoder_files"]),
            ("reference runs bit-identical to each other", r["reference_runs_bit_identical"]),
            ("wall time (min)", r["minutes"])]
    out = [f"# Kill trials (seed {r['seed']})", "",
           "Generated by `python -m tools.hardening.kill_trials --trials N --seed S`; see "
           "SECURITY.md.",
           f"Run: {r['config']}; reference run {r['reference_seconds']['cold']} s cold, "
           f"{r['reference_seconds']['cached']} s with the compilation cache.", "",
           "| what | count |", "|---|---:|"]
    out += [f"| {k} | {v} |" for k, v in rows]
    if r["stopped_early"]:
        out += ["", f"Stopped after {r['trials']} of {r['trials_requested']} trials "
                    "(time limit)."]
    if r["problems"]:
        out += ["", "## Problems", ""] + [f"- {json.dumps(p)[:300]}" for p in r["problems"]]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
