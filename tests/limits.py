"""Run a reader on a hostile file in a subprocess under ``resource.setrlimit`` (CPU time and
address space) and report how it ended: an ``AdainError`` (type and message), ok, or a crash
(exit code and stderr), with the child's peak RSS growth over its post-import baseline."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_CHILD = """
import json, resource, sys, time
{setup}
def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def _vm_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) / 1024
base = _rss_mb()
resource.setrlimit(resource.RLIMIT_AS, ((int(_vm_mb()) + {mem_mb}) << 20,) * 2)
resource.setrlimit(resource.RLIMIT_CPU, ({cpu_s}, {cpu_s}))
from adain_jax.errors import AdainError
t0 = time.process_time()
try:
    value = ({call})
    res = {{"ok": True, "value": repr(value)[:200]}}
except AdainError as e:
    res = {{"error": type(e).__name__, "message": str(e)}}
res["cpu_s"] = time.process_time() - t0
res["rss_growth_mb"] = _rss_mb() - base
print("RESULT " + json.dumps(res))
"""


def run_limited(call: str, setup: str = "", *, cpu_s: int = 20, mem_mb: int = 1024,
                wall_s: int = 60) -> dict:
    """Evaluate the expression ``call`` after ``setup`` in a fresh interpreter, with at most
    ``cpu_s`` CPU seconds and ``mem_mb`` MiB of address space beyond the imports.

    Returns the child's result dict plus ``rc`` and ``stderr``; ``rc`` is -9/-24 etc. for a
    limit hit, 124 for the wall-clock timeout (a hang)."""
    code = _CHILD.format(setup=textwrap.dedent(setup), call=call, cpu_s=cpu_s, mem_mb=mem_mb)
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO))
    try:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=wall_s, env=env, cwd=REPO)
    except subprocess.TimeoutExpired as e:
        return {"rc": 124, "stderr": (e.stderr or b"")[-2000:] if isinstance(e.stderr, bytes)
                else str(e.stderr)[-2000:]}
    out = {"rc": p.returncode, "stderr": p.stderr[-4000:]}
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            out.update(json.loads(line[len("RESULT "):]))
    return out


def assert_clean_error(res: dict, error: str = "WeightsError", match: str | None = None,
                       max_rss_mb: float | None = None) -> None:
    """The call ended with one line of the project's own error type, no traceback, and
    (optionally) within ``max_rss_mb`` of peak RSS growth."""
    assert res["rc"] == 0 and "error" in res, res
    assert res["error"] == error, res
    assert "\n" not in res["message"] and "Traceback" not in res["stderr"], res
    if match is not None:
        assert match in res["message"], res
    if max_rss_mb is not None:
        assert res["rss_growth_mb"] < max_rss_mb, res
