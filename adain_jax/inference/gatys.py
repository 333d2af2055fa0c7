"""Gatys et al. (2016) style transfer by optimising the pixels: a slow reference mode.

The objective uses the same normalised VGG and layers as AdaIN (``models.encode``):

    content_weight * MSE(relu4_1(x), relu4_1(content))
      + style_weight * sum_{relu1_1..relu4_1} MSE(Gram(x), Gram(style))      (``ops.gram_loss``)

with Gram matrices normalised by H*W*C (``ops.gram``). The image is optimised directly with Adam
(``optax.scale_by_adam``) and clipped to [0, 1] after every step (projected gradient descent), so
the result is always a valid image.

Style weight (``DEFAULT_STYLE_WEIGHT`` = 1e5): with the normalised VGG and Gram matrices
normalised by H*W*C, the Gram loss of the content image against a painting is about 1e-3 (e.g.
2.3e-3 for Tubingen x Starry Night at 256 px) while relu4_1 content MSEs of stylised images are of
order 1, so the weight has to be large. Chosen by eye on real pairs (Tubingen x Starry Night at
128 px and 256 px, 150 Adam steps, lr 0.02), among 1e3 / 1e4 / 1e5:

=========  ==================  ===============  ==============================================
weight     final content MSE   final Gram loss  look (256 px)
=========  ==================  ===============  ==============================================
1e3        0.10 (128 px)       7.4e-5           colours shift, little texture: barely stylised
1e4        0.43                2.8e-5           texture in the sky, buildings keep photo colours
1e5        1.42                7.3e-6           clearly painted (strokes, palette), layout kept
=========  ==================  ===============  ==============================================

1e5 is the default: the lowest of these weights whose result reads as a painting rather than a
filtered photo, while buildings and their outlines stay recognisable. It is a reference mode, so
a stronger style is the conservative choice for comparisons (it makes Gatys' style loss lower).

The single step is ``jax.jit``-compiled once per image shape; learning rate and weights are
traced arguments, so new values do not recompile. The loop over steps is plain Python so that a
progress callback (or a tqdm bar) can be driven.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from adain_jax import ops
from adain_jax.errors import ConfigError
from adain_jax.nn import models

Array = Any

DEFAULT_STYLE_WEIGHT = 1e5
DEFAULT_CONTENT_WEIGHT = 1.0
INITS = ("content", "noise", "mixed")

_TX = optax.scale_by_adam()
# Incremented whenever ``_step`` is traced (i.e. compiled); tests use it to check compile reuse.
TRACE_COUNT = {"step": 0}


def _terms(vgg, x, content_target, style_grams):
    feats = models.encode(vgg, x)
    c_loss = ops.mse(feats[-1], content_target)
    s_loss = sum(ops.mse(ops.gram(f), g) for f, g in zip(feats, style_grams, strict=True))
    return c_loss, s_loss


def _objective(x, vgg, content_target, style_grams, content_weight, style_weight):
    c_loss, s_loss = _terms(vgg, x, content_target, style_grams)
    return content_weight * c_loss + style_weight * s_loss, (c_loss, s_loss)


@jax.jit
def _targets(vgg, content, style):
    content_target = models.encode(vgg, content)[-1]
    style_grams = tuple(ops.gram(f) for f in models.encode(vgg, style))
    return content_target, style_grams


@jax.jit
def _step(vgg, x, opt_state, content_target, style_grams, lr, content_weight, style_weight):
    TRACE_COUNT["step"] += 1  # runs at trace time only
    (loss, (c_loss, s_loss)), grad = jax.value_and_grad(_objective, has_aux=True)(
        x, vgg, content_target, style_grams, content_weight, style_weight)
    updates, opt_state = _TX.update(grad, opt_state, x)
    x = jnp.clip(x - lr * updates, 0.0, 1.0)
    return x, opt_state, jnp.stack([loss, c_loss, s_loss])


def _as_image(img, what: str) -> jnp.ndarray:
    a = jnp.asarray(img, jnp.float32)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ConfigError(f"{what} must be an (H, W, 3) RGB image, got shape {tuple(a.shape)}")
    return a[None]


def objective(vgg_params, image, content, style, *, style_weight: float = DEFAULT_STYLE_WEIGHT,
              content_weight: float = DEFAULT_CONTENT_WEIGHT) -> dict[str, float]:
    """The Gatys objective of ``image`` (H, W, 3) for a content/style pair, as floats:
    ``{'total', 'content', 'style'}`` (``style`` is the unweighted Gram loss)."""
    x = _as_image(image, "image")
    ct, sg = _targets(vgg_params, _as_image(content, "content"), _as_image(style, "style"))
    total, (c, s) = _objective(x, vgg_params, ct, sg, content_weight, style_weight)
    return {"total": float(total), "content": float(c), "style": float(s)}


def gatys(vgg_params, content, style, *, steps: int = 300, lr: float = 0.02,
          style_weight: float = DEFAULT_STYLE_WEIGHT,
          content_weight: float = DEFAULT_CONTENT_WEIGHT, init: str = "content", seed: int = 0,
          progress: bool | Callable[[int, dict], None] | None = None) -> np.ndarray:
    """Stylize by optimising the pixels (Gatys et al. 2016) with Adam, clipped to [0, 1].

    Args:
      vgg_params: the normalised VGG tree (``params['vgg']``).
      content: (H, W, 3) float in [0, 1]; the result has its size.
      style: (H', W', 3) float in [0, 1]; any size (Gram matrices are size-normalised).
      steps: Adam steps. lr: Adam learning rate in pixel units.
      style_weight, content_weight: weights of the Gram and relu4_1 content terms.
      init: 'content' (start from the photo), 'noise' (uniform noise) or 'mixed'
        (half photo, half noise).
      progress: None, True (a tqdm bar on stderr) or a callable ``progress(step, losses)``
        called after every step with ``losses = {'total', 'content', 'style'}`` floats.
    Returns:
      (H, W, 3) float32 numpy array in [0, 1].
    """
    if init not in INITS:
        raise ConfigError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    steps = int(steps)
    if steps < 0:
        raise ConfigError(f"steps must be >= 0, got {steps}")
    c = _as_image(content, "content")
    s = _as_image(style, "style")
    content_target, style_grams = _targets(vgg_params, c, s)
    if init == "content":
        x = c
    else:
        noise = jax.random.uniform(jax.random.PRNGKey(seed), c.shape, jnp.float32)
        x = noise if init == "noise" else 0.5 * (c + noise)
    opt_state = _TX.init(x)
    lr_, cw, sw = jnp.float32(lr), jnp.float32(content_weight), jnp.float32(style_weight)

    bar = None
    callback = progress if callable(progress) else None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="gatys", unit="step", leave=False)
    try:
        for i in range(steps):
            x, opt_state, losses = _step(vgg_params, x, opt_state, content_target, style_grams,
                                         lr_, cw, sw)
            if callback is not None or bar is not None:
                total, cl, sl = (float(v) for v in np.asarray(losses))
                if callback is not None:
                    callback(i, {"total": total, "content": cl, "style": sl})
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{total:.4g}", refresh=False)
    finally:
        if bar is not None:
            bar.close()
    return np.asarray(x[0], dtype=np.float32)


__all__ = ["gatys", "objective", "DEFAULT_STYLE_WEIGHT", "DEFAULT_CONTENT_WEIGHT"]
