"""Structure-aware fuzzing of the readers: hostile files built by structure, not by bytes.

Six targets, each a generator of files crafted with :mod:`tools.hardening.craft` plus random
parameters: ``memo_graphs`` (pickle DAGs, cycles and deep nesting, also handed to
``_codecs.encode``), ``aliasing_storages`` (many tensor views of one storage, in ``.pth`` and
``.t7``; storage members larger than they claim), ``reference_chains`` (``.t7`` module
chains from back references, nested tables), ``key_clashes`` (``.npz`` keys that are prefixes
of others, empty parts, metadata keys), ``hdf5_features`` (external storage, soft/external
links, virtual datasets, wrong dtypes, FIFOs) and ``pillow_formats`` (every format Pillow can
write, under every allowed suffix, EPS text, huge dimensions).

Cases run in a worker process under ``RLIMIT_AS``; each case's peak RSS is measured from a
reset high-water mark (``/proc/self/clear_refs``). A case passes if it ends ``ok`` or as a
one-line ``AdainError`` within :data:`CASE_SECONDS` and with peak RSS growth below the
reader's budget plus 200 MB; anything else (another exception, a hang, a crash, more memory)
is a FAILURE. Case *i* of a target depends only on (seed, target, i).

Usage: ``python -m tools.hardening.structured --seconds 240 --out
docs/security/structured_results.json`` (also writes the ``.md`` next to it).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGETS = ("memo_graphs", "aliasing_storages", "reference_chains", "key_clashes",
           "hdf5_features", "pillow_formats")
#: Wall-clock seconds a case may take before it counts as a hang.
CASE_SECONDS = 30
#: Allowed peak-RSS growth per case: the readers' default budget (512 MiB) plus 200 MB.
RSS_LIMIT_MB = 512 + 200


# ----------------------------------------------------------------------------- generators

def _pickle_graph(rng: random.Random):
    """A dict/list graph with shared references, cycles or deep nesting."""
    shape = rng.choice(["dag", "cycle", "deep", "wide"])
    if shape == "dag":
        node = rng.choice([{"w": 0}, [0]])
        for _ in range(rng.randint(1, 90)):
            k = rng.randint(1, 4)
            node = {f"k{i}": node for i in range(k)} if rng.random() < 0.6 else [node] * k
        return node
    if shape == "cycle":
        root: dict = {}
        node = root
        for _ in range(rng.randint(0, 50)):
            node["n"] = {}
            node = node["n"]
        node["back"] = root if rng.random() < 0.7 else [root]
        return root
    if shape == "deep":
        return None  # built opcode by opcode (the pickler itself would recurse)
    return {f"k{i}": {"x": i} for i in range(rng.randint(1, 200_000))}


def gen_memo_graphs(rng: random.Random, tmp: Path):
    import codecs
    import pickle

    from tools.hardening import craft

    graph = _pickle_graph(rng)
    path = tmp / "g.pth"
    if graph is None:
        craft.nested_pth(path, rng.randint(10, 200_000))
    elif rng.random() < 0.3:
        class Call:
            def __reduce__(self):
                return codecs.encode, (graph, "latin1")
        craft.pth_zip(path, pickle.dumps({"x": Call()}, protocol=2), {})
    else:
        wrap = rng.choice(["plain", "state_dict", "model"])
        obj = graph if wrap == "plain" else {wrap: graph}
        try:
            data = pickle.dumps(obj, protocol=2)
        except RecursionError:
            return gen_memo_graphs(rng, tmp)
        craft.pth_zip(path, data, {})
    return path, "decoder"


def gen_aliasing_storages(rng: random.Random, tmp: Path):
    from tools.hardening import craft

    kind = rng.choice(["pth", "pth", "t7", "member"])
    if kind == "t7":
        path = craft.aliasing_t7(tmp / "a.t7", rng.randint(1, 30_000), rng.choice([1, 2, 4]))
        return path, "decoder"
    if kind == "member":
        path = craft.big_member_pth(tmp / "m.pth", rng.choice([1, 64, 512, 1024]),
                                    rng.choice([4, 1 << 20, 64 << 20, 200 << 20]))
        return path, "pth"
    numel = rng.choice([16, 1 << 16, 1 << 20, 4 << 20])
    p = craft.Pickle().op(b"}").op(b"(")
    for i in range(rng.randint(1, 3000)):
        size = rng.choice([numel, numel // 2 or 1, rng.randint(0, 2 * numel)])
        stride = rng.choice([1, 0, 2, rng.randint(-2, 1 << 20)])
        offset = rng.choice([0, 0, rng.randint(-1, numel)])
        p.str(f"t{i}").tensor("0", numel, (size,), (stride,), offset)
    p.op(b"u")
    return craft.pth_zip(tmp / "a.pth", p.bytes(), {"0": (numel * 4, 0)}), "decoder"


def gen_reference_chains(rng: random.Random, tmp: Path):
    from tools.hardening import craft

    if rng.random() < 0.5:
        return craft.chain_t7(tmp / "c.t7", rng.randint(1, 6000)), "decoder"
    t = craft.T7()  # nested tables, sometimes referring back to an enclosing one
    depth = rng.randint(1, 400)
    indices = []
    for _ in range(depth):
        indices.append(t.table_header(1))
        t.string("modules")
    if rng.random() < 0.5 and indices:
        t.ref(3, rng.choice(indices))
    else:
        t.i32(0)
    return t.save(tmp / "n.t7"), "decoder"


def gen_key_clashes(rng: random.Random, tmp: Path):
    parts = ["decoder", "vgg", "conv4_1", "kernel", "bias", "", "__format__", "a"]
    arrays = {}
    for _ in range(rng.randint(1, 12)):
        key = "/".join(rng.choice(parts) for _ in range(rng.randint(1, 4)))
        dtype = rng.choice(["<f4", "<f2", "<f8", "<i4", "|u1"])
        arrays[key] = np.zeros(rng.choice([(2,), (3, 3), (0,), (1, 1, 1, 1)]), dtype)
    path = tmp / "k.npz"
    try:
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    except (ValueError, OSError):
        return gen_key_clashes(rng, tmp)
    return path, rng.choice(["decoder", "vgg"])


def gen_hdf5_features(rng: random.Random, tmp: Path):
    from tools.hardening import craft

    feature = rng.choice(["plain", "external", "soft", "external_link", "virtual", "int"])
    target = tmp / "target"
    if rng.random() < 0.5:
        os.mkfifo(target)
    else:
        target.write_bytes(os.urandom(rng.randint(0, 1 << 16)))
    path = craft.keras_h5(tmp / "k.h5", feature, target)
    if rng.random() < 0.2:
        path = tmp / "fifo.h5"
        os.mkfifo(path)
    return path, "vgg"


_PIL_FORMATS = ("BMP", "DDS", "DIB", "EPS", "GIF", "ICNS", "ICO", "IM", "JPEG", "JPEG2000",
                "MSP", "PCX", "PDF", "PNG", "PPM", "SGI", "TGA", "TIFF", "WEBP", "XBM", "QOI")


def gen_pillow_formats(rng: random.Random, tmp: Path):
    from PIL import Image

    from tools.hardening import craft

    suffix = rng.choice([".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"])
    path = tmp / f"i{suffix}"
    choice = rng.random()
    if choice < 0.1:
        return craft.eps_as_png(path), "image"
    if choice < 0.2:
        craft.png_zeros(path, rng.choice([4000, 9000, 13000]))
        return path, rng.choice(["image64", "mask64"])
    fmt = rng.choice(_PIL_FORMATS)
    mode = rng.choice(["RGB", "L", "RGBA", "P", "1", "I;16", "CMYK"])
    size = (rng.randint(1, 300), rng.randint(1, 300))
    im = Image.new(mode, size)
    buf = tmp / "tmp.bin"
    try:
        im.save(buf, format=fmt)
    except Exception:  # noqa: BLE001 - this format cannot store this mode
        im.convert("RGB").save(buf, format="PNG")
    os.replace(buf, path)
    return path, rng.choice(["image", "image64", "mask64"])


def gen_issue(rng: random.Random, tmp: Path, index: int):
    from tools.hardening import craft

    _, build, kind = craft.ISSUE_CASES[index % len(craft.ISSUE_CASES)]
    return build(craft, tmp), kind


GENERATORS = {name: globals()[f"gen_{name}"] for name in TARGETS}


def _call(kind: str, path: Path):
    from adain_jax import image_io
    from adain_jax.weights import load_decoder, load_vgg
    from adain_jax.weights.torch_pickle import load_pth

    return {"decoder": lambda: load_decoder(path), "vgg": lambda: load_vgg(path),
            "pth": lambda: load_pth(path), "image": lambda: image_io.load_image(path),
            "image64": lambda: image_io.load_image(path, size=64),
            "mask64": lambda: image_io.load_mask(path, (64, 64))}[kind]()


# ----------------------------------------------------------------------------- worker

def _status_kb(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def worker() -> None:
    """Read ``[target, seed, index]`` lines, run each case, answer one JSON line each."""
    import resource
    import traceback

    import h5py  # noqa: F401 - imported before the memory baseline
    import PIL.Image  # noqa: F401

    import adain_jax.image_io  # noqa: F401
    import adain_jax.weights  # noqa: F401
    import adain_jax.weights.torch7  # noqa: F401
    from adain_jax.errors import AdainError

    limit = (_status_kb("VmSize") // 1024 + RSS_LIMIT_MB + 1500) << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    for line in sys.stdin:
        target, seed, index = json.loads(line)
        rng = random.Random(f"{seed}/{target}/{index}")
        with tempfile.TemporaryDirectory() as d:
            try:
                path, kind = (gen_issue(rng, Path(d), index) if target == "issue"
                              else GENERATORS[target](rng, Path(d)))
            except Exception as e:  # noqa: BLE001 - a generator bug is not a reader failure
                print(json.dumps({"outcome": "skipped", "why": repr(e)[:200]}), flush=True)
                continue
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the peak-RSS high-water mark
            base = _status_kb("VmHWM")
            t0 = time.process_time()
            res = {"kind": kind, "size": path.stat().st_size if path.is_file() else 0}
            try:
                _call(kind, path)
                res["outcome"] = "ok"
            except AdainError as e:
                msg = str(e)
                res["outcome"] = "error" if "\n" not in msg else "FAILURE"
                res["message"] = msg[:300]
            except BaseException as e:  # noqa: BLE001 - what the fuzzer looks for
                res["outcome"] = "FAILURE"
                res["message"] = "".join(traceback.format_exception_only(type(e), e))[-300:]
            res["cpu_s"] = round(time.process_time() - t0, 3)
            res["rss_growth_mb"] = round((_status_kb("VmHWM") - base) / 1024, 1)
            if res["rss_growth_mb"] > RSS_LIMIT_MB:
                res["outcome"] = "FAILURE"
                res["message"] = f"peak RSS growth {res['rss_growth_mb']} MB"
        print(json.dumps(res), flush=True)


# ----------------------------------------------------------------------------- runner

class _Worker:
    def __init__(self):
        env = dict(os.environ, JAX_PLATFORMS="cpu")
        self.p = subprocess.Popen([sys.executable, "-m", "tools.hardening.structured",
                                   "--worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, env=env,
                                  cwd=Path(__file__).resolve().parents[2])

    def run(self, case) -> dict:
        self.p.stdin.write(json.dumps(case) + "\n")
        self.p.stdin.flush()
        ready, _, _ = select.select([self.p.stdout], [], [], CASE_SECONDS * 2 + 30)
        if not ready:
            self.p.kill()
            return {"outcome": "FAILURE", "message": "hang (no answer in time)"}
        line = self.p.stdout.readline()
        if not line:
            self.p.wait()
            return {"outcome": "FAILURE", "message": f"worker died (exit {self.p.returncode})"}
        return json.loads(line)

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            self.p.wait(timeout=30)


def run(seconds: float, seed: int = 0, targets=TARGETS, cases: int | None = None) -> dict:
    """Round-robin over ``targets`` for ``seconds`` (or ``cases`` per target)."""
    stats = {t: {"cases": 0, "ok": 0, "error": 0, "FAILURE": 0, "skipped": 0,
                 "max_rss_growth_mb": 0.0, "max_cpu_s": 0.0, "max_file_bytes": 0}
             for t in targets}
    failures = []
    worker_ = _Worker()
    start = time.monotonic()
    index = 0
    try:
        while True:
            if cases is not None and index >= cases:
                break
            if cases is None and time.monotonic() - start > seconds:
                break
            for t in targets:
                res = worker_.run([t, seed, index])
                if worker_.p.poll() is not None:
                    worker_ = _Worker()
                s = stats[t]
                s["cases"] += 1
                s[res["outcome"]] += 1
                s["max_rss_growth_mb"] = max(s["max_rss_growth_mb"], res.get("rss_growth_mb", 0))
                s["max_cpu_s"] = max(s["max_cpu_s"], res.get("cpu_s", 0))
                s["max_file_bytes"] = max(s["max_file_bytes"], res.get("size", 0))
                if res["outcome"] == "FAILURE":
                    failures.append({"target": t, "case": index, **res})
            index += 1
    finally:
        worker_.close()
    issue = []
    worker_ = _Worker()
    try:
        from tools.hardening.craft import ISSUE_CASES

        for i, (name, _, _) in enumerate(ISSUE_CASES):
            issue.append({"case": name, **worker_.run(["issue", seed, i])})
            if worker_.p.poll() is not None:
                worker_ = _Worker()
    finally:
        worker_.close()
    failures += [{"target": "issue", **r} for r in issue if r["outcome"] == "FAILURE"]
    return {"seed": seed, "seconds": round(time.monotonic() - start, 1), "issue_cases": issue,
            "command": (f"--cases {cases}" if cases is not None else f"--seconds {seconds:g}")
            + f" --seed {seed}",
            "case_seconds": CASE_SECONDS, "rss_limit_mb": RSS_LIMIT_MB, "targets": stats,
            "failures": failures}


def write_markdown(result: dict, path: Path) -> None:
    rows = ["| target | cases | ok | clean errors | FAILURE | max peak RSS growth (MB) | "
            "max CPU s | largest file (bytes) |", "|---|---|---|---|---|---|---|---|"]
    for t, s in result["targets"].items():
        rows.append(f"| {t} | {s['cases']} | {s['ok']} | {s['error']} | {s['FAILURE']} | "
                    f"{s['max_rss_growth_mb']} | {s['max_cpu_s']} | {s['max_file_bytes']} |")
    total = {k: sum(s[k] for s in result["targets"].values())
             for k in ("cases", "ok", "error", "FAILURE")}
    text = ["# Structure-aware fuzz run", "",
            f"`python -m tools.hardening.structured {result['command']}` "
            f"({result['seconds']} s): {total['cases']} cases, {total['ok']} ok, "
            f"{total['error']} clean one-line errors, **{total['FAILURE']} FAILURE** "
            f"(hang > {result['case_seconds']} s, traceback, crash, or peak RSS growth over "
            f"{result['rss_limit_mb']} MB).", "", *rows, ""]
    text += ["## The cases of issue 12 (same worker, same limits)", "",
             "| case | outcome | peak RSS growth (MB) | CPU s | file (bytes) | message |",
             "|---|---|---|---|---|---|"]
    for r in result["issue_cases"]:
        msg = r.get("message", "").rsplit(": ", 1)[-1][:90] if r.get("message") else ""
        text.append(f"| {r['case']} | {r['outcome']} | {r.get('rss_growth_mb')} | "
                    f"{r.get('cpu_s')} | {r.get('size')} | {msg} |")
    text.append("")
    for f in result["failures"][:50]:
        text.append(f"- {f['target']} case {f['case']}: {f.get('message', '')}")
    path.write_text("\n".join(text) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--cases", type=int, default=None, help="cases per target (overrides time)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--target", action="append", choices=TARGETS)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker()
        return 0
    result = run(args.seconds, args.seed, tuple(args.target or TARGETS), args.cases)
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
        write_markdown(result, args.out.with_suffix(".md"))
    print(json.dumps({t: {k: s[k] for k in ("cases", "ok", "error", "FAILURE")}
                      for t, s in result["targets"].items()}))
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
