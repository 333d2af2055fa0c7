"""Quality of lite models on the evaluation pairs, next to the main model and Magenta.

    python -m tools.release.lite_quality --weights w32d1=.devpack/lite/lite_w32d1.npz \
        --max-sides 0,384 --out docs/quality/lite

Same pairs, size and metrics as ``tools.release.quality_report`` (its metric functions, on
the shipped normalised VGG): content loss against the content's relu4_1, the AdaIN-paper
content loss, the mean/std style loss and the Gram loss. The main model's and Magenta's
per-pair metrics are read from that report's ``metrics.json`` (``--main-metrics``); the
first ``--check-main`` pairs of the main model are recomputed here and must agree, so the
two runs are known to measure the same thing. ``--max-sides`` adds, per lite model, runs at
a lower internal resolution (``stylize(..., max_side=N)``; 0 = full resolution).

Per-pair metrics are cached in ``--cache-dir`` (resumable). Writes ``report.md``,
``metrics.json`` and ``grid.jpg`` (content | style | main | lite... | Magenta, tiles of at
most 256 px) to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np

import adain_jax
from adain_jax import image_io, weights
from adain_jax.inference import transfer
from tools.release.quality_report import (METRICS, JsonCache, content_features, file_id,
                                          load_magenta, metrics_of, save_grid, style_summary)

GOAL_STYLE = 0.6      # lite style loss <= 0.6 x Magenta's ...
GOAL_CONTENT = 1.05   # ... at a content loss <= Magenta's + 5%


def parse_weights(text: str) -> dict[str, Path]:
    out = {}
    for item in (t.strip() for t in text.split(",") if t.strip()):
        name, sep, path = item.partition("=")
        if not sep:
            raise SystemExit(f"--weights items are NAME=PATH, got {item!r}")
        out[name] = Path(path)
    return out


def summarise(records: list[dict]) -> dict:
    out = {"n": len(records)}
    for k in METRICS:
        vals = [r[k] for r in records]
        out[k], out[k + "_median"] = float(np.mean(vals)), float(np.median(vals))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--eval-dir", type=Path, default=Path("../shared/data/eval"))
    p.add_argument("--weights", required=True, help="NAME=PATH,... lite weight files")
    p.add_argument("--max-sides", default="0", help="internal resolutions (0: full)")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--main-metrics", type=Path, default=Path("docs/quality/metrics.json"))
    p.add_argument("--check-main", type=int, default=4, help="main-model pairs recomputed")
    p.add_argument("--limit", type=int, default=0, help="first N contents and styles only")
    p.add_argument("--grid-rows", type=int, default=4)
    p.add_argument("--cache-dir", type=Path, default=Path("build/quality_cache"))
    p.add_argument("--out", type=Path, default=Path("docs/quality/lite"))
    args = p.parse_args(argv)

    main_run = json.loads(args.main_metrics.read_text())
    if main_run["config"]["size"] != args.size:
        raise SystemExit(f"{args.main_metrics} was measured at {main_run['config']['size']} px")
    ref = {(r["content"], r["style"]): r for r in main_run["pairs"]}
    contents = image_io.list_images(args.eval_dir / "content")
    styles = image_io.list_images(args.eval_dir / "style")
    if args.limit:
        contents, styles = contents[:args.limit], styles[:args.limit]
    pairs = [(c, s) for s in styles for c in contents]
    missing = [(c.name, s.name) for c, s in pairs if (c.name, s.name) not in ref]
    if missing:
        raise SystemExit(f"{len(missing)} pairs are not in {args.main_metrics}, e.g. {missing[0]}")

    vgg = weights.load_vgg()
    main_params = adain_jax.load_default()
    sides = [int(x) for x in args.max_sides.split(",")]
    models = {}
    for name, path in parse_weights(args.weights).items():
        params = adain_jax.load_params(model="lite", decoder=path)
        for side in sides:
            key = name if side == 0 else f"{name}@{side}"
            models[key] = (params, side or None, file_id(path))
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    cache = JsonCache(args.cache_dir / "lite_pairs.json")

    images, cfeats, stats = {}, {}, {}

    def image(path):
        if path not in images:
            images[path] = image_io.load_image(path, args.size)
        return images[path]

    records = {k: [] for k in models}
    seconds = {k: [] for k in models}
    check = []
    t_all = time.perf_counter()
    for i, (cpath, spath) in enumerate(pairs):
        content, style = image(cpath), image(spath)
        summary = None
        for key, (params, side, fid) in models.items():
            ckey = f"{fid}|{side}|{args.size}|{cpath.name}|{spath.name}"
            rec = cache.get(ckey)
            if rec is None:
                if spath not in stats:   # style statistics once per style and model, so
                    stats.clear()        # stylize compiles once per content shape
                    stats[spath] = {k: transfer.style_stats(m[0], style)
                                    for k, m in models.items()}
                if cpath not in cfeats:
                    cfeats[cpath] = content_features(vgg, jnp.asarray(content)[None])
                if summary is None:
                    summary = style_summary(vgg, jnp.asarray(style)[None])
                t = time.perf_counter()
                out = np.asarray(transfer.stylize(params, content, stats[spath][key],
                                                  max_side=side))
                secs = time.perf_counter() - t
                rec = dict(metrics_of(vgg, out, cfeats[cpath], summary), seconds=secs)
                cache.set(ckey, rec)
            records[key].append(rec)
            seconds[key].append(rec["seconds"])
        if i < args.check_main:
            summary = summary or style_summary(vgg, jnp.asarray(style)[None])
            if cpath not in cfeats:
                cfeats[cpath] = content_features(vgg, jnp.asarray(content)[None])
            out = np.asarray(transfer.stylize(main_params, content, style))
            got = metrics_of(vgg, out, cfeats[cpath], summary)
            want = ref[(cpath.name, spath.name)]["adain"]["1"]
            check.append({k: [got[k], want[k]] for k in METRICS})
        if i % 20 == 19:
            print(f"{i + 1}/{len(pairs)} pairs, {time.perf_counter() - t_all:.0f} s", file=sys.stderr,
                  flush=True)
        if len(images) > 64:
            images.clear()

    worst = max((abs(a - b) / max(abs(b), 1e-12) for c in check for a, b in c.values()), default=0)
    table = {"main (AdaIN, VGG-19)": summarise([ref[(c.name, s.name)]["adain"]["1"] for c, s in pairs]),
             "Magenta": summarise([ref[(c.name, s.name)]["magenta"] for c, s in pairs])}
    mag = table["Magenta"]
    goals = {}
    for key in models:
        table[f"lite {key}"] = summarise(records[key])
        s = table[f"lite {key}"]
        goals[key] = {"style_ratio_to_magenta": s["style"] / mag["style"],
                      "content_ratio_to_magenta": s["content"] / mag["content"],
                      "met": s["style"] <= GOAL_STYLE * mag["style"]
                      and s["content"] <= GOAL_CONTENT * mag["content"],
                      "median_s_per_pair": float(np.median(seconds[key]))}
    result = {"size": args.size, "n_pairs": len(pairs), "main_metrics": str(args.main_metrics),
              "check_main_max_rel_diff": worst, "check_main": check, "table": table,
              "goals": goals, "command": "python -m tools.release.lite_quality " + " ".join(
                  argv if argv is not None else sys.argv[1:])}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps(result, indent=1) + "\n")

    magenta, note = load_magenta()
    rows = []
    for cpath, spath in list(zip(contents, styles))[:args.grid_rows]:
        content, style = image(cpath), image(spath)
        row = [content, style, np.asarray(transfer.stylize(main_params, content, style))]
        row += [np.asarray(transfer.stylize(p, content, style, max_side=side))
                for p, side, _ in models.values()]
        if magenta is not None:
            row.append(magenta.stylize(content, style_vector=magenta.style_vector(style)))
        rows.append(row)
    titles = ["content", "style", "main"] + [f"lite {k}" for k in models] + (
        ["Magenta"] if magenta is not None else [])
    if rows:
        save_grid(args.out / "grid.jpg", rows)
    write_report(args.out / "report.md", result, titles, note, bool(rows))
    print(json.dumps({"goals": goals, "check_main_max_rel_diff": worst}, indent=1))
    return 0


def write_report(path: Path, result: dict, titles: list[str], magenta_note: str,
                 rows_shown: bool = True) -> None:
    def f(x):
        return f"{x:.4g}"
    lines = ["# Lite model quality", "",
             f"{result['n_pairs']} evaluation pairs at {result['size']} px (shorter side), the "
             "metrics of `docs/quality/report.md` on the shipped normalised VGG. Main model and "
             f"Magenta: per-pair metrics of `{result['main_metrics']}`" + (
                 f"; {len(result['check_main'])} main-model pairs recomputed here agree to a "
                 f"relative {result['check_main_max_rel_diff']:.1e}." if result["check_main"]
                 else " (none recomputed in this run)."), "",
             "| model | n | content | content (AdaIN t) | style (mean/std) | Gram | style median |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, s in result["table"].items():
        lines.append(f"| {name} | {s['n']} | {f(s['content'])} | {f(s['content_adain'])} | "
                     f"{f(s['style'])} | {f(s['gram'])} | {f(s['style_median'])} |")
    lines += ["", f"Goal: style loss <= {GOAL_STYLE} x Magenta's at a content loss <= Magenta's "
              f"x {GOAL_CONTENT}.", "",
              "| lite model | style / Magenta | content / Magenta | goal | median s/pair (incl. "
              "first-call compiles) |", "|---|---:|---:|---|---:|"]
    for key, g in result["goals"].items():
        lines.append(f"| {key} | {g['style_ratio_to_magenta']:.3f} | "
                     f"{g['content_ratio_to_magenta']:.3f} | {'met' if g['met'] else 'NOT met'} | "
                     f"{g['median_s_per_pair']:.3f} |")
    lines += ["", f"Magenta in the grid: {magenta_note}.", "",
              "Grid (" + " | ".join(titles) + "; research-only evaluation images, downscaled):",
              "", "![grid](grid.jpg)" if rows_shown else "(no grid in this run)", "",
              "Reproduce: `" + result["command"] + "`", ""]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
