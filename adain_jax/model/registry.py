"""The models a params tree can hold, one :class:`Model` entry each, and the one place that
tells which model a tree holds (:func:`of`).

A model is named (``names()`` are the choices every entry point offers), builds, loads and
checks its params, and runs its encoder (to the features AdaIN works on) and its decoder; the
AdaIN forward pass around them (statistics, transfer, blend, crop) is model-independent
(:mod:`adain_jax.model.forward`). A tree is recognised by its encoder's key
(``Model.encoder_key``), which is static under jit, so each model compiles its own functions
and no caller passes a model name. Adding a model is one module that calls :func:`register`.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

from adain_jax.errors import ConfigError

Array = Any


@dataclasses.dataclass(frozen=True)
class Model:
    """One model.

    Attributes:
      name: what users pass (``model=``, ``--model``).
      encoder_key: the params-tree key of the encoder's part; a tree holding it is this
        model's (the decoder's part is ``'decoder'`` for every model).
      init: ``init(rng) -> params``, random weights of the inference tree.
      load: ``load(encoder_file, decoder_file) -> params``; None loads the shipped weights.
      check: ``check(params, where) -> params``: keys and shapes, a ``WeightsError`` if wrong.
      features: ``features(params, rgb, dtype, backend) -> feat``: the AdaIN features
        (N, ceil(H/8), ceil(W/8), C) of NHWC RGB in [0, 1]; ``params`` may be the whole tree or
        only its encoder's part.
      decode: ``decode(params, feat, dtype, backend) -> rgb``: 8x the features' size, not clipped.
      channels: ``channels(params) -> C`` of the features (and the style statistics).
      shipped: ``shipped(trained) -> tree``: what a training run exports from its trained tree.
      export_file: the file name a training run exports to.
      encoder_file: whether the encoder comes from a file of its own (the VGG); False when the
        encoder is part of the model's one weights file.
      label: a short human description (the demo's model choice).
      trains_encoder: whether the trained tree holds the encoder (tells trained trees apart:
        a model that trains its decoder only has the decoder alone as its trained tree).
      net: the module of the model's networks (layer tables for writers such as ONNX).
    """

    name: str
    encoder_key: str
    init: Callable[..., dict]
    load: Callable[..., dict]
    check: Callable[..., dict]
    features: Callable[..., Array]
    decode: Callable[..., Array]
    channels: Callable[[Any], int]
    shipped: Callable[[Any], dict]
    export_file: str
    encoder_file: bool = False
    label: str = ""
    trains_encoder: bool = True
    net: Any = None

    def encoder_part(self, params) -> dict:
        """The encoder's part of a whole tree, keyed as in the tree: enough for ``features``."""
        return {self.encoder_key: params[self.encoder_key]}


_MODELS: dict[str, Model] = {}


def register(model: Model) -> Model:
    """Adds (or replaces) ``model``; the first registered is the default (:func:`default`)."""
    for other in _MODELS.values():
        if other.name != model.name and other.encoder_key == model.encoder_key:
            raise ValueError(f"models {other.name!r} and {model.name!r} share the encoder key "
                             f"{model.encoder_key!r}")
    _MODELS[model.name] = model
    return model


def unregister(name: str) -> None:
    """Removes a model (tests that register toy models)."""
    _MODELS.pop(name, None)


def names() -> tuple[str, ...]:
    """The registered model names, the default first."""
    return tuple(_MODELS)


def default() -> Model:
    return next(iter(_MODELS.values()))


def get(name: str) -> Model:
    """The model called ``name``; a ``ConfigError`` naming the choices otherwise."""
    try:
        return _MODELS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"model must be one of {', '.join(_MODELS)}, not {name!r}") from None


def find(params) -> Model | None:
    """The model whose tree (or encoder part) ``params`` is, or None."""
    if hasattr(params, "keys"):
        for m in _MODELS.values():
            if m.encoder_key in params:
                return m
    return None


def of(params) -> Model:
    """The model whose tree (or encoder part) ``params`` is: the one place that tells.

    Raises:
      ConfigError: no registered model's encoder is in the tree.
    """
    m = find(params)
    if m is None:
        have = ", ".join(sorted(map(str, params))) if hasattr(params, "keys") else type(params).__name__
        raise ConfigError(f"params hold none of the models {', '.join(_MODELS)} "
                          f"(encoder keys {', '.join(x.encoder_key for x in _MODELS.values())}; "
                          f"got {have})")
    return m


def whole_file_model(tree) -> str | None:
    """The name of the model whose one weights file (its encoder included) ``tree`` is, or
    None (a main-model part file, or anything else)."""
    m = find(tree)
    return m.name if m is not None and not m.encoder_file else None


def of_trained(trained) -> Model:
    """The model of a *trained* tree (what a training run updates): the one holding its
    encoder's key among the models that train their encoder, else the model that trains its
    decoder alone."""
    for m in _MODELS.values():
        if m.trains_encoder and hasattr(trained, "keys") and m.encoder_key in trained:
            return m
    for m in _MODELS.values():
        if not m.trains_encoder:
            return m
    raise ConfigError("no registered model trains its decoder alone")


__all__ = ["Model", "register", "unregister", "names", "default", "get",
           "find", "of", "of_trained", "whole_file_model"]
