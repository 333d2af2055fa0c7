"""Fuzz every untrusted-input reader of adain-jax and count the outcomes.

    python -m tools.hardening.fuzz --cases 10000 --seed 0   # docs/security/fuzz_results.*
    python -m tools.hardening.fuzz --cases 50 --target pth.load_pth --seed 3 --no-write

Each case is built from a valid seed file generated here (tiny images of every mode and
format, small and full-size weight files in every format, an orbax checkpoint, CLI argv
lists) and damaged: truncated, bit-flipped, overwritten with "interesting" integers,
spliced, emptied, replaced by garbage, given a huge declared size (decompression bomb /
a header claiming a giant tensor), a wrong mode, dtype or shape, or a malicious pickle /
Lua function.  Every case must end as

* ``ok``: loaded (or the CLI exited 0), or
* ``error``: a one-line :class:`adain_jax.errors.AdainError` (CLI: exit code 1/2 or an
  argparse usage error, no traceback),

within 5 s of CPU time (a 60 s wall-clock alarm catches blocking hangs; CPU time, not
wall time, because the machine's cores may be shared), without running code (a canary file that the malicious payloads try to
create must never appear).  Anything else is a ``FAILURE`` and is listed with the case's
(target, index) so that ``--target T --first-case I --cases 1`` reproduces it.

Case ``i`` of target ``T`` is generated from ``random.Random(f"{seed}:{T}:{i}")`` only,
so runs are reproducible.  The stylize CLI target replaces the network forward pass
(``adain_jax.inference.transfer.stylize``/``style_stats``) by a cheap stand-in that keeps its
argument checks, and the train CLI target replaces the training loop
(``adain_jax.training.loop.run_loop``) by a no-op: the fuzzed surface is argument parsing, file
handling and validation, not the jit-compiled maths (a compile per input shape would cost
seconds each).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pickle
import random
import shutil
import signal
import struct
import sys
import tempfile
import time
import zipfile
import zlib
from collections import Counter, OrderedDict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from adain_jax.errors import AdainError  # noqa: E402

CASE_TIMEOUT_S = 5.0        # CPU seconds (time.process_time) a case may use
WALL_TIMEOUT_S = 60.0       # wall-clock guard against blocking hangs (the CPUs are shared)
CANARY_NAME = "FUZZ_CANARY_CODE_RAN"

# Share of the cases given to each target (slow targets get fewer).
WEIGHTS = {
    "image.load_image": 16, "image.load_mask": 6,
    "pth.load_pth": 14, "pth.load_decoder": 4,
    "t7.read_t7": 12, "t7.load_decoder": 4,
    "npz.load_tree": 12, "npz.load_decoder": 4,
    "h5.load_vgg": 8,
    "cli.stylize_main": 10, "cli.train_main": 5,
    # last: orbax's background threads may still log after a case; keep that out of the
    # CLI targets' captured stderr
    "ckpt.restore": 1.5,
}
TARGETS = tuple(WEIGHTS)


class Hang(BaseException):
    """Raised by the alarm when a case runs longer than CASE_TIMEOUT_S."""


# ============================================================================ byte mutators

INTERESTING32 = (0, 1, -1, 0x7FFFFFFF, -0x80000000, 0xFFFF, 0x10000, 1 << 24, 255, 256)
INTERESTING64 = (1 << 40, (1 << 62), -(1 << 40), (1 << 63) - 1)


def m_truncate(rng, data: bytes) -> tuple[str, bytes]:
    return "truncate", data[:rng.randrange(0, max(1, len(data)))]


def m_bitflip(rng, data: bytes) -> tuple[str, bytes]:
    if not data:
        return "bitflip", data
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4, 8, 32))):
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    return "bitflip", bytes(b)


def m_bitflip_head(rng, data: bytes) -> tuple[str, bytes]:
    """Flip bits in the first 512 bytes (headers), where most structure lives."""
    if not data:
        return "bitflip-head", data
    b = bytearray(data)
    for _ in range(rng.choice((1, 2, 3))):
        i = rng.randrange(min(len(b), 512))
        b[i] ^= 1 << rng.randrange(8)
    return "bitflip-head", bytes(b)


def m_bytes(rng, data: bytes) -> tuple[str, bytes]:
    if not data:
        return "overwrite", data
    b = bytearray(data)
    i = rng.randrange(len(b))
    n = rng.randrange(1, 17)
    b[i:i + n] = rng.randbytes(n)
    return "overwrite", bytes(b)


def m_interesting(rng, data: bytes) -> tuple[str, bytes]:
    if len(data) < 9:
        return "interesting-int", data
    b = bytearray(data)
    i = rng.randrange(len(b) - 8)
    if rng.random() < 0.6:
        b[i:i + 4] = struct.pack(rng.choice("<>") + "i", rng.choice(INTERESTING32))
    else:
        b[i:i + 8] = struct.pack(rng.choice("<>") + "q", rng.choice(INTERESTING64))
    return "interesting-int", bytes(b)


def m_insert_delete(rng, data: bytes) -> tuple[str, bytes]:
    if not data:
        return "insert", rng.randbytes(8)
    i = rng.randrange(len(data))
    if rng.random() < 0.5:
        return "delete", data[:i] + data[i + rng.randrange(1, 64):]
    return "insert", data[:i] + rng.randbytes(rng.randrange(1, 64)) + data[i:]


def m_empty(rng, data: bytes) -> tuple[str, bytes]:
    return "empty", b""


def m_garbage(rng, data: bytes) -> tuple[str, bytes]:
    head = data[:rng.choice((0, 2, 4, 8))]  # sometimes keep the magic number
    return "garbage", head + rng.randbytes(rng.randrange(0, 2000))


GENERIC = (m_truncate, m_bitflip, m_bitflip, m_bitflip_head, m_bytes, m_interesting,
           m_insert_delete, m_empty, m_garbage)


def mutate_generic(rng, data: bytes) -> tuple[str, bytes]:
    label, out = rng.choice(GENERIC)(rng, data)
    if rng.random() < 0.15:  # stack a second mutation
        l2, out = rng.choice(GENERIC)(rng, out)
        label += "+" + l2
    return label, out


def splice(rng, a: bytes, b: bytes) -> tuple[str, bytes]:
    i, j = rng.randrange(len(a) + 1), rng.randrange(len(b) + 1)
    return "splice", a[:i] + b[j:]


def rezip(members: dict[str, bytes], compress: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        for n, d in members.items():
            z.writestr(n, d)
    return buf.getvalue()


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def mutate_zip_member(rng, data: bytes, prefer=None) -> tuple[str, bytes]:
    """Damage one member and re-zip (valid CRCs), so the damage reaches the inner parser."""
    members = unzip(data)
    names = list(members)
    name = next((n for n in names if prefer and n.endswith(prefer) and rng.random() < 0.6),
                rng.choice(names))
    r = rng.random()
    if r < 0.08:
        del members[name]
        return f"zip-drop:{Path(name).name}", rezip(members)
    label, members[name] = mutate_generic(rng, members[name])
    return f"zip-member:{Path(name).name}:{label}", rezip(members, compress=rng.random() < 0.1)


# ============================================================================ images


def png_set_size(data: bytes, w: int, h: int) -> bytes:
    b = bytearray(data)
    b[16:24] = struct.pack(">II", w, h)
    b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])) & 0xFFFFFFFF)
    return bytes(b)


def image_seeds() -> dict[str, bytes]:
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    im = Image.fromarray(rgb)
    out = {}

    def save(name, img, fmt, **kw):
        buf = io.BytesIO()
        img.save(buf, format=fmt, **kw)
        out[name] = buf.getvalue()

    save("rgb.png", im, "PNG")
    save("l.png", im.convert("L"), "PNG")
    save("la.png", im.convert("LA"), "PNG")
    save("rgba.png", im.convert("RGBA"), "PNG")
    save("p.png", im.convert("P"), "PNG", transparency=0)
    save("1.png", im.convert("1"), "PNG")
    save("i16.png", Image.fromarray((rng.integers(0, 65535, (5, 7))).astype(np.uint16)), "PNG")
    save("rgb.jpg", im, "JPEG")
    save("l.jpg", im.convert("L"), "JPEG")
    save("cmyk.jpg", im.convert("CMYK"), "JPEG")
    exif = Image.Exif()
    exif[0x0112] = 6
    save("exif6.jpg", im, "JPEG", exif=exif.tobytes())
    save("rgb.bmp", im, "BMP")
    save("p.gif", im.convert("P"), "GIF")
    save("rgb.tif", im, "TIFF")
    save("f.tif", Image.fromarray(rng.random((5, 7)).astype(np.float32) * 300), "TIFF")
    save("i16.tif", im.convert("L").convert("I;16"), "TIFF")
    save("cmyk.tif", im.convert("CMYK"), "TIFF")
    save("rgb.webp", im, "WEBP", lossless=True)
    save("ycbcr.jpg", im.convert("YCbCr"), "JPEG")
    return out


def gen_image(rng, seeds) -> tuple[str, bytes, str]:
    name = rng.choice(sorted(seeds))
    data = seeds[name]
    suffix = Path(name).suffix
    r = rng.random()
    if r < 0.12:  # huge declared dimensions (decompression bomb headers)
        big = rng.choice((65535, 100_000, 1 << 20, 0x7FFFFFFF, 20000, 0))
        other = rng.choice((big, 1, 7, 20000))
        if name.endswith(".png"):
            return f"{name}:huge-dims", png_set_size(data, big, other), suffix
        b = bytearray(data)
        if name.endswith(".gif"):
            b[6:10] = struct.pack("<HH", min(big, 65535), min(other, 65535))
            i = b.find(b"\x2c")
            if i > 0:
                b[i + 5:i + 9] = struct.pack("<HH", min(big, 65535), min(other, 65535))
        elif name.endswith(".bmp"):
            b[18:26] = struct.pack("<ii", min(big, 0x7FFFFFFF), rng.choice((other, -other)))
        elif name.endswith(".jpg"):
            i = b.find(b"\xff\xc0")
            if i > 0:
                b[i + 5:i + 9] = struct.pack(">HH", min(other, 65535), min(big, 65535))
        else:
            return f"{name}:huge-dims(n/a)+trunc", data[:len(data) // 2], suffix
        return f"{name}:huge-dims", bytes(b), suffix
    if r < 0.16:  # real decompression bomb: tiny zlib stream, huge image
        side = rng.choice((14_000, 20_000))
        bomb = png_set_size(seeds["l.png"], side, side)
        # replace the IDAT with a valid stream of zeros of the claimed size
        raw = zlib.compress(b"\0" * (min(side, 2000) * 64), 9)
        i = bomb.find(b"IDAT") - 4
        j = bomb.find(b"IEND") - 4
        idat = struct.pack(">I", len(raw)) + b"IDAT" + raw + struct.pack(
            ">I", zlib.crc32(b"IDAT" + raw) & 0xFFFFFFFF)
        return f"png-bomb-{side}", bomb[:i] + idat + bomb[j:], ".png"
    if r < 0.2:
        other = seeds[rng.choice(sorted(seeds))]
        label, out = splice(rng, data, other)
        return f"{name}:{label}", out, suffix
    if r < 0.25:  # right content, wrong suffix
        return f"{name}:wrong-suffix", data, rng.choice((".png", ".jpg", ".tif", ".txt"))
    label, out = mutate_generic(rng, data)
    return f"{name}:{label}", out, suffix


def run_load_image(path, rng):
    from adain_jax import image_io

    image_io.load_image(path, size=rng.choice((None, 0, 3, 9)), crop=rng.random() < 0.3)


def run_load_mask(path, rng):
    from adain_jax import image_io

    image_io.load_mask(path, rng.choice(((4, 6), (1, 1), (9, 3))))


# ============================================================================ torch .pth

def _pint(v: int) -> bytes:
    return pickle.dumps(int(v), protocol=2)[2:-1]


def _pstr(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _glob(mod: str, name: str) -> bytes:
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


def tensor_pickle(entries, wrapper: str | None = None) -> bytes:
    """Protocol-2 pickle of an OrderedDict of tensors, as torch writes it.

    ``entries``: (key, storage type, storage key, numel, offset, size, stride)."""
    out = b"\x80\x02"
    if wrapper:
        out += b"}" + _pstr(wrapper)
    out += _glob("collections", "OrderedDict") + b")R(" if entries else \
        _glob("collections", "OrderedDict") + b")R"
    for key, stype, skey, numel, offset, size, stride in entries:
        out += _pstr(key) + _glob("torch._utils", "_rebuild_tensor_v2") + b"("
        out += b"(" + _pstr("storage") + _glob("torch", stype) + _pstr(skey) + _pstr("cpu") \
            + _pint(numel) + b"tQ"
        out += _pint(offset)
        out += b"(" + b"".join(_pint(s) for s in size) + b"t"
        out += b"(" + b"".join(_pint(s) for s in stride) + b"t"
        out += b"\x89" + _glob("collections", "OrderedDict") + b")R" + b"tR"
    if entries:
        out += b"u"
    if wrapper:
        out += b"s"
    return out + b"."


def pth_zip(arrays: dict[str, np.ndarray], wrapper=None, prefix="archive") -> bytes:
    types = {np.dtype("<f4"): "FloatStorage", np.dtype("<f2"): "HalfStorage",
             np.dtype("<i8"): "LongStorage", np.dtype("<f8"): "DoubleStorage"}
    entries, members = [], {}
    for i, (k, a) in enumerate(arrays.items()):
        a = np.ascontiguousarray(a)
        stride = [int(np.prod(a.shape[j + 1:])) for j in range(a.ndim)]
        entries.append((k, types[a.dtype], str(i), a.size, 0, a.shape, stride))
        members[f"{prefix}/data/{i}"] = a.tobytes()
    return rezip({f"{prefix}/data.pkl": tensor_pickle(entries, wrapper),
                  f"{prefix}/byteorder": b"little", **members, f"{prefix}/version": b"3\n"})


def decoder_torch_arrays(dtype=np.float16) -> dict[str, np.ndarray]:
    """The authors' decoder.pth keys and shapes (OIHW), random values."""
    from adain_jax.nn.models import expected_shapes
    from adain_jax.weights import AUTHORS_DECODER_PTH

    shapes = expected_shapes("decoder")
    rng = np.random.default_rng(1)
    out = {}
    for ours, idx in AUTHORS_DECODER_PTH.items():
        kh, kw, ci, co = shapes[f"{ours}/kernel"]
        out[f"{idx}.weight"] = (rng.standard_normal((co, ci, kh, kw)) * 0.01).astype(dtype)
        out[f"{idx}.bias"] = np.zeros(co, dtype)
    return out


