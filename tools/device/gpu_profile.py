"""Where the main model's GPU time goes, and the lite variants' images/s.

    python -m tools.device.gpu_profile --out out/ --lite out/lite_w32d1.npz,...

Measures, in bfloat16 unless stated (median of timed repeats after a warm-up; each repeat
is ``--inner`` calls then one sync):

* the bf16 matmul peak (8192^3) and a device-to-device copy bandwidth: the two roofs;
* ``stylize`` throughput at 512 px (style statistics cached) for several batch sizes;
* the split into encoder / AdaIN / decoder at one batch size;
* every 3x3 convolution layer of the encoder and decoder alone at its 512 px shape:
  as the library runs it (reflection pad, NHWC conv, bias, ReLU; upsampling where the
  decoder has it), the bare convolution with zero padding, and the bare one in NCHW; for each,
  TFLOP/s, the minimum bytes moved (input, output, weights once) and the arithmetic
  intensity, so a layer's time can be set against both roofs;
* images/s of each lite model given (float32 and bfloat16, batch 1 and ``--batch``).

Writes ``gpu_profile.json`` to ``--out``; ``python -m tools.device.gpu_profile render
A.json [B.json ...]`` prints them as one markdown page.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import adain_jax
from adain_jax import ops
from adain_jax.nn import layers, models


def timed(fn, repeats: int = 5, inner: int = 10) -> float:
    """Median seconds per call of ``fn`` (already compiled by a first call)."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner - 1):
            fn()
        jax.block_until_ready(fn())
        times.append((time.perf_counter() - t) / inner)
    return statistics.median(times)


def roofs(n: int = 8192, copy_floats: int = 1 << 30) -> dict:
    a = jnp.asarray(np.random.default_rng(0).standard_normal((n, n)), jnp.bfloat16)
    mm = jax.jit(lambda x: x @ x)
    t = timed(lambda: mm(a), repeats=3, inner=10)
    big = jnp.zeros((copy_floats,), jnp.float32)
    cp = jax.jit(lambda x: x + 1)
    tc = timed(lambda: cp(big), repeats=3, inner=5)
    return {"bf16_matmul_tflops": 2 * n ** 3 / t / 1e12,
            "copy_gb_s": 2 * big.size * 4 / tc / 1e9}


def layer_rows(batch: int, size: int, dtype) -> list[dict]:
    """Each 3x3 conv layer alone, at its shape when the input is ``size`` px."""
    rng = np.random.default_rng(0)
    shapes, cin, s = [], 3, size
    previous = None
    for name, ch in models.ENCODER_LAYERS:
        if previous in models.POOL_AFTER:
            s = -(-s // 2)
        shapes.append(("enc " + name, s, cin, ch, False))
        cin, previous = ch, name
    s, previous = -(-size // 8), None
    for name, ch in models.DECODER_LAYERS:
        up = previous in models.UPSAMPLE_AFTER
        if up:
            s *= 2
        shapes.append(("dec " + name + (" (x2 upsample first)" if up else ""), s, cin, ch, up))
        cin, previous = ch, name
    rows = []
    for name, s, cin, cout, up in shapes:
        in_side = s // 2 if up else s
        x = jnp.asarray(rng.random((batch, in_side, in_side, cin)), dtype)
        k = jnp.asarray(rng.standard_normal((3, 3, cin, cout)) * 0.05, dtype)
        b = jnp.zeros((cout,), dtype)

        def lib(x, k, b, up=up):
            x = layers.upsample_nearest(x) if up else x
            y = lax.conv_general_dilated(layers.reflect_pad(x), k, (1, 1), "VALID",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC")) + b
            return jax.nn.relu(y)

        def bare_nhwc(x, k):
            return lax.conv_general_dilated(x, k, (1, 1), "SAME",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))

        def bare_nchw(x, k):
            return lax.conv_general_dilated(x, k, (1, 1), "SAME",
                                            dimension_numbers=("NCHW", "HWIO", "NCHW"))
        xs = jnp.asarray(rng.random((batch, s, s, cin)), dtype)
        xc = jnp.transpose(xs, (0, 3, 1, 2))
        flops = 2.0 * 9 * cin * cout * s * s * batch
        nbytes = (x.size + batch * s * s * cout) * x.dtype.itemsize + k.size * k.dtype.itemsize
        row = {"layer": name, "side": s, "cin": cin, "cout": cout, "gflop": flops / 1e9,
               "min_mbytes": nbytes / 1e6, "intensity": flops / nbytes}
        for tag, fn, args in (("library", jax.jit(lib), (x, k, b)),
                              ("bare_nhwc", jax.jit(bare_nhwc), (xs, k)),
                              ("bare_nchw", jax.jit(bare_nchw), (xc, k))):
            t = timed(lambda fn=fn, args=args: fn(*args), repeats=3, inner=10)
            row[f"{tag}_ms"] = t * 1e3
            row[f"{tag}_tflops"] = flops / t / 1e12
            row[f"{tag}_gb_s"] = nbytes / t / 1e9
        rows.append(row)
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}),
              flush=True)
    return rows


