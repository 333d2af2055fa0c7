"""One benchmark of adain-jax against its peers, in a single run, on the CPU or a GPU.

Rows are ``<impl>/<task>``:

* impls: ``jax-f32`` (the package's default: float32; on the CPU the oneDNN kernels of
  ``adain_jax.nn.backends.onednn``, and the XLA flags of ``adain_jax.nn.backends.xla_flags``),
  ``jax-bf16`` (``dtype=jnp.bfloat16``, same kernels), ``jax-f32-xla`` (float32 with XLA's
  convolutions: ``ADAIN_JAX_ONEDNN=0``), ``jax-f32-noflag`` (plain jax: XLA's convolutions
  without the package's XLA flag); the last two run in child processes (XLA reads its flags
  once), ``torch-f32`` and ``torch-bf16-cl`` (the PyTorch reference of
  ``tests.reference.torch_adain``; bf16 autocast + channels_last),
  ``magenta`` (``tools.bench.magenta``, onnxruntime; stylizes at 384 px internally).
* tasks: ``stylize256|512|1024`` (latency, batch 1: encode the content and a 512 px style,
  AdaIN, decode), ``throughput512`` (batch 8 contents at 512 px, one style whose statistics
  are computed once with ``adain_jax.style_stats`` and reused), ``train256`` (one training
  step, batch 8, 256 px crops: forward, backward through decoder and encoder, Adam; the
  pieces of ``tools.bench.bench_train``).

For every row: median and spread (min, max) of the timed repeats after a warm-up call (which
includes compilation), images/s, the ratio to the fastest implementation of the same task
(1.0 = fastest), achieved GFLOP/s (convolution work counted analytically, 2 FLOP per MAC) and
its share of the measured peak (matmul peak of this machine for the row's dtype, measured at
the start). Random weights. Writes ``results/bench_<tag>.json`` and ``.md``.

    python -m tools.bench.bench               # everything (~10 min on 2 cores)
    python -m tools.bench.bench --quick       # fewer repeats
    python -m tools.bench.bench --only 'jax-*/stylize512,torch-bf16-cl/*'
    python -m tools.bench.bench --device gpu --tag h100   # GPU rows (~3 min on an H100)

On a GPU (``--device gpu``) the throughput batch is 16, torch runs on CUDA (cuDNN benchmark
mode, autocast on CUDA), magenta and the no-flag rows are left out (the onnxruntime there is
a CPU build; the XLA flag is a CPU one), and each timed repeat is ``--inner`` calls followed
by one synchronisation (the time per call is reported), so that launch latency overlaps as
it does in a real loop. Peaks are 8192^3 matmuls. float32 rows there use TF32 tensor cores
(the default of both jax and torch for convolutions).
"""
from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import adain_jax  # sets XLA flags before jax starts
import jax
import jax.numpy as jnp
import numpy as np

from adain_jax.nn import layers, models
from tools.bench import bench_train

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

IMPLS = ("jax-f32", "jax-bf16", "jax-f32-xla", "jax-f32-noflag", "torch-f32", "torch-bf16-cl",
         "magenta")
CHILD_IMPLS = ("jax-f32-xla", "jax-f32-noflag")   # see CHILD_VARIANTS
TASKS = ("stylize256", "stylize512", "stylize1024", "throughput512", "train256")
DEFAULT_ROWS = [f"{i}/{t}" for i in IMPLS for t in TASKS
                if not (i == "magenta" and t != "stylize512")
                and not (i in CHILD_IMPLS and t not in ("stylize512", "train256"))]
STYLE_SIZE = 512
THROUGHPUT_BATCH = 8          # 16 with --device gpu
TRAIN_BATCH, TRAIN_SIZE = 8, 256
DEVICE = "cpu"                # set by main(): "cpu" or "gpu"
INNER = 1                     # calls per timed repeat (10 with --device gpu)
GPU_ROWS = [f"{i}/{t}" for i in ("jax-bf16", "torch-bf16-cl", "jax-f32", "torch-f32")
            for t in ("throughput512", "train256", "stylize512")]


