"""Weight conversion: explicit name tables from every supported format to our param tree.

Supported inputs (dispatch on suffix, then on content):

* Keras VGG-19 ``.h5`` (``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`` or a copy truncated
  after ``block4_conv1``): Caffe weights. We add a 1x1 ``preprocess`` conv (RGB [0,1] -> BGR*255
  minus the Caffe mean) and apply the authors' *normalisation* (every channel rescaled so that its
  mean activation over an image set is 1; constants in ``assets/vgg_normalisation.json``).
* The authors' PyTorch release ``vgg_normalised.pth`` / ``decoder.pth`` (``nn.Sequential`` indices),
  read with a restricted unpickler (:mod:`adain_jax.torch_pickle`), never ``torch.load``.
* torchvision ``vgg19`` state dicts (``features.N.weight``): ImageNet mean/std preprocessing, no
  normalisation.
* The authors' Lua ``vgg_normalised.t7`` / ``decoder.t7`` (:mod:`adain_jax.torch7`): convolution
  layers in order.
* Our own ``.npz`` format (below).

Own format (``save_params`` / ``load_tree``)
--------------------------------------------
An uncompressed NumPy ``.npz`` archive with one array per parameter. Keys are the flattened tree
paths joined by ``/``: ``vgg/preprocess/kernel`` (1,1,3,3), ``vgg/conv1_1/kernel`` (3,3,3,64, HWIO),
``vgg/conv1_1/bias`` (64,), ..., ``decoder/conv4_1/kernel`` (3,3,512,256), ... Arrays are float32 or
float16 (always loaded as float32). A file may hold the ``vgg`` part, the ``decoder`` part or both.
Keys starting with ``__`` are metadata (``__format__`` = ``adain-jax-params-v1``) and are not
parameters. Files are read with ``np.load(allow_pickle=False)`` and written atomically
(temporary file in the same directory, then ``os.replace``).
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from .errors import WeightsError
from .image_io import _new_file_mode
from .models import DECODER_LAYERS, ENCODER_LAYERS, expected_shapes

ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_VGG = ASSETS / "vgg_normalised.npz"
DEFAULT_DECODER = ASSETS / "decoder.npz"
NORMALISATION_JSON = ASSETS / "vgg_normalisation.json"
FORMAT_TAG = "adain-jax-params-v1"

ENCODER_NAMES = tuple(n for n, _ in ENCODER_LAYERS)
DECODER_NAMES = tuple(n for n, _ in DECODER_LAYERS)

# --- name tables -----------------------------------------------------------------------------
# Keras VGG-19: our layer -> h5 layer group. Later layers are known and unused.
KERAS_VGG = {
    "conv1_1": "block1_conv1", "conv1_2": "block1_conv2",
    "conv2_1": "block2_conv1", "conv2_2": "block2_conv2",
    "conv3_1": "block3_conv1", "conv3_2": "block3_conv2",
    "conv3_3": "block3_conv3", "conv3_4": "block3_conv4",
    "conv4_1": "block4_conv1",
}
KERAS_IGNORED = ("block4_conv2", "block4_conv3", "block4_conv4",
                 "block5_conv1", "block5_conv2", "block5_conv3", "block5_conv4")
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

# Authors' PyTorch port (net.py): nn.Sequential indices of the convolutions.
AUTHORS_VGG_PTH = {
    "preprocess": "0", "conv1_1": "2", "conv1_2": "5", "conv2_1": "9", "conv2_2": "12",
    "conv3_1": "16", "conv3_2": "19", "conv3_3": "22", "conv3_4": "25", "conv4_1": "29",
}
AUTHORS_VGG_PTH_IGNORED = ("32", "35", "38", "42", "45", "48", "51")  # conv4_2 .. conv5_4
AUTHORS_DECODER_PTH = {
    "conv4_1": "1", "conv3_4": "5", "conv3_3": "8", "conv3_2": "11", "conv3_1": "14",
    "conv2_2": "18", "conv2_1": "21", "conv1_2": "25", "conv1_1": "28",
}

# torchvision vgg19: features.N
TORCHVISION_VGG = {
    "conv1_1": "features.0", "conv1_2": "features.2", "conv2_1": "features.5",
    "conv2_2": "features.7", "conv3_1": "features.10", "conv3_2": "features.12",
    "conv3_3": "features.14", "conv3_4": "features.16", "conv4_1": "features.19",
}
TORCHVISION_IGNORED = tuple(f"features.{i}" for i in (21, 23, 25, 28, 30, 32, 34)) + tuple(
    f"classifier.{i}" for i in (0, 3, 6))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Lua .t7: convolution layers in file order.
T7_VGG_ORDER = ("preprocess",) + ENCODER_NAMES  # further convs (conv4_2 .. conv5_4) ignored
T7_DECODER_ORDER = DECODER_NAMES


# --- helpers ---------------------------------------------------------------------------------
def _fmt_shape(s) -> str:
    return "(" + ",".join(str(int(d)) for d in s) + ")"


def _unflatten(flat: Mapping[str, np.ndarray]) -> dict:
    tree: dict = {}
    for key, value in flat.items():
        node = tree
        parts = key.split("/")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return tree


def _flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "/"))
        else:
            out[key] = v
    return out


def check_tree(part: str, tree: Mapping, source: str = "") -> dict:
    """Check ``tree`` against ``models.expected_shapes(part)``; return it as float32 numpy.

    Raises one ``WeightsError`` listing missing, extra and mismatched keys (with shapes)."""
    expected = expected_shapes(part)
    flat = _flatten(tree)
    missing = sorted(k for k in expected if k not in flat)
    extra = sorted(k for k in flat if k not in expected)
    mismatched = sorted(
        f"{k} {_fmt_shape(np.shape(flat[k]))} != expected {_fmt_shape(expected[k])}"
        for k in expected if k in flat and tuple(np.shape(flat[k])) != tuple(expected[k]))
    if missing or extra or mismatched:
        bits = []
        if missing:
            bits.append("missing: " + ", ".join(missing))
        if extra:
            bits.append("unexpected: " + ", ".join(extra))
        if mismatched:
            bits.append("wrong shape: " + ", ".join(mismatched))
        where = f"{source}: " if source else ""
        raise WeightsError(f"{where}{part} weights do not fit the model ({'; '.join(bits)})")
    return _unflatten({k: np.asarray(v, dtype=np.float32) for k, v in flat.items()})


def _table_keys(name: str, table: Mapping[str, str], ignored: Iterable[str],
                present: Iterable[str], source: str, part: str) -> None:
    """Raise if source layers in ``table`` are missing or unknown layers are present."""
    present = set(present)
    missing = sorted(v for v in table.values() if v not in present)
    known = set(table.values()) | set(ignored)
    extra = sorted(p for p in present if p not in known)
    if missing or extra:
        bits = []
        if missing:
            bits.append("missing: " + ", ".join(missing))
        if extra:
            bits.append("unexpected: " + ", ".join(extra))
        raise WeightsError(f"{source}: not a complete {name} {part} file ({'; '.join(bits)})")


def _oihw_to_hwio(w: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 4:
        return w  # the shape check reports it
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))


def _from_torch_layers(weights: Mapping[str, np.ndarray], table: Mapping[str, str]) -> dict:
    tree = {}
    for ours, theirs in table.items():
        tree[ours] = {"kernel": _oihw_to_hwio(weights[f"{theirs}.weight"]),
                      "bias": np.asarray(weights[f"{theirs}.bias"], dtype=np.float32)}
    return tree


def _layers_of(keys: Iterable[str]) -> dict[str, set]:
    """'2.weight' -> {'2': {'weight'}}."""
    layers: dict[str, set] = {}
    for k in keys:
        layer, _, attr = k.rpartition(".")
        layers.setdefault(layer, set()).add(attr)
    return layers


def _natural(key: str):
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in key.split(".")]


def _check_torch_keys(weights: Mapping, table: Mapping[str, str], ignored: Iterable[str],
                      source: str, name: str, part: str) -> None:
    expected = {f"{v}.{a}" for v in table.values() for a in ("weight", "bias")}
    ignored = set(ignored)
    missing = sorted(expected - set(weights), key=_natural)
    extra = sorted((k for k in weights if k not in expected
                    and k.rpartition(".")[0] not in ignored), key=_natural)
    if missing or extra:
        bits = []
        if missing:
            bits.append("missing: " + ", ".join(missing))
        if extra:
            bits.append("unexpected: " + ", ".join(extra))
        raise WeightsError(f"{source}: keys do not match the {name} {part} state dict "
                           f"({'; '.join(bits)})")


# --- preprocessing and normalisation ---------------------------------------------------------
def caffe_preprocess() -> dict:
    """1x1 conv: RGB in [0, 1] -> BGR * 255 - Caffe mean (as the Keras/Caffe VGG expects)."""
    kernel = np.zeros((1, 1, 3, 3), np.float32)
    for rgb_in in range(3):
        kernel[0, 0, rgb_in, 2 - rgb_in] = 255.0
    bias = -np.asarray(CAFFE_MEAN_BGR, np.float32)
    return {"kernel": kernel, "bias": bias}


def imagenet_preprocess() -> dict:
    """1x1 conv: RGB in [0, 1] -> (x - mean) / std (torchvision convention)."""
    std = np.asarray(IMAGENET_STD, np.float32)
    mean = np.asarray(IMAGENET_MEAN, np.float32)
    kernel = np.diag(1.0 / std).astype(np.float32).reshape(1, 1, 3, 3)
    return {"kernel": kernel, "bias": (-mean / std).astype(np.float32)}


def load_normalisation(path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Per-layer per-channel mean activations of the un-normalised VGG (layer -> (C,))."""
    path = Path(path) if path is not None else NORMALISATION_JSON
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise WeightsError(f"cannot read VGG normalisation constants {path}: {e}") from None
    means = data.get("means", data)
    try:
        return {name: np.asarray(means[name], np.float64) for name in ENCODER_NAMES}
    except KeyError as e:
        raise WeightsError(f"{path}: no normalisation constants for layer {e}") from None


