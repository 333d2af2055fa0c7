"""Read Lua Torch7 ``.t7`` files (``torch.save`` binary format) without Lua.

The format is a tagged stream (little-endian): an int32 type tag, then

* 0 nil; 1 number (float64); 5 boolean (int32); 2 string (int32 length + bytes);
* 3 table: int32 reference index (a repeated index refers to an object read before), int32
  entry count, then key/value objects;
* 4 torch object: int32 reference index, a version string ``"V <n>"`` (int32 length + bytes),
  the class name (int32 length + bytes), then either the tensor/storage payload or, for any other
  class (``nn.Sequential``, ``nn.SpatialConvolution``, ...), one object holding its fields;
* 6/7/8 Lua functions (bytecode + upvalues): read as opaque placeholders, never run.

Tensors: int32 nDimension, int64 sizes, int64 strides, int64 1-based storage offset, then the
storage object. Storages: int64 element count, then raw data. Nothing is ever executed: the reader
only builds dicts, lists and NumPy arrays.
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from adain_jax.errors import WeightsError, one_line
from adain_jax.weights.budget import MAX_DEPTH as MAX_WALK_DEPTH
from adain_jax.weights.budget import MAX_ENTRIES, Budget, as_budget
from adain_jax.weights.torch_pickle import tensor_from_storage

TYPE_NIL, TYPE_NUMBER, TYPE_STRING, TYPE_TABLE, TYPE_TORCH, TYPE_BOOLEAN = 0, 1, 2, 3, 4, 5
TYPE_FUNCTION, TYPE_LEGACY_RECUR_FUNCTION, TYPE_RECUR_FUNCTION = 6, 7, 8

_KINDS = {
    "Float": "<f4", "Double": "<f8", "Half": "<f2", "Long": "<i8", "Int": "<i4",
    "Short": "<i2", "Char": "i1", "Byte": "u1",
    "Cuda": "<f4", "CudaDouble": "<f8", "CudaHalf": "<f2", "CudaLong": "<i8", "CudaInt": "<i4",
    "CudaShort": "<i2", "CudaChar": "i1", "CudaByte": "u1",
}
TENSOR_DTYPES = {f"torch.{k}Tensor": np.dtype(v) for k, v in _KINDS.items()}
STORAGE_DTYPES = {f"torch.{k}Storage": np.dtype(v) for k, v in _KINDS.items()}
MAX_DEPTH = 200


class T7Object:
    """A torch class instance other than a tensor: its class name and fields."""

    def __init__(self, class_name: str, version: int):
        self.class_name = class_name
        self.version = version
        self.fields: Any = None

    def get(self, key, default=None):
        return self.fields.get(key, default) if isinstance(self.fields, dict) else default

    def __repr__(self) -> str:
        return f"<T7Object {self.class_name}>"


class LuaFunction:
    """Opaque placeholder for serialized Lua bytecode (never executed)."""


class _Reader:
    def __init__(self, data: bytes, budget: Budget):
        self.data = memoryview(data)
        self.pos = 0
        self.objects: dict[int, Any] = {}
        self.depth = 0
        self.budget = budget
        self.count = 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise WeightsError(f"truncated file (wanted {n} bytes at offset {self.pos})")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def int32(self) -> int:
        return struct.unpack("<i", self.take(4))[0]

    def int64(self) -> int:
        return struct.unpack("<q", self.take(8))[0]

    def string(self) -> str:
        n = self.int32()
        return bytes(self.take(n)).decode("latin1")

    def array(self, dtype: np.dtype, count: int) -> np.ndarray:
        if count < 0:
            raise WeightsError(f"negative element count {count}")
        raw = self.take(count * dtype.itemsize)
        self.budget.charge(count * dtype.itemsize, f"a storage of {count} elements")
        return np.frombuffer(raw, dtype=dtype, count=count).astype(dtype.newbyteorder("="))

    def read(self) -> Any:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise WeightsError("objects nested too deeply")
        self.count += 1
        if self.count > MAX_ENTRIES:
            raise WeightsError(f"more than {MAX_ENTRIES} objects")
        try:
            return self._read()
        finally:
            self.depth -= 1

    def _read(self) -> Any:
        tag = self.int32()
        if tag == TYPE_NIL:
            return None
        if tag == TYPE_NUMBER:
            value = struct.unpack("<d", self.take(8))[0]
            return int(value) if value.is_integer() and abs(value) < 2 ** 53 else value
        if tag == TYPE_BOOLEAN:
            return self.int32() == 1
        if tag == TYPE_STRING:
            return self.string()
        if tag == TYPE_FUNCTION:
            self.take(self.int32())  # bytecode
            self.read()  # upvalues
            return LuaFunction()
        if tag not in (TYPE_TABLE, TYPE_TORCH, TYPE_RECUR_FUNCTION, TYPE_LEGACY_RECUR_FUNCTION):
            raise WeightsError(f"unknown type tag {tag} at offset {self.pos - 4}")
        index = self.int32()
        if index in self.objects:
            return self.objects[index]
        if tag in (TYPE_RECUR_FUNCTION, TYPE_LEGACY_RECUR_FUNCTION):
            fn = self.objects[index] = LuaFunction()
            self.take(self.int32())
            self.read()
            return fn
        if tag == TYPE_TABLE:
            table: dict = {}
            self.objects[index] = table
            n = self.int32()
            if n < 0 or n > len(self.data):
                raise WeightsError(f"invalid table size {n}")
            for _ in range(n):
                key = self.read()
                value = self.read()
                try:
                    table[key] = value
                except TypeError:
                    raise WeightsError("unsupported table key type") from None
            return table
        version_str = self.string()
        if version_str.startswith("V "):
            try:
                version = int(version_str[2:])
            except ValueError:
                raise WeightsError(f"bad version string {version_str!r}") from None
            class_name = self.string()
        else:
            version, class_name = 0, version_str
        if class_name in STORAGE_DTYPES:
            count = self.int64()
            arr = self.array(STORAGE_DTYPES[class_name], count)
            self.objects[index] = arr
            return arr
        if class_name in TENSOR_DTYPES:
            return self._tensor(index, class_name)
        obj = T7Object(class_name, version)
        self.objects[index] = obj
        obj.fields = self.read()
        return obj

    def _tensor(self, index: int, class_name: str) -> np.ndarray:
        ndim = self.int32()
        if ndim < 0 or ndim > 64:
            raise WeightsError(f"invalid tensor dimension {ndim}")
        size = [self.int64() for _ in range(ndim)]
        stride = [self.int64() for _ in range(ndim)]
        offset = self.int64() - 1
        storage = self.read()
        dtype = TENSOR_DTYPES[class_name]
        if ndim == 0 or storage is None:
            arr = np.zeros((0,), dtype)
        else:
            if not isinstance(storage, np.ndarray):
                raise WeightsError(f"{class_name} without a storage")
            if len(size) > 64 or ndim * 8 > len(self.data):
                raise WeightsError(f"invalid tensor dimension {ndim}")
            if 0 in size and offset >= 0 and all(s >= 0 for s in size + stride):
                arr = np.zeros(size, dtype)
            else:
                arr = tensor_from_storage(storage, offset, size, stride, self.budget)
        self.objects[index] = arr
        return arr


def read_t7(path, max_bytes: int | Budget | None = None) -> Any:
    """Deserialize a ``.t7`` file: tables become dicts, tensors NumPy arrays, other torch
    classes :class:`T7Object` (``class_name``, ``fields``).

    Args:
      path: the file.
      max_bytes: byte budget for the file, its storages and tensor copies (default
        :data:`adain_jax.weights.budget.DEFAULT_MAX_BYTES`).
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weight file not found: {path}")
    budget = as_budget(max_bytes)
    try:
        size = path.stat().st_size
        budget.charge(size, "the file")
        with open(path, "rb") as f:
            data = f.read(size)
    except OSError as e:
        raise WeightsError(f"cannot read {path}: {e.strerror or e}") from None
    except WeightsError as e:
        raise WeightsError(f"{path}: {one_line(e)}") from None
    reader = _Reader(data, budget)
    try:
        return reader.read()
    except WeightsError as e:
        raise WeightsError(f"{path}: not a readable Torch7 file ({one_line(e)})") from None
    except (MemoryError, RecursionError) as e:
        raise WeightsError(f"{path}: the Torch7 file is too large or too deeply nested "
                           f"({type(e).__name__})") from None
    except Exception as e:  # untrusted bytes: struct, numpy, unhashable keys, ...
        raise WeightsError(f"{path}: not a readable Torch7 file "
                           f"({one_line(e, with_type=True)})") from None


