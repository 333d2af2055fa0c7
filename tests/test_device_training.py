"""tools.device.pack_training_data, the on-device pack feed (adain_jax.training.packs) and the
device trainers (thin callers of the library loop) on tiny generated data."""
import csv
import dataclasses
import json

import jax
import numpy as np
import pytest
from PIL import Image, ImageOps

from adain_jax import training, weights
from adain_jax.errors import ConfigError
from adain_jax.nn import models
from conftest import write_ramp_images
from adain_jax.training import packs
from tools.device import pack_training_data, train_device
from tools.reference.params import random_params_np


@pytest.fixture(scope="module")
def pack():
    return pack_training_data


@pytest.fixture(scope="module")
def td():
    return train_device


def _folder(path, n, seed, shapes=((40, 56), (48, 32)), noise=0.05):
    write_ramp_images(path, n, seed, shapes, noise)
    (path / "notes.txt").write_text("not an image")


def test_pack_round_trip(pack, tmp_path):
    _folder(tmp_path / "imgs", 5, 0, noise=0.0)
    out = tmp_path / "p.npz"
    pack.main([str(tmp_path / "imgs"), str(out), "--size", "32", "--quality", "90"])
    pixels = pack.decode_pack(out).astype(np.float32)
    assert pixels.shape == (5, 32, 32, 3)
    refs = []
    for i in range(5):
        with Image.open(tmp_path / "imgs" / f"img{i}.png") as im:
            refs.append(np.asarray(ImageOps.fit(im.convert("RGB"), (32, 32), Image.BICUBIC),
                                   np.float32))
    for i in range(5):   # each entry is its own file's centre crop, up to WebP's loss
        errs = [np.abs(pixels[i] - r).mean() for r in refs]
        assert errs[i] < 4.0 and errs[i] < 0.5 * min(e for j, e in enumerate(errs) if j != i)
    with np.load(out, allow_pickle=False) as z:
        assert z["offsets"][0] == 0 and z["offsets"][-1] == z["data"].size


def test_pack_limit_spreads_over_the_folder(pack, tmp_path):
    _folder(tmp_path / "imgs", 9, 1)
    out = tmp_path / "p.npz"
    pack.main([str(tmp_path / "imgs"), str(out), "--size", "16", "--limit", "3"])
    pixels = pack.decode_pack(out)
    full = tmp_path / "all.npz"
    pack.main([str(tmp_path / "imgs"), str(full), "--size", "16"])
    every = pack.decode_pack(full)   # sorted img0, img1, ..., img8: the spread picks 0, 4, 8
    np.testing.assert_array_equal(pixels, every[[0, 4, 8]])


def test_sample_batch_is_crops_and_flips_of_the_pixels():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (3, 9, 9, 3), dtype=np.uint8)
    crop = 4
    flips = set()
    for seed in range(6):
        batch = np.asarray(packs.sample_batch(jax.numpy.asarray(pixels), jax.random.PRNGKey(seed),
                                           5, crop))
        assert batch.shape == (5, crop, crop, 3) and batch.dtype == np.float32
        for img in batch:
            found = [(i, y, x, f) for i in range(3) for y in range(9 - crop + 1)
                     for x in range(9 - crop + 1) for f in (False, True)
                     if np.array_equal(np.round(img * 255).astype(np.uint8),
                                       (pixels[i, y:y + crop, x:x + crop, :][:, ::-1] if f else
                                        pixels[i, y:y + crop, x:x + crop, :]))]
            assert found, "a sampled crop is not a (flipped) window of the data"
            flips.update(f for *_, f in found)
    assert flips == {False, True}


def test_train_device_end_to_end(pack, td, tmp_path, monkeypatch):
    _folder(tmp_path / "c", 4, 2)
    _folder(tmp_path / "s", 3, 3)
    pack.main([str(tmp_path / "c"), str(tmp_path / "c.npz"), "--size", "40"])
    pack.main([str(tmp_path / "s"), str(tmp_path / "s.npz"), "--size", "40"])
    vgg = tmp_path / "vgg.npz"
    weights.save_params(vgg, {"vgg": random_params_np("vgg", 0)})
    out = tmp_path / "out"
    td.main(["--content-pack", str(tmp_path / "c.npz"), "--style-pack", str(tmp_path / "s.npz"),
             "--out", str(out), "--seconds", "600", "--steps", "4", "--batch-size", "2",
             "--crop-size", "32", "--log-every", "2", "--vgg", str(vgg), "--dtype", "float32"])
    decoder = weights.load_decoder(out / "decoder.npz")
    assert models.param_shapes(decoder) == models.expected_shapes("decoder")
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == [2, 4]
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 4 and not summary["diverged"]