EVIL_GLOBALS = (("os", "system"), ("posix", "system"), ("builtins", "eval"),
                ("builtins", "exec"), ("subprocess", "check_output"), ("builtins", "getattr"),
                ("torch", "load"), ("numpy", "load"), ("torch._utils", "os"),
                ("collections", "os"), ("__builtin__", "eval"), ("nt", "system"))


def evil_pickle(rng, canary: Path) -> tuple[str, bytes]:
    """A pickle that would create ``canary`` (or eval) through one of many opcodes."""
    mod, name = rng.choice(EVIL_GLOBALS)
    kind = rng.choice(EVIL_KINDS)
    return kind, evil_payload(kind, mod, name, canary)


EVIL_KINDS = ("GLOBAL+REDUCE", "STACK_GLOBAL+REDUCE", "INST", "OBJ", "BUILD", "NEWOBJ",
              "nested-dict")


def evil_payload(kind: str, mod: str, name: str, canary: Path) -> bytes:
    """Pickle bytes calling ``mod.name`` (to create ``canary``) through opcode ``kind``."""
    cmd = f"touch {canary}" if name in ("system", "check_output") else \
        f"open({str(canary)!r}, 'w').close()"
    arg = _pstr(cmd)
    if kind == "GLOBAL+REDUCE":
        body = _glob(mod, name) + b"(" + arg + b"tR"
    elif kind == "STACK_GLOBAL+REDUCE":
        body = b"\x80\x04" + b"\x8c" + bytes([len(mod)]) + mod.encode() + b"\x8c" \
            + bytes([len(name)]) + name.encode() + b"\x93(" + arg + b"tR"
        return body + b"."
    elif kind == "INST":
        body = b"(" + arg + b"i" + mod.encode() + b"\n" + name.encode() + b"\n"
    elif kind == "OBJ":
        body = b"(" + _glob(mod, name) + arg + b"o"
    elif kind == "BUILD":  # __setstate__ via BUILD on an allowed object
        body = _glob("collections", "OrderedDict") + b")R" + b"}" + _pstr("x") + \
            _glob(mod, name) + b"(" + arg + b"tRsb"
    elif kind == "NEWOBJ":
        body = _glob(mod, name) + b"(" + arg + b"t\x81"
    else:
        body = b"}" + _pstr("state_dict") + b"}" + _pstr("w") + _glob(mod, name) + b"(" + arg \
            + b"tRss"
    return b"\x80\x02" + body + b"."