def normalise_vgg(vgg: Mapping, means: Mapping[str, np.ndarray]) -> dict:
    """Rescale every channel so its mean activation (given by ``means``) becomes 1.

    W'_l[..., i, o] = W_l[..., i, o] * m_{l-1}[i] / m_l[o], b'_l = b_l / m_l, m_0 = 1; channels
    with m <= 1e-8 (dead on the image set) keep scale 1."""
    out = {"preprocess": {k: np.asarray(v, np.float32) for k, v in vgg["preprocess"].items()}}
    prev = np.ones(3, np.float64)
    for name in ENCODER_NAMES:
        m = np.asarray(means[name], np.float64)
        m = np.where(m > 1e-8, m, 1.0)
        k = np.asarray(vgg[name]["kernel"], np.float64)
        b = np.asarray(vgg[name]["bias"], np.float64)
        if m.shape != (k.shape[-1],) or prev.shape != (k.shape[-2],):
            raise WeightsError(f"normalisation constants for {name} have {m.shape[0]} channels, "
                               f"the layer has {k.shape[-1]}")
        out[name] = {"kernel": (k * prev[:, None] / m[None, :]).astype(np.float32),
                     "bias": (b / m).astype(np.float32)}
        prev = m
    return out


# --- readers ---------------------------------------------------------------------------------
def _require_file(path: Path) -> None:
    if not path.exists():
        raise WeightsError(f"weight file not found: {path}")
    if not path.is_file():
        raise WeightsError(f"not a file: {path}")