def test_train_lite_device_end_to_end(pack, tmp_path):
    from adain_jax.nn import lite
    from tools.device import train_lite_device

    _folder(tmp_path / "c", 4, 2)
    _folder(tmp_path / "s", 3, 3)
    pack.main([str(tmp_path / "c"), str(tmp_path / "c.npz"), "--size", "40"])
    pack.main([str(tmp_path / "s"), str(tmp_path / "s.npz"), "--size", "40"])
    out = tmp_path / "out"
    train_lite_device.main(["--content-pack", str(tmp_path / "c.npz"), "--style-pack",
                            str(tmp_path / "s.npz"), "--out", str(out), "--seconds", "600",
                            "--steps", "4", "--batch-size", "2", "--crop-size", "32",
                            "--log-every", "2", "--dtype", "float32",
                            "--variants", "w4d1,w4d1-nodistill"])
    for name in ("w4d1", "w4d1-nodistill"):
        params = weights.load_lite(out / f"lite_{name}.npz")
        assert lite.config_of(params) == lite.LiteConfig(4, 1)
    rows = list(csv.DictReader(open(out / "lite_metrics.csv")))
    assert [(int(r["step"]), r["variant"]) for r in rows] == [
        (2, "w4d1"), (2, "w4d1-nodistill"), (4, "w4d1"), (4, "w4d1-nodistill")]
    assert all(np.isfinite(float(r["distill"])) for r in rows)
    summary = json.loads((out / "lite_summary.json").read_text())
    assert summary["steps"] == 4 and not summary["diverged"]
    assert summary["variants"]["w4d1"]["steps"] == 4
    assert summary["variants"]["w4d1-nodistill"]["distill_weight"] == 0.0


def _packs(pack, tmp_path):
    _folder(tmp_path / "c", 4, 2)
    _folder(tmp_path / "s", 3, 3)
    pack.main([str(tmp_path / "c"), str(tmp_path / "c.npz"), "--size", "40"])
    pack.main([str(tmp_path / "s"), str(tmp_path / "s.npz"), "--size", "40"])
    return tmp_path / "c.npz", tmp_path / "s.npz"


def test_pack_feed_samples_by_step(pack, tmp_path):
    c, s = _packs(pack, tmp_path)
    feed = packs.PackFeed(packs.read_pack(c), packs.read_pack(s), training.make_mesh(), 3, 32,
                          seed=5)
    np.testing.assert_array_equal(packs.read_pack(c), pack.decode_pack(c))
    base = jax.random.PRNGKey(5)
    for step in (0, 7):   # the keys the device trainer's own step used: fold_in(seed, step)
        batch, host = feed.batch(step)
        k_c, k_s = jax.random.split(jax.random.fold_in(base, step))
        assert host is None
        np.testing.assert_array_equal(
            np.asarray(batch["content"]),
            np.asarray(packs.sample_batch(jax.numpy.asarray(packs.read_pack(c)), k_c, 3, 32)))
        np.testing.assert_array_equal(
            np.asarray(batch["style"]),
            np.asarray(packs.sample_batch(jax.numpy.asarray(packs.read_pack(s)), k_s, 3, 32)))
    with pytest.raises(ConfigError, match="larger than the packed"):
        packs.PackFeed(packs.read_pack(c), packs.read_pack(s), training.make_mesh(), 3, 48)
    with pytest.raises(ConfigError, match="not an image pack"):
        np.savez(tmp_path / "bad.npz", data=np.zeros(3, np.float32), offsets=np.array([0, 3]))
        packs.read_pack(tmp_path / "bad.npz")


def test_library_loop_on_packs_with_a_time_budget(pack, tmp_path):
    c, s = _packs(pack, tmp_path)
    vgg = random_params_np("vgg", 0)
    report = {}
    cfg = training.TrainConfig(content_data=str(c), style_data=str(s), workdir=str(tmp_path / "w"),
                               steps=1000, batch_size=2, crop_size=32, resize=32, seconds=1e-3,
                               checkpoint_every=0, sample_every=0, log_every=100,
                               export=str(tmp_path / "exported.npz"))
    training.train(cfg, vgg_params=vgg, progress=False, verbose=False, report=report)
    assert report["stopped"] == "seconds" and report["steps"] == 1
    assert report["last_log"]["step"] == 1 and np.isfinite(report["last_log"]["loss"])
    assert models.param_shapes(weights.load_decoder(tmp_path / "exported.npz")) == \
        models.expected_shapes("decoder")
    assert not (tmp_path / "w" / "decoder.npz").exists()
    assert not any((tmp_path / "w" / "checkpoints").glob("*"))
    # a warm start reads the export; a pack and a folder do not mix
    warm = dataclasses.replace(cfg, workdir=str(tmp_path / "w2"), init=str(tmp_path / "exported.npz"),
                               steps=1, seconds=0.0)
    state = training.train(warm, vgg_params=vgg, progress=False, verbose=False)
    assert int(state.step) == 1
    with pytest.raises(ConfigError, match="both"):
        training.train(dataclasses.replace(cfg, style_data=str(tmp_path / "s")), vgg_params=vgg,
                       verbose=False)