# ----------------------------------------------------------------------------- work (FLOPs)
def _conv_flops(h: int, w: int, cin: int, cout: int, k: int = 3) -> float:
    return 2.0 * k * k * cin * cout * h * w


def encoder_flops(size: int) -> float:
    total, s, cin = _conv_flops(size, size, 3, 3, 1), size, 3
    for name, ch in models.ENCODER_LAYERS:
        total += _conv_flops(s, s, cin, ch)
        cin = ch
        if name in models.POOL_AFTER:
            s = -(-s // 2)
    return total


def decoder_flops(size: int) -> float:
    s, cin, total = size // layers.DOWNSCALE, 512, 0.0
    for name, ch in models.DECODER_LAYERS:
        total += _conv_flops(s, s, cin, ch)
        cin = ch
        if name in models.UPSAMPLE_AFTER:
            s *= 2
    return total


def task_flops(task: str) -> float | None:
    """Convolution FLOPs of one call of the task (all images of the batch)."""
    if task.startswith("stylize"):
        n = int(task[len("stylize"):])
        return encoder_flops(n) + encoder_flops(STYLE_SIZE) + decoder_flops(n)
    if task == "throughput512":
        return THROUGHPUT_BATCH * (encoder_flops(512) + decoder_flops(512))
    if task == "train256":
        # forward: encode content, style, output (3 E) + decode (D); backward: input
        # gradients through the output's encoder (E) and decoder (D) + decoder weight grads (D)
        e, d = encoder_flops(TRAIN_SIZE), decoder_flops(TRAIN_SIZE)
        return TRAIN_BATCH * (4 * e + 3 * d)
    return None


def task_images(task: str) -> int:
    return THROUGHPUT_BATCH if task == "throughput512" else TRAIN_BATCH if task == "train256" else 1


# ----------------------------------------------------------------------------- timing
def rel_err(got, ref) -> float:
    """||got - ref|| / ||ref||, the rel. error column."""
    return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))


def timed(fn, warmup: int, repeats: int, inner: int = 1, finish=lambda out: out) -> dict:
    """Times ``inner`` calls of ``fn`` then ``finish(last output)`` (the device sync), per call
    (``bench_train.time_steps`` with the output kept for the sync)."""
    last = []

    def call():
        last[:] = [fn()]
    first, times = bench_train.time_steps(call, max(warmup, 1), repeats, inner,
                                          lambda: finish(last[0]))
    return {"warmup_s": round(first, 3), "times_s": [round(t, 6) for t in times], "inner": inner}


def torch_device() -> str:
    return "cuda" if DEVICE == "gpu" else "cpu"


def torch_finish(out):
    import torch

    if DEVICE == "gpu":
        torch.cuda.synchronize()
    return out


def images(n: int, size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, size, size, 3), dtype=np.float32)


# ----------------------------------------------------------------------------- peaks
def measure_peaks() -> dict:
    """Matmul GFLOP/s of this machine: float32 (best of jax and torch) and bfloat16 (torch,
    oneDNN; jax/XLA CPU for comparison). 2048^3 products on the CPU, 8192^3 on a GPU (random
    data, never zeros), best of 3 timed calls after a warm-up."""
    import torch

    n = 8192 if DEVICE == "gpu" else 2048
    inner = 10 if DEVICE == "gpu" else 1
    flops = 2.0 * n ** 3
    out = {}

    def best(fn, finish):
        finish(fn())
        ts = []
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(inner):
                r = fn()
            finish(r)
            ts.append((time.perf_counter() - t) / inner)
        return flops / min(ts) / 1e9

    for name, dt in (("jax_f32", jnp.float32), ("jax_bf16", jnp.bfloat16)):
        a = jnp.asarray(np.random.default_rng(0).random((n, n), np.float32), dt)
        f = jax.jit(lambda x, y: x @ y)
        out[name] = round(best(lambda: f(a, a), jax.block_until_ready), 1)
    for name, dt in (("torch_f32", torch.float32), ("torch_bf16", torch.bfloat16)):
        a = torch.rand(n, n, device=torch_device()).to(dt)
        with torch.inference_mode():
            out[name] = round(best(lambda: a @ a, torch_finish), 1)
    out["f32"] = max(out["jax_f32"], out["torch_f32"])
    out["bf16"] = max(out["jax_bf16"], out["torch_bf16"], out["f32"])
    return out