def pth_seeds(with_torch: bool) -> dict[str, bytes]:
    rng = np.random.default_rng(2)
    small = OrderedDict(a=rng.standard_normal((3, 4)).astype(np.float32),
                        b=np.arange(5, dtype=np.int64),
                        c=rng.standard_normal(4).astype(np.float16))
    out = {"hand.zip.pth": pth_zip(small), "hand-wrapped.zip.pth": pth_zip(small, "state_dict")}
    if with_torch:
        try:
            import torch
        except ImportError:
            return out
        sd = OrderedDict(a=torch.randn(3, 4), t=torch.randn(4, 5).t(), i=torch.arange(6)[1:4],
                         h=torch.randn(3).half(), p=torch.nn.Parameter(torch.randn(2)))
        for fmt in (True, False):
            buf = io.BytesIO()
            torch.save({"state_dict": sd, "epoch": 1}, buf, _use_new_zipfile_serialization=fmt)
            out[f"torch.{'zip' if fmt else 'legacy'}.pth"] = buf.getvalue()
    return out


def _giant_tensor_pth(rng) -> tuple[str, bytes]:
    big = rng.choice((1 << 31, 1 << 40, 1 << 62, 10 ** 12, -5))
    size = rng.choice(((big,), (big, big), (4, big), (3, 4)))
    numel = rng.choice((12, big))
    stride = rng.choice(((1,) * len(size), (0,) * len(size), (big,) * len(size)))
    members = {"archive/data.pkl": tensor_pickle([("w", "FloatStorage", "0", numel, 0,
                                                   size, stride)]),
               "archive/data/0": np.zeros(12, np.float32).tobytes()}
    return f"giant-tensor size={size} numel={numel}", rezip(members)


def gen_pth(rng, seeds, canary) -> tuple[str, bytes, str]:
    name = rng.choice(sorted(seeds))
    data = seeds[name]
    r = rng.random()
    if r < 0.1:
        kind, payload = evil_pickle(rng, canary)
        where = rng.choice(("legacy", "zip", "zip-storage"))
        if where == "zip":
            return f"evil:{kind}:zip", rezip({"archive/data.pkl": payload}), ".pth"
        if where == "zip-storage":  # evil object where the storage pid should be
            members = unzip(next(v for v in seeds.values() if v[:2] == b"PK"))
            members["archive/data.pkl"] = payload
            return f"evil:{kind}:zip2", rezip(members), ".pth"
        return f"evil:{kind}:legacy", payload, ".pth"
    if r < 0.18:
        label, out = _giant_tensor_pth(rng)
        return label, out, ".pth"
    if r < 0.55 and data[:2] == b"PK":
        label, out = mutate_zip_member(rng, data, prefer="data.pkl")
        return f"{name}:{label}", out, ".pth"
    label, out = mutate_generic(rng, data)
    return f"{name}:{label}", out, rng.choice((".pth", ".pth", ".pt"))


def run_load_pth(path, rng):
    from adain_jax.weights import torch_pickle

    torch_pickle.load_pth(path)


def run_load_decoder(path, rng):
    from adain_jax.weights import load_decoder

    load_decoder(path)


def run_load_vgg(path, rng):
    from adain_jax.weights import load_vgg

    load_vgg(path)


# ============================================================================ torch7 .t7

class T7:
    """Minimal Torch7 binary writer (tables, torch objects, tensors, functions)."""

    def __init__(self):
        self.out = bytearray()
        self.n = 0

    def i32(self, v):
        self.out += struct.pack("<i", v)

    def i64(self, v):
        self.out += struct.pack("<q", v)

    def s(self, text: str):
        b = text.encode("latin1")
        self.i32(len(b))
        self.out += b

    def idx(self):
        self.n += 1
        self.i32(self.n)

    def write(self, obj):
        if obj is None:
            self.i32(0)
        elif isinstance(obj, bool):
            self.i32(5), self.i32(int(obj))
        elif isinstance(obj, (int, float)):
            self.i32(1)
            self.out += struct.pack("<d", float(obj))
        elif isinstance(obj, str):
            self.i32(2), self.s(obj)
        elif isinstance(obj, dict):
            self.i32(3), self.idx(), self.i32(len(obj))
            for k, v in obj.items():
                self.write(k), self.write(v)
        elif isinstance(obj, tuple) and obj[0] == "obj":
            self.i32(4), self.idx(), self.s("V 1"), self.s(obj[1]), self.write(obj[2])
        elif isinstance(obj, tuple) and obj[0] == "fn":
            self.i32(6), self.i32(len(obj[1]))
            self.out += obj[1]
            self.write(obj[2])
        elif isinstance(obj, np.ndarray):
            kind = {"f4": "Float", "f2": "Half", "f8": "Double"}[obj.dtype.str[1:]]
            a = np.ascontiguousarray(obj)
            self.i32(4), self.idx(), self.s("V 1"), self.s(f"torch.{kind}Tensor")
            self.i32(a.ndim)
            for d in a.shape:
                self.i64(d)
            for j in range(a.ndim):
                self.i64(int(np.prod(a.shape[j + 1:])))
            self.i64(1)
            self.i32(4), self.idx(), self.s("V 1"), self.s(f"torch.{kind}Storage")
            self.i64(a.size)
            self.out += a.astype(a.dtype.newbyteorder("<")).tobytes()
        else:
            raise TypeError(type(obj))
        return self

    def bytes(self) -> bytes:
        return bytes(self.out)


