"""VGG metrics: scale-free style ratios, relu4_1 content distance and CFSD.

Style distances are the AdaIN training loss (channel mean/std) and the Gatys loss (Gram
matrices) over relu1_1..relu4_1 of the normalised VGG, each divided by the same distance
between the content and the style, so the scores mean the same for every painting: the
identity (output = content) scores 1, the painting itself 0.

CFSD (content feature structural distance) follows StyleID's evaluation code
(``evaluation/image_metrics.py``, ``PatchSimi``): relu3_1 features F (positions x C) of content
and output, divided by C; self-similarity rows softmax(F F^T); the score is
sum over positions of KL(content row || output row) (``kl_div`` with ``reduction='batchmean'``
on a batch of one), with both images at the output's size. StyleID uses torchvision's ImageNet
VGG-19; by default this uses the library's normalised VGG (``vgg`` may be any VGG file that
``weights.load_vgg`` reads, torchvision's included, to reproduce StyleID's numbers).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from adain_jax import ops
from adain_jax.errors import ImageError
from adain_jax.nn import encode

CFSD_LAYER = 2      # relu3_1 in (relu1_1, relu2_1, relu3_1, relu4_1)
CONTENT_LAYER = 3   # relu4_1
CFSD_BLOCK = 512    # self-similarity rows per block (bounds memory at large sizes)


class Summary(NamedTuple):
    """Per-layer channel means/stds/Grams (float64 NumPy) and, for contents and outputs,
    the relu3_1 and relu4_1 maps (h, w, C)."""

    means: tuple
    stds: tuple
    grams: tuple
    relu3_1: np.ndarray | None
    relu4_1: np.ndarray | None


@jax.jit
def _stats(vgg, x):
    feats = encode(vgg, x)
    stats = [ops.channel_stats(f) for f in feats]
    return (tuple(m.reshape(-1) for m, _ in stats), tuple(s.reshape(-1) for _, s in stats),
            tuple(ops.gram(f)[0] for f in feats), feats[CFSD_LAYER][0], feats[CONTENT_LAYER][0])


def _as_batch(img: np.ndarray) -> jnp.ndarray:
    a = np.asarray(img, np.float32)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ImageError(f"expected an (H, W, 3) image, got shape {a.shape}")
    if min(a.shape[:2]) < 8:
        raise ImageError(f"image too small for the VGG metrics: {a.shape[:2]}")
    return jnp.asarray(a)[None]


def summarise(vgg, img: np.ndarray, maps: bool = True) -> Summary:
    """The VGG summary of one image; ``maps=False`` drops the feature maps (styles)."""
    means, stds, grams, f3, f4 = _stats(vgg, _as_batch(img))
    f64 = lambda xs: tuple(np.asarray(x, np.float64) for x in xs)  # noqa: E731
    return Summary(f64(means), f64(stds), f64(grams),
                   np.asarray(f3) if maps else None, np.asarray(f4) if maps else None)


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.square(a - b)))


def meanstd_distance(a: Summary, b: Summary) -> float:
    """Sum over relu1_1..relu4_1 of MSE(channel means) + MSE(channel stds)."""
    return sum(_mse(x, y) + _mse(s, t)
               for x, y, s, t in zip(a.means, b.means, a.stds, b.stds, strict=True))


def gram_distance(a: Summary, b: Summary) -> float:
    """Sum over relu1_1..relu4_1 of MSE(Gram matrices), Grams divided by H W C."""
    return sum(_mse(x, y) for x, y in zip(a.grams, b.grams, strict=True))


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else float("nan")


def style_ratios(out: Summary, content: Summary, style: Summary) -> dict[str, float]:
    """``style`` = d_meanstd(output, style) / d_meanstd(content, style); ``gram`` the same
    with the Gram distance."""
    return {"style": _ratio(meanstd_distance(out, style), meanstd_distance(content, style)),
            "gram": _ratio(gram_distance(out, style), gram_distance(content, style))}


def content_distances(out: Summary, content: Summary) -> dict[str, float]:
    """``content`` = MSE of relu4_1 (the quality report's content loss); ``content_rel`` =
    the same / mean(relu4_1(content)^2), so it reads as a fraction of the content's energy."""
    fo, fc = out.relu4_1, content.relu4_1
    if fo.shape != fc.shape:
        raise ImageError(f"content and output features differ in shape: {fc.shape} vs {fo.shape}")
    d = _mse(fo.astype(np.float64), fc.astype(np.float64))
    return {"content": d, "content_rel": _ratio(d, float(np.mean(np.square(fc, dtype=np.float64))))}


def _logsumexp_rows(logits: np.ndarray) -> np.ndarray:
    m = logits.max(axis=1, keepdims=True)
    return m[:, 0].astype(np.float64) + np.log(np.exp(logits - m).sum(axis=1, dtype=np.float64))


def cfsd(content_map: np.ndarray, output_map: np.ndarray, block: int = CFSD_BLOCK) -> float:
    """StyleID's CFSD of two (h, w, C) feature maps: sum over positions i of
    KL(softmax(S_c[i]) || softmax(S_o[i])), S = (F / C)(F / C)^T. Identical maps give 0.

    Per row, KL = sum_j p_j (S_c - S_o)_ij - (logsumexp S_c[i] - logsumexp S_o[i]): the
    logits are differenced before any large normaliser is subtracted, so float32 logits
    keep the small divergences of similar images accurate."""
    if content_map.shape != output_map.shape:
        raise ImageError(f"CFSD needs maps of one shape: {content_map.shape} vs {output_map.shape}")
    c = content_map.shape[-1]
    a = content_map.reshape(-1, c).astype(np.float32) / c
    b = output_map.reshape(-1, c).astype(np.float32) / c
    total = 0.0
    for i in range(0, a.shape[0], block):
        la, lb = a[i:i + block] @ a.T, b[i:i + block] @ b.T
        lse_a, lse_b = _logsumexp_rows(la), _logsumexp_rows(lb)
        p = np.exp(la - lse_a[:, None].astype(np.float32))
        cross = np.einsum("ij,ij->i", p, la - lb, dtype=np.float64)
        total += float(np.sum(cross - (lse_a - lse_b)))
    return total


def vgg_metrics(out: Summary, content: Summary, style: Summary,
                cfsd_content: np.ndarray | None = None,
                cfsd_output: np.ndarray | None = None) -> dict[str, float]:
    """Style ratios, content distances and CFSD of one output (CFSD on the given relu3_1
    maps of another VGG when both are passed, else on the summaries' own)."""
    res = style_ratios(out, content, style)
    res.update(content_distances(out, content))
    if cfsd_content is None or cfsd_output is None:
        cfsd_content, cfsd_output = content.relu3_1, out.relu3_1
    res["cfsd"] = cfsd(cfsd_content, cfsd_output)
    return res
