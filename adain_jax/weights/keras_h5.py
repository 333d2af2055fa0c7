"""Reader of Keras VGG-19 ``.h5`` files (Caffe weights; ``tables.KERAS_VGG``).

Only plain HDF5 content is followed: every group and dataset on the way must be reached
through a hard link inside the file (soft and external links are refused without being
resolved), and a dataset must be an ordinary float dataset with the model's shape, stored
inside the file (external raw storage and virtual datasets are refused, so a file cannot
make the reader load another local file's bytes or block on a FIFO), compressed, if at all,
with HDF5's built-in filters only (no dynamically loaded filter plugins).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from adain_jax.errors import WeightsError, one_line
from adain_jax.nn.models import expected_shapes
from adain_jax.weights.budget import MAX_ENTRIES, Budget, as_budget, kind
from adain_jax.weights.tables import KERAS_IGNORED, KERAS_VGG, caffe_preprocess
from adain_jax.weights.tree import check_table_keys, check_tree, require_file

#: HDF5 filters a dataset may use: deflate, shuffle, fletcher32, scale-offset, n-bit.
BUILTIN_FILTERS = frozenset({1, 2, 3, 5, 6})


def _hard(group, name: str, h5py):
    """``group[name]`` following hard links only (each path component checked first);
    None if a component is missing."""
    node = group
    for part in name.split("/"):
        if not part:
            continue
        link = node.get(part, getlink=True)
        if link is None:
            return None
        if not isinstance(link, h5py.HardLink):
            raise WeightsError(f"{node.name.rstrip('/')}/{part} is a {kind(link)}; only objects "
                               "stored in the file itself are read")
        node = node[part]
    return node


def _checked_dataset(ds, where: str, want: tuple, h5py) -> None:
    """Refuse anything but an in-file float dataset of shape ``want`` (checked before reading:
    a tiny file can declare a giant, unwritten dataset)."""
    if not isinstance(ds, h5py.Dataset) or tuple(ds.shape) != want:
        raise WeightsError(f"{where} has shape {tuple(getattr(ds, 'shape', ()) or ())}, "
                           f"expected {want}")
    if ds.dtype.kind != "f":
        raise WeightsError(f"{where} has dtype {ds.dtype}, not a float type")
    if ds.is_virtual:
        raise WeightsError(f"{where} is a virtual dataset (it maps other files); refused")
    dcpl = ds.id.get_create_plist()
    if dcpl.get_external_count() > 0:
        raise WeightsError(f"{where} keeps its data in an external file; refused")
    for i in range(dcpl.get_nfilters()):
        code = dcpl.get_filter(i)[0]
        if code not in BUILTIN_FILTERS:
            raise WeightsError(f"{where} uses HDF5 filter {code}, not a built-in one; refused")


def read_keras_vgg(path: str | os.PathLike, max_bytes: int | Budget | None = None) -> dict:
    """Un-normalised VGG tree (Caffe preprocessing) from a Keras VGG-19 h5 file (needs h5py,
    which only this reader uses: ``pip install 'adain-jax[keras]'``).

    Args:
      path: the file.
      max_bytes: byte budget for the datasets read (default
        :data:`adain_jax.weights.budget.DEFAULT_MAX_BYTES`).
    """
    try:
        import h5py
    except ImportError:
        raise WeightsError(f"{path}: reading Keras .h5 weights needs h5py: "
                           "pip install 'adain-jax[keras]' (or h5py)") from None

    path = Path(path)
    require_file(path)
    budget = as_budget(max_bytes)
    try:
        with h5py.File(path, "r") as f:
            root = _hard(f, "model_weights", h5py) or f
            names = root.attrs.get("layer_names")
            if names is not None and np.size(names) > MAX_ENTRIES:
                raise WeightsError(f"more than {MAX_ENTRIES} layer names")
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in names] \
                if names is not None else list(root.keys())
            with_weights = []
            for n in names:
                g = _hard(root, n, h5py)
                if g is not None and len(g.attrs.get("weight_names", [])) > 0:
                    with_weights.append(n)
            check_table_keys("Keras VGG-19", KERAS_VGG, KERAS_IGNORED, with_weights, str(path), "vgg")
            tree = {"preprocess": caffe_preprocess()}
            for ours, theirs in KERAS_VGG.items():
                g = _hard(root, theirs, h5py)
                wn = [w.decode() if isinstance(w, bytes) else str(w)
                      for w in g.attrs["weight_names"]]
                if len(wn) != 2:
                    raise WeightsError(f"layer {theirs} has {len(wn)} weights, expected 2")
                arrays = {}
                for attr, name in zip(("kernel", "bias"), wn):
                    want = tuple(expected_shapes("vgg")[f"{ours}/{attr}"])
                    ds = _hard(g, name, h5py)
                    _checked_dataset(ds, f"{theirs}/{name}", want, h5py)
                    budget.charge(int(np.prod(want)) * 4, f"{theirs}/{name}")
                    arrays[attr] = np.asarray(ds, np.float32)
                tree[ours] = arrays
    except WeightsError as e:
        msg = one_line(e, 400)
        raise WeightsError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    except (MemoryError, RecursionError) as e:
        raise WeightsError(f"{path}: the Keras h5 file is too large ({type(e).__name__})") from None
    except Exception as e:  # untrusted bytes: h5py raises OSError, RuntimeError, KeyError, ...
        raise WeightsError(f"{path}: not a readable Keras VGG-19 h5 file ({one_line(e)})") from None
    return check_tree("vgg", tree, str(path))
