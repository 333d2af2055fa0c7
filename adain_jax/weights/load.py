"""Weight conversion: explicit name tables from every supported format to our param tree.

Supported inputs (dispatch on suffix, then on content):

* Keras VGG-19 ``.h5`` (``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`` or a copy truncated
  after ``block4_conv1``): Caffe weights. We add a 1x1 ``preprocess`` conv (RGB [0,1] -> BGR*255
  minus the Caffe mean) and apply the authors' *normalisation* (every channel rescaled so that its
  mean activation over an image set is 1; constants in ``assets/vgg_normalisation.json``).
* The authors' PyTorch release ``vgg_normalised.pth`` / ``decoder.pth`` (``nn.Sequential`` indices),
  read with a restricted unpickler (:mod:`adain_jax.weights.torch_pickle`), never ``torch.load``.
* torchvision ``vgg19`` state dicts (``features.N.weight``): ImageNet mean/std preprocessing, no
  normalisation.
* The authors' Lua ``vgg_normalised.t7`` / ``decoder.t7`` (:mod:`adain_jax.weights.torch7`): convolution
  layers in order.
* Our own ``.npz`` format (:mod:`adain_jax.weights.npz`) and safetensors files
  (:mod:`adain_jax.weights.safetensors_io`: our layout, or a PyTorch state dict).

``save_params`` writes our ``.npz`` or, for a ``.safetensors`` name, safetensors.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from adain_jax.errors import AdainError, WeightsError, one_line
from adain_jax.weights import npz, safetensors_io
from adain_jax.weights.budget import Budget, as_budget
from adain_jax.weights.keras_h5 import read_keras_vgg
from adain_jax.weights.npz import load_tree
from adain_jax.weights.tables import (AUTHORS_DECODER_PTH, AUTHORS_VGG_PTH,
                                      AUTHORS_VGG_PTH_IGNORED, DEFAULT_DECODER, DEFAULT_LITE, DEFAULT_VGG,
                                      T7_DECODER_ORDER, T7_VGG_ORDER, TORCHVISION_IGNORED,
                                      TORCHVISION_VGG, imagenet_preprocess, load_normalisation,
                                      normalise_vgg)
from adain_jax.weights.tree import (check_torch_keys, check_tree, from_torch_layers, oihw_to_hwio,
                                    require_file)


def _strip_module_prefix(weights: dict) -> dict:
    if weights and all(k.startswith("module.") for k in weights):
        return {k[len("module."):]: v for k, v in weights.items()}
    return weights


def _torch_vgg(weights: dict, source: str) -> dict:
    weights = _strip_module_prefix(weights)
    if any(k.startswith("features.") for k in weights):
        check_torch_keys(weights, TORCHVISION_VGG, TORCHVISION_IGNORED, source,
                          "torchvision vgg19", "vgg")
        tree = {"preprocess": imagenet_preprocess(), **from_torch_layers(weights, TORCHVISION_VGG)}
    else:
        check_torch_keys(weights, AUTHORS_VGG_PTH, AUTHORS_VGG_PTH_IGNORED, source,
                          "AdaIN vgg_normalised", "vgg")
        tree = from_torch_layers(weights, AUTHORS_VGG_PTH)
    return check_tree("vgg", tree, source)


def _torch_decoder(weights: dict, source: str) -> dict:
    weights = _strip_module_prefix(weights)
    check_torch_keys(weights, AUTHORS_DECODER_PTH, (), source, "AdaIN decoder", "decoder")
    return check_tree("decoder", from_torch_layers(weights, AUTHORS_DECODER_PTH), source)


def _t7_tree(path: Path, order: tuple[str, ...], part: str, exact: bool,
             max_bytes: int | Budget | None = None) -> dict:
    from adain_jax.weights.torch7 import conv_layers

    layers = conv_layers(path, max_bytes)
    if len(layers) < len(order) or (exact and len(layers) != len(order)):
        raise WeightsError(f"{path}: expected {len(order)} convolution layers for the {part} "
                           f"({', '.join(order)}), found {len(layers)}")
    tree = {}
    for name, layer in zip(order, layers):
        if layer.bias is None:
            raise WeightsError(f"{path}: convolution for {part} {name} has no bias")
        tree[name] = {"kernel": oihw_to_hwio(layer.weight),
                      "bias": np.asarray(layer.bias, np.float32).reshape(-1)}
    return check_tree(part, tree, str(path))



def sniff_format(path: str | os.PathLike) -> str:
    """'keras', 'torch', 't7', 'npz' or 'safetensors', from the content (suffix as a
    tie-break)."""
    path = Path(path)
    require_file(path)
    try:
        with open(path, "rb") as f:
            head = f.read(16)
        size = path.stat().st_size
    except OSError as e:
        raise WeightsError(f"cannot read {path}: {e.strerror or e}") from None
    suffix = path.suffix.lower()
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "keras"
    if safetensors_io.looks_like(head, size):
        return "safetensors"
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
    known = {".h5": "keras", ".hdf5": "keras", ".pth": "torch", ".pt": "torch", ".npz": "npz",
             ".safetensors": "safetensors"}
    if suffix in known:
        raise WeightsError(f"{path}: not a valid {suffix} file (unrecognised content)")
    raise WeightsError(f"{path}: unknown weight format (expected .h5, .pth, .t7, .npz or "
                       ".safetensors)")


def parts_in(path: str | os.PathLike) -> set[str] | None:
    """The parts (``'vgg'``, ``'decoder'``) a file in our own layout (``.npz``, safetensors)
    holds, read from its index only; None for the other formats."""
    kind = sniff_format(path)
    if kind == "safetensors":
        return safetensors_io.parts(path)
    if kind == "npz":
        try:
            with zipfile.ZipFile(path) as z:
                names = [n[:-4] for n in z.namelist() if n.endswith(".npy")]
        except (zipfile.BadZipFile, OSError) as e:
            raise WeightsError(f"{path}: corrupt zip archive ({e})") from None
        return {n.split("/", 1)[0] for n in names if not n.startswith("__")}
    return None


def save_params(path: str | os.PathLike, tree, dtype=np.float32, overwrite: bool = False) -> Path:
    """Write ``tree`` (e.g. ``{'decoder': ...}``) atomically: safetensors for a
    ``.safetensors`` name, our ``.npz`` otherwise."""
    if Path(path).suffix.lower() == safetensors_io.SUFFIX:
        return safetensors_io.save(path, tree, dtype=dtype, overwrite=overwrite)
    return npz.save_params(path, tree, dtype=dtype, overwrite=overwrite)


def _safetensors_part(path: Path, part: str, max_bytes: int | Budget | None = None) -> dict:
    """A part from a safetensors file: our layout, or a PyTorch state dict of that part. The
    whole file counts against the byte budget (its tensors are read whole)."""
    as_budget(max_bytes).charge(path.stat().st_size, f"{path} (safetensors)")
    flat = safetensors_io.load_flat(path)
    if not safetensors_io.is_tree_layout(flat):
        return _torch_vgg(flat, str(path)) if part == "vgg" else _torch_decoder(flat, str(path))
    return _tree_part(path, safetensors_io.load_tree(path), part)


def _npz_part(path: Path, part: str, max_bytes: int | Budget | None = None) -> dict:
    return _tree_part(path, load_tree(path, max_bytes), part)


_whole_model_of = None   # tree -> name of the model whose one file it is, or None


def set_model_finder(find) -> None:
    """``find(tree)``: the name of the model whose one weights file (encoder included) ``tree``
    is, or None; ``adain_jax.model`` sets it (the registry tells models apart), so a part read
    from such a file names the model instead of failing on its keys."""
    global _whole_model_of
    _whole_model_of = find


def _tree_part(path: Path, tree: dict, part: str) -> dict:
    name = _whole_model_of(tree) if _whole_model_of is not None else None
    if name is not None:
        raise WeightsError(f"{path}: holds the {name} model (pass --model {name})")
    _tree_part_keys(path, tree, part)
    return check_tree(part, tree[part], str(path))


def convert_keras_vgg(path, normalise: bool = True, means=None,
                      max_bytes: int | Budget | None = None) -> dict:
    vgg = read_keras_vgg(path, max_bytes)
    if normalise:
        vgg = normalise_vgg(vgg, means if means is not None else load_normalisation())
    return vgg


def _guarded(path: Path, read):
    """``read()``, with any non-``AdainError`` failure on untrusted content (a structural
    surprise a reader did not anticipate) turned into one ``WeightsError`` line."""
    try:
        return read()
    except AdainError:
        raise
    except (MemoryError, RecursionError) as e:
        raise WeightsError(f"{path}: weight file too large or too deeply nested "
                           f"({type(e).__name__})") from None
    except Exception as e:  # noqa: BLE001 - untrusted file content
        raise WeightsError(f"{path}: unreadable weight file ({one_line(e, with_type=True)})") \
            from None


def load_vgg(path: str | os.PathLike | None = None, normalise: bool = True,
             max_bytes: int | Budget | None = None) -> dict:
    """VGG tree from any supported file; ``None`` loads the shipped normalised VGG.

    Args:
      path: the weight file (format sniffed from its content).
      normalise: only matters for Keras h5 files (the others are used as stored).
      max_bytes: byte budget of the reader (default
        :data:`adain_jax.weights.budget.DEFAULT_MAX_BYTES`, 512 MiB).
    """
    if path is None:
        if not DEFAULT_VGG.exists():
            raise WeightsError(f"the shipped VGG weights {DEFAULT_VGG} are missing; pass --vgg "
                               "with a Keras VGG-19 .h5, vgg_normalised.pth/.t7 or an .npz")
        path = DEFAULT_VGG
    path = Path(path)
    return _guarded(path, lambda: _load_part(path, "vgg", max_bytes, normalise))


def _load_part(path: Path, part: str, max_bytes, normalise: bool = True) -> dict:
    """``part`` (``'vgg'`` or ``'decoder'``) from a file of any supported format."""
    kind = sniff_format(path)
    if kind == "keras":
        if part != "vgg":
            raise WeightsError(f"{path}: a Keras VGG-19 file holds no decoder")
        return convert_keras_vgg(path, normalise=normalise, max_bytes=max_bytes)
    if kind == "npz":
        return _npz_part(path, part, max_bytes)
    if kind == "safetensors":
        return _safetensors_part(path, part, max_bytes)
    if kind == "t7":
        order, exact = (T7_VGG_ORDER, False) if part == "vgg" else (T7_DECODER_ORDER, True)
        return _t7_tree(path, order, part, exact=exact, max_bytes=max_bytes)
    from adain_jax.weights.torch_pickle import load_pth

    return (_torch_vgg if part == "vgg" else _torch_decoder)(load_pth(path, max_bytes), str(path))


def load_decoder(path: str | os.PathLike | None = None,
                 max_bytes: int | Budget | None = None) -> dict:
    """Decoder tree from the authors' decoder.pth/.t7, our .npz or safetensors; ``None``
    loads the shipped one.

    Args:
      path: the weight file (format sniffed from its content).
      max_bytes: byte budget of the reader, as for :func:`load_vgg`.
    """
    if path is None:
        if not DEFAULT_DECODER.exists():
            raise WeightsError("no trained decoder ships yet: pass --decoder with the authors' "
                               "decoder.pth/decoder.t7 or one exported by train.py")
        path = DEFAULT_DECODER
    path = Path(path)
    return _guarded(path, lambda: _load_part(path, "decoder", max_bytes))


LITE_MISSING = ("the shipped lite weights (adain_jax/assets/lite.npz) are missing from this "
                "installation; pass a lite weights file with --decoder, or use --model adain")


def load_lite(path: str | os.PathLike | None = None,
              max_bytes: int | Budget | None = None) -> dict:
    """The lite model's ``{'lite_encoder': ..., 'decoder': ...}`` from one ``.npz`` or
    safetensors file (our tree layout); width and depth are read from its shapes and every
    key/shape is checked against a fresh tree of that config. ``None`` loads the shipped
    lite model (``DEFAULT_LITE``)."""
    if path is None:
        if not DEFAULT_LITE.exists():
            raise WeightsError(LITE_MISSING)
        path = DEFAULT_LITE
    path = Path(path)

    def read() -> dict:
        from adain_jax.nn import lite
        from adain_jax.weights.tree import check_shapes

        kind = sniff_format(path)
        if kind not in ("npz", "safetensors"):
            raise WeightsError(f"{path}: lite weights are an .npz or .safetensors file, not {kind}")
        if kind == "npz":
            tree = load_tree(path, max_bytes)
        else:
            as_budget(max_bytes).charge(path.stat().st_size, f"{path} (safetensors)")
            tree = safetensors_io.load_tree(path)
        for part in (lite.ENCODER_KEY, "decoder"):
            _tree_part_keys(path, tree, part)
        try:
            config = lite.config_of(tree)
        except (KeyError, IndexError, TypeError, AttributeError):
            raise WeightsError(f"{path}: not a lite model (no stem/down3 layers in "
                               f"'{lite.ENCODER_KEY}')") from None
        except ValueError as e:   # before a model of that size is built, even abstractly
            raise WeightsError(f"{path}: {e}") from None
        import jax

        fresh = jax.eval_shape(lambda: lite.init_params(jax.random.PRNGKey(0), config))
        return {part: check_shapes(part, tree[part], fresh[part], str(path))
                for part in (lite.ENCODER_KEY, "decoder")}
    return _guarded(path, read)


def _tree_part_keys(path: Path, tree: dict, part: str) -> None:
    if part not in tree:
        have = ", ".join(sorted(tree)) or "nothing"
        raise WeightsError(f"{path}: holds no '{part}' weights (it has: {have})")


__all__ = ["load_vgg", "load_decoder", "load_lite", "convert_keras_vgg", "sniff_format",
           "parts_in", "save_params", "LITE_MISSING"]
