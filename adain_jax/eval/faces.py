"""Faces kept by a stylisation: MTCNN on the content and the output, boxes and landmarks matched.

Detection runs in a subprocess with another interpreter (``python``: a venv with
facenet-pytorch, whose P/R/O-Net weights ship inside its wheel; its torch and pillow pins do
not fit this library's environment, and the library never imports torch). The matching is
plain NumPy:

* the content's faces are its detections with probability >= ``CONTENT_PROB`` and a box
  whose shorter side is >= ``MIN_SIDE`` px;
* a face is *kept* when some output detection with probability >= ``KEEP_PROB`` overlaps it
  with IoU >= ``KEEP_IOU`` (the best-overlapping one is its match);
* NME of a kept face = mean distance of the 5 landmarks (match vs content) / the content
  face's inter-ocular distance (between the two eye landmarks).

Output detections are mapped into the content's pixel coordinates when the sizes differ.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from adain_jax import image_io
from adain_jax.errors import ConfigError, one_line

CONTENT_PROB = 0.98
MIN_SIDE = 40.0
KEEP_IOU = 0.4
KEEP_PROB = 0.9
WORKER = Path(__file__).with_name("mtcnn_worker.py")
ENV_PYTHON = "ADAIN_EVAL_FACES_PYTHON"


class Faces(NamedTuple):
    """Detections of one image: ``boxes`` (n, 4) x1 y1 x2 y2, ``probs`` (n,), ``landmarks``
    (n, 5, 2) (x, y)."""

    boxes: np.ndarray
    probs: np.ndarray
    landmarks: np.ndarray

    @classmethod
    def from_json(cls, entry: dict) -> "Faces":
        boxes = np.asarray(entry.get("boxes", []), np.float64).reshape(-1, 4)
        probs = np.asarray(entry.get("probs", []), np.float64).reshape(-1)
        marks = np.asarray(entry.get("landmarks", []), np.float64).reshape(-1, 5, 2)
        if not len(boxes) == len(probs) == len(marks):
            raise ConfigError("face detections: boxes, probs and landmarks differ in number")
        return cls(boxes, probs, marks)

    def select(self, keep: np.ndarray) -> "Faces":
        return Faces(self.boxes[keep], self.probs[keep], self.landmarks[keep])

    def scaled(self, sy: float, sx: float) -> "Faces":
        """Coordinates multiplied by (sx, sy): maps them onto an image of another size."""
        s = np.array([sx, sy])
        return Faces(self.boxes * np.tile(s, 2), self.probs, self.landmarks * s)


def content_faces(faces: Faces) -> Faces:
    """The faces an output is asked to keep (probability and size thresholds)."""
    wh = faces.boxes[:, 2:] - faces.boxes[:, :2]
    return faces.select((faces.probs >= CONTENT_PROB) & (wh.min(axis=1) >= MIN_SIDE))


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union of x1 y1 x2 y2 boxes."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=2)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0.0, None), axis=1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def match(content: Faces, output: Faces) -> dict:
    """``faces`` (content faces), ``kept`` and per kept face its ``nme`` (list)."""
    out = output.select(output.probs >= KEEP_PROB)
    n = len(content.boxes)
    if n == 0:
        return {"faces": 0, "kept": 0, "nme": []}
    if len(out.boxes) == 0:
        return {"faces": n, "kept": 0, "nme": []}
    overlap = iou(content.boxes, out.boxes)
    nme = []
    for i in range(n):
        j = int(np.argmax(overlap[i]))
        if overlap[i, j] < KEEP_IOU:
            continue
        eyes = content.landmarks[i, 0] - content.landmarks[i, 1]
        iod = max(float(np.hypot(*eyes)), 1e-6)
        err = np.hypot(*(out.landmarks[j] - content.landmarks[i]).T).mean()
        nme.append(float(err / iod))
    return {"faces": n, "kept": len(nme), "nme": nme}


def match_sized(content: Faces, content_hw: Sequence[int], output: Faces,
                output_hw: Sequence[int]) -> dict:
    """:func:`match` with the output's detections mapped to the content's size."""
    sy, sx = content_hw[0] / output_hw[0], content_hw[1] / output_hw[1]
    return match(content, output.scaled(sy, sx) if (sy, sx) != (1.0, 1.0) else output)


def _env(threads: int | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


class Detector:
    """MTCNN through ``python`` (a path to the faces venv's interpreter).

    ``available`` / ``reason`` say whether it runs; ``detect(images)`` returns one
    :class:`Faces` per float (H, W, 3) image."""

    def __init__(self, python: str | os.PathLike | None = None, threads: int | None = None,
                 timeout: float = 3600.0):
        self.python = str(python) if python else os.environ.get(ENV_PYTHON) or None
        self.threads, self.timeout = threads, timeout
        self.reason = self._check()
        self.available = self.reason is None

    def _run(self, args: list[str], timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run([self.python, str(WORKER), *args], capture_output=True,
                              text=True, timeout=timeout, env=_env(self.threads), check=False)

    def _check(self) -> str | None:
        if not self.python:
            return f"no faces interpreter given (--faces-python or ${ENV_PYTHON})"
        try:
            proc = self._run(["--check"], 600.0)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"{self.python}: {one_line(exc)}"
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            return f"{self.python} cannot run MTCNN (facenet-pytorch): {one_line(last)}"
        return None

    def detect(self, images: Sequence[np.ndarray]) -> list[Faces]:
        if not self.available:
            raise ConfigError(f"faces unavailable: {self.reason}")
        if not images:
            return []
        with tempfile.TemporaryDirectory(prefix="adain_eval_faces_") as tmp:
            src, dst = Path(tmp) / "images.npz", Path(tmp) / "faces.json"
            np.savez(src, **{str(i): image_io.to_uint8(im) for i, im in enumerate(images)})
            proc = self._run([str(src), str(dst)], self.timeout)
            if proc.returncode != 0 or not dst.exists():
                last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
                raise ConfigError(f"face detection failed: {one_line(last)}")
            entries = json.loads(dst.read_text())
        if len(entries) != len(images):
            raise ConfigError("face detection returned a wrong number of results")
        return [Faces.from_json(e) for e in entries]


def summarise_faces(rows: Sequence[dict]) -> dict:
    """Pooled over pairs: ``faces_kept`` = kept / content faces, ``nme`` = mean NME of the
    kept faces (None when there are none)."""
    total = sum(r["faces"] for r in rows)
    nme = [v for r in rows for v in r["nme"]]
    return {"faces": total, "faces_kept": (sum(r["kept"] for r in rows) / total) if total else None,
            "nme": float(np.mean(nme)) if nme else None}