# ----------------------------------------------------------------------------- adain-jax
_JAX_PARAMS = {}


def jax_params():
    if not _JAX_PARAMS:
        p = models.init_params(jax.random.PRNGKey(0))
        p["vgg"] = jax.tree.map(jnp.asarray, bench_train.random_vgg())
        _JAX_PARAMS.update(p)
    return dict(_JAX_PARAMS)


def jax_case(task: str, dtype: str, warmup: int, repeats: int) -> dict:
    dt = jnp.bfloat16 if dtype == "bfloat16" else None
    if task == "train256":
        first, times, losses = bench_train.bench_jax(dtype, TRAIN_BATCH, TRAIN_SIZE, warmup, repeats,
                                                     inner=INNER)
        return {"warmup_s": round(first, 3), "times_s": [round(t, 6) for t in times],
                "losses": [round(x, 4) for x in losses], "inner": INNER}
    params = jax_params()
    style = images(1, STYLE_SIZE, 1)[0]
    if task == "throughput512":
        contents = jnp.asarray(images(THROUGHPUT_BATCH, 512, 2))
        stats = adain_jax.style_stats(params, style, dtype=dt)
        fn = lambda: adain_jax.stylize(params, contents, stats, dtype=dt)  # noqa: E731
        out = timed(fn, warmup, repeats, INNER, jax.block_until_ready)
        with jax.default_matmul_precision("highest"):   # true float32 (no TF32/bf16 passes)
            ref = np.asarray(adain_jax.stylize(params, contents,
                                               adain_jax.style_stats(params, style)))
        got = np.asarray(fn())
        out["rel_err_vs_f32"] = rel_err(got, ref)
        return out
    else:
        n = int(task[len("stylize"):])
        content = jnp.asarray(images(1, n, 2)[0])
        fn = lambda: adain_jax.stylize(params, content, style, dtype=dt)  # noqa: E731
    return timed(fn, warmup, repeats, INNER, jax.block_until_ready)


# float32 variants that need their own process (XLA reads its flags once; the oneDNN switch is
# read at the first convolution): environment changes for each.
CHILD_VARIANTS = {
    "jax-f32-noflag": {"ADAIN_JAX_NO_XLA_FLAGS": "1", "ADAIN_JAX_ONEDNN": "0", "XLA_FLAGS": None},
    "jax-f32-xla": {"ADAIN_JAX_ONEDNN": "0"},
}


def jax_child_case(impl: str, rows: list[str], args) -> dict[str, dict]:
    """Runs the given ``jax-f32`` rows in a child process with ``CHILD_VARIANTS[impl]``."""
    env = dict(os.environ)
    for k, v in CHILD_VARIANTS[impl].items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    only = ",".join(r.replace(f"{impl}/", "jax-f32/") for r in rows)
    out_json = HERE / "results" / f".{impl}_child.json"
    cmd = [sys.executable, "-m", "tools.bench.bench", "--only", only, "--child-json", str(out_json),
           "--warmup", str(args.warmup), "--repeats", str(args.repeats),
           "--repeats-heavy", str(args.repeats_heavy)]
    subprocess.run(cmd, env=env, check=True, cwd=REPO)
    child = json.loads(out_json.read_text())
    out_json.unlink()
    return {r.replace("jax-f32/", f"{impl}/"): v for r, v in child["cases"].items()}