def t7_lua_function(w: "T7", tag: int, code: bytes, upvalues) -> None:
    """Appends a Lua function object (t7 tag 6, 7 or 8) with ``code`` as its bytecode."""
    w.i32(tag)
    if tag != 6:
        w.idx()
    w.i32(len(code))
    w.out += code
    w.write(upvalues)


def t7_conv(w: np.ndarray, b: np.ndarray, cls="nn.SpatialConvolution"):
    co, ci, kh, kw = w.shape
    return ("obj", cls, {"weight": w, "bias": b, "nInputPlane": ci, "nOutputPlane": co,
                         "kH": kh, "kW": kw, "dH": 1, "dW": 1, "padH": 0, "padW": 0,
                         "train": False})


def t7_seq(mods):
    return ("obj", "nn.Sequential", {"modules": {i + 1: m for i, m in enumerate(mods)},
                                     "train": False})


def t7_seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    c1 = t7_conv(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), np.zeros(4, np.float32))
    c2 = t7_conv(rng.standard_normal((2, 4, 1, 1)).astype(np.float32), np.ones(2, np.float32))
    relu = ("obj", "nn.ReLU", {"inplace": True})
    pad = ("obj", "nn.SpatialReflectionPadding", {"pad_l": 1, "pad_r": 1, "pad_t": 1,
                                                  "pad_b": 1})
    fn = ("fn", b"\x1bLuaQ\x00\x01\x04\x08\x04\x08\x00" + bytes(24), {1: "upvalue"})
    out = {
        "seq.t7": T7().write(t7_seq([pad, c1, relu, pad, c2])).bytes(),
        "table.t7": T7().write({"n": 3, "f": -0.5, "s": "hi", "b": True, "nil": None,
                                "t": np.arange(6, dtype=np.float64).reshape(2, 3)}).bytes(),
        "fn.t7": T7().write({"f": fn, "m": t7_seq([c1])}).bytes(),
    }
    return out


def decoder_t7() -> bytes:
    from adain_jax.weights import AUTHORS_DECODER_PTH, T7_DECODER_ORDER

    arrs = decoder_torch_arrays(np.float16)

    mods = []
    for name in T7_DECODER_ORDER:
        idx = AUTHORS_DECODER_PTH[name]
        mods += [("obj", "nn.SpatialReflectionPadding", {"pad_l": 1}),
                 t7_conv(arrs[f"{idx}.weight"], arrs[f"{idx}.bias"]), ("obj", "nn.ReLU", {})]
    return T7().write(t7_seq(mods)).bytes()


def gen_t7(rng, seeds, canary) -> tuple[str, bytes, str]:
    name = rng.choice(sorted(seeds))
    data = seeds[name]
    r = rng.random()
    if r < 0.05:  # Lua function whose bytecode would create the canary if run
        code = f"os.execute('touch {canary}')".encode()
        tag = rng.choice((6, 7, 8))
        w = T7()
        t7_lua_function(w, tag, code, {1: "up"})
        return f"lua-function-tag{tag}", w.bytes(), ".t7"
    if r < 0.12:  # a header claiming a giant tensor / storage / table
        big = rng.choice((1 << 31, 1 << 40, (1 << 63) - 1, -1))
        w = T7()
        kind = rng.choice(("tensor", "storage", "table", "string", "ndim"))
        if kind == "tensor":
            w.i32(4), w.idx(), w.s("V 1"), w.s("torch.FloatTensor"), w.i32(2)
            w.i64(big), w.i64(big), w.i64(big), w.i64(1), w.i64(1)
            w.i32(4), w.idx(), w.s("V 1"), w.s("torch.FloatStorage"), w.i64(4)
            w.out += bytes(16)
        elif kind == "storage":
            w.i32(4), w.idx(), w.s("V 1"), w.s("torch.DoubleStorage"), w.i64(big)
        elif kind == "table":
            w.i32(3), w.idx(), w.i32(min(big, 0x7FFFFFFF))
        elif kind == "string":
            w.i32(2), w.i32(min(big, 0x7FFFFFFF))
        else:
            w.i32(4), w.idx(), w.s("V 1"), w.s("torch.FloatTensor"), w.i32(min(big, 0x7FFFFFFF))
        return f"giant-{kind}", w.bytes(), ".t7"
    if r < 0.15:  # deep nesting
        depth = rng.choice((150, 250, 5000))
        w = T7()
        for _ in range(depth):
            w.i32(3), w.idx(), w.i32(1), w.write(1)
        w.write(None)
        return f"nested-{depth}", w.bytes(), ".t7"
    if r < 0.2:  # back-references to objects not read yet / self references
        w = T7()
        w.i32(3), w.idx(), w.i32(2), w.write("self")
        w.i32(3), w.i32(1)  # refers to itself
        w.write("other"), w.i32(4), w.i32(rng.choice((1, 7, -1)))
        return "self-reference", w.bytes(), ".t7"
    if r < 0.25:
        label, out = splice(rng, data, seeds[rng.choice(sorted(seeds))])
        return f"{name}:{label}", out, ".t7"
    label, out = mutate_generic(rng, data)
    return f"{name}:{label}", out, ".t7"


def run_read_t7(path, rng):
    from adain_jax.weights import torch7

    torch7.read_t7(path)
    torch7.conv_layers(path) if rng.random() < 0.5 else None


# ============================================================================ own .npz

def npz_bytes(flat: dict[str, np.ndarray], compressed=False) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **flat)
    return buf.getvalue()


def npz_seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(4)
    flat = {"decoder/conv1_1/kernel": rng.standard_normal((3, 3, 4, 3)).astype(np.float32),
            "decoder/conv1_1/bias": np.zeros(3, np.float32),
            "vgg/preprocess/kernel": np.ones((1, 1, 3, 3), np.float16),
            "__format__": np.asarray("adain-jax-params-v1")}
    return {"small.npz": npz_bytes(flat), "small-compressed.npz": npz_bytes(flat, True)}


def decoder_npz() -> bytes:
    from adain_jax.nn.models import expected_shapes

    rng = np.random.default_rng(5)
    flat = {f"decoder/{k}": (rng.standard_normal(s) * 0.01).astype(np.float16)
            for k, s in expected_shapes("decoder").items()}
    flat["__format__"] = np.asarray("adain-jax-params-v1")
    return npz_bytes(flat)


def npy_header(dtype: str, shape, fortran=False) -> bytes:
    d = "{'descr': %r, 'fortran_order': %r, 'shape': %r, }" % (dtype, fortran, tuple(shape))
    h = d.encode("latin1")
    pad = 64 - (10 + len(h) + 1) % 64
    h = h + b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h