def read_keras_vgg(path: str | os.PathLike) -> dict:
    """Un-normalised VGG tree (Caffe preprocessing) from a Keras VGG-19 h5 file."""
    import h5py

    path = Path(path)
    _require_file(path)
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            names = root.attrs.get("layer_names")
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in names] \
                if names is not None else list(root.keys())
            with_weights = []
            for n in names:
                if n in root and len(root[n].attrs.get("weight_names", [])) > 0:
                    with_weights.append(n)
            _table_keys("Keras VGG-19", KERAS_VGG, KERAS_IGNORED, with_weights, str(path), "vgg")
            tree = {"preprocess": caffe_preprocess()}
            for ours, theirs in KERAS_VGG.items():
                g = root[theirs]
                wn = [w.decode() if isinstance(w, bytes) else str(w)
                      for w in g.attrs["weight_names"]]
                if len(wn) != 2:
                    raise WeightsError(f"{path}: layer {theirs} has {len(wn)} weights, expected 2")
                arrays = {}
                for attr, name in zip(("kernel", "bias"), wn):
                    ds = g[name]
                    want = tuple(expected_shapes("vgg")[f"{ours}/{attr}"])
                    # check before reading: a tiny file can declare a giant (unwritten) dataset
                    if not isinstance(ds, h5py.Dataset) or tuple(ds.shape) != want:
                        raise WeightsError(
                            f"{path}: {theirs}/{name} has shape "
                            f"{tuple(getattr(ds, 'shape', ()) or ())}, expected {want}")
                    arrays[attr] = np.asarray(ds, np.float32)
                tree[ours] = arrays
    except WeightsError:
        raise
    except MemoryError:
        raise WeightsError(f"{path}: out of memory reading the Keras h5 file") from None
    except Exception as e:  # untrusted bytes: h5py raises OSError, RuntimeError, KeyError, ...
        msg = " ".join(str(e).split())[:200] or type(e).__name__
        raise WeightsError(f"{path}: not a readable Keras VGG-19 h5 file ({msg})") from None
    return check_tree("vgg", tree, str(path))


