"""The dataset job (plan, manifest, device loop, CLI, crash safety) and style augmentation, on
tiny fake images and random weights."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import adain_jax  # noqa: F401  (XLA flags before jax starts)
import jax
import jax.numpy as jnp
from adain_jax import image_io
from adain_jax.cli import stylize_dataset as cli
from adain_jax.datasets import DatasetJob, manifest, plan, stylize_dataset
from adain_jax.errors import ConfigError
from conftest import write_ramp_images

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def params():
    from adain_jax.nn.models import init_params

    return init_params(jax.random.PRNGKey(0))


@pytest.fixture(scope="module")
def weights(tmp_path_factory, params):
    from adain_jax.weights import save_params

    return save_params(tmp_path_factory.mktemp("w") / "w.npz", params)


def make_tree(root: Path, n_a=5, n_b=4, broken=True) -> Path:
    write_ramp_images(root / "src" / "a", n_a, 0, [(24, 32), (32, 24), (40, 40)])
    write_ramp_images(root / "src" / "b" / "c", n_b, 1, [(24, 36), (30, 30)])
    write_ramp_images(root / "styles", 3, 2, [(32, 32), (40, 24)])
    if broken:
        (root / "src" / "a" / "broken.png").write_bytes(b"not an image")
    return root


def job(root: Path, out="out", **kw) -> DatasetJob:
    base = dict(content=str(root / "src"), styles=str(root / "styles"), output=str(root / out),
                content_size=0, style_size=0, batch_size=3, bucket=8, workers=2)
    base.update(kw)
    return DatasetJob(**base)


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not any(x.startswith(".") for x in p.relative_to(folder).parts)}


# ------------------------------------------------------------------ plan

def test_assignment_depends_only_on_path_and_seed():
    rels = [f"d{i % 3}/img{i}.jpg" for i in range(200)]
    items = [plan.Item(r, None) for r in rels]
    full = {r: plan.style_index(r, 7, 5) for r in rels}
    subset = {r: plan.style_index(r, 7, 5) for r in reversed(rels[50:120])}
    assert all(full[r] == s for r, s in subset.items())
    assert len(set(full.values())) == 5 and full != {r: plan.style_index(r, 8, 5) for r in rels}
    shares = [plan.share(items, p, 3) for p in range(3)]
    assert sorted(it.rel for s in shares for it in s) == sorted(rels)   # a partition
    assert min(len(s) for s in shares) > 40                             # roughly balanced
    alphas = [plan.alpha_for(r, 7, (0.25, 0.75)) for r in rels]
    assert all(0.25 <= a <= 0.75 and round(a, 4) == a for a in alphas)
    assert plan.alpha_for("x", 7, (0.6, 0.6)) == 0.6


# ------------------------------------------------------------------ the job

def test_job_mirrors_tree_matches_stylize_and_resumes(tmp_path, params):
    root = make_tree(tmp_path)
    s = stylize_dataset(job(root, alpha=(0.3, 1.0)), params, log=lambda m: None)
    assert (s.total, s.written, s.done_before) == (10, 9, 0)
    ((what, why),) = s.failed
    assert what == "a/broken.png"
    assert why.startswith(f"{root / 'src/a/broken.png'}: not a recognised image file")
    out = root / "out"
    assert (out / "manifest.csv").read_text().splitlines()[0] == "content,style,alpha"
    rows = manifest.read(out)
    assert [r[0] for r in rows] == sorted(p.relative_to(root / "src").as_posix()
                                          for p in (root / "src").rglob("img*.png"))
    assert (out / "errors.csv").read_text().splitlines()[1].startswith("a/broken.png,")
    # bucket 8 = every image at its own (8-padded) size: the same pixels as stylize()
    for content, style, alpha in rows:
        got = image_io.load_image(out / content)
        ref = adain_jax.stylize(params, image_io.load_image(root / "src" / content),
                                image_io.load_image(root / "styles" / style), alpha=alpha)
        assert got.shape == ref.shape
        np.testing.assert_array_equal(image_io.to_uint8(got), image_io.to_uint8(np.asarray(ref)))
    # a rerun does nothing new and writes the same records
    before = outputs(out)
    s2 = stylize_dataset(job(root, alpha=(0.3, 1.0)), params, log=lambda m: None)
    assert (s2.written, s2.done_before, len(s2.failed)) == (0, 9, 1)
    assert outputs(out) == before
    # coarse buckets (several sizes per batch, masked statistics) stay close to exact sizes
    stylize_dataset(job(root, "out64", alpha=(0.3, 1.0), bucket=64), params, log=lambda m: None)
    assert manifest.read(root / "out64") == rows
    for content, _, _ in rows:
        a, b = (image_io.load_image(o / content) for o in (out, root / "out64"))
        assert np.abs(a - b).mean() < 0.05


def test_another_job_refused_then_taken_over(tmp_path, params):
    root = make_tree(tmp_path, broken=False)
    stylize_dataset(job(root), params, log=lambda m: None)
    first = outputs(root / "out")
    with pytest.raises(ConfigError, match="holds another job's manifest .different seed"):
        stylize_dataset(job(root, seed=1), params, log=lambda m: None)
    assert outputs(root / "out") == first
    old_rows = manifest.read(root / "out")
    s = stylize_dataset(job(root, seed=1, overwrite=True), params, log=lambda m: None)
    assert s.written == 9 and s.done_before == 0
    assert manifest.read(root / "out") != old_rows       # the new job's assignment
    assert [r[1] for r in manifest.read(root / "out")] == [
        (sorted(p.name for p in (root / "styles").iterdir())[plan.style_index(r[0], 1, 3)])
        for r in manifest.read(root / "out")]


def test_tfds_source_written_as_image_tree(tmp_path, params, monkeypatch):
    """A tfds split (faked: the real reader needs a prepared dataset) -> SPLIT/NNNNNNNN.png."""
    from adain_jax.errors import ImageError
    from adain_jax.training import sources

    class FakeSplit:
        def __init__(self, spec, data_dir):
            assert spec == "tfds:fake/cfg:train[:50%]"

        def __len__(self):
            return 4

        def load(self, i):
            if i == 2:
                raise ImageError("record 2: corrupt JPEG")
            rng = np.random.default_rng(i)
            return (rng.random((24 + 8 * i, 32, 3)) * 255).astype(np.uint8)

    monkeypatch.setattr(sources, "TfdsSource", FakeSplit)
    write_ramp_images(tmp_path / "styles", 2, 2, [(32, 32)])
    s = stylize_dataset(DatasetJob("tfds:fake/cfg:train[:50%]", str(tmp_path / "styles"),
                                   str(tmp_path / "out"), content_size=0, style_size=0),
                        params, log=lambda m: None)
    assert s.written == 3 and s.failed == [("train__50__/00000002.png", "record 2: corrupt JPEG")]
    assert [r[0] for r in manifest.read(tmp_path / "out")] == [
        f"train__50__/0000000{i}.png" for i in (0, 1, 3)]
    assert image_io.load_image(tmp_path / "out" / "train__50__" / "00000003.png").shape == (48, 32, 3)


def test_cli_exit_codes(tmp_path, weights, capsys):
    root = make_tree(tmp_path, n_a=2, n_b=1)
    (tmp_path / "empty").mkdir()
    (tmp_path / "nothing" / "x").mkdir(parents=True)
    (tmp_path / "nothing" / "x" / "notes.txt").write_text("hi")
    base = ["--vgg", str(weights), "--decoder", str(weights), "--content-size", "0",
            "--style-size", "0", "--bucket", "8", "--no-progress"]
    cases = [
        (["--content", str(root / "src"), "--styles", str(tmp_path / "empty"), "--output",
          str(tmp_path / "o1")], "the style folder has no images"),
        (["--content", str(tmp_path / "nothing"), "--styles", str(root / "styles"), "--output",
          str(tmp_path / "o2")], "the source has no images"),
        (["--content", str(root / "src"), "--styles", str(root / "styles"), "--output",
          str(root / "src" / "o")], "is inside the --content folder"),
        (["--content", str(root / "src"), "--styles", str(root / "styles"), "--output",
          str(tmp_path / "o3"), "--alpha", "0.9,0.2"], "LO <= HI"),
    ]
    for argv, message in cases:
        assert cli.main(argv + base) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
        assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()
    ok = ["--content", str(root / "src"), "--styles", str(root / "styles"), "--output",
          str(tmp_path / "o4")] + base
    assert cli.main(ok) == 1           # done, one unreadable content listed
    assert "a/broken.png" in (tmp_path / "o4" / "errors.csv").read_text()
    capsys.readouterr()
    assert cli.main(ok + ["--seed", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another job's manifest (different seed)" in err[0]


def test_sigkill_mid_run_then_rerun_gives_the_same_result(tmp_path, weights, params):
    """A subprocess killed (SIGKILL) while it writes; the rerun finishes only the rest and the
    folder equals an uninterrupted run's (same manifest, same bytes, no temporaries)."""
    write_ramp_images(tmp_path / "src" / "x", 24, 0, [(24, 32), (32, 24), (40, 40), (48, 32)])
    write_ramp_images(tmp_path / "src" / "y", 16, 1, [(24, 40), (56, 32)])
    write_ramp_images(tmp_path / "styles", 3, 2, [(32, 32)])
    argv = ["--content", str(tmp_path / "src"), "--styles", str(tmp_path / "styles"),
            "--vgg", str(weights), "--decoder", str(weights), "--content-size", "0",
            "--style-size", "0", "--bucket", "8", "--batch-size", "2", "--workers", "2",
            "--alpha", "0.5,1", "--no-progress"]
    stylize_dataset(DatasetJob(str(tmp_path / "src"), str(tmp_path / "styles"),
                               str(tmp_path / "ref"), alpha=(0.5, 1.0), content_size=0,
                               style_size=0, bucket=8, batch_size=2, workers=2,
                               vgg=str(weights), decoder=str(weights)), params,
                    log=lambda m: None)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "adain_jax.cli.stylize_dataset", "--output", str(out), *argv]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None and \
            len(list(out.rglob("img*.png"))) < 3:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = len(list(out.rglob("img*.png")))
    assert 0 < written < 40, written          # killed mid-run
    assert not (out / "manifest.csv").exists()
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"({written} done before)" in rerun.stdout or "done before" in rerun.stdout
    assert outputs(out) == outputs(tmp_path / "ref")
    assert not [p for p in out.rglob(".*.tmp")]


