"""Untrusted weight and checkpoint files: nothing is executed, unexpected types are
refused, shapes are checked before anything big is allocated."""
from __future__ import annotations

import pickle
import shutil
import tracemalloc

import numpy as np
import pytest

from adain_jax import image_io, weights
from adain_jax.errors import ConfigError, ImageError, WeightsError
from adain_jax.weights import torch7, torch_pickle
from tools.hardening import fuzz

EVIL = [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("builtins", "exec"),
        ("subprocess", "check_output"), ("builtins", "getattr"), ("numpy", "load")]


def _containers(payload: bytes, good_zip: bytes):
    """The payload as a legacy .pth, as data.pkl of a zip .pth, and inside a real archive."""
    yield "legacy", payload
    yield "zip", fuzz.rezip({"archive/data.pkl": payload, "archive/version": b"3\n"})
    members = fuzz.unzip(good_zip)
    members["archive/data.pkl"] = payload
    yield "zip-with-storages", fuzz.rezip(members)


@pytest.mark.parametrize("kind", fuzz.EVIL_KINDS)
@pytest.mark.parametrize("mod, name", EVIL)
def test_malicious_pickles_never_run(tmp_path, kind, mod, name):
    canary = tmp_path / "pwned"
    payload = fuzz.evil_payload(kind, mod, name, canary)
    good = fuzz.pth_zip({"w": np.ones(3, np.float32)})
    for where, data in _containers(payload, good):
        p = tmp_path / f"evil-{where}.pth"
        p.write_bytes(data)
        for load in (torch_pickle.load_pth, weights.load_decoder, weights.load_vgg):
            with pytest.raises(WeightsError) as e:
                load(p)
            assert "\n" not in str(e.value)
            assert not canary.exists(), (kind, mod, name, where)
    # the same payload really runs under plain pickle (the test payloads are live)
    if (mod, name) in (("builtins", "exec"), ("builtins", "eval")) and kind == "GLOBAL+REDUCE":
        pickle.loads(payload)
        assert canary.exists()


def test_refusal_names_the_global(tmp_path):
    p = tmp_path / "e.pth"
    p.write_bytes(fuzz.evil_payload("STACK_GLOBAL+REDUCE", "builtins", "exec", tmp_path / "x"))
    with pytest.raises(WeightsError, match=r"refusing to load 'builtins.exec'"):
        torch_pickle.load_pth(p)


def test_evil_object_nested_in_a_real_torch_file(tmp_path):
    torch = pytest.importorskip("torch")
    canary = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (exec, (f"open({str(canary)!r}, 'w').close()",))

    for zip_format in (True, False):
        p = tmp_path / f"m{zip_format}.pth"
        torch.save({"state_dict": {"w": torch.ones(2)}, "extra": [Evil()]}, p,
                   _use_new_zipfile_serialization=zip_format)
        with pytest.raises(WeightsError, match=r"refusing to load '(__builtin__|builtins)\.exec'"):
            torch_pickle.load_pth(p)
        assert not canary.exists()


def test_lua_functions_are_opaque_and_never_run(tmp_path):
    canary = tmp_path / "pwned"
    code = f"os.execute('touch {canary}')".encode()
    for tag in (6, 7, 8):
        w = fuzz.T7()
        w.i32(3), w.idx(), w.i32(2)
        w.write(1)  # a Lua array {function, conv}
        fuzz.t7_lua_function(w, tag, code, {1: "upvalue"})
        w.write(2)
        w.write(fuzz.t7_conv(np.ones((2, 3, 1, 1), np.float32), np.zeros(2, np.float32)))
        p = tmp_path / f"f{tag}.t7"
        p.write_bytes(w.bytes())
        out = torch7.read_t7(p)
        assert isinstance(out[1], torch7.LuaFunction) and not callable(out[1])
        assert len(torch7.conv_layers(p)) == 1
        assert not canary.exists()


def test_t7_unexpected_types_refused(tmp_path):
    w = fuzz.T7().write(fuzz.t7_seq([("obj", "nn.SpatialConvolution",
                                       {"weight": "os.execute('x')", "bias": None})]))
    (tmp_path / "s.t7").write_bytes(w.bytes())
    with pytest.raises(WeightsError, match="without a weight tensor"):
        torch7.conv_layers(tmp_path / "s.t7")


def test_npz_object_arrays_and_pickles_refused(tmp_path):
    canary = tmp_path / "pwned"
    np.savez(tmp_path / "o.npz", **{"decoder/conv1_1/kernel": np.array([{"a": 1}], object)})
    with pytest.raises(WeightsError, match="object array"):
        weights.load_tree(tmp_path / "o.npz")
    # an object header whose data is a live exec pickle
    payload = fuzz.evil_payload("GLOBAL+REDUCE", "builtins", "exec", canary)
    data = fuzz.rezip({"decoder/conv1_1/kernel.npy": fuzz.npy_header("|O", (1,)) + payload})
    (tmp_path / "e.npz").write_bytes(data)
    for load in (weights.load_tree, weights.load_decoder):
        with pytest.raises(WeightsError):
            load(tmp_path / "e.npz")
    assert not canary.exists()
    # integer / string parameters are not weights
    np.savez(tmp_path / "i.npz", **{"decoder/conv1_1/kernel": np.arange(3)})
    with pytest.raises(WeightsError, match="not a float type"):
        weights.load_tree(tmp_path / "i.npz")


def _peak_mb(fn) -> float:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / 2 ** 20