# ----------------------------------------------------------------------------- torch
def copy_jax_weights(net, params) -> None:
    """The jax rows' random weights into the torch reference (HWIO -> OIHW, layer order)."""
    import torch

    vgg, dec = jax.tree.map(np.asarray, params["vgg"]), jax.tree.map(np.asarray, params["decoder"])
    names = [(vgg, "preprocess")] + [(vgg, n) for n, _ in models.ENCODER_LAYERS]
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    names += [(dec, n) for n, _ in models.DECODER_LAYERS]
    assert len(convs) == len(names), (len(convs), len(names))
    with torch.no_grad():
        for conv, (tree, name) in zip(convs, names):
            conv.weight.copy_(torch.from_numpy(tree[name]["kernel"].transpose(3, 2, 0, 1).copy()))
            conv.bias.copy_(torch.from_numpy(tree[name]["bias"].copy()))


def torch_case(task: str, bf16: bool, warmup: int, repeats: int) -> dict:
    import torch

    from tests.reference import torch_adain

    torch.set_num_threads(os.cpu_count() or 1)
    dev = torch_device()
    torch.backends.cudnn.benchmark = True
    if task == "train256":
        first, times, losses = bench_train.bench_torch(bf16, bf16, TRAIN_BATCH, TRAIN_SIZE,
                                                       warmup, repeats, device=dev, inner=INNER)
        return {"warmup_s": round(first, 3), "times_s": [round(t, 6) for t in times],
                "losses": [round(x, 4) for x in losses], "inner": INNER}
    torch.manual_seed(0)
    fmt = torch.channels_last if bf16 else torch.contiguous_format
    net = torch_adain.Net(torch_adain.make_vgg(full=False), torch_adain.make_decoder())
    copy_jax_weights(net, jax_params())   # same weights: comparable rel. errors
    net = net.to(dev).to(memory_format=fmt).eval()

    def t(x):
        return torch.from_numpy(x).permute(0, 3, 1, 2).to(dev).contiguous(memory_format=fmt)

    style = t(images(1, STYLE_SIZE, 1))

    def run(content, s_mean=None, s_std=None, bf16=bf16):
        with torch.inference_mode(), torch.autocast(dev, dtype=torch.bfloat16, enabled=bf16):
            c = net.encode(content)
            if s_mean is None:
                s_mean, s_std = torch_adain.calc_mean_std(net.encode(style))
            c_mean, c_std = torch_adain.calc_mean_std(c)
            target = (c.float() - c_mean) / c_std * s_std + s_mean
            return net.decoder(target).float().clamp(0, 1)

    if task == "throughput512":
        contents = t(images(THROUGHPUT_BATCH, 512, 2))
        with torch.inference_mode(), torch.autocast(dev, dtype=torch.bfloat16, enabled=bf16):
            s_mean, s_std = torch_adain.calc_mean_std(net.encode(style))
        fn = lambda: run(contents, s_mean, s_std)  # noqa: E731
        out = timed(fn, warmup, repeats, INNER, torch_finish)
        if bf16:  # what bf16 autocast loses on the same (torch-initialised) weights
            with torch.inference_mode():
                s32 = torch_adain.calc_mean_std(net.encode(style))
            ref = run(contents, *s32, bf16=False).cpu().numpy()
            got = fn().cpu().numpy()
            out["rel_err_vs_f32"] = rel_err(got, ref)
        return out
    else:
        content = t(images(1, int(task[len("stylize"):]), 2))
        fn = lambda: run(content)  # noqa: E731
    return timed(fn, warmup, repeats, INNER, torch_finish)


def magenta_case(task: str, warmup: int, repeats: int) -> dict:
    from tools.bench.magenta import MagentaModel

    model = MagentaModel(threads=os.cpu_count())
    content = images(1, int(task[len("stylize"):]), 2)[0]
    style = images(1, STYLE_SIZE, 1)[0]
    return timed(lambda: model.stylize(content, style), warmup, repeats)