def _strip_module_prefix(weights: dict) -> dict:
    if weights and all(k.startswith("module.") for k in weights):
        return {k[len("module."):]: v for k, v in weights.items()}
    return weights


def _torch_vgg(weights: dict, source: str) -> dict:
    weights = _strip_module_prefix(weights)
    if any(k.startswith("features.") for k in weights):
        _check_torch_keys(weights, TORCHVISION_VGG, TORCHVISION_IGNORED, source,
                          "torchvision vgg19", "vgg")
        tree = {"preprocess": imagenet_preprocess(), **_from_torch_layers(weights, TORCHVISION_VGG)}
    else:
        _check_torch_keys(weights, AUTHORS_VGG_PTH, AUTHORS_VGG_PTH_IGNORED, source,
                          "AdaIN vgg_normalised", "vgg")
        tree = _from_torch_layers(weights, AUTHORS_VGG_PTH)
    return check_tree("vgg", tree, source)


def _torch_decoder(weights: dict, source: str) -> dict:
    weights = _strip_module_prefix(weights)
    _check_torch_keys(weights, AUTHORS_DECODER_PTH, (), source, "AdaIN decoder", "decoder")
    return check_tree("decoder", _from_torch_layers(weights, AUTHORS_DECODER_PTH), source)


def _t7_tree(path: Path, order: tuple[str, ...], part: str, exact: bool) -> dict:
    from .torch7 import conv_layers

    layers = conv_layers(path)
    if len(layers) < len(order) or (exact and len(layers) != len(order)):
        raise WeightsError(f"{path}: expected {len(order)} convolution layers for the {part} "
                           f"({', '.join(order)}), found {len(layers)}")
    tree = {}
    for name, layer in zip(order, layers):
        if layer.bias is None:
            raise WeightsError(f"{path}: convolution for {part} {name} has no bias")
        tree[name] = {"kernel": _oihw_to_hwio(layer.weight),
                      "bias": np.asarray(layer.bias, np.float32).reshape(-1)}
    return check_tree(part, tree, str(path))


