"""The time-budgeted step loop shared by the GPU trainers (``train_device``,
``train_lite_device``): steps until a step count or a wall-clock deadline, with bounded
run-ahead of async dispatch (so the deadline means device time), the first step's compile
time taken apart, metrics fetched every ``log_every`` steps, a periodic export, and the run
summary both trainers write."""
from __future__ import annotations

import collections
import platform
import time
from pathlib import Path
from typing import Any, Callable

import jax

MAX_INFLIGHT = 4   # steps dispatched but not finished


def run(step: Callable, carry, *, steps: int, t_start: float, deadline: float, log_every: int,
        export_every_s: float, log: Callable[[int, list, float, float], bool],
        export: Callable[[Any, int, str], None]) -> tuple[Any, int, float | None, bool]:
    """``carry, metrics = step(carry)`` until ``steps`` steps or ``deadline`` (perf_counter).

    ``log(step, metrics_since_last_log, steps_per_s, now)`` returns True to stop (a non-finite
    loss); ``export(carry, step, 'periodic')`` runs every ``export_every_s`` seconds. Returns
    (carry, steps done, compile seconds of the first step, whether ``log`` stopped it)."""
    n, window, compile_s, stopped = 0, [], None, False
    inflight = collections.deque()
    t_log = t_export = time.perf_counter()
    while n < steps:
        carry, m = step(carry)
        window.append(m)
        inflight.append(m)
        if len(inflight) > MAX_INFLIGHT:
            jax.block_until_ready(inflight.popleft())
        n += 1
        if n == 1:
            jax.block_until_ready(m)
            compile_s = time.perf_counter() - t_start
            print(f"first step (compile) done at {compile_s:.1f} s", flush=True)
            t_log = time.perf_counter()
            window.clear()
            continue
        out_of_time = time.perf_counter() > deadline
        if (n % log_every == 0 or out_of_time or n == steps) and window:
            vals = jax.device_get(window)
            now = time.perf_counter()
            stopped = log(n, vals, round(len(vals) / (now - t_log), 2), now)
            window.clear()
            t_log = now
            if stopped:
                break
            if now - t_export > export_every_s:
                export(carry, n, "periodic")
                t_export = time.perf_counter()
        if out_of_time:
            break
    jax.block_until_ready(carry)
    return carry, n, compile_s, stopped


def summary(args, n: int, wall: float, compile_s: float | None, diverged: bool, last,
            data_shapes: dict) -> dict:
    """The run summary (JSON-ready): steps, timings, images/s of the loop, the last log,
    the flags, the data's shapes and the machine."""
    loop_s = wall - (compile_s or 0.0)
    return {"steps": n, "diverged": diverged, "wall_s": round(wall, 1),
            "compile_s": round(compile_s or 0, 1),
            "steps_per_s_loop": round((n - 1) / max(loop_s, 1e-9), 2),
            "images_per_s_loop": round((n - 1) * args.batch_size / max(loop_s, 1e-9), 1),
            "last_log": last, "config": {k: (str(v) if isinstance(v, Path) else v)
                                         for k, v in vars(args).items()},
            "data": {k: list(v) for k, v in data_shapes.items()},
            "device": jax.devices()[0].device_kind, "jax": jax.__version__,
            "python": platform.python_version()}
