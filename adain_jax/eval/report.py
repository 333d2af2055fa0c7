"""The evaluation's outputs: ``report.json`` (every row), ``report.md`` (tables) and a picture grid."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

from adain_jax import image_io
from adain_jax.fs import atomic_write

DEFINITIONS = {
    "style": "d_meanstd(output, style) / d_meanstd(content, style); d_meanstd = sum over "
             "relu1_1..relu4_1 of the normalised VGG of MSE(channel means) + MSE(channel stds). "
             "Identity = 1, the painting itself = 0; lower is more style.",
    "gram": "the same ratio with d_gram = sum over relu1_1..relu4_1 of MSE(Gram / (H W C)).",
    "content": "MSE(relu4_1(output), relu4_1(content)), content resized to the output's size; "
               "0 for the identity.",
    "content_rel": "content / mean(relu4_1(content)^2).",
    "cfsd": "StyleID's CFSD: sum over relu3_1 positions of KL(softmax(S_content[i]) || "
            "softmax(S_output[i])), S = (F / C)(F / C)^T; 0 for the identity.",
    "faces_kept": "MTCNN faces of the content (p >= 0.98, box side >= 40 px) with an output "
                  "face of p >= 0.9 at IoU >= 0.4; pooled kept / faces.",
    "nme": "mean distance of the 5 MTCNN landmarks (matched output face vs content) / the "
           "content face's inter-ocular distance; mean over kept faces.",
    "grid": "per axis, mean |neighbour difference| of the grey image in each of the 8 phases "
            "(x mod 8, y mod 8), (max + 1e-4) / (median + 1e-4); mean of both axes; 1.0 = none.",
    "checkerboard": "the same with the 2 phases of period 2, (max + 1e-4) / (min + 1e-4).",
    "noise": "mean |4-neighbour Laplacian| of the grey output / the same of the painting "
             "resized to cover the output and centre-cropped to it.",
    "colourfulness": "Hasler and Suesstrunk (2003) on 0..255: sqrt(var rg + var yb) + "
                     "0.3 sqrt(mean rg^2 + mean yb^2), rg = R - G, yb = (R + G) / 2 - B.",
    "seconds": "seconds per pair as the method reported it (manifest or timing.json).",
}
SUMMARY_COLUMNS = ("n", "style", "gram", "content", "content_rel", "cfsd", "faces_kept", "nme",
                   "grid", "checkerboard", "noise", "colourfulness", "seconds")
ROW_COLUMNS = ("style", "gram", "content", "cfsd", "kept", "nme", "grid", "checkerboard",
               "noise", "colourfulness", "seconds")


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, int):
        return str(v)
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return lines


def _jsonable(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def markdown(result: dict, title: str = "adain-eval report", notes: Sequence[str] = ()) -> str:
    """The report as markdown: summary table, definitions, per-pair rows."""
    summary, rows = result["summary"], result["rows"]
    faces = result["faces"]
    pairs = sorted({r["pair"] for r in rows})
    lines = [f"# {title}", "", f"{len(pairs)} pairs, methods: {', '.join(summary)}. Faces: "
             + ("MTCNN (facenet-pytorch)." if faces["available"]
                else f"not measured ({faces['reason']})."), ""]
    lines += [f"{n}" for n in notes] + ([""] if notes else [])
    lines += ["## Summary (mean over pairs)", ""]
    lines += _table(("method",) + SUMMARY_COLUMNS,
                    [(m,) + tuple(_fmt(s.get(k)) for k in SUMMARY_COLUMNS)
                     for m, s in summary.items()])
    lines += ["", "## Definitions", ""]
    lines += [f"- **{k}**: {v}" for k, v in DEFINITIONS.items()]
    lines += ["", "## Per pair", ""]
    lines += _table(("pair", "method") + ROW_COLUMNS,
                    [(r["pair"], r["method"]) + tuple(
                        _fmt(r.get(k)) if k != "kept" or "faces" not in r
                        else f"{r['kept']}/{r['faces']}" for k in ROW_COLUMNS) for r in rows])
    return "\n".join(lines) + "\n"


def write(result: dict, out_dir: str | Path, title: str = "adain-eval report",
          notes: Sequence[str] = (), stem: str = "report") -> tuple[Path, Path]:
    """Writes ``<stem>.json`` and ``<stem>.md`` into ``out_dir`` (atomically)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    js, md = out / f"{stem}.json", out / f"{stem}.md"
    payload = {"definitions": DEFINITIONS, "notes": list(notes), **result}
    atomic_write(js, json.dumps(_jsonable(payload), indent=1, sort_keys=True) + "\n")
    atomic_write(md, markdown(result, title, notes))
    return js, md


def save_picture_grid(result: dict, path: str | Path, max_rows: int = 6,
                      tile: int = 160) -> Path | None:
    """content | style | each method's output, one row per pair (the first ``max_rows``
    pairs that every method scored); None when there is none."""
    methods = list(result["summary"])
    by_pair: dict[str, dict[str, dict]] = {}
    for r in result["rows"]:
        by_pair.setdefault(r["pair"], {})[r["method"]] = r
    keys = [k for k in sorted(by_pair) if all(m in by_pair[k] for m in methods)][:max_rows]
    if not keys:
        return None
    grid = []
    for k in keys:
        first = by_pair[k][methods[0]]
        files = [first["content_file"], first["style_file"]]
        files += [by_pair[k][m]["output_file"] for m in methods]
        grid.append([image_io.load_image(f, tile) for f in files])
    image_io.save_grid(path, grid, tile_height=tile)
    return Path(path)