#: Largest single array / whole file (decompressed) that ``load_tree`` agrees to read. The
#: biggest real parameter is 4.7 MB and a full VGG + decoder tree is ~30 MB in float32.
MAX_NPZ_ARRAY_BYTES = 64 << 20
MAX_NPZ_TOTAL_BYTES = 512 << 20


def _check_npz_headers(path: Path) -> None:
    """Check every member's .npy header before NumPy allocates anything: plain float arrays
    (metadata ``__*`` may be strings), sizes consistent with the archive, within the limits."""
    total = 0
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
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
            if nbytes > MAX_NPZ_ARRAY_BYTES:
                raise WeightsError(f"{path}: {key} claims shape {tuple(shape)} ({nbytes} bytes), "
                                   f"more than the limit of {MAX_NPZ_ARRAY_BYTES} bytes")
            if header_len + nbytes != info.file_size:
                raise WeightsError(f"{path}: {key} is truncated or corrupt (header says "
                                   f"{nbytes} bytes of data, the archive holds "
                                   f"{info.file_size - header_len})")
            total += nbytes
            if total > MAX_NPZ_TOTAL_BYTES:
                raise WeightsError(f"{path}: more than {MAX_NPZ_TOTAL_BYTES} bytes of arrays")


def load_tree(path: str | os.PathLike) -> dict:
    """Our ``.npz`` format -> nested dict of float32 arrays (``{'vgg': ..., 'decoder': ...}``).

    Headers are checked before any array is allocated (see :data:`MAX_NPZ_ARRAY_BYTES`);
    nothing is unpickled."""
    path = Path(path)
    _require_file(path)
    try:
        _check_npz_headers(path)
        with np.load(path, allow_pickle=False) as data:
            flat = {k: np.asarray(data[k]) for k in data.files if not k.startswith("__")}
    except WeightsError:
        raise
    except MemoryError:
        raise WeightsError(f"{path}: out of memory reading the .npz weight file") from None
    except Exception as e:  # untrusted bytes: zipfile, zlib, numpy header parsing, ...
        msg = " ".join(str(e).split())[:200] or type(e).__name__
        raise WeightsError(f"{path}: not a readable .npz weight file ({msg})") from None
    bad = sorted(k for k, v in flat.items() if v.dtype not in (np.float16, np.float32))
    if bad:
        raise WeightsError(f"{path}: parameters must be float16/float32, not: "
                           + ", ".join(f"{k} ({flat[k].dtype})" for k in bad))
    return _unflatten({k: v.astype(np.float32) for k, v in flat.items()})


def save_params(path: str | os.PathLike, tree: Mapping, dtype=np.float32,
                overwrite: bool = False) -> Path:
    """Write ``tree`` (any nesting, e.g. ``{'vgg': ...}``) to our ``.npz`` format, atomically."""
    path = Path(path)
    dtype = np.dtype(dtype)
    if dtype not in (np.float16, np.float32):
        raise WeightsError(f"can only save float16 or float32 weights, not {dtype}")
    if path.exists() and not overwrite:
        raise WeightsError(f"{path} exists (pass overwrite / --overwrite to replace it)")
    flat = {k: np.asarray(v).astype(dtype) for k, v in _flatten(tree).items()}
    flat["__format__"] = np.asarray(FORMAT_TAG)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **flat)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode())  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(e, OSError):  # disk full, read-only, permissions, ...
            raise WeightsError(f"{path}: could not write weights ({e.strerror or e}); "
                               "nothing was written") from None
        raise
    return path


