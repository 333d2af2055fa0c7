"""Read PyTorch ``.pth`` files without torch and without executing code.

``torch.load`` unpickles arbitrary objects, so a malicious file can run code. Here a restricted
:class:`pickle.Unpickler` resolves only the handful of globals that rebuilding tensors needs
(``torch._utils._rebuild_tensor_v2``, ``_rebuild_parameter``, ``collections.OrderedDict``, the
``torch.*Storage`` types, ...) to harmless stand-ins that build NumPy arrays; any other global
raises :class:`~adain_jax.errors.WeightsError` before anything is called.

Both container formats are read:

* zip (torch >= 1.6 default): ``<name>/data.pkl`` with persistent ids
  ``('storage', storage_type, key, location, numel)`` and raw little-endian storages in
  ``<name>/data/<key>``;
* legacy (``_use_new_zipfile_serialization=False``): pickled magic number, protocol version and
  sys info, the pickled object, the sorted storage key list, then per storage an int64 element
  count followed by the raw data.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from adain_jax.errors import WeightsError, one_line

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


def _bf16():
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16)


_STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2",
    "BFloat16Storage": "bfloat16", "LongStorage": "<i8", "IntStorage": "<i4",
    "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
    "UntypedStorage": "u1",
}


class _StorageType:
    """Stand-in for ``torch.FloatStorage`` & co.: only carries the NumPy dtype."""

    def __init__(self, name: str):
        self.name = name
        spec = _STORAGE_DTYPES[name]
        self.dtype = _bf16() if spec == "bfloat16" else np.dtype(spec)

    def __repr__(self) -> str:
        return f"<storage type {self.name}>"


class _Marker:
    """Stand-in for a type that only appears as an argument (``torch.Tensor``, ``Parameter``)."""

    def __init__(self, name: str):
        self.name = name


def tensor_from_storage(storage, offset, size, stride) -> np.ndarray:
    """A checked copy of the strided view ``storage[offset:]`` (``size``, ``stride`` in
    elements): the geometry must stay inside the storage, and overlapping views (stride 0)
    may not claim more elements than it holds. Shared by the .pth and .t7 readers."""
    if not isinstance(storage, np.ndarray):
        raise WeightsError(f"tensor storage is {type(storage).__name__}, not a storage")
    size = tuple(int(s) for s in size)
    stride = tuple(int(s) for s in stride)
    offset = int(offset)
    if len(size) != len(stride) or offset < 0 or any(s < 0 for s in size + stride):
        raise WeightsError(f"invalid tensor geometry size={size} stride={stride}")
    if 0 in size:
        return np.zeros(size, storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.size:
        raise WeightsError(f"tensor (size {size}, offset {offset}) exceeds its storage "
                           f"of {storage.size} elements")
    numel = 1
    for n in size:
        numel *= n
    if numel > storage.size:  # only overlapping (e.g. stride 0) views can: a copy could be huge
        raise WeightsError(f"tensor of size {size} (stride {stride}) has more elements than its "
                           f"storage of {storage.size}; overlapping views are not supported")
    item = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size,
                                           strides=tuple(s * item for s in stride),
                                           writeable=False)
    return np.array(view, copy=True)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    return tensor_from_storage(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *unused):
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    if func not in (_rebuild_tensor, _rebuild_parameter):
        raise WeightsError("unsupported tensor reconstruction")
    return func(*args)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Tensor"): _Marker("Tensor"),
    ("torch.nn.parameter", "Parameter"): _Marker("Parameter"),
    ("_codecs", "encode"): lambda s, enc="latin1": str(s).encode(enc),  # protocol-2 bytes
}
_ALLOWED.update({("torch", name): _StorageType(name) for name in _STORAGE_DTYPES})


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can only rebuild tensors (as NumPy arrays) and plain containers."""

    def __init__(self, file, storage_loader=None):
        super().__init__(file, encoding="utf-8")
        self._storage_loader = storage_loader
        self._storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str):
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise WeightsError(
                f"refusing to load '{module}.{name}': only tensors and plain containers can be "
                "read safely (a pickled model object or code is not supported; save a "
                "state_dict instead)")
        return obj

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise WeightsError(f"unsupported persistent id {str(pid)[:60]!r}")
        storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
        if len(pid) > 5 and pid[5] is not None:
            raise WeightsError("storage views from very old torch versions are not supported")
        if not isinstance(storage_type, _StorageType):
            raise WeightsError("persistent id without a storage type")
        if key not in self._storages:
            if self._storage_loader is None:
                raise WeightsError("storage reference outside a PyTorch file")
            self._storages[key] = self._storage_loader(key, storage_type.dtype, numel)
        return self._storages[key]


