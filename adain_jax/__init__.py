"""adain-jax: arbitrary style transfer with Adaptive Instance Normalization, in JAX/Flax.

The public surface is the names below (``__all__``); everything else lives in the
sub-systems, each a subpackage whose own ``__all__`` is its public API: ``image_io`` (files <->
float32 arrays), ``nn`` (layers, models, convolution backends), ``weights`` (formats and name
tables), ``inference`` (stylize, tiling, folders, Gatys), ``training`` (step, loop, data,
checkpoints), ``video``, ``export`` (ONNX, StableHLO), ``demo`` (gradio page), ``datasets``
(whole datasets, augmentation), ``cli`` (entry points). A module or name that no ``__all__``
lists is internal and may change without notice.

Importing the package is light (jax, flax and PIL): weight readers, training (orbax, optax,
grain), video (PyAV) and datasets load on first use of their names. It changes no
process-wide setting: the XLA:CPU flag that helps on jaxlib 0.10.x is set by the command-line
tools, or by calling ``adain_jax.nn.backends.xla_flags.configure()`` before jax starts its
backends.
"""
# Errors every caller may catch.
from adain_jax.errors import AdainError, ConfigError, ImageError, WeightsError
# Stylizing: arrays in, arrays out.
from adain_jax.inference import StyleStats, style_stats, stylize, stylize_tiled
from adain_jax.inference.validate import MODELS
from adain_jax.model import registry as _model
# The networks and the pure ops, for training and research code.
from adain_jax.nn import Decoder, Encoder, decode, encode, init_params
from adain_jax.ops import adain, channel_stats, content_loss, coral, style_loss

__version__ = "0.1.0"


def load_params(vgg=None, decoder=None, model: str = "adain") -> dict:
    """The params tree of ``model`` (a registered name, ``MODELS``) from weight files (any
    supported format), None for the shipped ones: ``{'vgg': ..., 'decoder': ...}`` for the
    main model; a model whose encoder is in its own file (the lite model's ``{'lite_encoder':
    ..., 'decoder': ...}``) reads that one file (``decoder``, or ``vgg`` when only that is given).

    Args:
      vgg: the VGG file, or None for the shipped one. Called with one file only
        (``load_params("my_decoder.safetensors")``), that file is a decoder (e.g. one
        trained with ``adain-train``), or a file holding both parts, and the shipped VGG
        fills in a missing VGG.
      decoder: the decoder file, or None for the shipped one.
    Returns:
      The parameter tree that ``stylize`` takes.
    """
    from adain_jax.inference import validate

    validate.model(model, vgg if decoder is not None else None)
    return _model.get(model).load(vgg, decoder)


def load_default(model: str = "adain") -> dict:
    """The shipped weights of ``model``: ``'adain'`` (normalised VGG-19 and trained decoder),
    or another of ``MODELS`` (e.g. the fast model: its encoder and decoder,
    ``docs/LITE_MODEL_CARD.md``)."""
    return load_params(model=model)


_LAZY = {  # name -> the module (under adain_jax) that defines it, imported on first use
    # weights: reading and writing parameter files (h5py, safetensors)
    "load_vgg": "weights", "load_decoder": "weights", "save_params": "weights",
    "save_safetensors": "weights", "fetch_vgg19_h5": "weights.fetch",
    # training (orbax, optax, grain)
    "TrainConfig": "training", "train": "training",
    # other ways to stylize: pixel optimisation, video (PyAV), datasets, augmentation
    "gatys": "inference.gatys", "stylize_video": "video",
    "augment": "datasets.augment", "style_bank": "datasets.augment",
    "stylize_dataset": "datasets", "DatasetJob": "datasets",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"adain_jax.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "AdainError", "ConfigError", "ImageError", "WeightsError",
    "StyleStats", "style_stats", "stylize", "stylize_tiled", "MODELS",
    "load_params", "load_default",
    "Encoder", "Decoder", "encode", "decode", "init_params",
    "adain", "channel_stats", "content_loss", "style_loss", "coral",
    "__version__", *_LAZY,
]