def sniff_format(path: str | os.PathLike) -> str:
    """'keras', 'torch', 't7' or 'npz', from the content (suffix as a tie-break)."""
    path = Path(path)
    _require_file(path)
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise WeightsError(f"cannot read {path}: {e.strerror or e}") from None
    suffix = path.suffix.lower()
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "keras"
    if head.startswith(b"PK"):
        if suffix == ".npz":
            return "npz"
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError) as e:
            raise WeightsError(f"{path}: corrupt zip archive ({e})") from None
        if any(n.endswith("data.pkl") for n in names):
            return "torch"
        if any(n.endswith(".npy") for n in names):
            return "npz"
        raise WeightsError(f"{path}: zip archive is neither a PyTorch file nor an .npz")
    if head[:1] == b"\x80":
        return "torch"
    if suffix == ".t7" or head[:4] == (4).to_bytes(4, "little"):
        return "t7"
    known = {".h5": "keras", ".hdf5": "keras", ".pth": "torch", ".pt": "torch", ".npz": "npz"}
    if suffix in known:
        raise WeightsError(f"{path}: not a valid {suffix} file (unrecognised content)")
    raise WeightsError(f"{path}: unknown weight format (expected .h5, .pth, .t7 or .npz)")


def _npz_part(path: Path, part: str) -> dict:
    tree = load_tree(path)
    if part not in tree:
        have = ", ".join(sorted(tree)) or "nothing"
        raise WeightsError(f"{path}: holds no '{part}' weights (it has: {have})")
    return check_tree(part, tree[part], str(path))


def convert_keras_vgg(path, normalise: bool = True, means=None) -> dict:
    vgg = read_keras_vgg(path)
    if normalise:
        vgg = normalise_vgg(vgg, means if means is not None else load_normalisation())
    return vgg


def load_vgg(path: str | os.PathLike | None = None, normalise: bool = True) -> dict:
    """VGG tree from any supported file; ``None`` loads the shipped normalised VGG.

    ``normalise`` only matters for Keras h5 files (the others are used as stored)."""
    if path is None:
        if not DEFAULT_VGG.exists():
            raise WeightsError(f"the shipped VGG weights {DEFAULT_VGG} are missing; pass --vgg "
                               "with a Keras VGG-19 .h5, vgg_normalised.pth/.t7 or an .npz")
        path = DEFAULT_VGG
    path = Path(path)
    kind = sniff_format(path)
    if kind == "keras":
        return convert_keras_vgg(path, normalise=normalise)
    if kind == "npz":
        return _npz_part(path, "vgg")
    if kind == "t7":
        return _t7_tree(path, T7_VGG_ORDER, "vgg", exact=False)
    from .torch_pickle import load_pth

    return _torch_vgg(load_pth(path), str(path))


def load_decoder(path: str | os.PathLike | None = None) -> dict:
    """Decoder tree from the authors' decoder.pth/.t7 or our .npz; ``None`` loads the shipped one."""
    if path is None:
        if not DEFAULT_DECODER.exists():
            raise WeightsError("no trained decoder ships yet: pass --decoder with the authors' "
                               "decoder.pth/decoder.t7 or one exported by train.py")
        path = DEFAULT_DECODER
    path = Path(path)
    kind = sniff_format(path)
    if kind == "keras":
        raise WeightsError(f"{path}: a Keras VGG-19 file holds no decoder")
    if kind == "npz":
        return _npz_part(path, "decoder")
    if kind == "t7":
        return _t7_tree(path, T7_DECODER_ORDER, "decoder", exact=True)
    from .torch_pickle import load_pth

    return _torch_decoder(load_pth(path), str(path))


__all__ = [
    "load_vgg", "load_decoder", "load_tree", "save_params", "check_tree", "read_keras_vgg",
    "convert_keras_vgg", "normalise_vgg", "load_normalisation", "caffe_preprocess",
    "imagenet_preprocess", "sniff_format",
]
