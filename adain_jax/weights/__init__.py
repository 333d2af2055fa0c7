"""Weights: every supported file format mapped onto our parameter trees by explicit name tables.

Readers: our ``.npz`` (:mod:`.npz`), safetensors (:mod:`.safetensors_io`), Keras VGG-19 ``.h5`` (:mod:`.keras_h5`), PyTorch ``.pth``
through a restricted unpickler (:mod:`.torch_pickle`), Lua ``.t7`` (:mod:`.torch7`); name tables
and VGG normalisation in :mod:`.tables`, key/shape checks in :mod:`.tree`, format detection and
the ``load_vgg``/``load_decoder`` entry points in :mod:`.load`, the VGG-19 download in
:mod:`.fetch`. Every reader materialises at most :data:`DEFAULT_MAX_BYTES` (512 MiB) per read
unless the caller passes ``max_bytes=`` (:mod:`.budget`).
"""
from adain_jax.weights.budget import DEFAULT_MAX_BYTES, Budget
from adain_jax.weights.keras_h5 import read_keras_vgg
from adain_jax.weights.load import (LITE_MISSING, convert_keras_vgg, load_decoder, load_lite,
                                    load_vgg, parts_in, save_params, sniff_format)
from adain_jax.weights.npz import FORMAT_TAG, MAX_NPZ_ARRAY_BYTES, MAX_NPZ_TOTAL_BYTES, load_tree
from adain_jax.weights.safetensors_io import save as save_safetensors
from adain_jax.weights.tables import (AUTHORS_DECODER_PTH, AUTHORS_VGG_PTH,
                                      AUTHORS_VGG_PTH_IGNORED, CAFFE_MEAN_BGR, DECODER_NAMES,
                                      DEFAULT_DECODER, DEFAULT_LITE, DEFAULT_VGG, ENCODER_NAMES, IMAGENET_MEAN,
                                      IMAGENET_STD, KERAS_IGNORED, KERAS_VGG, NORMALISATION_JSON,
                                      T7_DECODER_ORDER, T7_VGG_ORDER, TORCHVISION_IGNORED,
                                      TORCHVISION_VGG, caffe_preprocess, imagenet_preprocess,
                                      load_normalisation, normalise_vgg)
from adain_jax.weights.tree import check_tree, flatten, unflatten

__all__ = [
    "load_vgg", "load_decoder", "load_lite", "LITE_MISSING", "load_tree", "save_params", "save_safetensors", "parts_in",
    "check_tree", "read_keras_vgg",
    "convert_keras_vgg", "normalise_vgg", "load_normalisation", "caffe_preprocess",
    "imagenet_preprocess", "sniff_format", "flatten", "unflatten", "FORMAT_TAG",
    "MAX_NPZ_ARRAY_BYTES", "MAX_NPZ_TOTAL_BYTES", "DEFAULT_VGG", "DEFAULT_DECODER", "DEFAULT_LITE",
    "NORMALISATION_JSON", "ENCODER_NAMES", "DECODER_NAMES", "KERAS_VGG", "KERAS_IGNORED",
    "CAFFE_MEAN_BGR", "AUTHORS_VGG_PTH", "AUTHORS_VGG_PTH_IGNORED", "AUTHORS_DECODER_PTH",
    "TORCHVISION_VGG", "TORCHVISION_IGNORED", "IMAGENET_MEAN", "IMAGENET_STD", "T7_VGG_ORDER",
    "T7_DECODER_ORDER", "DEFAULT_MAX_BYTES", "Budget",
]
