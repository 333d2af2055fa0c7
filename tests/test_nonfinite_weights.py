"""Weights holding NaN or Inf are refused at load, for every model and every format (the
shared tree check every reader ends with), before they can write black or NaN images."""
import numpy as np
import pytest

import adain_jax
from adain_jax.errors import WeightsError
from adain_jax.weights import load_decoder, load_lite, load_vgg, save_params, save_safetensors


def poisoned(tree, value):
    """A copy of ``tree`` with one weight set to ``value``."""
    out = tree_copy(tree)
    leaf = out
    while isinstance(leaf, dict):
        key = sorted(leaf)[0]
        parent, leaf = leaf, leaf[key]
    parent[key] = np.array(leaf, np.float32)
    parent[key].flat[0] = value
    return out


def tree_copy(tree):
    return {k: tree_copy(v) if isinstance(v, dict) else np.array(v) for k, v in tree.items()}


@pytest.fixture(scope="module")
def main_params():
    import jax

    return jax.tree.map(np.asarray, adain_jax.init_params(jax.random.PRNGKey(0), 16))


@pytest.fixture(scope="module")
def lite_params():
    import jax

    from adain_jax.nn import lite

    return jax.tree.map(np.asarray, lite.init_params(jax.random.PRNGKey(0), lite.LiteConfig(8, 1)))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_main_model_parts(tmp_path, main_params, fmt, value):
    save = save_params if fmt == "npz" else save_safetensors
    for part, load in (("decoder", load_decoder), ("vgg", load_vgg)):
        bad = {part: poisoned(main_params[part], value)}
        path = save(tmp_path / f"{part}.{fmt}", bad)
        with pytest.raises(WeightsError, match="NaN or infinite"):
            load(path)
        good = save(tmp_path / f"good_{part}.{fmt}", {part: main_params[part]}, overwrite=True)
        load(good)


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_lite_model(tmp_path, lite_params, fmt):
    save = save_params if fmt == "npz" else save_safetensors
    path = save(tmp_path / f"lite.{fmt}", poisoned(lite_params, np.nan))
    with pytest.raises(WeightsError, match="NaN or infinite"):
        load_lite(path)
    load_lite(save(tmp_path / f"ok.{fmt}", lite_params))


def test_torch_decoder(tmp_path):
    torch = pytest.importorskip("torch")
    from adain_jax.weights.tables import AUTHORS_DECODER_PTH

    import jax

    sd = {}  # the authors' decoder layout: a Sequential whose conv indices the table lists

    dec = jax.tree.map(np.asarray, adain_jax.init_params(jax.random.PRNGKey(1), 16)["decoder"])
    for ours, theirs in AUTHORS_DECODER_PTH.items():
        k = dec[ours]["kernel"]
        sd[f"{theirs}.weight"] = torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1)))
        sd[f"{theirs}.bias"] = torch.from_numpy(np.array(dec[ours]["bias"]))
    torch.save(sd, tmp_path / "decoder.pth")
    load_decoder(tmp_path / "decoder.pth")
    first = sorted(sd)[0]
    sd[first] = sd[first].clone()
    sd[first].view(-1)[0] = float("nan")
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match="NaN or infinite"):
        load_decoder(tmp_path / "bad.pth")
