"""Hostile files crafted by structure (not by mutating bytes), small on disk.

Each builder writes one file and returns its path. Shared by the structure-aware fuzzer
(:mod:`tools.hardening.structured`) and the regression tests (``tests/test_hostile_*.py``).
Pickles are written opcode by opcode (:class:`Pickle`), so no torch import is needed.
"""
from __future__ import annotations

import io
import os
import struct
import zipfile
from pathlib import Path

import numpy as np


class Pickle:
    """A protocol-2 pickle written opcode by opcode."""

    def __init__(self):
        self.out = bytearray(b"\x80\x02")

    def op(self, raw: bytes) -> "Pickle":
        self.out += raw
        return self

    def glob(self, module: str, name: str) -> "Pickle":
        return self.op(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def str(self, s: str) -> "Pickle":
        b = s.encode()
        return self.op(b"X" + struct.pack("<I", len(b)) + b)

    def int(self, v: int) -> "Pickle":
        return self.op(b"J" + struct.pack("<i", v)) if -2**31 <= v < 2**31 else \
            self.op(b"\x8a\x08" + struct.pack("<q", v))

    def ints(self, vs) -> "Pickle":
        self.op(b"(")
        for v in vs:
            self.int(v)
        return self.op(b"t")

    def tensor(self, key: str, numel: int, size, stride, offset: int = 0,
               storage: str = "FloatStorage") -> "Pickle":
        """``torch._utils._rebuild_tensor_v2`` of storage ``key`` (a persistent id)."""
        self.glob("torch._utils", "_rebuild_tensor_v2").op(b"(")
        self.op(b"(").str("storage").glob("torch", storage).str(key).str("cpu").int(numel)
        self.op(b"tQ").int(offset).ints(size).ints(stride).op(b"\x89")
        return self.glob("collections", "OrderedDict").op(b")R").op(b"tR")

    def bytes(self) -> bytes:
        return bytes(self.out + b".")


def pth_zip(path: Path, pkl: bytes, storages: dict[str, bytes | tuple[int, int]]) -> Path:
    """A torch zip container: ``archive/data.pkl`` plus deflated storages. A storage given as
    ``(n_bytes, 0)`` is that many zero bytes, streamed (tiny on disk)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", pkl)
        for key, data in storages.items():
            if isinstance(data, tuple):
                with z.open(f"archive/data/{key}", "w", force_zip64=True) as f:
                    chunk = bytes(1 << 20)
                    left = data[0]
                    while left > 0:
                        f.write(chunk[:min(left, len(chunk))])
                        left -= len(chunk)
            else:
                z.writestr(f"archive/data/{key}", data)
    return path


def memo_dag_pth(path: Path, levels: int = 64) -> Path:
    """Each dict holds the level below twice: 2**levels paths through ``levels`` dicts."""
    import pickle

    d: dict = {"w": 0}
    for _ in range(levels):
        d = {"a": d, "b": d}
    return pth_zip(path, pickle.dumps(d, protocol=2), {})


def codecs_dag_pth(path: Path, levels: int = 64) -> Path:
    """``_codecs.encode`` called on a list DAG whose ``str()`` would be astronomically long."""
    import codecs
    import pickle

    d: list = [0]
    for _ in range(levels):
        d = [d, d]

    class Call:
        def __reduce__(self):
            return codecs.encode, (d, "latin1")

    return pth_zip(path, pickle.dumps({"x": Call()}, protocol=2), {})


def self_ref_pth(path: Path) -> Path:
    """A dict that contains itself."""
    import pickle

    d: dict = {}
    d["a"] = d
    return pth_zip(path, pickle.dumps(d, protocol=2), {})


def nested_pth(path: Path, depth: int = 5000) -> Path:
    """``depth`` nested dicts, built iteratively by the unpickler (no recursion to load)."""
    body = (b"}" + b"X\x01\x00\x00\x00a") * depth + b"}" + b"s" * depth
    return pth_zip(path, b"\x80\x02" + body + b".", {})


def aliasing_pth(path: Path, n_tensors: int = 100, storage_mb: int = 16) -> Path:
    """``n_tensors`` full views of one deflated ``storage_mb`` MiB storage."""
    numel = storage_mb * (1 << 20) // 4
    p = Pickle().op(b"}").op(b"(")
    for i in range(n_tensors):
        p.str(f"t{i}").tensor("0", numel, (numel,), (1,))
    p.op(b"u")
    return pth_zip(path, p.bytes(), {"0": (numel * 4, 0)})


def big_member_pth(path: Path, member_mb: int = 1024, numel: int = 4) -> Path:
    """A tiny tensor whose storage member inflates to ``member_mb`` MiB of zeros."""
    p = Pickle().op(b"}").str("t").tensor("0", numel, (numel,), (1,)).op(b"s")
    return pth_zip(path, p.bytes(), {"0": (member_mb << 20, 0)})


def build_poison_pth(path: Path) -> Path:
    """BUILD on the ``torch.FloatStorage`` stand-in (would change its dtype for later loads)."""
    p = Pickle().op(b"}").str("x").glob("torch", "FloatStorage")
    p.op(b"}").str("name").str("evil").op(b"s").op(b"b").op(b"s")
    return pth_zip(path, p.bytes(), {})


def good_pth(path: Path, values=(1.0, 2.0, 3.0, 4.0)) -> Path:
    """A valid state dict ``{'w': float32 tensor}``."""
    v = np.asarray(values, "<f4")
    p = Pickle().op(b"}").str("w").tensor("0", v.size, (v.size,), (1,)).op(b"s")
    return pth_zip(path, p.bytes(), {"0": v.tobytes()})


# ------------------------------------------------------------------------------------ .t7

class T7:
    """A Torch7 binary stream written object by object."""

    def __init__(self):
        self.out = io.BytesIO()
        self.next_index = 1

    def i32(self, v: int) -> "T7":
        self.out.write(struct.pack("<i", v))
        return self

    def i64(self, v: int) -> "T7":
        self.out.write(struct.pack("<q", v))
        return self

    def raw_str(self, s: str) -> "T7":
        b = s.encode("latin1")
        self.i32(len(b))
        self.out.write(b)
        return self

    def number(self, v: float) -> "T7":
        self.i32(1)
        self.out.write(struct.pack("<d", v))
        return self

    def string(self, s: str) -> "T7":
        return self.i32(2).raw_str(s)

    def new_index(self) -> int:
        self.next_index += 1
        return self.next_index - 1

    def table_header(self, n: int, index: int | None = None) -> int:
        index = self.new_index() if index is None else index
        self.i32(3).i32(index).i32(n)
        return index

    def ref(self, tag: int, index: int) -> "T7":
        return self.i32(tag).i32(index)

    def torch_header(self, class_name: str, index: int | None = None) -> int:
        index = self.new_index() if index is None else index
        self.i32(4).i32(index).raw_str("V 1").raw_str(class_name)
        return index

    def storage(self, data: np.ndarray) -> int:
        index = self.torch_header("torch.FloatStorage")
        self.i64(data.size)
        self.out.write(np.asarray(data, "<f4").tobytes())
        return index

    def tensor(self, size, stride, offset: int = 1) -> int:
        """A FloatTensor header; write its storage (or a reference) next."""
        index = self.torch_header("torch.FloatTensor")
        self.i32(len(size))
        for v in size:
            self.i64(v)
        for v in stride:
            self.i64(v)
        self.i64(offset)
        return index

    def save(self, path: Path) -> Path:
        path.write_bytes(self.out.getvalue())
        return path


def aliasing_t7(path: Path, n_tensors: int = 25_000, storage_mb: int = 4) -> Path:
    """A Lua array of ``n_tensors`` full views of one ``storage_mb`` MiB storage."""
    numel = storage_mb * (1 << 20) // 4
    t = T7()
    t.table_header(n_tensors)
    storage_index = None
    for i in range(n_tensors):
        t.number(i + 1)
        t.tensor((numel,), (1,))
        if storage_index is None:
            storage_index = t.storage(np.zeros(numel, np.float32))
        else:
            t.ref(4, storage_index)
    return t.save(path)


def chain_t7(path: Path, length: int = 3000) -> Path:
    """Modules whose ``modules`` point back at the previous one (a ``length``-long reference
    chain, shallow in the stream); the root array's first entry is the chain's end."""
    t = T7()
    t.table_header(length)
    prev = None
    for k in range(length):
        t.number(k + 2 if k < length - 1 else 1)
        idx = t.torch_header("nn.Sequential")
        t.table_header(1)
        t.string("modules")
        t.table_header(1 if prev is not None else 0)
        if prev is not None:
            t.number(1)
            t.ref(4, prev)
        prev = idx
    return t.save(path)


# ------------------------------------------------------------------------------------ .npz

def key_clash_npz(path: Path) -> Path:
    """Keys ``decoder`` and ``decoder/a``: one is a path prefix of the other."""
    with open(path, "wb") as f:
        np.savez(f, **{"decoder": np.zeros(2, np.float32), "decoder/a": np.zeros(2, np.float32)})
    return path


# ------------------------------------------------------------------------------------ .h5

def keras_h5(path: Path, feature: str = "plain", target: str | os.PathLike | None = None) -> Path:
    """A Keras VGG-19 layout whose datasets are declared but unwritten (tiny on disk);
    ``block1_conv1``'s kernel is replaced according to ``feature``: ``plain``, ``external``
    (raw storage in ``target``), ``soft`` / ``external_link`` / ``virtual`` (to ``target``),
    ``filter`` (an unknown filter id is not creatable, so an int dtype stands in)."""
    import h5py

    from adain_jax.nn.models import expected_shapes
    from adain_jax.weights.tables import KERAS_VGG

    shapes = expected_shapes("vgg")
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [v.encode() for v in KERAS_VGG.values()]
        for ours, theirs in KERAS_VGG.items():
            g = f.create_group(theirs)
            g.attrs["weight_names"] = [f"{theirs}/kernel:0".encode(), f"{theirs}/bias:0".encode()]
            sub = g.create_group(theirs)
            kshape, bshape = shapes[f"{ours}/kernel"], shapes[f"{ours}/bias"]
            sub.create_dataset("bias:0", bshape, "f4")
            if theirs != "block1_conv1" or feature == "plain":
                sub.create_dataset("kernel:0", kshape, "f4")
            elif feature == "external":
                sub.create_dataset("kernel:0", kshape, "f4",
                                   external=[(os.fspath(target), 0, h5py.h5f.UNLIMITED)])
            elif feature == "soft":
                f.create_dataset("elsewhere", kshape, "f4")
                sub["kernel:0"] = h5py.SoftLink("/elsewhere")
            elif feature == "external_link":
                sub["kernel:0"] = h5py.ExternalLink(os.fspath(target), "/x")
            elif feature == "virtual":
                layout = h5py.VirtualLayout(kshape, "f4")
                layout[...] = h5py.VirtualSource(os.fspath(target), "x", shape=kshape)
                sub.create_virtual_dataset("kernel:0", layout, fillvalue=0)
            elif feature == "int":
                sub.create_dataset("kernel:0", kshape, "i4")
            else:
                raise ValueError(feature)
    return path


# ------------------------------------------------------------------------------------ images

def png_zeros(path: Path, side: int = 13000) -> Path:
    """A ``side`` x ``side`` greyscale PNG of zeros (a few hundred KB), written row by row."""
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    comp = zlib.compressobj(9)
    row = bytes(side + 1)
    idat = bytearray()
    for _ in range(side):
        idat += comp.compress(row)
    idat += comp.flush()
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", bytes(idat)))
        f.write(chunk(b"IEND", b""))
    return path


def eps_as_png(path: Path) -> Path:
    """An EPS document named ``.png`` (reaches Ghostscript through Pillow's EPS plugin)."""
    path.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n"
                     b"newpath 0 0 moveto 8 8 lineto stroke\nshowpage\n%%EOF\n")
    return path


# ------------------------------------------------------------------------------------ issue 12

#: The cases reported in issue 12, at their reported sizes: (name, builder, call).
ISSUE_CASES = (
    ("1 memo DAG, 64 levels (.pth)", lambda c, d: c.memo_dag_pth(d / "x.pth", 64), "decoder"),
    ("1 DAG into _codecs.encode (.pth)", lambda c, d: c.codecs_dag_pth(d / "x.pth", 64),
     "decoder"),
    ("2 100 views of a 16 MiB storage (.pth)", lambda c, d: c.aliasing_pth(d / "x.pth", 100, 16),
     "decoder"),
    ("2 2,000 views of a 16 MiB storage (.pth)",
     lambda c, d: c.aliasing_pth(d / "x.pth", 2000, 16), "decoder"),
    ("2 1 GiB storage member, 4 elements used (.pth)",
     lambda c, d: c.big_member_pth(d / "x.pth", 1024, 4), "pth"),
    ("2 1 GiB storage member, all claimed (.pth)",
     lambda c, d: c.big_member_pth(d / "x.pth", 1024, 256 << 20), "pth"),
    ("2 25,000 views of a 4 MiB storage (.t7)",
     lambda c, d: c.aliasing_t7(d / "x.t7", 25_000, 4), "decoder"),
    ("3 self-referential dict (.pth)", lambda c, d: c.self_ref_pth(d / "x.pth"), "decoder"),
    ("3 5,000 nested dicts (.pth)", lambda c, d: c.nested_pth(d / "x.pth", 5000), "decoder"),
    ("3 3,000-long reference chain (.t7)", lambda c, d: c.chain_t7(d / "x.t7", 3000), "decoder"),
    ("3 npz key clash decoder vs decoder/a", lambda c, d: c.key_clash_npz(d / "x.npz"),
     "decoder"),
    ("4 h5 external storage -> FIFO", lambda c, d: _h5(d, "external"), "vgg"),
    ("4 h5 soft link", lambda c, d: _h5(d, "soft"), "vgg"),
    ("4 h5 external link -> FIFO", lambda c, d: _h5(d, "external_link"), "vgg"),
    ("4 h5 virtual dataset -> FIFO", lambda c, d: _h5(d, "virtual"), "vgg"),
    ("11 BUILD on FloatStorage (.pth)", lambda c, d: c.build_poison_pth(d / "x.pth"), "pth"),
    ("12 EPS named .png", lambda c, d: c.eps_as_png(d / "x.png"), "image"),
    ("14 13000x13000 PNG, size 64", lambda c, d: c.png_zeros(d / "x.png", 13000), "image64"),
    ("14 13000x13000 PNG, mask 64x64", lambda c, d: c.png_zeros(d / "x.png", 13000), "mask64"),
)


def _h5(d: Path, feature: str) -> Path:
    os.mkfifo(d / "fifo")
    return keras_h5(d / "x.h5", feature, d / "fifo")
