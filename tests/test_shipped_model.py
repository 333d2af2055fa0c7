"""The shipped weights: they load, and the decoder really stylizes the shipped demo images."""
import numpy as np
import pytest

import adain_jax
from adain_jax import image_io, ops, weights
from adain_jax.nn import models
from conftest import REPO

pytestmark = pytest.mark.skipif(not weights.DEFAULT_DECODER.exists(), reason="no shipped decoder")


@pytest.fixture(scope="module")
def params():
    return adain_jax.load_default()


def test_shipped_trees_have_the_model_shapes(params):
    for part in ("vgg", "decoder"):
        assert models.param_shapes(params[part]) == models.expected_shapes(part)
        assert all(np.isfinite(np.asarray(x)).all() for x in
                   __import__("jax").tree.leaves(params[part]))


def test_decoder_moves_statistics_towards_the_style(params):
    content = image_io.load_image(REPO / "examples/content/chelsea.jpg", size=128, crop=True)
    style = image_io.load_image(REPO / "examples/style/swirls.jpg", size=128, crop=True)
    out = np.asarray(adain_jax.stylize(params, content, style))
    feats = lambda x: models.encode(params["vgg"], x[None])  # noqa: E731
    f_out, f_style, f_content = feats(out), feats(style), feats(content)
    style_before = float(ops.style_loss(f_content, f_style))
    style_after = float(ops.style_loss(f_out, f_style))
    assert style_after < 0.5 * style_before, (style_after, style_before)
    # and it keeps the content's layout: closer to the content than to the style
    assert float(ops.content_loss(f_out[-1], f_content[-1])) < float(
        ops.content_loss(f_out[-1], models.encode(params["vgg"], np.flip(content, 0)[None])[-1]))
    # alpha = 0 reconstructs the content reasonably (the decoder inverts the encoder)
    recon = np.asarray(adain_jax.stylize(params, content, style, alpha=0.0))
    assert np.abs(recon - content).mean() < 0.2