# ----------------------------------------------------------------------------- report
def summarise(cases: dict[str, dict], peaks: dict | None) -> list[dict]:
    rows = []
    for rid, c in cases.items():
        impl, task = rid.split("/")
        ts = c["times_s"]
        med = statistics.median(ts)
        fl = task_flops(task) if impl != "magenta" else None
        row = {"row": rid, "impl": impl, "task": task, "median_s": round(med, 4),
               "min_s": round(min(ts), 4), "max_s": round(max(ts), 4),
               "spread_pct": round(100 * (max(ts) - min(ts)) / med, 1),
               "images_per_s": round(task_images(task) / med, 3), "warmup_s": c["warmup_s"],
               "repeats": len(ts)}
        if fl:
            row["gflop"] = round(fl / 1e9, 1)
            row["gflop_per_s"] = round(fl / med / 1e9, 1)
            if peaks:
                peak = peaks["bf16" if ("bf16" in impl or DEVICE == "gpu") else "f32"]
                row["peak_gflop_per_s"] = peak
                row["share_of_peak_pct"] = round(100 * fl / med / 1e9 / peak, 1)
        if "losses" in c:
            row["losses"] = c["losses"]
        if "rel_err_vs_f32" in c:
            row["rel_err_vs_f32"] = round(c["rel_err_vs_f32"], 6)
        rows.append(row)
    for task in TASKS:
        same = [r for r in rows if r["task"] == task]
        if same:
            best = min(r["median_s"] for r in same)
            for r in same:
                r["ratio_to_fastest"] = round(r["median_s"] / best, 3)
    return rows


def environment() -> dict:
    import torch

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        flags = next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines()
                     if ln.startswith("flags")).split()
        isa = sorted(f for f in flags if f.startswith(("avx512", "amx")) or f in ("avx2", "fma"))
    except (OSError, StopIteration):
        isa = []
    from importlib import metadata

    env = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "cpu": cpu, "isa": isa, "cpu_count": os.cpu_count(), "python": platform.python_version(),
           "jax": jax.__version__, "jaxlib": metadata.version("jaxlib"), "torch": torch.__version__,
           "onnxruntime": package_version("onnxruntime"), "torch_threads": torch.get_num_threads(),
           "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""), "loadavg_at_end": os.getloadavg(),
           "device": DEVICE}
    if DEVICE == "cpu":
        from adain_jax.nn import backends

        env["jax_bf16_convolutions"] = backends.describe()
    if DEVICE == "gpu":
        env["gpu"] = torch.cuda.get_device_name() if torch.cuda.is_available() else None
        env["jax_device"] = jax.devices()[0].device_kind
        env["torch_cuda"] = torch.version.cuda
        env["cudnn"] = torch.backends.cudnn.version()
    return env


