"""CPU code paths that could close the gap to torch's bf16 kernels, measured (issue #5).

1. XLA:CPU flag sets, each in a child process (XLA reads its flags once): 512 px stylize in
   float32 and bfloat16 (median of 3 after a warm-up), and whether the compiled HLO contains a
   oneDNN custom call at all.
2. Winograd F(4x4, 3x3) in jnp against ``lax.conv`` for the network's layer shapes: time and
   relative error.

    python -m tools.bench.cpu_paths           # ~3 min on 2 cores
Writes ``results/cpu_paths.json`` and prints a table.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

BASE = "--xla_cpu_experimental_ynn_fusion_type="
FLAG_SETS = {
    "package default (YNN fusions off)": BASE,
    "no flags (XLA default)": "",
    "+ oneDNN custom calls": BASE + " --xla_cpu_experimental_onednn_custom_call=true",
    "+ oneDNN custom calls + graph (dot)": BASE + " --xla_cpu_experimental_onednn_custom_call=true "
                                          "--xla_cpu_use_onednn=true "
                                          "--xla_cpu_experimental_onednn_fusion_type=dot",
    "YNN individual_convolution": "--xla_cpu_experimental_ynn_fusion_type=individual_convolution",
    "YNN dot": "--xla_cpu_experimental_ynn_fusion_type=dot",
    "YNN eltwise": "--xla_cpu_experimental_ynn_fusion_type=eltwise",
}


def child() -> None:
    """Runs in a child process with XLA_FLAGS set: prints one JSON line."""
    import adain_jax
    import jax
    import jax.numpy as jnp
    import numpy as np

    from adain_jax.nn import models

    params = models.init_params(jax.random.PRNGKey(0))
    rng = np.random.default_rng(0)
    content = jnp.asarray(rng.random((512, 512, 3), dtype=np.float32))
    style = rng.random((512, 512, 3), dtype=np.float32)
    out = {}
    for name, dt in (("float32", None), ("bfloat16", jnp.bfloat16)):
        def fn():
            return adain_jax.stylize(params, content, style, dtype=dt).block_until_ready()
        fn()
        ts = []
        for _ in range(3):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        out[name] = sorted(ts)[1]
    hlo = jax.jit(lambda v, x: models.encode(v, x, jnp.bfloat16)[-1]).lower(
        params["vgg"], jnp.zeros((1, 64, 64, 3))).compile().as_text()
    out["custom_calls"] = sorted(set(re.findall(r'custom_call_target="([^"]+)"', hlo)))
    print(json.dumps(out))


# ----------------------------------------------------------------------------- Winograd
def winograd_f43(x, w):
    """3x3 VALID convolution by Winograd F(4x4, 3x3): ``x`` (N, H+2, W+2, Cin) already padded,
    H and W multiples of 4; ``w`` (3, 3, Cin, Cout) -> (N, H, W, Cout)."""
    import jax.numpy as jnp
    import numpy as np
    from jax import lax

    g = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], np.float32)

    def bt(d):   # B^T d, written out so that XLA fuses it into element-wise loops
        d0, d1, d2, d3, d4, d5 = d
        return [4 * d0 - 5 * d2 + d4, -4 * (d1 + d2) + d3 + d4, 4 * (d1 - d2) - d3 + d4,
                2 * (d3 - d1) - d2 + d4, 2 * (d1 - d3) - d2 + d4, 4 * d1 - 5 * d3 + d5]

    def at(m):   # A^T m
        m0, m1, m2, m3, m4, m5 = m
        a, b, c, d = m1 + m2, m1 - m2, m3 + m4, m3 - m4
        return [m0 + a + c, b + 2 * d, a + 4 * c, b + 8 * d + m5]

    n, hp, wp, cin = x.shape
    th, tw = (hp - 2) // 4, (wp - 2) // 4
    rows = bt([x[:, i:i + 4 * (th - 1) + 1:4] for i in range(6)])
    v = jnp.stack([c for r in rows for c in bt([r[:, :, j:j + 4 * (tw - 1) + 1:4]
                                                for j in range(6)])])
    u = jnp.einsum("ai,ijco,bj->abco", g, w, g).reshape(36, cin, -1)
    m = lax.dot_general(v.reshape(36, -1, cin), u, (((2,), (1,)), ((0,), (0,))))
    m = m.reshape(6, 6, n, th, tw, -1)
    out_rows = at([m[a] for a in range(6)])
    y = jnp.stack([jnp.stack(at([r[b] for b in range(6)]), axis=3) for r in out_rows], axis=2)
    return y.reshape(n, 4 * th, 4 * tw, -1)


def winograd_rows() -> list[dict]:
    import adain_jax  # noqa: F401  (package XLA flag)
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax import lax

    def direct(x, w):
        return lax.conv_general_dilated(x, w, (1, 1), "VALID",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))

    def median(f, *a):
        f(*a).block_until_ready()
        ts = []
        for _ in range(5):
            t = time.perf_counter()
            f(*a).block_until_ready()
            ts.append(time.perf_counter() - t)
        return sorted(ts)[2]

    rng = np.random.default_rng(0)
    rows = []
    for hw, cin, cout in [(512, 64, 64), (256, 128, 128), (128, 256, 256), (64, 512, 256)]:
        x = jnp.asarray(rng.standard_normal((1, hw + 2, hw + 2, cin), np.float32))
        w = jnp.asarray(rng.standard_normal((3, 3, cin, cout), np.float32) / np.sqrt(9 * cin))
        f_d, f_w = jax.jit(direct), jax.jit(winograd_f43)
        ref, got = f_d(x, w), f_w(x, w)
        err = float(jnp.linalg.norm(ref - got) / jnp.linalg.norm(ref))
        t_d, t_w = median(f_d, x, w), median(f_w, x, w)
        rows.append({"layer": f"{hw}x{hw} {cin}->{cout}", "direct_ms": round(t_d * 1e3, 1),
                     "winograd_ms": round(t_w * 1e3, 1), "speedup": round(t_d / t_w, 2),
                     "direct_gflop_per_s": round(2 * 9 * cin * cout * hw * hw / t_d / 1e9),
                     "rel_err": err})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    if "--child" in sys.argv:
        child()
        return
    flags = []
    for name, value in FLAG_SETS.items():
        env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
        env.update(XLA_FLAGS=value, ADAIN_JAX_NO_XLA_FLAGS="1")
        r = subprocess.run([sys.executable, "-m", "tools.bench.cpu_paths", "--child"], env=env,
                           capture_output=True, text=True, cwd=REPO)
        row = {"flags": name, "XLA_FLAGS": value}
        if r.returncode == 0:
            row.update(json.loads(r.stdout.strip().splitlines()[-1]))
        else:
            row["error"] = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "failed"
        flags.append(row)
        print(row, flush=True)
    wino = winograd_rows()
    out = HERE / "results" / "cpu_paths.json"
    out.write_text(json.dumps({"flag_sets": flags, "winograd_f43": wino}, indent=1) + "\n")
    print("\n| XLA flags | stylize 512 f32 s | bf16 s | oneDNN custom calls |\n|---|---|---|---|")
    for r in flags:
        print(f"| {r['flags']} | {r.get('float32', '-'):.3} | {r.get('bfloat16', '-'):.3} | "
              f"{', '.join(r.get('custom_calls', [])) or 'none'} |" if "float32" in r else
              f"| {r['flags']} | {r.get('error')} | | |")
    print("\n| layer | direct ms | Winograd ms | speed-up | rel. error |\n|---|---|---|---|---|")
    for r in wino:
        print(f"| {r['layer']} | {r['direct_ms']} | {r['winograd_ms']} | {r['speedup']} | "
              f"{r['rel_err']:.1e} |")


if __name__ == "__main__":
    main()
