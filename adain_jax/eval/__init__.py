"""Evaluation of style-transfer outputs from any method (``adain-eval``).

Scores folders of outputs against their contents and styles: scale-free style ratios (mean/std
and Gram on the normalised VGG), content distance (relu4_1) and StyleID's CFSD
(:mod:`.features`), faces kept and landmark error by MTCNN in a separate interpreter
(:mod:`.faces`, :mod:`.mtcnn_worker`), decoder grid, checkerboard, pixel noise and
colourfulness (:mod:`.pixels`); pairing by manifest or file names (:mod:`.pairs`); scoring
(:mod:`.score`); markdown/JSON reports and picture grids (:mod:`.report`); flags (:mod:`.cli`).
Needs only the library's own dependencies; the face detector needs a venv of its own with
facenet-pytorch (its torch/pillow pins), handed over as ``--faces-python``.
"""
from adain_jax.eval.faces import Detector, Faces, content_faces, match
from adain_jax.eval.features import cfsd, gram_distance, meanstd_distance, summarise
from adain_jax.eval.pairs import Pair, from_folders, output_name, read_manifest
from adain_jax.eval.pixels import (checkerboard_score, colourfulness, grid_score,
                                   laplacian_energy, noise_ratio)
from adain_jax.eval.report import markdown, save_picture_grid, write
from adain_jax.eval.score import Scorer, evaluate

__all__ = [
    "Detector", "Faces", "content_faces", "match", "cfsd", "gram_distance", "meanstd_distance",
    "summarise", "Pair", "from_folders", "output_name", "read_manifest", "checkerboard_score",
    "colourfulness", "grid_score", "laplacian_energy", "noise_ratio", "markdown",
    "save_picture_grid", "write", "Scorer", "evaluate",
]
