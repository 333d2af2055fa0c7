"""Parameter trees: flattening, and the key/shape checks every reader ends with."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from adain_jax import fs
from adain_jax.errors import WeightsError
from adain_jax.nn.models import expected_shapes


def _fmt_shape(s) -> str:
    return "(" + ",".join(str(int(d)) for d in s) + ")"


def unflatten(flat: Mapping[str, np.ndarray]) -> dict:
    """``{'a/b': x}`` -> ``{'a': {'b': x}}``.

    Raises:
      WeightsError: a key is also a path prefix of another (``decoder`` and ``decoder/a``),
        or has an empty part.
    """
    tree: dict = {}
    for key, value in flat.items():
        node = tree
        parts = key.split("/")
        if not all(parts):
            raise WeightsError(f"parameter key {key[:80]!r} has an empty part")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise WeightsError(f"parameter key {key[:80]!r} clashes with the array "
                                   f"stored under its prefix {p!r}")
        if parts[-1] in node:
            raise WeightsError(f"parameter key {key[:80]!r} clashes with a group of that name")
        node[parts[-1]] = value
    return tree


def flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "/"))
        else:
            out[key] = v
    return out


def _key_problems(missing, extra, mismatched=()) -> str:
    """'missing: a, b; unexpected: c; wrong shape: ...' ('' when there is nothing to say)."""
    bits = [f"{what}: " + ", ".join(keys) for what, keys in
            (("missing", missing), ("unexpected", extra), ("wrong shape", mismatched)) if keys]
    return "; ".join(bits)


def check_tree(part: str, tree: Mapping, source: str = "") -> dict:
    """Check ``tree`` against ``models.expected_shapes(part)``; return it as float32 numpy.

    Raises one ``WeightsError`` listing missing, extra and mismatched keys (with shapes)."""
    return _check_flat(part, tree, expected_shapes(part), source)


def check_shapes(part: str, tree: Mapping, fresh: Mapping, source: str = "") -> dict:
    """As :func:`check_tree`, against the shapes of a fresh tree ``fresh`` (arrays or
    ``jax.ShapeDtypeStruct``s) of another model (e.g. ``nn.lite``)."""
    return _check_flat(part, tree, {k: tuple(v.shape) for k, v in flatten(fresh).items()},
                       source)


def _check_flat(part: str, tree: Mapping, expected: Mapping, source: str) -> dict:
    flat = flatten(tree)
    missing = sorted(k for k in expected if k not in flat)
    extra = sorted(k for k in flat if k not in expected)
    mismatched = sorted(
        f"{k} {_fmt_shape(np.shape(flat[k]))} != expected {_fmt_shape(expected[k])}"
        for k in expected if k in flat and tuple(np.shape(flat[k])) != tuple(expected[k]))
    where = f"{source}: " if source else ""
    if missing or extra or mismatched:
        raise WeightsError(f"{where}{part} weights do not fit the model "
                           f"({_key_problems(missing, extra, mismatched)})")
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in flat.items()}
    bad = sorted(k for k, a in arrays.items() if not np.isfinite(a).all())
    if bad:  # a model with NaN/Inf weights writes black or NaN images without complaint
        raise WeightsError(f"{where}{part} weights hold NaN or infinite values (in "
                           f"{', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''})")
    return unflatten(arrays)


def check_table_keys(name: str, table: Mapping[str, str], ignored: Iterable[str],
                present: Iterable[str], source: str, part: str) -> None:
    """Raise if source layers in ``table`` are missing or unknown layers are present."""
    present = set(present)
    missing = sorted(v for v in table.values() if v not in present)
    known = set(table.values()) | set(ignored)
    extra = sorted(p for p in present if p not in known)
    if missing or extra:
        raise WeightsError(f"{source}: not a complete {name} {part} file "
                           f"({_key_problems(missing, extra)})")


def oihw_to_hwio(w: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 4:
        return w  # the shape check reports it
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))


def from_torch_layers(weights: Mapping[str, np.ndarray], table: Mapping[str, str]) -> dict:
    tree = {}
    for ours, theirs in table.items():
        tree[ours] = {"kernel": oihw_to_hwio(weights[f"{theirs}.weight"]),
                      "bias": np.asarray(weights[f"{theirs}.bias"], dtype=np.float32)}
    return tree


def _natural(key: str):
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in key.split(".")]


def check_torch_keys(weights: Mapping, table: Mapping[str, str], ignored: Iterable[str],
                      source: str, name: str, part: str) -> None:
    expected = {f"{v}.{a}" for v in table.values() for a in ("weight", "bias")}
    ignored = set(ignored)
    missing = sorted(expected - set(weights), key=_natural)
    extra = sorted((k for k in weights if k not in expected
                    and k.rpartition(".")[0] not in ignored), key=_natural)
    if missing or extra:
        raise WeightsError(f"{source}: keys do not match the {name} {part} state dict "
                           f"({_key_problems(missing, extra)})")


def require_file(path: Path) -> None:
    if not path.exists():
        raise WeightsError(f"weight file not found: {path}")
    if not path.is_file():
        raise WeightsError(f"not a file: {path}")


def write_weights(path: str | os.PathLike, tree: Mapping, dtype, overwrite: bool,
                  encode: Callable[[dict], bytes | Callable]) -> Path:
    """What every weight writer shares: float16/float32 only, no silent overwrite, the tree
    flattened to contiguous arrays, ``encode(flat)`` (bytes, or a function writing to a file)
    written atomically, and one-line errors."""
    path = Path(path)
    dtype = np.dtype(dtype)
    if dtype not in (np.float16, np.float32):
        raise WeightsError(f"can only save float16 or float32 weights, not {dtype}")
    if path.exists() and not overwrite:
        raise WeightsError(f"{path} exists (pass overwrite / --overwrite to replace it)")
    flat = {k: np.ascontiguousarray(np.asarray(v).astype(dtype)) for k, v in flatten(tree).items()}
    try:
        fs.atomic_write(path, encode(flat))
    except OSError as e:  # disk full, read-only, permissions, ...
        raise WeightsError(f"{path}: could not write weights ({e.strerror or e}); "
                           "nothing was written") from None
    return path
