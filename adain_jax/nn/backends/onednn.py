"""3x3 convolutions on the CPU through oneDNN, as XLA FFI custom calls.

XLA:CPU runs convolutions at ~330 GFLOP/s on 2 Zen 5 cores and has no bf16 kernels (bf16 is
converted to f32); oneDNN's brgemm kernels reach ~500 GFLOP/s in f32 (AVX-512) and ~1 TFLOP/s
in bf16 (AVX512-BF16 / AMX). ``conv3x3`` is the models' reflection-padded 3x3 convolution as one
differentiable custom call that also fuses the ReLU and the encoder's max pools / decoder's
upsamplings: in float32 it computes what XLA computes (up to summation order); in bfloat16 inputs
and kernels are rounded to bf16 with f32 accumulation and a kernel-rounding compensation. The
backward pass reuses the forward kernel for the input gradient (a full convolution with the
flipped, transposed kernel) and oneDNN's backward-weights kernel for the kernel and bias.

The kernels (``csrc/onednn_conv.cc``) are compiled when the package is built (CMakeLists.txt,
scikit-build-core) into ``_onednn_kernels.so`` next to this file, with oneDNN's
``libdnnl.so.3`` beside it. Nothing is compiled or cached at run time: the only library ever
loaded is the one the installed ``adain-jax`` distribution lists in its RECORD, with the hash
recorded there. Without it (no compiler at install, not Linux x86_64), without an AVX-512 CPU or
with ``ADAIN_JAX_ONEDNN=0``, ``available()`` is False (``reason()`` says why) and the models use
XLA; bf16 also needs AVX512-BF16 or AMX.
"""
from __future__ import annotations

import base64
import ctypes
import functools
import hashlib
import json
import logging
import os
import sys
from importlib import metadata
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from adain_jax.nn import layers

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
DISTRIBUTION = "adain-jax"
EXTENSION = "_onednn_kernels"          # adain_jax/nn/backends/_onednn_kernels*.so
BUILD_INFO = "_onednn_build.json"      # written by CMakeLists.txt at build time
FWD, FWD_BF16, FWD_F32 = "adain_conv3x3_fwd", "adain_conv3x3_fwd_bf16", "adain_conv3x3_fwd_f32"
BWD_W, BWD_W_F32 = "adain_conv3x3_bwd_w", "adain_conv3x3_bwd_w_f32"
BF16_ISAS = ("avx512_core_bf16", "avx512_core_fp16", "avx512_core_amx", "avx512_core_amx_fp16")
ISAS = ("avx512_core", "avx512_core_vnni", *BF16_ISAS)  # what oneDNN reports; measured faster
#: /proc/cpuinfo flags of oneDNN's avx512_core level (what the kernels need at least).
AVX512_CORE_FLAGS = ("avx512f", "avx512bw", "avx512vl", "avx512dq")
_state: dict = {}


