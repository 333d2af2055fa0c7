"""Reader of Keras VGG-19 ``.h5`` files (Caffe weights; ``tables.KERAS_VGG``)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from adain_jax.errors import WeightsError, one_line
from adain_jax.nn.models import expected_shapes
from adain_jax.weights.tables import KERAS_IGNORED, KERAS_VGG, caffe_preprocess
from adain_jax.weights.tree import check_table_keys, check_tree, require_file


def read_keras_vgg(path: str | os.PathLike) -> dict:
    """Un-normalised VGG tree (Caffe preprocessing) from a Keras VGG-19 h5 file.

    Needs h5py, which only this reader uses (``pip install 'adain-jax[keras]'``)."""
    try:
        import h5py
    except ImportError:
        raise WeightsError(f"{path}: reading Keras .h5 weights needs h5py: "
                           "pip install 'adain-jax[keras]' (or h5py)") from None

    path = Path(path)
    require_file(path)
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            names = root.attrs.get("layer_names")
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in names] \
                if names is not None else list(root.keys())
            with_weights = []
            for n in names:
                if n in root and len(root[n].attrs.get("weight_names", [])) > 0:
                    with_weights.append(n)
            check_table_keys("Keras VGG-19", KERAS_VGG, KERAS_IGNORED, with_weights, str(path), "vgg")
            tree = {"preprocess": caffe_preprocess()}
            for ours, theirs in KERAS_VGG.items():
                g = root[theirs]
                wn = [w.decode() if isinstance(w, bytes) else str(w)
                      for w in g.attrs["weight_names"]]
                if len(wn) != 2:
                    raise WeightsError(f"{path}: layer {theirs} has {len(wn)} weights, expected 2")
                arrays = {}
                for attr, name in zip(("kernel", "bias"), wn):
                    ds = g[name]
                    want = tuple(expected_shapes("vgg")[f"{ours}/{attr}"])
                    # check before reading: a tiny file can declare a giant (unwritten) dataset
                    if not isinstance(ds, h5py.Dataset) or tuple(ds.shape) != want:
                        raise WeightsError(
                            f"{path}: {theirs}/{name} has shape "
                            f"{tuple(getattr(ds, 'shape', ()) or ())}, expected {want}")
                    arrays[attr] = np.asarray(ds, np.float32)
                tree[ours] = arrays
    except WeightsError:
        raise
    except MemoryError:
        raise WeightsError(f"{path}: out of memory reading the Keras h5 file") from None
    except Exception as e:  # untrusted bytes: h5py raises OSError, RuntimeError, KeyError, ...
        raise WeightsError(f"{path}: not a readable Keras VGG-19 h5 file ({one_line(e)})") from None
    return check_tree("vgg", tree, str(path))
