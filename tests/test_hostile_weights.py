"""Hostile weight files crafted by structure (issue 12, items 1-4 and 11): every one ends as a
one-line ``WeightsError`` within a CPU-time and address-space limit, in a subprocess."""
from __future__ import annotations

import os

import numpy as np
import pytest

from limits import assert_clean_error, run_limited

# Imported before the child's RSS baseline, so the figures are the readers' own.
SETUP = ("from pathlib import Path\nimport h5py\nimport adain_jax.weights\n"
         "import adain_jax.weights.torch7\nfrom tools.hardening import craft\n")


def _run(tmp_path, builder: str, call: str, **kw):
    setup = SETUP + f"path = craft.{builder}\n"
    return run_limited(call, setup.replace("TMP", repr(str(tmp_path))), **kw)


@pytest.mark.parametrize("builder, match", [
    ("memo_dag_pth(Path(TMP) / 'dag.pth', 40)", "twice"),
    ("memo_dag_pth(Path(TMP) / 'dag64.pth', 64)", "deeper than 64"),
    ("codecs_dag_pth(Path(TMP) / 'codecs.pth', 64)", "_codecs.encode of list"),
    ("self_ref_pth(Path(TMP) / 'self.pth')", "twice"),
    ("nested_pth(Path(TMP) / 'nested.pth', 5000)", "deeper than"),
])
def test_pth_object_graphs_are_walked_with_caps(tmp_path, builder, match):
    """Item 1 (a 2**64-path memo DAG; a DAG handed to _codecs.encode) and item 3 (a
    self-referential dict, 5,000 nested dicts): no hang, no RecursionError traceback."""
    res = _run(tmp_path, builder, "__import__('adain_jax.weights', fromlist=['x'])"
               ".load_decoder(path)", cpu_s=10, wall_s=30)
    assert_clean_error(res, match=match, max_rss_mb=100)


def test_pth_aliasing_storage_is_charged_per_tensor(tmp_path):
    """Item 2: 100 views of one deflated 16 MiB storage (17 KB file) would materialise
    1.6 GB; the default 512 MiB budget stops it, in bounded memory."""
    res = _run(tmp_path, "aliasing_pth(Path(TMP) / 'alias.pth', 100, 16)",
               "__import__('adain_jax.weights', fromlist=['x']).load_decoder(path)",
               cpu_s=20, mem_mb=512 + 300)
    assert_clean_error(res, match="more than 536870912 bytes", max_rss_mb=512 + 200)
    assert os.path.getsize(tmp_path / "alias.pth") < 100_000


def test_pth_member_size_is_never_trusted(tmp_path):
    """Item 2: a 4-element tensor whose storage member inflates to 256 MiB of zeros loads
    reading only its 16 bytes; one that claims the whole member exceeds a caller's budget."""
    setup = (SETUP + "from adain_jax.weights import torch_pickle\n"
             f"path = craft.big_member_pth(Path({str(tmp_path)!r}) / 'big.pth', 256)\n")
    res = run_limited("torch_pickle.load_pth(path)['t'].tolist()", setup, cpu_s=10)
    assert res.get("ok") and res["value"] == "[0.0, 0.0, 0.0, 0.0]", res
    assert res["rss_growth_mb"] < 50, res
    setup = (SETUP + "from adain_jax.weights import torch_pickle\n"
             f"path = craft.big_member_pth(Path({str(tmp_path)!r}) / 'big2.pth', 256, "
             "64 << 20)\n")
    res = run_limited("torch_pickle.load_pth(path, max_bytes=32 << 20)", setup, cpu_s=10)
    assert_clean_error(res, match="more than 33554432 bytes", max_rss_mb=32 + 200)


def test_t7_aliasing_storage_is_charged_per_tensor(tmp_path):
    """Item 2: 25,000 views of one 4 MiB storage in a .t7 (100 GiB if copied)."""
    res = _run(tmp_path, "aliasing_t7(Path(TMP) / 'alias.t7', 25000, 4)",
               "__import__('adain_jax.weights', fromlist=['x']).load_decoder(path)",
               cpu_s=20, mem_mb=512 + 300)
    assert_clean_error(res, match="more than 536870912 bytes", max_rss_mb=512 + 200)


