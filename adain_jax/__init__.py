"""adain-jax: arbitrary style transfer with Adaptive Instance Normalization, in JAX/Flax.

Sub-systems (each a subpackage): ``image_io`` (files <-> float32 arrays), ``nn`` (layers,
models, convolution backends), ``weights`` (formats and name tables), ``inference`` (stylize,
tiling, folders, Gatys), ``training`` (step, loop, data, checkpoints), ``cli`` (entry points).
The public API below is what most code needs.
"""
from adain_jax.nn.backends import xla_flags

xla_flags.configure()  # before jax initialises its CPU backend

from adain_jax import _aliases  # noqa: E402
from adain_jax.errors import AdainError, ConfigError, ImageError, WeightsError  # noqa: E402
from adain_jax.inference import StyleStats, style_stats, stylize, stylize_tiled  # noqa: E402
from adain_jax.nn import Decoder, Encoder, decode, encode, init_params  # noqa: E402
from adain_jax.ops import adain, channel_stats, content_loss, coral, style_loss  # noqa: E402

_aliases.install()
__version__ = "0.1.0"


def load_params(vgg=None, decoder=None) -> dict:
    """``{'vgg': ..., 'decoder': ...}`` from weight files (any supported format);
    None picks the shipped default of each."""
    from adain_jax.weights import load_decoder, load_vgg

    return {"vgg": load_vgg(vgg), "decoder": load_decoder(decoder)}


def load_default() -> dict:
    """The shipped normalised VGG-19 and trained decoder."""
    return load_params()


_LAZY = {  # heavier modules (orbax, optax, grain, h5py) load on first use
    "load_vgg": "weights", "load_decoder": "weights", "save_params": "weights",
    "fetch_vgg19_h5": "weights.fetch", "TrainConfig": "training", "train": "training",
    "gatys": "inference.gatys", "stylize_video": "video",
    "augment": "datasets.augment", "style_bank": "datasets.augment",
    "stylize_dataset": "datasets", "DatasetJob": "datasets",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"adain_jax.{_LAZY[name]}"), name)
    if f"adain_jax.{name}" in _aliases.OLD_MODULES:  # adain_jax.convert etc. as attributes
        import importlib

        return importlib.import_module(f"adain_jax.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AdainError", "ConfigError", "ImageError", "WeightsError", "Encoder", "Decoder", "encode",
    "decode", "init_params", "adain", "channel_stats", "content_loss", "style_loss", "coral",
    "StyleStats", "style_stats", "stylize", "stylize_tiled", "load_params", "load_default",
    "__version__", *_LAZY,
]
