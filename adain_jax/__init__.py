"""adain-jax: arbitrary style transfer with Adaptive Instance Normalization, in JAX/Flax."""
from . import _xla

_xla.configure()  # before jax initialises its CPU backend

from .errors import AdainError, ConfigError, ImageError, WeightsError  # noqa: E402
from .models import Decoder, Encoder, decode, encode, init_params  # noqa: E402
from .ops import adain, channel_stats, content_loss, coral, style_loss  # noqa: E402
from .tiling import stylize_tiled  # noqa: E402
from .transfer import StyleStats, style_stats, stylize  # noqa: E402

__version__ = "0.1.0"


def load_params(vgg=None, decoder=None) -> dict:
    """``{'vgg': ..., 'decoder': ...}`` from weight files (any supported format);
    None picks the shipped default of each."""
    from .convert import load_decoder, load_vgg

    return {"vgg": load_vgg(vgg), "decoder": load_decoder(decoder)}


def load_default() -> dict:
    """The shipped normalised VGG-19 and trained decoder."""
    return load_params()


_LAZY = {  # heavier modules (orbax, optax, grain, h5py) load on first use
    "load_vgg": "convert", "load_decoder": "convert", "save_params": "convert",
    "fetch_vgg19_h5": "fetch", "TrainConfig": "training", "train": "training",
    "gatys": "optimize",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AdainError", "ConfigError", "ImageError", "WeightsError", "Encoder", "Decoder", "encode",
    "decode", "init_params", "adain", "channel_stats", "content_loss", "style_loss", "coral",
    "StyleStats", "style_stats", "stylize", "stylize_tiled", "load_params", "load_default", "__version__",
    *_LAZY,
]