class ConvLayer(NamedTuple):
    class_name: str
    weight: np.ndarray  # (out, in, kh, kw)
    bias: np.ndarray | None


def _conv(obj: T7Object, path) -> ConvLayer:
    weight = obj.get("weight")
    bias = obj.get("bias")
    if not isinstance(weight, np.ndarray):
        raise WeightsError(f"{path}: {obj.class_name} without a weight tensor")
    if weight.ndim == 2:  # SpatialConvolutionMM: (out, in*kh*kw)
        n_in, kh, kw = obj.get("nInputPlane"), obj.get("kH"), obj.get("kW")
        if not all(isinstance(v, int) for v in (n_in, kh, kw)) or \
                weight.shape[1] != n_in * kh * kw:
            raise WeightsError(f"{path}: {obj.class_name} weight {weight.shape} does not match "
                               f"nInputPlane={n_in} kH={kh} kW={kw}")
        weight = weight.reshape(weight.shape[0], n_in, kh, kw)
    if weight.ndim != 4:
        raise WeightsError(f"{path}: {obj.class_name} weight has shape {weight.shape}")
    if bias is not None and not isinstance(bias, np.ndarray):
        bias = None
    return ConvLayer(obj.class_name, weight, bias)


def conv_layers(path, max_bytes: int | Budget | None = None) -> list[ConvLayer]:
    """Convolution layers (any class whose name contains 'Convolution'), in order, found by
    walking containers' ``modules`` lists depth-first from the saved object (iteratively,
    each object once, at most ``budget.MAX_DEPTH`` levels and ``MAX_ENTRIES`` objects).

    Args:
      path: the ``.t7`` file.
      max_bytes: byte budget, as for :func:`read_t7`.
    """
    root = read_t7(path, max_bytes)
    found: list[ConvLayer] = []
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(root, 0)]
    try:
        while stack:
            obj, depth = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if len(seen) > MAX_ENTRIES:
                raise WeightsError(f"more than {MAX_ENTRIES} objects")
            if depth > MAX_WALK_DEPTH:
                raise WeightsError(f"modules nested deeper than {MAX_WALK_DEPTH} levels")
            if isinstance(obj, T7Object):
                if "Convolution" in obj.class_name:
                    found.append(_conv(obj, path))
                else:
                    stack.append((obj.get("modules"), depth + 1))
            elif isinstance(obj, dict):
                keys = [k for k in obj if isinstance(k, int)]
                if keys:  # a Lua array: 1..n, pushed in reverse so 1 is visited first
                    stack.extend((obj[k], depth + 1) for k in sorted(keys, reverse=True))
                elif "modules" in obj:
                    stack.append((obj["modules"], depth + 1))
    except WeightsError as e:
        msg = one_line(e, 400)
        raise WeightsError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    except Exception as e:  # reshapes of hostile geometry, ...
        raise WeightsError(f"{path}: malformed Torch7 model "
                           f"({one_line(e, with_type=True)})") from None
    if not found:
        raise WeightsError(f"{path}: no convolution layers found")
    return found


__all__ = ["read_t7", "conv_layers", "ConvLayer", "T7Object"]