def _raises_small(fn, exc, match=None, limit_mb=64):
    def call():
        with pytest.raises(exc, match=match):
            fn()
    assert _peak_mb(call) < limit_mb


@pytest.mark.parametrize("size, stride", [((1 << 40,), (1,)), ((1 << 31,), (0,)),
                                          ((4, 1 << 40), (1, 1)), ((1 << 20, 1 << 20), (0, 0))])
def test_pth_giant_tensor_header_checked_before_allocation(tmp_path, size, stride):
    members = {"archive/data.pkl": fuzz.tensor_pickle(
        [("w", "FloatStorage", "0", 12, 0, size, stride)]),
        "archive/data/0": np.zeros(12, np.float32).tobytes()}
    (tmp_path / "g.pth").write_bytes(fuzz.rezip(members))
    _raises_small(lambda: torch_pickle.load_pth(tmp_path / "g.pth"), WeightsError)
    # a storage claiming more elements than the archive holds
    members["archive/data.pkl"] = fuzz.tensor_pickle(
        [("w", "FloatStorage", "0", 1 << 40, 0, (3,), (1,))])
    (tmp_path / "s.pth").write_bytes(fuzz.rezip(members))
    # refused by the byte budget before the member is read (was: read, then "truncated")
    _raises_small(lambda: torch_pickle.load_pth(tmp_path / "s.pth"), WeightsError,
                  "truncated|would materialise more than")


def test_t7_giant_headers_checked_before_allocation(tmp_path):
    w = fuzz.T7()
    w.i32(4), w.idx(), w.s("V 1"), w.s("torch.FloatTensor"), w.i32(2)
    w.i64(1 << 31), w.i64(1 << 31), w.i64(0), w.i64(0), w.i64(1)
    w.i32(4), w.idx(), w.s("V 1"), w.s("torch.FloatStorage"), w.i64(4)
    w.out += bytes(16)
    (tmp_path / "g.t7").write_bytes(w.bytes())
    _raises_small(lambda: torch7.read_t7(tmp_path / "g.t7"), WeightsError, "more elements")
    w = fuzz.T7()
    w.i32(3), w.idx(), w.i32(0x7FFFFFFF)
    (tmp_path / "t.t7").write_bytes(w.bytes())
    _raises_small(lambda: torch7.read_t7(tmp_path / "t.t7"), WeightsError, "table size")


def test_npz_giant_header_and_zip_bomb_refused_before_reading(tmp_path):
    data = fuzz.rezip({"decoder/conv1_1/kernel.npy":
                       fuzz.npy_header("<f4", (1 << 40,)) + bytes(64)})
    (tmp_path / "g.npz").write_bytes(data)
    _raises_small(lambda: weights.load_tree(tmp_path / "g.npz"), WeightsError, "limit")
    rng = __import__("random").Random(0)
    while True:  # the fuzzer's 256 MiB zip bomb (a few hundred KiB on disk)
        label, bomb, _ = fuzz.gen_npz(rng, fuzz.npz_seeds(), tmp_path / "c")
        if label.startswith("npz-zip-bomb"):
            break
    (tmp_path / "b.npz").write_bytes(bomb)
    assert len(bomb) < 2 << 20
    _raises_small(lambda: weights.load_decoder(tmp_path / "b.npz"), WeightsError, "limit")


def test_h5_giant_dataset_checked_before_reading(tmp_path):
    pytest.importorskip("h5py")
    data = fuzz.h5_giant(tmp_path, __import__("random").Random(1))
    (tmp_path / "g.h5").write_bytes(data)
    _raises_small(lambda: weights.load_vgg(tmp_path / "g.h5"), WeightsError, "expected")


def test_image_decompression_bomb_refused_before_decoding(tmp_path):
    seeds = fuzz.image_seeds()
    big = fuzz.png_set_size(seeds["l.png"], 20000, 20000)
    (tmp_path / "b.png").write_bytes(big)
    _raises_small(lambda: image_io.load_image(tmp_path / "b.png"), ImageError, "bomb")
    _raises_small(lambda: image_io.load_mask(tmp_path / "b.png", (4, 4)), ImageError, "bomb")


def test_checkpoint_with_pickles_inside_is_refused_and_nothing_runs(tmp_path):
    """orbax reads JSON and tensorstore data only; pickles planted in a checkpoint are data."""
    fx = fuzz.CkptFixture(tmp_path)
    wd = tmp_path / "wd"
    shutil.copytree(fx.root, wd)
    canary = tmp_path / "pwned"
    payload = fuzz.evil_payload("GLOBAL+REDUCE", "builtins", "exec", canary)
    for f in sorted((wd / "checkpoints" / "2").rglob("*")):
        if f.is_file():
            f.write_bytes(payload)
    with pytest.raises(ConfigError, match="unreadable or corrupt|does not fit"):
        fx.restore(wd, __import__("random").Random(0))
    assert not canary.exists()


def test_sniffing_never_trusts_the_suffix(tmp_path):
    """A pickle named .npz or .t7 is not unpickled as a weight format it is not."""
    canary = tmp_path / "pwned"
    payload = fuzz.evil_payload("GLOBAL+REDUCE", "builtins", "exec", canary)
    for suffix in (".npz", ".t7", ".h5", ".pt", ".bin"):
        (tmp_path / f"x{suffix}").write_bytes(payload)
        with pytest.raises(WeightsError):
            weights.load_decoder(tmp_path / f"x{suffix}")
    assert not canary.exists()