def package_version(name):
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def markdown(result: dict) -> str:
    env, peaks = result["env"], result["peaks"]
    gpu = env.get("device") == "gpu"
    where = (f"GPU {env.get('jax_device')} (torch: {env.get('gpu')}, CUDA {env.get('torch_cuda')}, "
             f"cuDNN {env.get('cudnn')}); host " if gpu else "")
    lines = [f"# adain-jax {'GPU' if gpu else 'CPU'} benchmark ({result['tag']})", "",
             f"{env['date']}; {where}{env['cpu']} ({env['cpu_count']} cores; {' '.join(env['isa'])}); "
             f"jax {env['jax']} / jaxlib {env['jaxlib']}, torch {env['torch']} "
             f"({env['torch_threads']} threads), onnxruntime {env['onnxruntime']}; "
             f"XLA_FLAGS=`{env['XLA_FLAGS']}`; "
             + (f"jax-bf16 convolutions: {env['jax_bf16_convolutions']}; "
                if env.get("jax_bf16_convolutions") else "") + "load average at the end "
             f"{', '.join(f'{x:.2f}' for x in env['loadavg_at_end'])}.", "",
             "Random weights. Latency rows: batch 1 content of the given size + a 512 px style "
             f"image (encoded in the call). throughput512: {THROUGHPUT_BATCH} contents at 512 px, "
             "style statistics cached. train256: one training step, batch 8, 256 px. Median of the "
             "timed repeats after a warm-up (incl. compilation)"
             + (f"; each repeat is {INNER} calls then one device sync, time per call" if INNER > 1
                else "") + "; spread = (max - min) / median. ratio = median / "
             "fastest median of the task (1.0 = fastest). GFLOP/s counts convolution work "
             f"(2 FLOP/MAC); peak = measured {8192 if gpu else 2048}^3 matmul GFLOP/s for the "
             "row's dtype" + (" (float32 rows use TF32, so their share is against the bf16 peak "
                              "too)" if gpu else "") + ". rel. error (throughput rows): "
             "||out - ref|| / ||ref|| against the same call in float32 (jax: at matmul precision "
             "'highest'; torch-bf16-cl: autocast off), all on the same weights.", ""]
    if peaks:
        lines += ["Measured matmul peaks (GFLOP/s): " + ", ".join(f"{k} {v}" for k, v in peaks.items()),
                  ""]
    lines += ["| task | implementation | median s | min-max s | spread % | images/s | ratio to fastest "
              "| GFLOP/s | % of peak | rel. error vs f32 |", "|---|---|---|---|---|---|---|---|---|---|"]
    for task in TASKS:
        for r in sorted((r for r in result["rows"] if r["task"] == task), key=lambda r: r["median_s"]):
            lines.append(f"| {task} | {r['impl']} | {r['median_s']} | {r['min_s']}-{r['max_s']} | "
                         f"{r['spread_pct']} | {r['images_per_s']} | {r.get('ratio_to_fastest', '')} | "
                         f"{r.get('gflop_per_s', '-')} | {r.get('share_of_peak_pct', '-')} | "
                         f"{r.get('rel_err_vs_f32', '-')} |")
    if result.get("notes"):
        lines += ["", *result["notes"]]
    lines += ["", f"Reproduce: `{' '.join(['python -m tools.bench.bench', *result['argv']])}`.", ""]
    return "\n".join(lines)


