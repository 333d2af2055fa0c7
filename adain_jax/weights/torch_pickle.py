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
from adain_jax.weights.budget import Budget, as_budget, kind, walk_dicts

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


class _Frozen:
    """Base of the stand-ins: no instance dict and no ``BUILD``/``setattr`` (a pickle that
    tries to modify an allowed global fails instead of changing it)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        object.__setattr__(self, "name", name)

    def __setattr__(self, key, value):
        raise WeightsError(f"refusing to modify {self.name} (BUILD on an allowed global)")

    def __setstate__(self, state):
        raise WeightsError(f"refusing to modify {self.name} (BUILD on an allowed global)")

    def __repr__(self) -> str:
        return f"<{self.name}>"


class _StorageType(_Frozen):
    """Stand-in for ``torch.FloatStorage`` & co.: only carries the NumPy dtype."""

    __slots__ = ("dtype",)

    def __init__(self, name: str):
        super().__init__(name)
        spec = _STORAGE_DTYPES[name]
        object.__setattr__(self, "dtype", _bf16() if spec == "bfloat16" else np.dtype(spec))


class _Marker(_Frozen):
    """Stand-in for a type that only appears as an argument (``torch.Tensor``, ``Parameter``)."""

    __slots__ = ()


class _Function(_Frozen):
    """An allowed callable, bound to one unpickler's byte budget."""

    __slots__ = ("fn", "budget")

    def __init__(self, name: str, fn, budget: Budget | None):
        super().__init__(name)
        object.__setattr__(self, "fn", fn)
        object.__setattr__(self, "budget", budget)

    def __call__(self, *args):
        return self.fn(self.budget, *args)


MAX_NDIM = 64


def tensor_from_storage(storage, offset, size, stride, budget: Budget | None = None) -> np.ndarray:
    """A checked copy of the strided view ``storage[offset:]`` (``size``, ``stride`` in
    elements): the geometry must stay inside the storage, overlapping views (stride 0) may
    not claim more elements than it holds, and the copy is charged to ``budget``. Shared by
    the .pth and .t7 readers."""
    if not isinstance(storage, np.ndarray):
        raise WeightsError(f"tensor storage is {kind(storage)}, not a storage")
    if not isinstance(size, (tuple, list)) or not isinstance(stride, (tuple, list)) \
            or len(size) > MAX_NDIM or len(stride) > MAX_NDIM:
        raise WeightsError(f"invalid tensor geometry (size {kind(size)}, stride {kind(stride)})")
    if not all(isinstance(v, (int, np.integer)) for v in (*size, *stride, offset)):
        raise WeightsError("tensor geometry must be integers")
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
    if budget is not None:
        budget.charge(numel * item, f"a tensor of size {size}")
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size,
                                           strides=tuple(s * item for s in stride),
                                           writeable=False)
    return np.array(view, copy=True)


class _DryRun:
    """What a tensor becomes while the legacy reader only learns the storages' sizes."""


def _rebuild_tensor(budget, storage, storage_offset, size, stride, *unused):
    if storage is _DRY_STORAGE:
        return _DryRun()
    return tensor_from_storage(storage, storage_offset, size, stride, budget)


def _rebuild_parameter(budget, data, *unused):
    return data


def _rebuild_from_type_v2(budget, func, new_type, args, state=None):
    if not (isinstance(func, _Function) and func.fn in (_rebuild_tensor, _rebuild_parameter)) \
            or not isinstance(args, tuple):
        raise WeightsError("unsupported tensor reconstruction")
    return func(*args)


def _ordered_dict(budget, *args):
    if args:
        raise WeightsError("OrderedDict with constructor arguments is not supported")
    return OrderedDict()


def _encode(budget, s, enc="latin1"):
    """``_codecs.encode`` as protocol-2 pickles use it for bytes: a str, latin-1."""
    if not isinstance(s, str) or not isinstance(enc, str) or \
            enc.lower().replace("_", "-") not in ("latin1", "latin-1"):
        raise WeightsError(f"_codecs.encode of {kind(s)} ({kind(enc)}) is not supported")
    if budget is not None:
        budget.charge(len(s), "an encoded byte string")
    return s.encode("latin1")