def _load_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if not pkl:
            raise WeightsError(f"{path}: zip archive without data.pkl (not a PyTorch file)")
        prefix = pkl[0][: -len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = z.read(prefix + "byteorder").decode().strip()

        def load_storage(key: str, dtype: np.dtype, numel: int) -> np.ndarray:
            name = f"{prefix}data/{key}"
            if name not in names:
                raise WeightsError(f"storage {key} is missing from the archive")
            raw = z.read(name)
            dt = dtype.newbyteorder(">" if byteorder == "big" else "<") \
                if dtype.itemsize > 1 and dtype.kind in "fiu" and dtype.name != "bfloat16" else dtype
            if len(raw) < numel * dtype.itemsize:
                raise WeightsError(f"storage {key} is truncated ({len(raw)} bytes for "
                                   f"{numel} x {dtype})")
            arr = np.frombuffer(raw, dtype=dt, count=numel)
            return arr.astype(dtype.newbyteorder("=")) if dt != dtype else arr

        with z.open(pkl[0]) as f:
            return RestrictedUnpickler(io.BytesIO(f.read()), load_storage).load()


def _load_legacy(path: Path) -> Any:
    with open(path, "rb") as f:
        data = f.read()
    buf = io.BytesIO(data)
    magic = RestrictedUnpickler(buf).load()
    if magic != LEGACY_MAGIC:
        raise WeightsError(f"{path}: not a PyTorch file (bad magic number)")
    protocol = RestrictedUnpickler(buf).load()
    if protocol != LEGACY_PROTOCOL:
        raise WeightsError(f"{path}: unsupported PyTorch legacy protocol {protocol!r}")
    sys_info = RestrictedUnpickler(buf).load()
    little = bool(sys_info.get("little_endian", True)) if isinstance(sys_info, dict) else True
    long_size = 8  # storages start with an int64 element count (whatever sys_info says)

    # Storages follow the object, so read it twice: first to learn the storages' dtypes and
    # sizes (with empty stand-ins), then, once their offsets are known, for real.
    pending: dict[str, tuple[np.dtype, int]] = {}

    def declare(key: str, dtype: np.dtype, numel: int) -> np.ndarray:
        if numel < 0 or numel * dtype.itemsize > len(data):
            raise WeightsError(f"storage {key} claims {numel} elements, more than the file holds")
        pending[key] = (dtype, numel)
        return np.zeros(numel, dtype)

    obj_start = buf.tell()
    RestrictedUnpickler(buf, declare).load()
    keys = RestrictedUnpickler(buf).load()
    if not isinstance(keys, list):
        raise WeightsError(f"{path}: malformed storage key list")
    pos = buf.tell()
    located: dict[str, np.ndarray] = {}
    for key in keys:
        key = str(key)
        if key not in pending:
            raise WeightsError(f"{path}: unreferenced storage {key}")
        dtype, numel = pending[key]
        if pos + long_size > len(data):
            raise WeightsError(f"{path}: file is truncated (storage {key})")
        count = int.from_bytes(data[pos:pos + long_size], "little" if little else "big",
                               signed=True)
        pos += long_size
        nbytes = count * dtype.itemsize
        if count != numel or pos + nbytes > len(data):
            raise WeightsError(f"{path}: file is truncated or corrupt (storage {key})")
        dt = dtype if little or dtype.itemsize == 1 else dtype.newbyteorder(">")
        located[key] = np.frombuffer(data, dt, count=count, offset=pos).astype(dtype)
        pos += nbytes
    missing = sorted(set(pending) - set(located))
    if missing:
        raise WeightsError(f"{path}: storages missing from the file: {', '.join(missing)}")
    buf.seek(obj_start)
    obj = RestrictedUnpickler(buf, lambda key, dtype, numel: located[key]).load()
    return obj


def load_object(path) -> Any:
    """Unpickle a ``.pth`` file safely: tensors become NumPy arrays, containers stay dicts/lists."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weight file not found: {path}")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
        if head.startswith(b"PK\x03\x04"):
            return _load_zip(path)
        if head[:1] == b"\x80":
            return _load_legacy(path)
        raise WeightsError(f"{path}: not a PyTorch .pth file")
    except WeightsError as e:
        msg = str(e)
        raise WeightsError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    except MemoryError:
        raise WeightsError(f"{path}: out of memory reading the PyTorch file") from None
    except Exception as e:  # untrusted bytes: pickle, zipfile, zlib, struct, numpy, ...
        raise WeightsError(f"{path}: corrupt or truncated PyTorch file ({one_line(e, with_type=True)})") \
            from None


def _flatten(obj: Any, prefix: str, out: dict) -> None:
    if isinstance(obj, np.ndarray):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)


def load_pth(path) -> dict[str, np.ndarray]:
    """Flat ``name -> array`` from a ``.pth`` state dict (a top-level ``state_dict``/``model``
    entry is unwrapped; nested dicts are joined with '.'; non-tensor entries are dropped)."""
    obj = load_object(path)
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    out: dict[str, np.ndarray] = {}
    _flatten(obj, "", out)
    if not out:
        raise WeightsError(f"{path}: state dict holds no tensors")
    return out


__all__ = ["load_pth", "load_object", "RestrictedUnpickler"]