def test_t7_reference_chain_is_walked_iteratively(tmp_path):
    """Item 3: a 3,000-long chain of modules built from back references."""
    res = _run(tmp_path, "chain_t7(Path(TMP) / 'chain.t7', 3000)",
               "__import__('adain_jax.weights', fromlist=['x']).load_decoder(path)", cpu_s=10)
    assert_clean_error(res, match="nested deeper than", max_rss_mb=100)


def test_npz_key_that_is_a_prefix_of_another(tmp_path):
    """Item 3: keys ``decoder`` and ``decoder/a``."""
    res = _run(tmp_path, "key_clash_npz(Path(TMP) / 'clash.npz')",
               "__import__('adain_jax.weights', fromlist=['x']).load_decoder(path)", cpu_s=10)
    assert_clean_error(res, match="clashes", max_rss_mb=100)


@pytest.mark.parametrize("feature, match", [
    ("external", "external file"), ("soft", "SoftLink"), ("external_link", "ExternalLink"),
    ("virtual", "virtual dataset"), ("int", "not a float type")])
def test_h5_only_in_file_float_datasets_are_read(tmp_path, feature, match):
    """Item 4: block1_conv1's kernel stored in another local file (here a FIFO, which would
    block if opened), reached through soft/external links, or a virtual dataset."""
    pytest.importorskip("h5py")
    target = tmp_path / "fifo"
    os.mkfifo(target)
    res = _run(tmp_path, f"keras_h5(Path(TMP) / 'k.h5', {feature!r}, Path(TMP) / 'fifo')",
               "__import__('adain_jax.weights', fromlist=['x']).load_vgg(path)",
               cpu_s=10, wall_s=30)
    assert_clean_error(res, match=match, max_rss_mb=100)


def test_fifo_weight_file_is_refused_without_opening(tmp_path):
    """Item 4: a FIFO named like a weight file is never opened (opening would block)."""
    os.mkfifo(tmp_path / "w.h5")
    res = run_limited(f"__import__('adain_jax.weights', fromlist=['x']).load_vgg("
                      f"{str(tmp_path / 'w.h5')!r})", cpu_s=10, wall_s=30)
    assert_clean_error(res, match="not a file")


def test_build_on_a_stand_in_cannot_poison_later_loads(tmp_path):
    """Item 11: BUILD on torch.FloatStorage fails closed, and a good file loaded next in the
    same process still reads as float32."""
    from adain_jax.errors import WeightsError
    from adain_jax.weights import torch_pickle
    from tools.hardening import craft

    with pytest.raises(WeightsError, match="refusing to modify FloatStorage"):
        torch_pickle.load_pth(craft.build_poison_pth(tmp_path / "poison.pth"))
    good = torch_pickle.load_pth(craft.good_pth(tmp_path / "good.pth"))
    assert good["w"].dtype == np.float32 and good["w"].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_caller_budget_applies_to_every_reader(tmp_path):
    """A caller's ``max_bytes`` bounds a valid file too, with one line naming the file."""
    from adain_jax.errors import WeightsError
    from adain_jax.weights import torch_pickle
    from tools.hardening import craft

    path = craft.good_pth(tmp_path / "good.pth", values=np.zeros(4096))
    assert torch_pickle.load_pth(path)["w"].shape == (4096,)
    with pytest.raises(WeightsError, match=r"good\.pth: .*more than 1000 bytes"):
        torch_pickle.load_pth(path, max_bytes=1000)


@pytest.mark.parametrize("bomb", ["depth", "features"])
def test_lite_file_describing_a_huge_model_is_refused_before_building_it(tmp_path, bomb):
    """The lite config is read from the file's shapes and key names: a file naming thousands
    of blocks (or millions of channels) is refused from its keys, not after tracing a model
    of that size."""
    import time

    import jax

    from adain_jax.errors import WeightsError
    from adain_jax.nn import lite
    from adain_jax.weights import load_lite, save_params

    p = jax.tree.map(np.asarray, lite.init_params(jax.random.PRNGKey(0), lite.LiteConfig(4, 1)))
    if bomb == "depth":
        p["lite_encoder"].update({f"b1_{i}": p["lite_encoder"]["b1_1"] for i in range(2, 2000)})
    else:
        p["lite_encoder"]["down3"]["kernel"] = np.zeros((1, 10 ** 7), np.float32)
    save_params(tmp_path / "bomb.npz", p)
    t = time.perf_counter()
    with pytest.raises(WeightsError, match="outside the supported range"):
        load_lite(tmp_path / "bomb.npz")
    assert time.perf_counter() - t < 10