_FUNCTIONS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("_codecs", "encode"): _encode,  # protocol-2 bytes
}
_MARKERS = {("torch", "Tensor"): "Tensor", ("torch.nn.parameter", "Parameter"): "Parameter"}
_DRY_STORAGE = np.zeros(0, np.uint8)  # the legacy reader's first pass: sizes only


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can only rebuild tensors (as NumPy arrays) and plain containers."""

    def __init__(self, file, storage_loader=None, budget: Budget | None = None):
        super().__init__(file, encoding="utf-8")
        self._storage_loader = storage_loader
        self._storages: dict[str, np.ndarray] = {}
        self._budget = budget

    def find_class(self, module: str, name: str):
        # Fresh stand-ins for every unpickler: nothing one file does can affect another load.
        if (module, name) in _FUNCTIONS:
            return _Function(f"{module}.{name}", _FUNCTIONS[(module, name)], self._budget)
        if (module, name) in _MARKERS:
            return _Marker(_MARKERS[(module, name)])
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise WeightsError(
            f"refusing to load '{module}.{name}': only tensors and plain containers can be "
            "read safely (a pickled model object or code is not supported; save a "
            "state_dict instead)")

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise WeightsError(f"unsupported persistent id ({kind(pid)})")
        storage_type, key, numel = pid[1], pid[2], pid[4]
        if not isinstance(key, (str, int)) or isinstance(numel, bool) or \
                not isinstance(numel, int) or numel < 0:
            raise WeightsError(f"malformed storage reference (key {kind(key)}, size {kind(numel)})")
        key = str(key)
        if len(pid) > 5 and pid[5] is not None:
            raise WeightsError("storage views from very old torch versions are not supported")
        if not isinstance(storage_type, _StorageType):
            raise WeightsError("persistent id without a storage type")
        if key not in self._storages:
            if self._storage_loader is None:
                raise WeightsError("storage reference outside a PyTorch file")
            self._storages[key] = self._storage_loader(key, storage_type.dtype, numel)
        return self._storages[key]


def _read_member(z: zipfile.ZipFile, name: str, nbytes: int, budget: Budget) -> bytes:
    """At most ``nbytes`` of a member (charged first): its declared size is never trusted."""
    budget.charge(nbytes, f"archive member {name!r}")
    with z.open(name) as f:
        return f.read(nbytes)


def _load_zip(path: Path, budget: Budget) -> Any:
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        pkl = sorted(n for n in names if n.endswith("data.pkl") and n.count("/") == 1)
        if not pkl:
            raise WeightsError(f"{path}: zip archive without data.pkl (not a PyTorch file)")
        prefix = pkl[0][: -len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = _read_member(z, prefix + "byteorder", 16, budget).decode().strip()

        def load_storage(key: str, dtype: np.dtype, numel: int) -> np.ndarray:
            name = f"{prefix}data/{key}"
            if name not in names:
                raise WeightsError(f"storage {key} is missing from the archive")
            raw = _read_member(z, name, numel * dtype.itemsize, budget)
            dt = dtype.newbyteorder(">" if byteorder == "big" else "<") \
                if dtype.itemsize > 1 and dtype.kind in "fiu" and dtype.name != "bfloat16" else dtype
            if len(raw) < numel * dtype.itemsize:
                raise WeightsError(f"storage {key} is truncated ({len(raw)} bytes for "
                                   f"{numel} x {dtype})")
            arr = np.frombuffer(raw, dtype=dt, count=numel)
            return arr.astype(dtype.newbyteorder("=")) if dt != dtype else arr

        size = z.getinfo(pkl[0]).file_size
        data = _read_member(z, pkl[0], size, budget)
        return RestrictedUnpickler(io.BytesIO(data), load_storage, budget).load()


def _load_legacy(path: Path, budget: Budget) -> Any:
    size = path.stat().st_size
    budget.charge(size, "the file")
    with open(path, "rb") as f:
        data = f.read(size)
    buf = io.BytesIO(data)
    magic = RestrictedUnpickler(buf).load()
    if not isinstance(magic, int) or magic != LEGACY_MAGIC:
        raise WeightsError(f"{path}: not a PyTorch file (bad magic number)")
    protocol = RestrictedUnpickler(buf).load()
    if not isinstance(protocol, int) or protocol != LEGACY_PROTOCOL:
        raise WeightsError(f"{path}: unsupported PyTorch legacy protocol ({kind(protocol)})")
    sys_info = RestrictedUnpickler(buf).load()
    little = bool(sys_info.get("little_endian", True)) if isinstance(sys_info, dict) else True
    long_size = 8  # storages start with an int64 element count (whatever sys_info says)

    # Storages follow the object, so read it twice: first only to learn the storages' dtypes
    # and sizes (tensors are not built), then, once their offsets are known, for real.
    pending: dict[str, tuple[np.dtype, int]] = {}

    def declare(key: str, dtype: np.dtype, numel: int) -> np.ndarray:
        total = numel * dtype.itemsize + sum(d.itemsize * n for d, n in pending.values())
        if total > len(data):
            raise WeightsError(f"storage {key} claims {numel} elements, more than the file holds")
        pending[key] = (dtype, numel)
        return _DRY_STORAGE

    obj_start = buf.tell()
    RestrictedUnpickler(buf, declare, budget).load()
    keys = RestrictedUnpickler(buf).load()
    if not isinstance(keys, list) or not all(isinstance(k, (str, int)) for k in keys):
        raise WeightsError(f"{path}: malformed storage key list")
    pos = buf.tell()
    located: dict[str, np.ndarray] = {}
    for key in keys:
        key = str(key)
        if key not in pending or key in located:
            raise WeightsError(f"{path}: unreferenced or repeated storage {key[:40]}")
        dtype, numel = pending[key]
        if pos + long_size > len(data):
            raise WeightsError(f"{path}: file is truncated (storage {key})")
        count = int.from_bytes(data[pos:pos + long_size], "little" if little else "big",
                               signed=True)
        pos += long_size
        nbytes = count * dtype.itemsize
        if count != numel or pos + nbytes > len(data):
            raise WeightsError(f"{path}: file is truncated or corrupt (storage {key})")
        budget.charge(nbytes, f"storage {key}")
        dt = dtype if little or dtype.itemsize == 1 else dtype.newbyteorder(">")
        located[key] = np.frombuffer(data, dt, count=count, offset=pos).astype(dtype)
        pos += nbytes
    missing = sorted(set(pending) - set(located))
    if missing:
        raise WeightsError(f"{path}: storages missing from the file: {', '.join(missing)[:200]}")
    buf.seek(obj_start)
    return RestrictedUnpickler(buf, lambda key, dtype, numel: located[key], budget).load()


def load_object(path, max_bytes: int | Budget | None = None) -> Any:
    """Unpickle a ``.pth`` file safely: tensors become NumPy arrays, containers stay dicts/lists.

    Args:
      path: the file (zip or legacy container).
      max_bytes: the byte budget (:data:`adain_jax.weights.budget.DEFAULT_MAX_BYTES` when
        None) for everything materialised: the pickle, each storage and each tensor copy.
    Raises:
      WeightsError: one line naming the file, for any unreadable, unsafe or too large input.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weight file not found: {path}")
    budget = as_budget(max_bytes)
    try:
        with open(path, "rb") as f:
            head = f.read(4)
        if head.startswith(b"PK\x03\x04"):
            return _load_zip(path, budget)
        if head[:1] == b"\x80":
            return _load_legacy(path, budget)
        raise WeightsError(f"{path}: not a PyTorch .pth file")
    except WeightsError as e:
        msg = one_line(e, 400)
        raise WeightsError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    except (MemoryError, RecursionError) as e:
        raise WeightsError(f"{path}: the PyTorch file is too large or too deeply nested "
                           f"({type(e).__name__})") from None
    except Exception as e:  # untrusted bytes: pickle, zipfile, zlib, struct, numpy, ...
        raise WeightsError(f"{path}: corrupt or truncated PyTorch file ({one_line(e, with_type=True)})") \
            from None


def load_pth(path, max_bytes: int | Budget | None = None) -> dict[str, np.ndarray]:
    """Flat ``name -> array`` from a ``.pth`` state dict (a top-level ``state_dict``/``model``
    entry is unwrapped; nested dicts are joined with '.'; non-tensor entries are dropped).

    Args:
      path: the ``.pth`` file.
      max_bytes: byte budget, as for :func:`load_object`.
    """
    obj = load_object(path, max_bytes)
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: holds a {kind(obj)}, not a state dict")
    out: dict[str, np.ndarray] = {}

    def leaf(key: str, value) -> None:
        if isinstance(value, np.ndarray):
            out[key] = value

    try:
        walk_dicts(obj, leaf)
    except WeightsError as e:
        raise WeightsError(f"{path}: {one_line(e)}") from None
    if not out:
        raise WeightsError(f"{path}: state dict holds no tensors")
    return out


__all__ = ["load_pth", "load_object", "RestrictedUnpickler", "tensor_from_storage"]
