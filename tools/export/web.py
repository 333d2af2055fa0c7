"""A static page that stylizes in the browser with onnxruntime-web, no server code.

    npm install --prefix .web-deps onnxruntime-web@1.30.0
    python -m tools.export.web --output site/     # then: python -m http.server -d site

Writes ``site/index.html`` (``docs/web/index.html``), ``site/adain.onnx`` (the ``stylize``
graph with float16 weights) and the onnxruntime-web files it loads (``ort.wasm.min.js`` and its
WebAssembly), each atomically. Any static file server works; the page runs single-threaded
WebAssembly (threads would need cross-origin isolation headers).
"""
from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ORT_DIST = REPO / ".web-deps" / "node_modules" / "onnxruntime-web" / "dist"
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")


def build(params, output: str | Path, ort_dist: str | Path = ORT_DIST,
          weights: str = "float16") -> Path:
    """Write the page, the model and the runtime into ``output``; returns the folder."""
    from adain_jax.errors import ConfigError
    from adain_jax.export import onnx as onnx_export
    from adain_jax.fs import atomic_write

    output, ort_dist = Path(output), Path(ort_dist)
    missing = [name for name in ORT_FILES if not (ort_dist / name).is_file()]
    if missing:
        raise ConfigError(f"{ort_dist}: no {', '.join(missing)} (npm install onnxruntime-web)")
    atomic_write(output / "index.html", (REPO / "docs" / "web" / "index.html").read_bytes())
    for name in ORT_FILES:
        atomic_write(output / name, (ort_dist / name).read_bytes())
    onnx_export.save(params, output / "adain.onnx", weights=weights)
    return output


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--output", required=True)
    ap.add_argument("--ort-dist", default=str(ORT_DIST), help="onnxruntime-web's dist/ folder")
    ap.add_argument("--weights", choices=("float16", "float32"), default="float16")
    args = ap.parse_args(argv)
    import adain_jax

    folder = build(adain_jax.load_default(), args.output, args.ort_dist, args.weights)
    size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
    print(f"wrote {folder} ({size:.1f} MiB: model {(folder / 'adain.onnx').stat().st_size / 2**20:.1f}"
          f" MiB); serve it with: python -m http.server -d {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
