"""Neural networks: parameter-free layers (:mod:`.layers`), the linen VGG-19 encoder and AdaIN
decoder (:mod:`.models`), the small fast pair (:mod:`.lite`), and the convolution backends
(:mod:`.backends`: XLA, oneDNN). Which of them a params tree holds is
:func:`adain_jax.model.of`."""
from adain_jax.nn.layers import DOWNSCALE
from adain_jax.nn.models import (DECODER_LAYERS, ENCODER_LAYERS, FEATURE_LAYERS, Decoder,
                                 Encoder, decode, encode, expected_shapes, init_decoder,
                                 init_params, param_shapes)

__all__ = ["DOWNSCALE", "ENCODER_LAYERS", "DECODER_LAYERS", "FEATURE_LAYERS", "Encoder",
           "Decoder", "encode", "decode", "init_params", "init_decoder", "expected_shapes",
           "param_shapes"]
