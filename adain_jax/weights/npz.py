"""Our own weight format: an uncompressed ``.npz`` with one float array per parameter.

Keys are the flattened tree paths joined by ``/``: ``vgg/preprocess/kernel`` (1,1,3,3),
``vgg/conv1_1/kernel`` (3,3,3,64, HWIO), ``vgg/conv1_1/bias`` (64,), ...,
``decoder/conv4_1/kernel`` (3,3,512,256), ... Arrays are float32 or float16 (always loaded as
float32). A file may hold the ``vgg`` part, the ``decoder`` part or both. Keys starting with
``__`` are metadata (``__format__`` = ``adain-jax-params-v1``) and are not parameters. Files are
read with ``np.load(allow_pickle=False)`` after every header was checked, and written atomically
(:func:`adain_jax.fs.atomic_write`).
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np

from adain_jax.errors import WeightsError, one_line
from adain_jax.weights.budget import DEFAULT_MAX_BYTES, MAX_ENTRIES, Budget, as_budget
from adain_jax.weights.tree import require_file, unflatten, write_weights

FORMAT_TAG = "adain-jax-params-v1"

#: Largest single array / whole file (decompressed) that ``load_tree`` agrees to read by
#: default (the total is the shared reader budget). The biggest real parameter is 4.7 MB and
#: a full VGG + decoder tree is ~30 MB in float32.
MAX_NPZ_ARRAY_BYTES = 64 << 20
MAX_NPZ_TOTAL_BYTES = DEFAULT_MAX_BYTES


def _check_npz_headers(path: Path, budget: Budget) -> None:
    """Check every member's .npy header before NumPy allocates anything: plain float arrays
    (metadata ``__*`` may be strings), sizes consistent with the archive, within the limits."""
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        if len(infos) > MAX_ENTRIES:
            raise WeightsError(f"{path}: more than {MAX_ENTRIES} members")
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise WeightsError(f"{path}: unexpected member {info.filename!r} in the archive")
            key = info.filename[:-4]
            with z.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                elif version in ((2, 0), (3, 0)):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise WeightsError(f"{path}: {key}: unsupported .npy version {version}")
                header_len = f.tell()
            if dtype.hasobject:
                raise WeightsError(f"{path}: {key} is an object array (pickled data is never "
                                   "loaded)")
            if dtype.kind != "f" and not (key.startswith("__") and dtype.kind in "US"):
                raise WeightsError(f"{path}: {key} has dtype {dtype}, not a float type")
            nbytes = dtype.itemsize
            for d in shape:
                nbytes *= int(d)
            limit = min(MAX_NPZ_ARRAY_BYTES, budget.limit)
            if nbytes > limit:
                raise WeightsError(f"{path}: {key} claims shape {tuple(shape)} ({nbytes} bytes), "
                                   f"more than the limit of {limit} bytes")
            if header_len + nbytes != info.file_size:
                raise WeightsError(f"{path}: {key} is truncated or corrupt (header says "
                                   f"{nbytes} bytes of data, the archive holds "
                                   f"{info.file_size - header_len})")
            budget.charge(nbytes, f"{path}: {key}")


def load_tree(path: str | os.PathLike, max_bytes: int | Budget | None = None) -> dict:
    """Our ``.npz`` format -> nested dict of float32 arrays (``{'vgg': ..., 'decoder': ...}``).

    Headers are checked before any array is allocated (see :data:`MAX_NPZ_ARRAY_BYTES`);
    nothing is unpickled.

    Args:
      path: the file.
      max_bytes: byte budget for all arrays together (default
        :data:`adain_jax.weights.budget.DEFAULT_MAX_BYTES`).
    """
    path = Path(path)
    require_file(path)
    try:
        _check_npz_headers(path, as_budget(max_bytes))
        with np.load(path, allow_pickle=False) as data:
            flat = {k: np.asarray(data[k]) for k in data.files if not k.startswith("__")}
        bad = sorted(k for k, v in flat.items() if v.dtype not in (np.float16, np.float32))
        if bad:
            raise WeightsError(f"{path}: parameters must be float16/float32, not: "
                               + ", ".join(f"{k} ({flat[k].dtype})" for k in bad))
        return unflatten({k: v.astype(np.float32) for k, v in flat.items()})
    except WeightsError as e:
        msg = one_line(e, 400)
        raise WeightsError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    except (MemoryError, RecursionError) as e:
        raise WeightsError(f"{path}: the .npz weight file is too large ({type(e).__name__})") \
            from None
    except Exception as e:  # untrusted bytes: zipfile, zlib, numpy header parsing, ...
        raise WeightsError(f"{path}: not a readable .npz weight file ({one_line(e)})") from None


def save_params(path: str | os.PathLike, tree: Mapping, dtype=np.float32,
                overwrite: bool = False) -> Path:
    """Write ``tree`` (any nesting, e.g. ``{'vgg': ...}``) to our ``.npz`` format, atomically."""
    def encode(flat):
        return lambda f: np.savez(f, **flat, __format__=np.asarray(FORMAT_TAG))

    return write_weights(path, tree, dtype, overwrite, encode)

