"""The restricted .pth reader: tensors round-trip exactly, code never runs."""
from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from adain_jax.errors import WeightsError
from adain_jax.weights.torch_pickle import load_object, load_pth


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_dtypes_views_and_sharing(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    shared = torch.randn(10)
    sd = OrderedDict(
        f32=torch.randn(3, 4), t=torch.randn(5, 6).t(), i64=torch.arange(10)[2:7],
        f16=torch.randn(4).half(), bf16=torch.randn(4).bfloat16(),
        f64=torch.randn(2, dtype=torch.float64), param=torch.nn.Parameter(torch.randn(3)),
        s1=shared[:5], s2=shared[5:], empty=torch.zeros(0, 3))
    torch.save({"state_dict": sd, "epoch": 3}, tmp_path / "x.pth",
               _use_new_zipfile_serialization=zip_format)
    out = load_pth(tmp_path / "x.pth")
    assert set(out) == set(sd)
    for k, v in sd.items():
        ref = v.detach().float().numpy() if v.dtype == torch.bfloat16 else v.detach().numpy()
        assert out[k].shape == ref.shape
        np.testing.assert_array_equal(out[k].astype(ref.dtype), ref)
    assert out["bf16"].dtype.name == "bfloat16"
    assert out["f16"].dtype == np.float16 and out["i64"].dtype == np.int64


def test_model_key_is_unwrapped(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"model": {"a": torch.ones(2)}, "optimizer": {"step": 3}}, tmp_path / "m.pth")
    assert list(load_pth(tmp_path / "m.pth")) == ["a"]


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_refuses_code_execution_plain_pickle(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"w": _Evil(marker)}, protocol=2))
    with pytest.raises(WeightsError, match=r"refusing to load '(posix|os|nt)\.system'"):
        load_pth(tmp_path / "evil.pth")
    assert not marker.exists()


def test_refuses_code_execution_in_zip(tmp_path):
    marker = tmp_path / "pwned"
    with zipfile.ZipFile(tmp_path / "evil.pth", "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"w": _Evil(marker)}, protocol=2))
        z.writestr("archive/version", "3\n")
    with pytest.raises(WeightsError, match="refusing to load"):
        load_pth(tmp_path / "evil.pth")
    assert not marker.exists()


def test_refuses_pickled_module(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save(torch.nn.Conv2d(1, 1, 1), tmp_path / "m.pth")
    with pytest.raises(WeightsError, match="refusing to load 'torch.nn.modules.conv.Conv2d'"):
        load_pth(tmp_path / "m.pth")


def test_builtins_eval_refused(tmp_path):
    # GLOBAL builtins.eval + REDUCE, hand-written
    payload = b"\x80\x02cbuiltins\neval\nX\x0b\x00\x00\x00print('hi')\x85R."
    (tmp_path / "e.pth").write_bytes(payload)
    with pytest.raises(WeightsError, match="builtins.eval"):
        load_object(tmp_path / "e.pth")


def test_storage_out_of_bounds(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"a": torch.ones(4)}, tmp_path / "a.pth")
    # shrink the raw storage: tensor now exceeds it
    with zipfile.ZipFile(tmp_path / "a.pth") as z:
        entries = {n: z.read(n) for n in z.namelist()}
    data_key = next(n for n in entries if "/data/" in n)
    entries[data_key] = entries[data_key][:8]
    with zipfile.ZipFile(tmp_path / "b.pth", "w") as z:
        for n, b in entries.items():
            z.writestr(n, b)
    with pytest.raises(WeightsError, match="truncated"):
        load_pth(tmp_path / "b.pth")


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_truncation_is_one_line_error(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    torch.save({"a": torch.randn(100), "b": torch.randn(50)}, tmp_path / "a.pth",
               _use_new_zipfile_serialization=zip_format)
    data = (tmp_path / "a.pth").read_bytes()
    for cut in (10, len(data) // 3, len(data) - 7):
        (tmp_path / "c.pth").write_bytes(data[:cut])
        with pytest.raises(WeightsError) as e:
            load_pth(tmp_path / "c.pth")
        assert "\n" not in str(e.value) and "c.pth" in str(e.value)


def test_not_a_state_dict(tmp_path):
    (tmp_path / "l.pth").write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(WeightsError):
        load_pth(tmp_path / "l.pth")
    buf = io.BytesIO()
    pickle.dump({"a": 1}, buf, protocol=2)
    (tmp_path / "n.pth").write_bytes(buf.getvalue())
    with pytest.raises(WeightsError):
        load_pth(tmp_path / "n.pth")