def cpu_could_use() -> bool:
    """Whether this machine could run the kernels (Linux x86_64 with AVX-512), built or not."""
    if sys.platform != "linux" or os.uname().machine not in ("x86_64", "AMD64"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(AVX512_CORE_FLAGS) <= set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return False


def _record_hash(entry) -> str | None:
    return entry.hash.value if entry.hash is not None and entry.hash.mode == "sha256" else None


def _sha256_b64(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _editable_source(dist) -> Path | None:
    """The source folder of an editable install (PEP 610 ``direct_url.json``), else None."""
    try:
        info = json.loads(dist.read_text("direct_url.json") or "{}")
    except ValueError:
        return None
    url = info.get("url", "")
    if info.get("dir_info", {}).get("editable") and url.startswith("file://"):
        return Path(url[len("file://"):]).resolve()
    return None


def extension_path() -> Path:
    """The kernels library of the installed package, verified; raises RuntimeError with the
    reason when there is none.

    Only a file that the installed ``adain-jax`` distribution's RECORD lists, with the same
    sha256, in this package's folder (or, for an editable install of this source tree, where
    the install put it) is accepted: never a file from a cache, the working directory or an
    environment variable."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise RuntimeError("adain-jax is not installed (pip install .), so its oneDNN kernels "
                           "are not built") from None
    editable = _editable_source(dist)
    if not (editable and HERE.is_relative_to(editable)):
        location = Path(dist.locate_file("adain_jax/nn/backends")).resolve()
        if location != HERE:
            raise RuntimeError(f"this adain_jax ({HERE}) is not the installed one ({location})")
    for entry in dist.files or ():
        name = entry.as_posix()
        if not (name.startswith(f"adain_jax/nn/backends/{EXTENSION}") and name.endswith(".so")):
            continue
        path = Path(entry.locate()).resolve()
        if path.parent != HERE and not editable:
            raise RuntimeError(f"{path} is outside the package folder {HERE}")
        st = path.stat()
        if st.st_mode & 0o022 or st.st_uid not in (0, os.getuid(), HERE.stat().st_uid):
            raise RuntimeError(f"{path} is writable by others or has a foreign owner")
        expected = _record_hash(entry)
        if expected is None or _sha256_b64(path) != expected:
            raise RuntimeError(f"{path} does not match the hash the installation recorded")
        return path
    raise RuntimeError("the oneDNN kernels were not built when adain-jax was installed "
                       "(needs Linux x86_64, a C++ compiler with OpenMP and oneDNN at install "
                       "time; see the README)")


def build_info(path: Path | None = None) -> dict:
    """What the kernels were built against (``jaxlib``, ``onednn``, ``compiler``)."""
    try:
        return json.loads(((path or extension_path()).parent / BUILD_INFO).read_text())
    except (OSError, ValueError):
        return {}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:3] if p.isdigit())


def _load() -> None:
    if os.environ.get("ADAIN_JAX_ONEDNN", "1") in ("0", "false", "no", "off"):
        raise RuntimeError("disabled by ADAIN_JAX_ONEDNN=0")
    if sys.platform != "linux":
        raise RuntimeError(f"only built on Linux, not {sys.platform}")
    path = extension_path()
    built = build_info(path).get("jaxlib", "")
    running = metadata.version("jaxlib")
    if built and _version(running) < _version(built):
        raise RuntimeError(f"the kernels were built against jaxlib {built}'s FFI, this is "
                           f"jaxlib {running}; reinstall adain-jax")
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as e:
        raise RuntimeError(f"cannot load {path.name}: {e}") from None
    lib.adain_onednn_isa.restype = ctypes.c_char_p
    isa = lib.adain_onednn_isa().decode()
    if isa not in ISAS:
        raise RuntimeError(f"this CPU has no AVX-512 (oneDNN isa: {isa})")
    for name, symbol in ((FWD, "AdainConv3x3Fwd"), (FWD_BF16, "AdainConv3x3FwdBf16"),
                         (FWD_F32, "AdainConv3x3FwdF32"), (BWD_W, "AdainConv3x3BwdW"),
                         (BWD_W_F32, "AdainConv3x3BwdWF32")):
        jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(lib, symbol)), platform="cpu")
    _state["isa"], _state["path"] = isa, path


def available() -> bool:
    """Loads and registers the packaged kernels on first call; False (with ``reason()``) if
    impossible."""
    if "ok" not in _state:
        try:
            _load()
            _state["ok"] = True
        except Exception as e:  # any failure means: use XLA's convolutions
            _state["ok"], _state["reason"] = False, str(e)
            log.info("oneDNN convolutions unavailable: %s", e)
    return _state["ok"]


def reason() -> str:
    """Why ``available()`` is False ('' if it is True or was not asked yet)."""
    return _state.get("reason", "")


def isa() -> str:
    return _state.get("isa", "")


def use_for(dtype) -> bool:
    """Whether the models' convolutions in ``dtype`` (None = float32) go through oneDNN: on a
    single CPU device, float32 with AVX-512, bfloat16 with AVX512-BF16 or AMX."""
    dtype = jnp.dtype(dtype or jnp.float32)
    if dtype not in (jnp.float32, jnp.bfloat16):
        return False
    if jax.default_backend() != "cpu" or jax.device_count() != 1 or not available():
        return False
    return dtype == jnp.float32 or isa() in BF16_ISAS


NO_PAD, REFLECT, EDGE = 0, 1, 2                    # attr ``reflect``
RESAMPLE = {None: 0, "pool": 1, "up": 2}            # attr ``resample``


def _resampled(shape, resample: str | None) -> tuple[int, int]:
    h, w = shape[1], shape[2]
    if resample == "pool":
        return (h + 1) // 2, (w + 1) // 2
    return (2 * h, 2 * w) if resample == "up" else (h, w)


def _border_mode(shape, resample: str | None = None) -> int:
    """As ``layers.reflect_pad``: reflection, or edge padding when a side is 1 pixel."""
    return REFLECT if min(_resampled(shape, resample)) > 1 else EDGE


def _fwd_call(x, kernel, bias, pad: int = 0, reflect: int = NO_PAD, compensate: bool = False,
              relu: bool = False, out_dtype=jnp.float32, resample: str | None = None):
    """The forward custom call; ``x``'s dtype (bf16 or f32) is the compute dtype."""
    if not available():
        raise RuntimeError(f"oneDNN convolutions are unavailable: {reason()}")
    h, w = _resampled(x.shape, resample)
    border = 2 * pad - 2 + (2 if reflect != NO_PAD else 0)
    out_dtype = jnp.dtype(out_dtype)
    out = jax.ShapeDtypeStruct((x.shape[0], h + border, w + border, kernel.shape[-1]), out_dtype)
    if x.dtype == jnp.float32:
        if out_dtype != jnp.float32 or compensate:
            raise ValueError("float32 inputs give float32 outputs, without compensation")
        target = FWD_F32
    else:
        target = FWD_BF16 if out_dtype == jnp.bfloat16 else FWD
    return jax.ffi.ffi_call(target, out, vmap_method="sequential")(
        x, kernel.astype(jnp.float32), bias.astype(jnp.float32), pad=np.int64(pad),
        reflect=np.int64(reflect), resample=np.int64(RESAMPLE[resample]),
        compensate=np.bool_(compensate), relu=np.bool_(relu))


def conv3x3(x, kernel, bias, relu: bool = False, out_dtype=None, resample: str | None = None,
            dtype=jnp.bfloat16):
    """3x3 convolution with reflection padding 1 (edge padding for 1-pixel sides, as
    ``layers.reflect_pad``) + bias (+ ReLU) of NHWC ``x`` (N, H, W, I) with ``kernel``
    (3, 3, I, O), computed in ``dtype`` (bfloat16 or float32; f32 accumulation), output
    (N, H, W, O) in ``out_dtype`` (default float32; bfloat16 with bf16 compute halves the
    memory traffic where the next layer rounds to bf16 anyway). ``resample``: ``'pool'``
    (``layers.max_pool_ceil``) or ``'up'`` (``layers.upsample_nearest``) applied to ``x``
    first, as ``layers.resample``. Resampling and padding happen inside the kernel, in one
    pass (XLA:CPU's concatenates and reductions are slow).

    In bf16 the kernel's rounding error is compensated for each image's mean input: a constant
    input channel contributes ``mean * sum(kernel - bf16(kernel))`` of error to every pixel,
    which the kernel adds back through a per-image bias (exact for constant inputs; cuts the
    network's error vs f32 by ~25%, below XLA's and torch's bf16 paths). The gradient
    treats that correction (~1e-3 of the output) as a constant."""
    dtype = jnp.dtype(dtype)
    if dtype not in (jnp.float32, jnp.bfloat16):
        raise ValueError(f"dtype must be float32 or bfloat16, not {dtype}")
    out_dtype = jnp.dtype(out_dtype or jnp.float32)
    if out_dtype not in (jnp.float32, jnp.bfloat16) or (
            dtype == jnp.float32 and out_dtype != jnp.float32):
        raise ValueError(f"out_dtype must be float32 (or bfloat16 with bf16 compute), "
                         f"not {out_dtype}")
    if resample not in RESAMPLE:
        raise ValueError(f"resample must be None, 'pool' or 'up', not {resample!r}")
    return _conv3x3(x, kernel, bias, bool(relu), out_dtype, resample, dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5, 6))
def _conv3x3(x, kernel, bias, relu, out_dtype, resample, dtype):
    return _conv3x3_fwd(x, kernel, bias, relu, out_dtype, resample, dtype)[0]


def _conv3x3_fwd(x, kernel, bias, relu, out_dtype, resample, dtype):
    xc = x.astype(dtype)
    y = _fwd_call(xc, kernel, bias, 0, _border_mode(x.shape, resample), dtype == jnp.bfloat16,
                  relu, out_dtype, resample)
    # A zero-size array carries x's dtype (residuals must be arrays); y gives the ReLU mask.
    return y, (xc, kernel, jnp.zeros(0, x.dtype), bias, y if relu else None)


def _conv3x3_bwd(relu, out_dtype, resample, dtype, res, dy):
    xc, kernel, x_like, bias, y = res
    if relu:
        dy = jnp.where(y > 0, dy, jnp.zeros_like(dy))
    dyc = dy.astype(dtype)
    # Gradient w.r.t. the padded input: full (zero pad 2) convolution with the kernel flipped
    # in H, W and I <-> O; then the transposes of the padding and the resampling (in XLA).
    flipped = jnp.swapaxes(kernel[::-1, ::-1], 2, 3)
    dx_padded = _fwd_call(dyc, flipped, jnp.zeros(kernel.shape[2], jnp.float32), pad=2)
    _, vjp = jax.vjp(lambda t: layers.reflect_pad(layers.resample(t, resample)),
                     xc.astype(jnp.float32))
    (dx,) = vjp(dx_padded)
    dw, db = jax.ffi.ffi_call(
        BWD_W if dtype == jnp.bfloat16 else BWD_W_F32,
        (jax.ShapeDtypeStruct(kernel.shape, jnp.float32),
         jax.ShapeDtypeStruct(kernel.shape[-1:], jnp.float32)), vmap_method="sequential")(
        xc, dyc, pad=np.int64(0), reflect=np.int64(_border_mode(xc.shape, resample)),
        resample=np.int64(RESAMPLE[resample]))
    return dx.astype(x_like.dtype), dw.astype(kernel.dtype), db.astype(bias.dtype)


_conv3x3.defvjp(_conv3x3_fwd, _conv3x3_bwd)


@functools.cache
def describe() -> str:
    """One line for logs and benchmark headers."""
    if not available():
        return f"XLA (oneDNN unavailable: {reason()})"
    return f"oneDNN ({isa()}; {'float32 + bfloat16' if isa() in BF16_ISAS else 'float32'})"