# ------------------------------------------------------------------ augmentation

def test_augment_jit_deterministic_and_exact(params):
    imgs = jax.random.uniform(jax.random.PRNGKey(1), (6, 24, 20, 3))
    styles = jax.random.uniform(jax.random.PRNGKey(2), (3, 32, 32, 3))
    aug = jax.jit(adain_jax.augment)
    key = jax.random.PRNGKey(5)
    a = aug(params, key, imgs, styles, (0.5, 1.0), 0.5)
    b = aug(params, key, imgs, styles, (0.5, 1.0), 0.5)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert a.shape == imgs.shape and a.dtype == jnp.float32
    same = [bool(jnp.all(a[i] == imgs[i])) for i in range(6)]
    assert any(same) and not all(same)                 # p = 0.5: some picked, some not
    c = aug(params, jax.random.PRNGKey(6), imgs, styles, (0.5, 1.0), 0.5)
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    bank = adain_jax.style_bank(params, styles)         # precomputed statistics: same result
    np.testing.assert_allclose(aug(params, key, imgs, bank, (0.5, 1.0), 0.5), a, atol=1e-5)
    one = aug(params, key, imgs, styles[:1], 1.0, 1.0)  # p = 1, alpha 1, one style = stylize
    np.testing.assert_allclose(one, adain_jax.stylize(params, imgs, styles[0]), atol=1e-5)
    np.testing.assert_array_equal(aug(params, key, imgs, bank, (0.5, 1.0), 0.0), imgs)
    per_image = jax.jit(jax.vmap(adain_jax.augment, in_axes=(None, 0, 0, None)))(
        params, jax.random.split(key, 6), imgs, bank)
    assert per_image.shape == imgs.shape
