"""One demo request, without gradio: uploaded files in, a stylized image and its timing out.

Uploads are checked against :class:`~adain_jax.demo.limits.Limits` (bytes and pixels, from
the header) and decoded by the library's image loader; every problem is an
:class:`~adain_jax.errors.AdainError` with a one-line message the page shows.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from adain_jax import image_io
from adain_jax.demo.limits import Limits
from adain_jax.errors import ConfigError
from adain_jax.inference import validate


@dataclass(frozen=True)
class Request:
    """A stylize request from the page or the API (file paths as gradio hands them over).

    Attributes:
      content: the content image file.
      style: the (first) style image file.
      alpha: style strength in [0, 1].
      style2: an optional second style.
      mix: weight of ``style2`` in [0, 1] when it is given and no mask is painted.
      preserve_color: keep the content's colours.
      mask_layers: brush layers (files, painted strokes opaque) marking where ``style2`` goes.
      size: working size (shorter side in pixels); None: the limits' default.
    """

    content: str | None
    style: str | None
    alpha: float = 1.0
    style2: str | None = None
    mix: float = 0.5
    preserve_color: bool = False
    mask_layers: Sequence[str] = ()
    size: int | None = None


@dataclass(frozen=True)
class Result:
    """A stylized image (H, W, 3) float32 in [0, 1], the seconds ``stylize`` took and a
    one-line summary for the page."""

    image: np.ndarray
    seconds: float
    summary: str


def load_upload(path: str | None, what: str, size: int, limits: Limits) -> np.ndarray:
    """An uploaded image, limit-checked, decoded and resized (shorter side ``size``)."""
    if not path:
        raise ConfigError(f"no {what} image: upload one or pick an example")
    image_io.check_file(path, limits.max_bytes, limits.max_pixels, what)
    return image_io.load_image(path, size=size)


def brush_mask(layers: Sequence[str], hw: tuple[int, int], limits: Limits) -> np.ndarray | None:
    """Where the brush layers are painted, (H, W) in [0, 1]; None when nothing is painted.

    The library's mask loader composites a layer on white and takes its grey level, so the
    page's brush is black and a stroke's strength is ``1 - grey``."""
    mask = None
    for i, layer in enumerate(layers or ()):
        image_io.check_file(layer, limits.max_bytes, limits.max_pixels, f"brush layer {i + 1}")
        painted = 1.0 - image_io.load_mask(layer, hw)
        mask = painted if mask is None else np.maximum(mask, painted)
    return mask if mask is not None and mask.max() > 0.02 else None


def pick_model(name: str | None, available: Sequence[str]) -> str:
    """The model a request names (None: the first, the main model), checked against the
    page's models."""
    if name is None:
        return available[0]
    name = validate.model(str(name))
    if name not in available:
        raise ConfigError(f"model {name!r} is not served here (available: "
                          f"{', '.join(available)})")
    return name


def run(params, request: Request, limits: Limits = Limits()) -> Result:
    """Stylize one request with ``params`` (the main or the lite model's tree)."""
    from adain_jax.inference import stylize

    size = limits.size(request.size)
    alpha = validate.alpha(request.alpha)
    mix = validate.alpha(request.mix)  # same rule: a number in [0, 1]
    content = load_upload(request.content, "content", size, limits)
    styles = [load_upload(request.style, "style", size, limits)]
    if request.style2:
        styles.append(load_upload(request.style2, "second style", size, limits))
    kwargs, how = {}, "one style"
    mask = brush_mask(request.mask_layers, content.shape[:2], limits)
    if len(styles) == 2 and mask is not None:
        kwargs["masks"] = np.stack([1.0 - mask, mask])
        how = "two styles, brushed regions"
    elif len(styles) == 2:
        kwargs["style_weights"] = [1.0 - mix, mix]
        how = f"two styles mixed {1 - mix:.2f}/{mix:.2f}"
    elif mask is not None:
        raise ConfigError("the brush marks where the second style goes: add a second style")
    start = time.perf_counter()
    out = stylize(params, content, styles if len(styles) > 1 else styles[0],
                            alpha=alpha, preserve_color=bool(request.preserve_color), **kwargs)
    out = np.asarray(out)  # waits for the computation
    seconds = time.perf_counter() - start
    h, w = out.shape[:2]
    colour = ", colours kept" if request.preserve_color else ""
    summary = f"{w}x{h} px, alpha {alpha:.2f}, {how}{colour}: {seconds:.2f} s"
    return Result(out, seconds, summary)
