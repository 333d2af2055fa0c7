"""Faults: disk full during a save (a real 64 KiB tmpfs), SIGKILL during training,
damaged or foreign checkpoints, NaN losses. Nothing is lost or half-written."""
from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adain_jax import cli, image_io, training, weights
from adain_jax.errors import ConfigError, ImageError, WeightsError
from adain_jax.training import Checkpoints
from tools.hardening import fuzz, kill_trials
from tools.reference.params import random_params_np


# ------------------------------------------------------------------ disk full (real tmpfs)

@pytest.fixture
def small_fs(tmp_path):
    """A 64 KiB tmpfs (root only); skipped where mounting is not permitted."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    d = tmp_path / "small"
    d.mkdir()
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(d)],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"mount unavailable: {e}")
    if r.returncode != 0:
        pytest.skip(f"mount not permitted: {r.stderr.strip()}")
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], capture_output=True, timeout=30)


def fill(folder: Path, leave: int) -> None:
    """Fill the file system of ``folder`` until about ``leave`` bytes are free."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    with open(folder / "filler", "wb") as f:
        f.write(b"\0" * max(0, free - leave))


def noise(h, w, seed=0):
    return np.random.default_rng(seed).random((h, w, 3)).astype(np.float32)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif", ".webp"])
def test_save_image_disk_full_leaves_nothing(small_fs, suffix):
    # .jpg/.bmp/.tif: PIL's C encoders ignore short writes to a file descriptor; this
    # caught save_image leaving a truncated file with no error (now encoded in memory)
    keep = small_fs / f"keep{suffix}"
    image_io.save_image(keep, noise(2, 2))
    original = keep.read_bytes()
    fill(small_fs, 8192)
    for target, overwrite in ((small_fs / f"new{suffix}", False), (keep, True)):
        with pytest.raises(ImageError) as e:
            image_io.save_image(target, noise(128, 128), overwrite=overwrite)
        msg = str(e.value)
        assert "No space left on device" in msg and "nothing was written" in msg, msg
        assert "\n" not in msg
        assert sorted(p.name for p in small_fs.iterdir()) == ["filler", keep.name]
    assert keep.read_bytes() == original  # the existing file is intact


def test_save_params_disk_full_leaves_nothing(small_fs):
    tree = {"decoder": {"conv1_1": {"kernel": noise(3, 3, 1).repeat(2000, axis=1)}}}
    small = {"decoder": {"conv1_1": {"bias": np.ones(3, np.float32)}}}
    weights.save_params(small_fs / "keep.npz", small)
    original = (small_fs / "keep.npz").read_bytes()
    fill(small_fs, 8192)
    for target, overwrite in ((small_fs / "new.npz", False), (small_fs / "keep.npz", True)):
        with pytest.raises(WeightsError) as e:
            weights.save_params(target, tree, overwrite=overwrite)
        msg = str(e.value)
        assert "No space left on device" in msg and "nothing was written" in msg, msg
        assert sorted(p.name for p in small_fs.iterdir()) == ["filler", "keep.npz"]
    assert (small_fs / "keep.npz").read_bytes() == original
    with pytest.raises(WeightsError, match="exists"):  # never overwritten without asking
        weights.save_params(small_fs / "keep.npz", small)


