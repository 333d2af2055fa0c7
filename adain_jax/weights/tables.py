"""Explicit name tables from every supported weight format to our parameter tree, and the VGG's
input preprocessing and normalisation constants."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

import numpy as np

from adain_jax.errors import WeightsError
from adain_jax.nn.models import DECODER_LAYERS, ENCODER_LAYERS

ASSETS = Path(__file__).resolve().parents[1] / "assets"
DEFAULT_VGG = ASSETS / "vgg_normalised.npz"
DEFAULT_DECODER = ASSETS / "decoder.npz"
DEFAULT_LITE = ASSETS / "lite.npz"
NORMALISATION_JSON = ASSETS / "vgg_normalisation.json"

ENCODER_NAMES = tuple(n for n, _ in ENCODER_LAYERS)
DECODER_NAMES = tuple(n for n, _ in DECODER_LAYERS)

# --- name tables -----------------------------------------------------------------------------
# Keras VGG-19: our layer -> h5 layer group. Later layers are known and unused.
KERAS_VGG = {
    "conv1_1": "block1_conv1", "conv1_2": "block1_conv2",
    "conv2_1": "block2_conv1", "conv2_2": "block2_conv2",
    "conv3_1": "block3_conv1", "conv3_2": "block3_conv2",
    "conv3_3": "block3_conv3", "conv3_4": "block3_conv4",
    "conv4_1": "block4_conv1",
}
KERAS_IGNORED = ("block4_conv2", "block4_conv3", "block4_conv4",
                 "block5_conv1", "block5_conv2", "block5_conv3", "block5_conv4")
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

# Authors' PyTorch port (net.py): nn.Sequential indices of the convolutions.
AUTHORS_VGG_PTH = {
    "preprocess": "0", "conv1_1": "2", "conv1_2": "5", "conv2_1": "9", "conv2_2": "12",
    "conv3_1": "16", "conv3_2": "19", "conv3_3": "22", "conv3_4": "25", "conv4_1": "29",
}
AUTHORS_VGG_PTH_IGNORED = ("32", "35", "38", "42", "45", "48", "51")  # conv4_2 .. conv5_4
AUTHORS_DECODER_PTH = {
    "conv4_1": "1", "conv3_4": "5", "conv3_3": "8", "conv3_2": "11", "conv3_1": "14",
    "conv2_2": "18", "conv2_1": "21", "conv1_2": "25", "conv1_1": "28",
}

# torchvision vgg19: features.N
TORCHVISION_VGG = {
    "conv1_1": "features.0", "conv1_2": "features.2", "conv2_1": "features.5",
    "conv2_2": "features.7", "conv3_1": "features.10", "conv3_2": "features.12",
    "conv3_3": "features.14", "conv3_4": "features.16", "conv4_1": "features.19",
}
TORCHVISION_IGNORED = tuple(f"features.{i}" for i in (21, 23, 25, 28, 30, 32, 34)) + tuple(
    f"classifier.{i}" for i in (0, 3, 6))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Lua .t7: convolution layers in file order.
T7_VGG_ORDER = ("preprocess",) + ENCODER_NAMES  # further convs (conv4_2 .. conv5_4) ignored
T7_DECODER_ORDER = DECODER_NAMES


def caffe_preprocess() -> dict:
    """1x1 conv: RGB in [0, 1] -> BGR * 255 - Caffe mean (as the Keras/Caffe VGG expects)."""
    kernel = np.zeros((1, 1, 3, 3), np.float32)
    for rgb_in in range(3):
        kernel[0, 0, rgb_in, 2 - rgb_in] = 255.0
    bias = -np.asarray(CAFFE_MEAN_BGR, np.float32)
    return {"kernel": kernel, "bias": bias}


def imagenet_preprocess() -> dict:
    """1x1 conv: RGB in [0, 1] -> (x - mean) / std (torchvision convention)."""
    std = np.asarray(IMAGENET_STD, np.float32)
    mean = np.asarray(IMAGENET_MEAN, np.float32)
    kernel = np.diag(1.0 / std).astype(np.float32).reshape(1, 1, 3, 3)
    return {"kernel": kernel, "bias": (-mean / std).astype(np.float32)}


def load_normalisation(path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Per-layer per-channel mean activations of the un-normalised VGG (layer -> (C,))."""
    path = Path(path) if path is not None else NORMALISATION_JSON
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise WeightsError(f"cannot read VGG normalisation constants {path}: {e}") from None
    means = data.get("means", data)
    try:
        return {name: np.asarray(means[name], np.float64) for name in ENCODER_NAMES}
    except KeyError as e:
        raise WeightsError(f"{path}: no normalisation constants for layer {e}") from None


def normalise_vgg(vgg: Mapping, means: Mapping[str, np.ndarray]) -> dict:
    """Rescale every channel so its mean activation (given by ``means``) becomes 1.

    W'_l[..., i, o] = W_l[..., i, o] * m_{l-1}[i] / m_l[o], b'_l = b_l / m_l, m_0 = 1; channels
    with m <= 1e-8 (dead on the image set) keep scale 1."""
    out = {"preprocess": {k: np.asarray(v, np.float32) for k, v in vgg["preprocess"].items()}}
    prev = np.ones(3, np.float64)
    for name in ENCODER_NAMES:
        m = np.asarray(means[name], np.float64)
        m = np.where(m > 1e-8, m, 1.0)
        k = np.asarray(vgg[name]["kernel"], np.float64)
        b = np.asarray(vgg[name]["bias"], np.float64)
        if m.shape != (k.shape[-1],) or prev.shape != (k.shape[-2],):
            raise WeightsError(f"normalisation constants for {name} have {m.shape[0]} channels, "
                               f"the layer has {k.shape[-1]}")
        out[name] = {"kernel": (k * prev[:, None] / m[None, :]).astype(np.float32),
                     "bias": (b / m).astype(np.float32)}
        prev = m
    return out

