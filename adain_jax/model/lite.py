"""The lite model's registry entry (``nn.lite``): its own small encoder and decoder in one
weights file, a tree ``{'lite_encoder', 'decoder'}`` whose shapes give its ``LiteConfig``."""
from __future__ import annotations

from adain_jax.model import registry
from adain_jax.nn import lite as net

NAME = "lite"


def _load(vgg=None, decoder=None) -> dict:
    """The one lite file (``decoder``, or ``vgg`` when only that is given; None: shipped)."""
    from adain_jax.weights import load_lite

    return load_lite(decoder if decoder is not None else vgg)


def _check(params, where: str = "") -> dict:
    import jax

    from adain_jax.weights.tree import check_shapes

    fresh = jax.eval_shape(lambda: net.init_params(jax.random.PRNGKey(0), net.config_of(params)))
    return {part: check_shapes(part, params[part], fresh[part], where)
            for part in (net.ENCODER_KEY, "decoder")}


def _init(rng, config: net.LiteConfig = net.LiteConfig()) -> dict:
    return net.init_params(rng, config)


def _features(params, rgb, dtype=None, backend=None):
    return net.encode(params[net.ENCODER_KEY], rgb, dtype, backend)[-1]


def _decode(params, feat, dtype=None, backend=None):
    return net.decode(params["decoder"], feat, net.config_of(params), dtype, backend)


MODEL = registry.register(registry.Model(
    name=NAME, encoder_key=net.ENCODER_KEY, init=_init, load=_load, check=_check,
    features=_features, decode=_decode, channels=lambda params: net.config_of(params).channels,
    shipped=net.shipped_part, export_file="lite.npz", encoder_file=False,
    label="Lite (fast)", trains_encoder=True, net=net))
