"""The main model's registry entry: the normalised VGG-19 to relu4_1 (``nn.models.Encoder``,
from a weights file of its own) and the AdaIN decoder, a tree ``{'vgg', 'decoder'}``."""
from __future__ import annotations

from adain_jax.model import registry
from adain_jax.nn import models

NAME = "adain"


def _load(vgg=None, decoder=None) -> dict:
    """``{'vgg', 'decoder'}`` from weight files (None: the shipped ones). One file alone
    (``vgg`` given, ``decoder`` not) that holds a decoder is a (user-trained) decoder file,
    with the shipped VGG unless it holds the VGG too."""
    from adain_jax.weights import load_decoder, load_vgg
    from adain_jax.weights.load import parts_in

    if vgg is not None and decoder is None:
        parts = parts_in(vgg)
        if parts is not None and "decoder" in parts:
            return {"vgg": load_vgg(vgg if "vgg" in parts else None), "decoder": load_decoder(vgg)}
    return {"vgg": load_vgg(vgg), "decoder": load_decoder(decoder)}


def _check(params, where: str = "") -> dict:
    from adain_jax.weights.tree import check_tree

    return {part: check_tree(part, params[part], where) for part in ("vgg", "decoder")}


def _init(rng) -> dict:
    return models.init_params(rng)


def _features(params, rgb, dtype=None, backend=None):
    return models.encode(params["vgg"], rgb, dtype, backend)[-1]


def _decode(params, feat, dtype=None, backend=None):
    return models.decode(params["decoder"], feat, dtype, backend)


MODEL = registry.register(registry.Model(
    name=NAME, encoder_key="vgg", init=_init, load=_load, check=_check, features=_features,
    decode=_decode, channels=lambda params: models.ENCODER_LAYERS[-1][1],
    shipped=lambda trained: {"decoder": trained}, export_file="decoder.npz",
    encoder_file=True, label="AdaIN (best quality)", trains_encoder=False, net=models))