def render(results: list[dict]) -> str:
    """Markdown of one or more ``gpu_profile.json`` results (sections merged in order)."""
    r: dict = {}
    for part in results:
        r.update({k: v for k, v in part.items() if v})
    peak = r.get("roofs", {}).get("bf16_matmul_tflops")
    L = [f"# GPU profile ({r.get('device')}, jax {r.get('jax')}, {r.get('size')} px)", ""]
    if "roofs" in r:
        L += [f"Measured roofs: bf16 matmul {peak:.0f} TFLOP/s (8192^3), device copy "
              f"{r['roofs']['copy_gb_s']:.0f} GB/s (read + write).", ""]
    if "throughput" in r:
        L += ["## Main model: stylize throughput (style statistics cached)", "",
              "| dtype, batch | images/s | ms/batch |", "|---|---:|---:|"]
        L += [f"| {k} | {v['images_per_s']:.0f} | {v['s_per_batch'] * 1e3:.1f} |"
              for k, v in r["throughput"].items()]
        L.append("")
    if "split" in r:
        sp = r["split"]
        L += [f"Split at batch {sp['batch']} (bf16): encoder {sp['encoder_ms']:.1f} ms, AdaIN "
              f"{sp['adain_ms']:.2f} ms, decoder {sp['decoder_ms']:.1f} ms.", ""]
    if "layers" in r:
        rows = r["layers"]
        L += [f"## Each 3x3 convolution alone (bf16, batch {r.get('layer_batch', '?')})", "",
              "library = reflection pad + NHWC conv + bias + ReLU (+ upsampling) as the model "
              "runs it; bare = the convolution alone with zero padding ('SAME').", "",
              "| layer | side | cin->cout | FLOP/byte | library ms | library TFLOP/s | bare NHWC "
              "ms | bare TFLOP/s | bare NCHW ms | library / bare |",
              "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
        for x in rows:
            L.append(f"| {x['layer']} | {x['side']} | {x['cin']}->{x['cout']} | "
                     f"{x['intensity']:.0f} | {x['library_ms']:.3f} | {x['library_tflops']:.0f} | "
                     f"{x['bare_nhwc_ms']:.3f} | {x['bare_nhwc_tflops']:.0f} | "
                     f"{x['bare_nchw_ms']:.3f} | {x['library_ms'] / x['bare_nhwc_ms']:.2f} |")
        lib = sum(x["library_ms"] for x in rows)
        bare = sum(x["bare_nhwc_ms"] for x in rows)
        flop = sum(x["gflop"] for x in rows) / 1e3
        L += ["", f"Sum over layers: library {lib:.2f} ms ({flop / lib * 1e3:.0f} TFLOP/s), bare "
              f"NHWC {bare:.2f} ms ({flop / bare * 1e3:.0f} TFLOP/s)" +
              (f"; bf16 peak {peak:.0f}." if peak else "."), ""]
    if "lite" in r:
        L += ["## Lite models: stylize images/s (style statistics cached)", "",
              "| model, dtype, batch | images/s |", "|---|---:|"]
        L += [f"| {k} | {v['images_per_s']:.0f} |" for k, v in r["lite"].items()]
        L.append("")
    return "\n".join(L)


def main(argv=None) -> None:
    import sys

    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "render":
        print(render([json.loads(Path(f).read_text()) for f in sys.argv[2:]]))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--lite", default="", help="comma-separated lite weight files")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--batches", default="16,64,128")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--roof-size", type=int, default=8192, help="matmul side for the peak")
    p.add_argument("--sections", default="roofs,throughput,split,layers,lite")
    p.add_argument("--layer-batch", type=int, default=16)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"device": jax.devices()[0].device_kind, "jax": jax.__version__, "size": args.size}
    out_path = args.out / "gpu_profile.json"

    def save():
        out_path.write_text(json.dumps(result, indent=1) + "\n")

    want = set(args.sections.split(","))
    if "roofs" in want:
        result["roofs"] = roofs(args.roof_size, 1 << 30 if args.roof_size >= 4096 else 1 << 22)
        print(json.dumps(result["roofs"]), flush=True)
        save()
    rng = np.random.default_rng(1)
    params = jax.device_put(adain_jax.load_default())
    style = jnp.asarray(rng.random((args.size, args.size, 3)), jnp.float32)
    bf16 = jnp.bfloat16
    thr = {}
    for n in (int(b) for b in args.batches.split(",") if "throughput" in want):
        contents = jnp.asarray(rng.random((n, args.size, args.size, 3)), jnp.float32)
        for dname, dt in (("bfloat16", bf16), ("float32", None)):
            stats = adain_jax.style_stats(params, style, dtype=dt)
            t = timed(lambda: adain_jax.stylize(params, contents, stats, dtype=dt))
            thr[f"{dname}_b{n}"] = {"s_per_batch": t, "images_per_s": n / t}
            print(f"stylize {dname} batch {n}: {n / t:.1f} images/s", flush=True)
    if thr:
        result["throughput"] = thr
        save()

    n = args.batch
    contents = jnp.asarray(rng.random((n, args.size, args.size, 3)), jnp.float32)
    enc = jax.jit(lambda v, x: models.encode(v, x, bf16)[-1])
    feat = enc(params["vgg"], contents)
    smean, sstd = ops.channel_stats(feat[:1])
    dec = jax.jit(lambda d, f: models.decode(d, f, bf16))
    ada = jax.jit(lambda f: ops.adain_from_stats(f, smean, sstd))
    split = {} if "split" not in want else {"encoder_ms": timed(lambda: enc(params["vgg"], contents)) * 1e3,
             "adain_ms": timed(lambda: ada(feat)) * 1e3,
             "decoder_ms": timed(lambda: dec(params["decoder"], feat)) * 1e3, "batch": n}
    if split:
        result["split"] = split
        print(json.dumps(split), flush=True)
        save()
    if "layers" in want:
        result["layers"] = layer_rows(args.layer_batch, args.size, bf16)
        result["layer_batch"] = args.layer_batch
        save()

    lite_rows = {}
    for path in [s for s in args.lite.split(",") if s.strip() and "lite" in want]:
        lp = jax.device_put(adain_jax.load_params(model="lite", decoder=path))
        name = Path(path).stem
        for dname, dt in (("bfloat16", bf16), ("float32", None)):
            stats = adain_jax.style_stats(lp, style, dtype=dt)
            for b in (1, n):
                c = contents[:b]
                t = timed(lambda: adain_jax.stylize(lp, c, stats, dtype=dt))
                lite_rows[f"{name}_{dname}_b{b}"] = {"s_per_batch": t, "images_per_s": b / t}
                print(f"{name} {dname} batch {b}: {b / t:.1f} images/s", flush=True)
        result["lite"] = lite_rows
        save()
    print("profile done", flush=True)


if __name__ == "__main__":
    main()
