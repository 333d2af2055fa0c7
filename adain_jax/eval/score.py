"""Scoring pairs: loads each output with its content and style and runs every metric.

Sizes: an output is measured at its own size; its content is resized (Lanczos) to the
output's size when they differ; the style is loaded with its shorter side at ``style_size``
(0: as stored), as the methods are given it. Faces run in a second pass, on the outputs of
the contents that hold a face only.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Sequence

import numpy as np

from adain_jax import image_io
from adain_jax.eval import faces as faces_mod
from adain_jax.eval import features, pixels
from adain_jax.eval.pairs import Pair
from adain_jax.image_io.resample import LANCZOS
from adain_jax.weights import load_vgg

STYLE_SIZE = 512
FACE_BATCH = 32  # images per detector call (bounds the temporary file)
METRICS = ("style", "gram", "content", "content_rel", "cfsd", "grid", "checkerboard", "noise",
           "colourfulness", "seconds")


def _content_at(path, hw: tuple[int, int]) -> np.ndarray:
    img = image_io.load_image(path)
    return image_io.resize_float(img, hw, LANCZOS) if img.shape[:2] != hw else img


class Scorer:
    """Holds the VGG(s) and caches content/style summaries across pairs.

    Args:
      vgg: VGG params (None: the shipped normalised VGG).
      cfsd_vgg: another VGG's params for CFSD only (e.g. torchvision's, as StyleID), or None.
      style_size: shorter side the styles are loaded at (0: as stored).
    """

    def __init__(self, vgg=None, cfsd_vgg=None, style_size: int = STYLE_SIZE):
        self.vgg = vgg if vgg is not None else load_vgg(None)
        self.cfsd_vgg = cfsd_vgg
        self.style_size = image_io.check_size(style_size)
        self._styles: dict = {}
        self._contents: dict = {}

    def style(self, path) -> tuple[np.ndarray, features.Summary]:
        key = str(path)
        if key not in self._styles:
            img = image_io.load_image(path, self.style_size or None)
            self._styles[key] = (img, features.summarise(self.vgg, img, maps=False))
        return self._styles[key]

    def content(self, pair: Pair, hw: tuple[int, int]):
        key = (str(pair.content), hw)
        if key not in self._contents:
            self._contents.clear()  # pairs come grouped by content; keep one
            img = _content_at(pair.content, hw)
            cf = (np.asarray(features.summarise(self.cfsd_vgg, img).relu3_1)
                  if self.cfsd_vgg is not None else None)
            self._contents[key] = (img, features.summarise(self.vgg, img), cf)
        return self._contents[key]

    def score(self, pair: Pair) -> dict:
        """Every image metric of one pair (faces are added by :func:`evaluate`)."""
        out = image_io.load_image(pair.output)
        hw = out.shape[:2]
        style_img, s_sum = self.style(pair.style)
        c_img, c_sum, c_cfsd = self.content(pair, hw)
        o_sum = features.summarise(self.vgg, out)
        o_cfsd = (features.summarise(self.cfsd_vgg, out).relu3_1
                  if self.cfsd_vgg is not None else None)
        row = {"method": pair.method, "pair": pair.key, "content_file": str(pair.content),
               "style_file": str(pair.style), "output_file": str(pair.output),
               "height": int(hw[0]), "width": int(hw[1]), "seconds": pair.seconds}
        row.update(features.vgg_metrics(o_sum, c_sum, s_sum, c_cfsd, o_cfsd))
        row.update(pixels.pixel_metrics(out, style_img))
        row["style_colourfulness"] = pixels.colourfulness(style_img)
        return row


def _faces_pass(pairs: Sequence[Pair], rows: list[dict], detector,
                log: Callable[[str], None]) -> None:
    keys = sorted({(str(p.content), (r["height"], r["width"])) for p, r in zip(pairs, rows)})
    found: dict = {}
    for i in range(0, len(keys), FACE_BATCH):
        chunk = keys[i:i + FACE_BATCH]
        imgs = [_content_at(c, hw) for c, hw in chunk]
        for k, f in zip(chunk, detector.detect(imgs)):
            found[k] = faces_mod.content_faces(f)
    todo = [i for i, (p, r) in enumerate(zip(pairs, rows))
            if len(found[(str(p.content), (r["height"], r["width"]))].boxes)]
    log(f"faces: {sum(len(f.boxes) for f in found.values())} in {len(keys)} contents, "
        f"{len(todo)} outputs to check")
    for r in rows:
        r.update(faces=0, kept=0, nme_list=[], nme=None)
    for i in range(0, len(todo), FACE_BATCH):
        chunk = todo[i:i + FACE_BATCH]
        outs = detector.detect([image_io.load_image(pairs[j].output) for j in chunk])
        for j, f in zip(chunk, outs):
            r = rows[j]
            m = faces_mod.match(found[(str(pairs[j].content), (r["height"], r["width"]))], f)
            r.update(faces=m["faces"], kept=m["kept"], nme_list=m["nme"],
                     nme=float(np.mean(m["nme"])) if m["nme"] else None)


def _mean(values) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def summarise(rows: Sequence[dict], with_faces: bool) -> dict[str, dict]:
    """Per method: the mean of every metric over its pairs, ``n``, and the pooled faces."""
    out: dict[str, dict] = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        s = {"n": len(mine)}
        s.update({k: _mean(r.get(k) for r in mine) for k in METRICS})
        if with_faces:
            s.update(faces_mod.summarise_faces(
                [{"faces": r["faces"], "kept": r["kept"], "nme": r["nme_list"]} for r in mine]))
        out[method] = s
    return out


def evaluate(pairs: Sequence[Pair], scorer: Scorer | None = None, detector=None,
             log: Callable[[str], None] = lambda _msg: None) -> dict:
    """Scores every pair. Returns ``{'rows': [...], 'summary': {method: {...}}, 'faces':
    {'available': bool, 'reason': str | None}}``; ``detector`` a :class:`faces.Detector`
    or None (faces not measured)."""
    scorer = scorer or Scorer()
    order = sorted(range(len(pairs)), key=lambda i: (str(pairs[i].content), pairs[i].method))
    pairs = [pairs[i] for i in order]
    rows, t0 = [], time.perf_counter()
    for n, pair in enumerate(pairs, start=1):
        rows.append(scorer.score(pair))
        log(f"[{n}/{len(pairs)}] {pair.method} {pair.key} ({time.perf_counter() - t0:.0f} s)")
    with_faces = detector is not None and detector.available
    if with_faces:
        _faces_pass(pairs, rows, detector, log)
    reason = None if with_faces else (detector.reason if detector is not None
                                      else "not requested")
    rows.sort(key=lambda r: (r["pair"], r["method"]))
    return {"rows": rows, "summary": summarise(rows, with_faces),
            "faces": {"available": with_faces, "reason": reason}}