def select(only: str | None) -> list[str]:
    if not only:
        return list(DEFAULT_ROWS)
    pats = [p.strip() for p in only.split(",") if p.strip()]
    every = [f"{i}/{t}" for i in IMPLS for t in TASKS if not (i == "magenta" and t in ("throughput512", "train256"))]
    rows = [r for r in every if any(fnmatch.fnmatch(r, p) for p in pats)]
    if not rows:
        raise SystemExit(f"--only {only!r} selects no rows; rows are like {DEFAULT_ROWS[0]}")
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer repeats (2 light, 1 heavy)")
    p.add_argument("--only", default=None, help="comma-separated globs over <impl>/<task> rows")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=None, help="timed repeats of light rows (default 5)")
    p.add_argument("--repeats-heavy", type=int, default=None,
                   help="timed repeats of throughput/train/1024 rows (default 3)")
    p.add_argument("--tag", default=None, help="results/bench_<tag>.* (default: the device)")
    p.add_argument("--no-peaks", action="store_true", help="skip the matmul peak measurement")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--inner", type=int, default=None,
                   help="calls per timed repeat, one sync at the end (default 1 on CPU, 10 on GPU)")
    p.add_argument("--budget-s", type=float, default=None,
                   help="skip the remaining rows once this many seconds have passed")
    p.add_argument("--out", type=Path, default=HERE / "results", help="results folder")
    p.add_argument("--child-json", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    global DEVICE, INNER, THROUGHPUT_BATCH
    DEVICE = args.device
    if DEVICE == "gpu":
        if jax.default_backend() != "gpu":
            raise SystemExit(f"--device gpu: jax sees no GPU (backend {jax.default_backend()!r})")
        THROUGHPUT_BATCH = 16
    INNER = args.inner or (10 if DEVICE == "gpu" else 1)
    args.tag = args.tag or DEVICE
    args.repeats = args.repeats or (2 if args.quick else 5)
    args.repeats_heavy = args.repeats_heavy or (2 if args.quick else 3)
    rows = select(args.only)
    if DEVICE == "gpu":
        rows = [r for r in (GPU_ROWS if not args.only else rows)
                if not r.startswith(("magenta", *CHILD_IMPLS))]
    t_start = time.perf_counter()

    cases: dict[str, dict] = {}
    peaks = None if (args.no_peaks or args.child_json) else measure_peaks()
    if peaks:
        print("peaks GFLOP/s:", peaks, flush=True)
    children = [r for r in rows if r.split("/")[0] in CHILD_IMPLS]
    skipped = []
    for rid in rows:
        if rid in children:
            continue
        if args.budget_s and time.perf_counter() - t_start > args.budget_s:
            skipped.append(rid)
            continue
        impl, task = rid.split("/")
        reps = args.repeats_heavy if task in ("throughput512", "train256", "stylize1024") else args.repeats
        print(f"{rid} ...", flush=True)
        try:
            if impl.startswith("jax"):
                cases[rid] = jax_case(task, "bfloat16" if impl == "jax-bf16" else "float32",
                                      args.warmup, reps)
            elif impl.startswith("torch"):
                cases[rid] = torch_case(task, impl == "torch-bf16-cl", args.warmup, reps)
            else:
                cases[rid] = magenta_case(task, args.warmup, reps)
        except Exception as e:  # noqa: BLE001 - one failed row must not lose the others
            print(f"  FAILED: {type(e).__name__}: {e}", flush=True)
            skipped.append(f"{rid} (failed: {type(e).__name__}: {str(e)[:200]})")
            continue
        ts = cases[rid]["times_s"]
        print(f"  median {statistics.median(ts):.3f} s  (times {ts}, warm-up {cases[rid]['warmup_s']} s)",
              flush=True)
    if args.child_json:
        Path(args.child_json).write_text(json.dumps({"cases": cases}))
        return
    for impl in CHILD_IMPLS:
        mine = [r for r in children if r.startswith(f"{impl}/")]
        if mine:
            print(f"{', '.join(mine)} (child process: {CHILD_VARIANTS[impl]}) ...", flush=True)
            cases.update(jax_child_case(impl, mine, args))
    cases = {r: cases[r] for r in rows if r in cases}
    result = {"benchmark": f"adain-jax {DEVICE.upper()} benchmark", "tag": args.tag,
              "argv": list(argv if argv is not None else sys.argv[1:]), "env": environment(),
              "peaks": peaks, "rows": summarise(cases, peaks), "cases": cases}
    jaxrows = {}
    for r in result["rows"]:
        if r["impl"] in ("jax-f32", "jax-bf16"):
            if r["task"] not in jaxrows or r["median_s"] < jaxrows[r["task"]]["median_s"]:
                jaxrows[r["task"]] = r
    notes = []
    for task, r in jaxrows.items():
        for peer in ("torch-bf16-cl", "torch-f32", "magenta"):
            other = next((x for x in result["rows"] if x["task"] == task and x["impl"] == peer), None)
            if other:
                notes.append(f"- {task}: fastest adain-jax ({r['impl']}) {r['median_s']} s vs {peer} "
                             f"{other['median_s']} s: adain-jax time / {peer} time = "
                             f"{r['median_s'] / other['median_s']:.2f}")
    result["summary"] = notes
    result["notes"] = ["Fastest adain-jax setting against each peer:", *notes] if notes else []
    if skipped:
        result["skipped"] = skipped
        result["notes"] += ["", "Not measured (time budget or failure): " + ", ".join(skipped)]
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / f"bench_{args.tag}.json").write_text(json.dumps(result, indent=1) + "\n")
    md = markdown(result)
    (out / f"bench_{args.tag}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