def gen_npz(rng, seeds, canary) -> tuple[str, bytes, str]:
    name = rng.choice(sorted(seeds))
    data = seeds[name]
    r = rng.random()
    if r < 0.2:  # rewrite one array's header: giant shape, wrong dtype, object arrays
        members = unzip(data)
        key = rng.choice([n for n in members if not n.startswith("__")])
        raw = members[key]
        body = raw[10 + struct.unpack("<H", raw[8:10])[0]:]
        big = rng.choice((1 << 31, 1 << 40, 10 ** 6, 1 << 62))
        choice = rng.choice(("giant", "giant2", "object", "f8", "i4", "U5", "V8", "fortran",
                             "scalar", "negative", "shape-mismatch"))
        hdr = {"giant": ("<f4", (big,)), "giant2": ("<f2", (big, big)),
               "object": ("|O", (2,)), "f8": ("<f8", (len(body) // 8,)),
               "i4": ("<i4", (len(body) // 4,)), "U5": ("<U5", (1,)),
               "V8": ("|V8", (len(body) // 8,)), "fortran": ("<f4", (len(body) // 4,)),
               "scalar": ("<f4", ()), "negative": ("<f4", (-1,)),
               "shape-mismatch": ("<f4", (len(body) // 4 + 7,))}[choice]
        if choice == "object":
            body = pickle.dumps([1, 2], protocol=2)
            if rng.random() < 0.5:
                _, body = evil_pickle(rng, canary)
        members[key] = npy_header(hdr[0], hdr[1], choice == "fortran") + body
        return f"{name}:npy-header-{choice}", rezip(members), ".npz"
    if r < 0.23:  # a genuine compressed bomb: 256 MiB of zeros in ~256 KiB
        if "bomb" not in _BOMB_CACHE:
            members = unzip(seeds["small.npz"])
            key = "decoder/conv1_1/kernel.npy"
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for n, d in members.items():
                    if n != key:
                        z.writestr(n, d)
                with z.open(key, "w", force_zip64=True) as f:
                    f.write(npy_header("<f4", (1 << 26,)))
                    chunk = bytes(1 << 22)
                    for _ in range((1 << 28) // len(chunk)):
                        f.write(chunk)
            _BOMB_CACHE["bomb"] = buf.getvalue()
        return "npz-zip-bomb-256MiB", _BOMB_CACHE["bomb"], ".npz"
    if r < 0.55:
        label, out = mutate_zip_member(rng, data, prefer=".npy")
        return f"{name}:{label}", out, ".npz"
    label, out = mutate_generic(rng, data)
    return f"{name}:{label}", out, ".npz"


_BOMB_CACHE: dict[str, bytes] = {}


def run_load_tree(path, rng):
    from adain_jax.weights import load_tree

    load_tree(path)


# ============================================================================ keras .h5

def h5_bytes(full: bool, tmpdir: Path) -> bytes:
    import h5py

    from adain_jax.nn.models import expected_shapes
    from adain_jax.weights import KERAS_VGG

    shapes = expected_shapes("vgg")
    rng = np.random.default_rng(6)
    p = tmpdir / f"seed{int(full)}.h5"
    with h5py.File(p, "w") as f:
        names = list(KERAS_VGG.values())
        f.attrs["layer_names"] = np.array([n.encode() for n in ["input_1"] + names])
        f.create_group("input_1").attrs["weight_names"] = np.array([], dtype="S1")
        for ours, theirs in KERAS_VGG.items():
            g = f.create_group(theirs)
            ks = shapes[f"{ours}/kernel"] if full else (3, 3, 2, 2)
            g.attrs["weight_names"] = np.array([f"{theirs}_W_1:0".encode(),
                                                f"{theirs}_b_1:0".encode()])
            g.create_dataset(f"{theirs}_W_1:0", data=(rng.standard_normal(ks) * 0.01)
                             .astype(np.float16 if full else np.float32))
            g.create_dataset(f"{theirs}_b_1:0", data=np.zeros(ks[-1], np.float32))
    return p.read_bytes()


def h5_giant(tmpdir: Path, rng) -> bytes:
    """A valid h5 whose first kernel dataset claims a giant shape (chunked, never written)."""
    import h5py

    from adain_jax.weights import KERAS_VGG

    p = tmpdir / "giant.h5"
    big = rng.choice((1 << 20, 1 << 28, 1 << 31))
    with h5py.File(p, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n in KERAS_VGG.values()])
        for i, theirs in enumerate(KERAS_VGG.values()):
            g = f.create_group(theirs)
            g.attrs["weight_names"] = np.array([b"W", b"b"])
            shape = (3, 3, big, 64) if i == 0 else (3, 3, 3, 64)
            g.create_dataset("W", shape=shape, dtype="f4", chunks=(3, 3, 1, 64))
            g.create_dataset("b", shape=(64,), dtype="f4")
    return p.read_bytes()


def gen_h5(rng, seeds, canary, tmpdir) -> tuple[str, bytes, str]:
    name = rng.choice(sorted(seeds))
    data = seeds[name]
    r = rng.random()
    if r < 0.06:
        return "h5-giant-dataset", h5_giant(tmpdir, rng), ".h5"
    label, out = mutate_generic(rng, data)
    return f"{name}:{label}", out, ".h5"


# ============================================================================ orbax checkpoints

class CkptFixture:
    """A tiny run's checkpoint directory, and the restore sequence ``training.train`` uses."""

    def __init__(self, tmpdir: Path):
        import jax.numpy as jnp

        from adain_jax.training import Checkpoints

        self.root = tmpdir / "ckpt-seed"
        self.state = {"step": jnp.asarray(2, jnp.int32),
                      "params": {"w": jnp.arange(12, dtype=jnp.float32).reshape(4, 3),
                                 "b": jnp.ones(3, jnp.float32)}}
        self.arch = {"decoder_shapes": {"w": [4, 3], "b": [3]}, "optimizer": "adam"}
        ck = Checkpoints(self.root, keep=2, use_async=False)
        for step in (1, 2):
            ck.save(step, self.state, [{"i": step}], {"arch": self.arch, "train": {"seed": 0}})
        ck.close()

    def files(self, wd: Path) -> list[Path]:
        return sorted(p for p in (wd / "checkpoints").rglob("*") if p.is_file())

    def restore(self, wd: Path, rng) -> None:
        import gc

        from adain_jax.training import Checkpoints, abstract_like, check_compatible

        ck = Checkpoints(wd, keep=2, use_async=False)
        try:
            latest = ck.latest_step()
            if latest is None:
                return
            stored = ck.restore_config(latest)
            check_compatible(stored, {"arch": self.arch, "train": {"seed": 0}}, str(wd))
            abstract = abstract_like(self.state)
            if rng.random() < 0.1:  # a run of another shape
                import jax

                abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(
                    tuple(d + 1 for d in x.shape), x.dtype, sharding=x.sharding), abstract)
            ck.restore(latest, abstract)
        finally:
            ck.close()
            gc.collect()


def gen_ckpt(rng, fix: CkptFixture, wd: Path) -> str:
    shutil.copytree(fix.root, wd)
    files = fix.files(wd)
    r = rng.random()
    if r < 0.08:
        victim = rng.choice(files)
        victim.unlink()
        return f"delete:{victim.relative_to(wd)}"
    if r < 0.14:  # a half-written step (orbax temp dir) or a stray entry
        d = wd / "checkpoints" / rng.choice(("3.orbax-checkpoint-tmp-1700000000", "7", "x",
                                             "4.orbax-checkpoint-tmp-1"))
        shutil.copytree(wd / "checkpoints" / "2", d)
        if rng.random() < 0.5:
            for f in sorted(d.rglob("*"))[::2]:
                if f.is_file():
                    f.unlink()
        return f"stray-dir:{d.name}"
    if r < 0.3:  # valid JSON with the wrong content in an item
        cfgs = [f for f in files if f.parent.name in ("config", "data")
                and not f.name.startswith("_")]
        if cfgs:
            victim = rng.choice(cfgs)
            victim.write_text(json.dumps(rng.choice(
                ([1, 2], "x", None, {"arch": 5}, {"arch": {"decoder_shapes": {"w": [9, 9]}}},
                 {"process_count": "a", "states": 3}, {}, {"arch": None, "train": []}))))
            return f"json:{victim.relative_to(wd)}"
    victim = rng.choice(files)
    label, out = mutate_generic(rng, victim.read_bytes())
    victim.write_bytes(out)
    return f"{victim.relative_to(wd)}:{label}"


# ============================================================================ CLI argv

GARBAGE = ("", "-", "--", "x", "0", "-1", "1e400", "nan", "inf", "-inf", "1,2", "1,,2", ",",
           "0.5", "2", "99999999999999999999", "\x00", "a\x00b", "é", "..", ".", "/dev/null",
           "/proc/self/mem", "%s%n", "1" * 300, "true", " ", "\n", "-5", "1,-1", "nan,1",
           "inf,1", "0,0", "1e-300")
STYLIZE_FLAGS = ("--content", "--style", "--output", "--vgg", "--decoder", "--alpha",
                 "--style-weights", "--mask", "--content-size", "--style-size", "--batch-size",
                 "--dtype", "--optimize-steps")
PLAUSIBLE = {
    "--alpha": ("0", "0.5", "1", "1.5", "-0.1", "nan", "1e-9"),
    "--batch-size": ("0", "1", "2", "3", "-1"),
    "--content-size": ("0", "8", "16", "-1", "100000", "99999999999999999999"),
    "--style-size": ("0", "8", "16", "-1", "3000000"),
    "--style-weights": ("1", "1,1", "1,3", "0,0", "1,-1", "nan,1", "inf,1", "1,2,3"),
    "--dtype": ("float32", "bfloat16", "float16"),
}
STYLIZE_BOOL = ("--preserve-color", "--crop", "--overwrite", "--optimize", "--quiet", "--help",
                "--nope", "-h")
TRAIN_FLAGS = ("--content-data", "--style-data", "--workdir", "--steps", "--batch-size",
               "--crop-size", "--resize", "--lr", "--lr-decay", "--style-weight", "--dtype",
               "--vgg", "--seed", "--workers", "--checkpoint-every", "--keep", "--log-every",
               "--sample-every")


class CliFixture:
    """Files the argv generator picks from (good, bad, missing), in a fuzz temp dir."""

    def __init__(self, tmpdir: Path, image_seed_bytes: dict[str, bytes], weights: dict):
        from PIL import Image

        d = tmpdir / "cli"
        (d / "imgs").mkdir(parents=True)
        (d / "styles").mkdir()
        rng = np.random.default_rng(7)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(
                d / "imgs" / f"c{i}.png")
            Image.fromarray(rng.integers(0, 256, (9, 14, 3), dtype=np.uint8)).save(
                d / "styles" / f"s{i}.jpg")
        (d / "imgs" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
        (d / "mask.png").write_bytes(image_seed_bytes["l.png"])
        (d / "garbage.pth").write_bytes(b"\x80\x02garbage")
        (d / "file.txt").write_text("not a folder")
        (d / "out").mkdir()
        for k, v in weights.items():
            (d / k).write_bytes(v)
        self.d = d
        self.paths = [str(p) for p in (
            d / "imgs", d / "styles", d / "imgs" / "c0.png", d / "styles" / "s1.jpg",
            d / "imgs" / "broken.jpg", d / "mask.png", d / "garbage.pth", d / "file.txt",
            d / "missing.png", d / "out", d / "out" / "o.png", d / "out" / "o.xyz",
            d / "file.txt" / "sub", d / "nope" / "deep" / "o.jpg", *(d / k for k in weights))]
        self.paths.append(f"{d / 'styles' / 's0.jpg'},{d / 'styles' / 's1.jpg'}")

    def value(self, rng) -> str:
        return rng.choice(self.paths) if rng.random() < 0.55 else rng.choice(GARBAGE)

    def stylize_argv(self, rng) -> list[str]:
        argv = []
        for _ in range(rng.randrange(0, 4)):  # plausible values for the typed flags
            flag = rng.choice(sorted(PLAUSIBLE))
            argv += [flag, rng.choice(PLAUSIBLE[flag])]
        if rng.random() < 0.8:
            argv += ["--content", rng.choice(self.paths[:5])]
        if rng.random() < 0.8:
            argv += ["--style", rng.choice(self.paths[:5] + self.paths[-1:])]
        for _ in range(rng.randrange(0, 6)):
            if rng.random() < 0.75:
                argv += [rng.choice(STYLIZE_FLAGS), self.value(rng)]
            else:
                argv.append(rng.choice(STYLIZE_BOOL + GARBAGE))
        if rng.random() < 0.8:  # no decoder ships: usually give one (else: a clean error)
            argv += ["--decoder", str(self.d / "dec.npz")]
        if rng.random() < 0.3:
            argv += ["--vgg", str(self.d / "vgg.npz")]
        if "--output" not in argv:
            argv += ["--output", str(self.d / "out" / f"r{rng.randrange(1 << 30)}")]
        if rng.random() < 0.1:
            rng.shuffle(argv)
        return argv + ["--quiet"]

    def train_argv(self, rng, wd: Path) -> list[str]:
        argv = []
        for flag, val in (("--content-data", str(self.d / "imgs")),
                          ("--style-data", str(self.d / "styles")), ("--workdir", str(wd))):
            if rng.random() < 0.85:
                argv += [flag, val if rng.random() < 0.8 else self.value(rng)]
        argv += ["--crop-size", "8", "--resize", "8", "--workers", "0"]
        for _ in range(rng.randrange(0, 5)):
            if rng.random() < 0.8:
                flag = rng.choice(TRAIN_FLAGS)
                val = self.value(rng) if flag in ("--vgg", "--workdir", "--content-data",
                                                  "--style-data") or rng.random() < 0.5 \
                    else rng.choice(("0", "1", "2", "8", "16", "1e-4", "-3", "3.5", "nan",
                                     "bfloat16", "float16", "tfds:nope", "tfds:"))
                argv += [flag, val]
            else:
                argv.append(rng.choice(("--tpu", "--help", "--bogus") + GARBAGE))
        return argv


def _fake_transfer():
    """Cheap stand-ins for the jitted forward pass that keep transfer.stylize's checks."""
    from adain_jax.inference import transfer
    from adain_jax.errors import ConfigError

    def style_stats(params, style, dtype=None):
        s = np.asarray(style, np.float32)
        if s.ndim == 3:
            s = s[None]
        return transfer.StyleStats(s.mean(axis=(1, 2), keepdims=True),
                                   s.std(axis=(1, 2), keepdims=True))

    def stylize(params, content, style, alpha=1.0, style_weights=None, masks=None,
                preserve_color=False, dtype=None):
        if not 0.0 <= float(alpha) <= 1.0:
            raise ConfigError(f"alpha must be in [0, 1], got {alpha}")
        c = np.asarray(content, np.float32)
        styles = list(style) if isinstance(style, (list, tuple)) and not isinstance(
            style, transfer.StyleStats) else [style]
        if style_weights is not None and masks is None:
            w = list(style_weights)
            if len(w) != len(styles) or min(w) < 0 or sum(w) <= 0:
                raise ConfigError("bad style weights")
            if not all(np.isfinite(w)):
                raise RuntimeError(f"non-finite style weights reached the model: {w}")
        return np.clip(c * float(alpha), 0, 1)

    return style_stats, stylize


# ============================================================================ runner

@contextlib.contextmanager
def alarm(seconds: float):
    def handler(signum, frame):
        raise Hang(f"case ran longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def index_is_warmup(rng) -> bool:
    return getattr(rng, "warmup", False)


class Fuzzer:
    def __init__(self, seed: int, tmpdir: Path, targets=TARGETS, with_torch=True):
        self.seed = seed
        self.tmp = Path(tmpdir)
        self.canary = self.tmp / CANARY_NAME
        self.targets = targets
        self.with_torch = with_torch
        self._seeds: dict[str, dict[str, bytes]] = {}
        self._ckpt = None
        self._cli = None
        self.counter = 0

    # -- seeds, built lazily per target
    def seeds(self, group: str) -> dict[str, bytes]:
        if group not in self._seeds:
            if group == "image":
                s = image_seeds()
            elif group == "pth":
                s = pth_seeds(self.with_torch)
            elif group == "pth-full":
                s = {"decoder-half.zip.pth": pth_zip(decoder_torch_arrays(np.float16)),
                     "decoder-wrapped.zip.pth": pth_zip(decoder_torch_arrays(np.float16),
                                                        "state_dict")}
            elif group == "t7":
                s = t7_seeds()
            elif group == "t7-full":
                s = {"decoder.t7": decoder_t7()}
            elif group == "npz":
                s = npz_seeds()
            elif group == "npz-full":
                s = {"decoder.npz": decoder_npz()}
            elif group == "h5":
                s = {"small.h5": h5_bytes(False, self.tmp), "full.h5": h5_bytes(True, self.tmp)}
            else:
                raise KeyError(group)
            self._seeds[group] = s
        return self._seeds[group]

    def path(self, suffix: str) -> Path:
        self.counter += 1
        return self.tmp / f"case{self.counter}{suffix}"

    def make(self, target: str, rng):
        """(label, callable) for one case; the callable raises or returns an exit code."""
        if target in ("image.load_image", "image.load_mask"):
            label, data, suffix = gen_image(rng, self.seeds("image"))
            fn = run_load_image if target == "image.load_image" else run_load_mask
        elif target == "pth.load_pth":
            label, data, suffix = gen_pth(rng, self.seeds("pth"), self.canary)
            fn = run_load_pth
        elif target == "pth.load_decoder":
            label, data, suffix = gen_pth(rng, self.seeds("pth-full"), self.canary)
            fn = run_load_decoder
        elif target == "t7.read_t7":
            label, data, suffix = gen_t7(rng, self.seeds("t7"), self.canary)
            fn = run_read_t7
        elif target == "t7.load_decoder":
            label, data, suffix = gen_t7(rng, self.seeds("t7-full"), self.canary)
            fn = run_load_decoder
        elif target == "npz.load_tree":
            label, data, suffix = gen_npz(rng, self.seeds("npz"), self.canary)
            fn = run_load_tree
        elif target == "npz.load_decoder":
            label, data, suffix = gen_npz(rng, {**self.seeds("npz-full"),
                                                "small.npz": self.seeds("npz")["small.npz"]},
                                          self.canary)
            fn = run_load_decoder
        elif target == "h5.load_vgg":
            label, data, suffix = gen_h5(rng, self.seeds("h5"), self.canary, self.tmp)
            fn = run_load_vgg
        elif target == "ckpt.restore":
            if self._ckpt is None:
                self._ckpt = CkptFixture(self.tmp)
            wd = self.path("-wd")
            label = gen_ckpt(rng, self._ckpt, wd)
            return label, lambda: self._ckpt.restore(wd, rng), wd
        elif target in ("cli.stylize_main", "cli.train_main"):
            return self.make_cli(target, rng)
        else:
            raise KeyError(target)
        p = self.path(suffix)
        p.write_bytes(data)
        return label, lambda: fn(p, rng), p

    def cli(self) -> CliFixture:
        if self._cli is None:
            from adain_jax.nn import models

            vgg = {k: np.zeros(s, np.float16) for k, s in models.expected_shapes("vgg").items()}
            w = {"vgg.npz": npz_bytes({f"vgg/{k}": v for k, v in vgg.items()}),
                 "dec.npz": self.seeds("npz-full")["decoder.npz"],
                 "dec-small.npz": self.seeds("npz")["small.npz"]}
            self._cli = CliFixture(self.tmp, self.seeds("image"), w)
        return self._cli

    def make_cli(self, target, rng):
        from adain_jax import cli
        from adain_jax.inference import transfer
        from adain_jax.training import loop

        fx = self.cli()
        if target == "cli.stylize_main":
            argv = fx.stylize_argv(rng)
            style_stats, stylize = _fake_transfer()

            def fn():
                old = transfer.stylize, transfer.style_stats
                transfer.stylize, transfer.style_stats = stylize, style_stats
                try:
                    return cli.stylize_main(argv)
                finally:
                    transfer.stylize, transfer.style_stats = old
        else:
            wd = self.path("-train")
            argv = fx.train_argv(rng, wd)
            if index_is_warmup(rng):
                argv = ["--content-data", str(fx.d / "imgs"), "--style-data",
                        str(fx.d / "styles"), "--workdir", str(wd), "--crop-size", "8",
                        "--resize", "8", "--workers", "0", "--steps", "1"]

            def fn():
                old = loop.run_loop, loop.new_state
                loop.run_loop = lambda run, state, start: state
                # the initial state's layout does not depend on lr: one compile for all cases
                loop.new_state = lambda mesh, lr, lr_decay, seed=0, lite_config=None: old[1](
                    mesh, 1e-4, 5e-5, seed, lite_config)
                try:
                    return cli.train_main(argv)
                finally:
                    loop.run_loop, loop.new_state = old
        return " ".join(repr(a) for a in argv)[:300], fn, None

    def run_case(self, target: str, index: int) -> dict:  # noqa: D401
        rng = random.Random(f"{self.seed}:{target}:{index}")
        rng.warmup = index < 0
        label, fn, artefact = self.make(target, rng)
        outcome, detail = classify(fn, cli=target.startswith("cli."))
        if self.canary.exists():
            outcome, detail = "FAILURE", f"CODE EXECUTED (canary created); {detail}"
            self.canary.unlink()
        if artefact is not None:
            if artefact.is_dir():
                shutil.rmtree(artefact, ignore_errors=True)
            else:
                artefact.unlink(missing_ok=True)
        return {"target": target, "index": index, "case": label, "outcome": outcome,
                "detail": detail}


def classify(fn, cli: bool = False) -> tuple[str, str]:
    """('ok' | 'error' | 'FAILURE', detail)."""
    out, err = io.StringIO(), io.StringIO()
    t0 = time.process_time()
    try:
        with alarm(WALL_TIMEOUT_S), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            result = fn()
    except Hang as e:
        return "FAILURE", f"hang: {e}"
    except AdainError as e:
        msg = str(e)
        if not msg or "\n" in msg:
            return "FAILURE", f"AdainError message not one line: {msg[:300]!r}"
        return _timed(t0, "error", f"{type(e).__name__}: {msg[:200]}")
    except SystemExit as e:
        if not cli:
            return "FAILURE", f"SystemExit({e.code})"
        text = err.getvalue()
        if e.code == 0:
            return _timed(t0, "ok", "exit 0 (help)")
        if e.code == 2 and "Traceback" not in text and "usage:" in text:
            return _timed(t0, "error", "argparse: " + text.strip().splitlines()[-1][:200])
        return "FAILURE", f"SystemExit({e.code}) stderr={text[-300:]!r}"
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - anything else is the finding
        return "FAILURE", f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
    if cli:
        text = err.getvalue()
        lines = [l for l in text.splitlines() if l.strip()]
        if "Traceback" in text:
            return "FAILURE", f"exit {result} with a traceback: {text[-300:]!r}"
        if result == 0:
            return _timed(t0, "ok", "exit 0")
        if result == 1:
            bad = [l for l in lines if not (l.startswith("failed: ") or " output(s) failed" in l)]
            if bad:
                return "FAILURE", f"exit 1 with unexpected stderr lines {bad[:2]!r}"
            return _timed(t0, "error", f"exit 1: {lines[-1][:200] if lines else ''}")
        if result == 2 and len(lines) == 1 and lines[0].startswith("error: "):
            return _timed(t0, "error", f"exit 2: {lines[0][:200]}")
        return "FAILURE", f"exit {result}, stderr={text[-300:]!r}"
    return _timed(t0, "ok", "")


def _timed(t0, outcome, detail):
    dt = time.process_time() - t0
    if dt > CASE_TIMEOUT_S:
        return "FAILURE", f"took {dt:.1f} CPU s (> {CASE_TIMEOUT_S} s): {detail}"
    return outcome, detail


def allocate(total: int, targets=TARGETS) -> dict[str, int]:
    w = sum(WEIGHTS[t] for t in targets)
    counts = {t: max(1, int(round(total * WEIGHTS[t] / w))) for t in targets}
    return counts


def limit_memory(gib: float) -> tuple[int, int] | None:
    """Lower the soft address-space limit so a runaway allocation raises MemoryError here
    instead of waking the OOM killer (the machine may be shared). Returns the old limits."""
    try:
        import resource

        old = resource.getrlimit(resource.RLIMIT_AS)
        want = int(gib * 2 ** 30)
        if old[0] == resource.RLIM_INFINITY or old[0] > want:
            resource.setrlimit(resource.RLIMIT_AS, (want, old[1]))
        return old
    except (ImportError, ValueError, OSError):
        return None


def restore_memory(old) -> None:
    if old is not None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, old)


def run(total: int, seed: int, targets=TARGETS, first_case: int = 0, tmpdir=None,
        with_torch=True, log=print, counts=None) -> dict:
    base = tmpdir or ("/dev/shm" if os.path.isdir("/dev/shm") else None)
    tmp = Path(tempfile.mkdtemp(prefix="adain-fuzz-", dir=base))
    fz = Fuzzer(seed, tmp, targets, with_torch)
    counts = counts or allocate(total, targets)
    results = {}
    failures = []
    cwd = os.getcwd()
    os.chdir(tmp)  # relative paths in fuzzed argv ('.', '..') stay in small folders
    try:
        for t in targets:
            if t == "cli.train_main":  # untimed warm-up: compiles the state init once
                fz.run_case(t, -1)
            c = Counter()
            t0 = time.perf_counter()
            slowest = 0.0
            for i in range(first_case, first_case + counts[t]):
                ts = time.perf_counter()
                r = fz.run_case(t, i)
                slowest = max(slowest, time.perf_counter() - ts)
                c[r["outcome"]] += 1
                if r["outcome"] == "FAILURE":
                    failures.append(r)
                    log(f"FAILURE {t} #{i} [{r['case']}]: {r['detail']}")
            dt = time.perf_counter() - t0
            results[t] = {"cases": counts[t], "ok": c["ok"], "clean_error": c["error"],
                          "FAILURE": c["FAILURE"], "seconds": round(dt, 2),
                          "slowest_case_s": round(slowest, 3)}
            log(f"{t:18s} {counts[t]:6d} cases  ok {c['ok']:6d}  clean error {c['error']:6d}  "
                f"FAILURE {c['FAILURE']:4d}  ({dt:.1f} s)")
    finally:
        os.chdir(cwd)
        shutil.rmtree(tmp, ignore_errors=True)
    return {"seed": seed, "first_case": first_case, "case_cpu_limit_s": CASE_TIMEOUT_S,
            "case_wall_limit_s": WALL_TIMEOUT_S,
            "targets": results, "total_cases": sum(r["cases"] for r in results.values()),
            "total_failures": len(failures), "failures": failures[:200]}


def markdown(report: dict) -> str:
    lines = [f"# Fuzzing results (seed {report['seed']}, {report['total_cases']} cases)", "",
             "Generated by `python -m tools.hardening.fuzz --cases N --seed S`; see "
             "SECURITY.md.", "",
             "| target | cases | ok | clean error | FAILURE | seconds | slowest case (wall s) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for t, r in report["targets"].items():
        lines.append(f"| `{t}` | {r['cases']} | {r['ok']} | {r['clean_error']} | {r['FAILURE']} "
                     f"| {r['seconds']} | {r['slowest_case_s']} |")
    tot = report["targets"].values()
    lines.append(f"| **total** | {sum(r['cases'] for r in tot)} | {sum(r['ok'] for r in tot)} | "
                 f"{sum(r['clean_error'] for r in tot)} | {sum(r['FAILURE'] for r in tot)} | "
                 f"{round(sum(r['seconds'] for r in tot), 1)} | |")
    if report["failures"]:
        lines += ["", "## Failures", ""]
        lines += [f"- `{f['target']}` #{f['index']} `{f['case'][:80]}`: {f['detail'][:200]}"
                  for f in report["failures"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=10_000, help="total cases over all targets")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target", action="append", choices=TARGETS,
                   help="only these targets (repeatable); --cases then goes to them")
    p.add_argument("--first-case", type=int, default=0, help="index of the first case")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "security")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--same-counts-as-full-run", action="store_true",
                   help="with --target: give each target the cases a full run of --cases "
                        "would (case i depends only on seed, target and i)")
    p.add_argument("--memory-gib", type=float, default=12.0,
                   help="address-space limit of this process (runaway allocations fail)")
    a = p.parse_args(argv)
    targets = tuple(a.target) if a.target else TARGETS
    limit_memory(a.memory_gib)
    counts = None
    if a.target and a.same_counts_as_full_run:  # the cases a full run gives these targets
        full = allocate(a.cases)
        counts = {t: full[t] for t in targets}
    report = run(a.cases, a.seed, targets, a.first_case, counts=counts)
    if not a.no_write:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "fuzz_results.json").write_text(json.dumps(report, indent=1) + "\n")
        (a.out / "fuzz_results.md").write_text(markdown(report))
    print(f"total {report['total_cases']} cases, {report['total_failures']} FAILURE(s)")
    return 1 if report["total_failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