def test_stylize_cli_disk_full(small_fs, tmp_path, capsys):
    dec = tmp_path / "dec.npz"
    dec.write_bytes(fuzz.decoder_npz())
    content, style = tmp_path / "c.png", tmp_path / "s.png"
    Image.fromarray((noise(40, 40) * 255).astype(np.uint8)).save(content)
    Image.fromarray((noise(24, 24, 1) * 255).astype(np.uint8)).save(style)
    fill(small_fs, 4096)
    out = small_fs / "out.bmp"  # uncompressed: 4.9 KB does not fit
    code = cli.stylize_main(["--content", str(content), "--style", str(style), "--output",
                             str(out), "--decoder", str(dec), "--content-size", "0",
                             "--style-size", "0", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1, (err, sorted((p.name, p.stat().st_size) for p in small_fs.iterdir()),
                       os.statvfs(small_fs))
    assert "No space left on device" in err and "nothing was written" in err, err
    assert "Traceback" not in err and "1 of 1 output(s) failed" in err
    assert sorted(p.name for p in small_fs.iterdir()) == ["filler"]


# ------------------------------------------------------------------ training faults

@pytest.fixture(scope="module")
def vgg():
    return random_params_np("vgg", 1)


def test_nan_loss_keeps_last_good_checkpoint_and_decoder(tmp_path, vgg):
    from test_training import FakeLoader, assert_trees_equal, config

    wd = tmp_path / "nan"
    with pytest.raises(training.TrainingDiverged, match="non-finite at step 3.*step 2"):
        training.train(config(wd, steps=8), loader=FakeLoader(nan_at=2), vgg_params=vgg,
                       verbose=False)
    ck = Checkpoints(wd)
    assert list(ck.manager.all_steps()) == [2]
    state, _ = ck.restore(2, training.abstract_like(
        training.new_state(training.make_mesh(), 1e-4, 5e-5)))
    ck.close()
    # decoder.npz is the last good decoder, not the diverged one
    assert_trees_equal(weights.load_decoder(wd / "decoder.npz"), state.params)
    assert not list(wd.glob("decoder.npz.*"))


def test_damaged_checkpoint_is_a_clear_error(tmp_path, vgg):
    from test_training import FakeLoader, config

    wd = tmp_path / "dmg"
    training.train(config(wd, steps=2), loader=FakeLoader(), vgg_params=vgg, verbose=False)
    meta = wd / "checkpoints" / "2" / "config" / "metadata"
    assert meta.is_file()
    for garbage in (b"\xff\xfe not json", b"[1, 2]"):
        meta.write_bytes(garbage)
        # the checksum manifest catches the damage first; no earlier step to fall back to
        with pytest.raises(ConfigError, match=r"every checkpoint .* is damaged \(step 2: "
                                              r"config/metadata has the wrong") as e:
            training.train(config(wd), loader=FakeLoader(), vgg_params=vgg, verbose=False)
        assert "\n" not in str(e.value)


def test_half_written_checkpoint_dir_is_ignored(tmp_path, vgg):
    """A save killed before orbax's final rename leaves a temp dir: resume from the last
    complete checkpoint, bit-identical to an uninterrupted run."""
    from test_training import FakeLoader, assert_trees_equal, config

    full = training.train(config(tmp_path / "full"), loader=FakeLoader(), vgg_params=vgg,
                          verbose=False)
    wd = tmp_path / "half"
    training.train(config(wd, steps=2), loader=FakeLoader(), vgg_params=vgg, verbose=False)
    tmp = wd / "checkpoints" / "4.orbax-checkpoint-tmp-1700000000000"
    shutil.copytree(wd / "checkpoints" / "2", tmp)
    for f in sorted(tmp.rglob("*"))[::2]:
        if f.is_file():
            f.unlink()
    resumed = training.train(config(wd), loader=FakeLoader(), vgg_params=vgg, verbose=False)
    assert_trees_equal(resumed, full)


def test_cli_refuses_foreign_checkpoint_with_one_line(tmp_path, vgg, capsys):
    import jax.numpy as jnp

    wd = tmp_path / "other"
    ck = Checkpoints(wd)
    arch = training.architecture()
    arch["decoder_shapes"]["conv4_1/kernel"] = [3, 3, 512, 128]
    ck.save(5, {"step": jnp.asarray(5, jnp.int32)}, [{}], {"arch": arch, "train": {}})
    ck.close()
    vgg_path = weights.save_params(tmp_path / "vgg.npz", {"vgg": vgg})
    for kind in ("c", "s"):
        (tmp_path / kind).mkdir()
        Image.fromarray((noise(20, 20) * 255).astype(np.uint8)).save(tmp_path / kind / "a.png")
    code = cli.train_main(["--content-data", str(tmp_path / "c"), "--style-data",
                           str(tmp_path / "s"), "--workdir", str(wd), "--vgg", str(vgg_path),
                           "--crop-size", "16", "--resize", "16", "--workers", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("error: ") and "incompatible model" in err[0]
    assert "conv4_1/kernel: [3, 3, 512, 128] vs [3, 3, 512, 256]" in err[0]


def test_sigkill_during_training_resumes_bit_identical(tmp_path):
    """One kill_trials trial (1-2 SIGKILLs, one of them while a checkpoint is written)."""
    kt = kill_trials
    ctx = kt.setup(tmp_path)
    rc, seconds = kt.run_to_end(ctx, tmp_path / "ref", tmp_path / "ref.log")
    assert rc == 0, (tmp_path / "ref.log").read_text()[-3000:]
    ref = kt.decoder(tmp_path / "ref")
    stats = {k: 0 for k in ("trials", "kills", "kills_during_save", "restarts_checked",
                            "resume_mismatches", "final_mismatches", "crashes",
                            "broken_decoder_files")}
    events: list = []
    rng_seed = next(s for s in range(100) if random.Random(f"{s}:0").choice((1, 2, 2, 3)) <= 2)
    kt.trial(ctx, 0, rng_seed, seconds, ref, stats, events)
    assert stats["trials"] == 1 and stats["kills"] >= 1, events
    assert stats["resume_mismatches"] == stats["final_mismatches"] == 0, events
    assert stats["crashes"] == stats["broken_decoder_files"] == 0, events
