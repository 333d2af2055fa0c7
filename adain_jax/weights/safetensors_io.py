"""Weights in the safetensors format (read and written; no pickle, no code).

Two key layouts are read: ours, the flattened tree paths joined by ``/`` as in the ``.npz``
format (``decoder/conv4_1/kernel`` (3,3,512,256) HWIO, ``vgg/...``; metadata
``format`` = ``adain-jax-params-v1``), and a PyTorch state dict saved with
``safetensors.torch.save_file`` (``0.weight`` / ``features.0.weight`` OIHW keys), which
:mod:`adain_jax.weights.load` maps through the same name tables as ``.pth`` files. Arrays are
float16 or float32 (loaded as float32). The 8-byte header length and the JSON header are checked
(size limits, dtypes, offsets) before any tensor is read; files are written atomically.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Mapping

import numpy as np


from adain_jax.errors import WeightsError, one_line
from adain_jax.weights.npz import FORMAT_TAG, MAX_NPZ_ARRAY_BYTES, MAX_NPZ_TOTAL_BYTES
from adain_jax.weights.tree import require_file, unflatten, write_weights

SUFFIX = ".safetensors"
#: Largest JSON header read (a full VGG + decoder header is a few KB).
MAX_HEADER_BYTES = 1 << 20
DTYPES = {"F16": np.dtype("<f2"), "F32": np.dtype("<f4")}  # little-endian by the spec


def looks_like(head: bytes, file_size: int) -> bool:
    """Whether the first bytes of a file (at least 9) are a safetensors header."""
    if len(head) < 9 or head[8:9] != b"{":
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= min(MAX_HEADER_BYTES, file_size - 8)


def read_header(path: str | os.PathLike) -> dict:
    """The JSON header, checked: every tensor float16/float32 with offsets that tile the data
    exactly, within the size limits. Returns ``{name: (dtype, shape, start, end)}`` plus
    ``'__metadata__'``."""
    path = Path(path)
    require_file(path)
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise WeightsError(f"{path}: truncated safetensors file")
            (n,) = struct.unpack("<Q", head)
            if not 2 <= n <= min(MAX_HEADER_BYTES, size - 8):
                raise WeightsError(f"{path}: not a safetensors file (header length {n})")
            header = json.loads(f.read(n).decode("utf-8"))
    except WeightsError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise WeightsError(f"{path}: not a readable safetensors file ({one_line(e)})") from None
    if not isinstance(header, dict):
        raise WeightsError(f"{path}: safetensors header is not a JSON object")
    data_size = size - 8 - n
    out: dict = {"__metadata__": header.pop("__metadata__", None) or {}}
    spans = []
    for name, info in header.items():
        try:
            dtype, shape, (start, end) = info["dtype"], info["shape"], info["data_offsets"]
            shape = tuple(int(d) for d in shape)
            start, end = int(start), int(end)
        except (KeyError, TypeError, ValueError):
            raise WeightsError(f"{path}: bad safetensors entry for {name!r}") from None
        if dtype not in DTYPES:
            raise WeightsError(f"{path}: {name} has dtype {dtype}, not F16/F32")
        nbytes = DTYPES[dtype].itemsize * int(np.prod(shape, dtype=np.int64))
        if min(shape, default=0) < 0 or nbytes > MAX_NPZ_ARRAY_BYTES:
            raise WeightsError(f"{path}: {name} claims shape {shape}, more than the limit of "
                               f"{MAX_NPZ_ARRAY_BYTES} bytes")
        if not 0 <= start <= end <= data_size or end - start != nbytes:
            raise WeightsError(f"{path}: {name} is truncated or corrupt (offsets {start}..{end}, "
                               f"{nbytes} bytes expected, {data_size} in the file)")
        spans.append((start, end))
        out[name] = (DTYPES[dtype], shape, start, end)
    if data_size > MAX_NPZ_TOTAL_BYTES:
        raise WeightsError(f"{path}: more than {MAX_NPZ_TOTAL_BYTES} bytes of tensors")
    spans.sort()
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:])):
        raise WeightsError(f"{path}: overlapping tensors in the safetensors file")
    return out


def load_flat(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``{key: float32 array}`` of every tensor in the file, after :func:`read_header`."""
    path = Path(path)
    header = read_header(path)
    header.pop("__metadata__")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise WeightsError(f"cannot read {path}: {e.strerror or e}") from None
    (n,) = struct.unpack("<Q", raw[:8])
    data = memoryview(raw)[8 + n:]
    return {name: np.frombuffer(data[start:end], dtype).reshape(shape).astype(np.float32)
            for name, (dtype, shape, start, end) in header.items()}


def is_tree_layout(keys) -> bool:
    """Our layout (``part/layer/kernel``) rather than a PyTorch state dict."""
    keys = list(keys)
    return bool(keys) and all(k.count("/") >= 2 for k in keys)


def parts(path: str | os.PathLike) -> set[str] | None:
    """Top-level parts (``vgg``, ``decoder``) of a file in our layout; None for a state dict."""
    keys = [k for k in read_header(path) if k != "__metadata__"]
    return {k.split("/", 1)[0] for k in keys} if is_tree_layout(keys) else None


def load_tree(path: str | os.PathLike) -> dict:
    """A file in our layout -> nested dict of float32 arrays (``{'vgg': ..., 'decoder': ...}``)."""
    flat = load_flat(path)
    if not is_tree_layout(flat):
        raise WeightsError(f"{path}: not in adain-jax's layout (keys like 'decoder/conv4_1/"
                           "kernel')")
    return unflatten(flat)


def save(path: str | os.PathLike, tree: Mapping, dtype=np.float32,
         overwrite: bool = False) -> Path:
    """Write ``tree`` (e.g. ``{'decoder': ...}``) as safetensors in our layout, atomically."""
    from safetensors.numpy import save as to_bytes

    return write_weights(path, tree, dtype, overwrite,
                         lambda flat: to_bytes(flat, metadata={"format": FORMAT_TAG}))
