"""The dataset job (plan, manifest, device loop, CLI, crash safety) and style augmentation, on
tiny fake images and random weights."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

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
    assert (out / "manifest.csv").read_text().splitlines()[0] == "content,style,alpha,output"
    rows = manifest.read(out)
    assert all(r[3] == r[0] for r in manifest.read(out, with_output=True))   # mirrored
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


def test_lite_model_job_matches_stylize_and_names_its_model(tmp_path):
    from adain_jax.nn import lite
    from adain_jax.weights import save_params

    params = lite.init_params(jax.random.PRNGKey(3), lite.LiteConfig(8, 1))
    root = make_tree(tmp_path, n_a=2, n_b=1, broken=False)
    s = stylize_dataset(job(root, model="lite"), params, log=lambda m: None)
    assert (s.written, len(s.failed)) == (3, 0)
    for content, style, alpha in manifest.read(root / "out"):
        got = image_io.load_image(root / "out" / content)
        ref = adain_jax.stylize(params, image_io.load_image(root / "src" / content),
                                image_io.load_image(root / "styles" / style), alpha=alpha)
        np.testing.assert_array_equal(image_io.to_uint8(got), image_io.to_uint8(np.asarray(ref)))
    # from a weights file; a VGG file with the lite model is a mistake, refused up front
    path = save_params(tmp_path / "lite.npz", params)
    s = stylize_dataset(job(root, "out2", model="lite", decoder=str(path)), log=lambda m: None)
    assert s.written == 3
    assert outputs(root / "out2").keys() == outputs(root / "out").keys()
    with pytest.raises(ConfigError, match="--vgg does not apply"):
        stylize_dataset(job(root, "out3", model="lite", vgg="v.npz"), log=lambda m: None)
    assert not (root / "out3").exists()


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


class FakeSplit:
    """A tfds split (faked: the real reader needs a prepared dataset): 5 examples, record 2
    corrupt; ``names`` None is a dataset without a ``label`` ClassLabel. Records every
    decode in ``reads``."""

    names: tuple | None = ("cat", "big dog/x", ".hidden")
    labels = (1, 0, 0, -1, 2)           # -1: no class (e.g. ImageNet's test split)
    reads: ClassVar[list] = []

    def __init__(self, spec, data_dir):
        assert spec == "tfds:fake/cfg:train[:50%]"
        self.spec = spec

    def __len__(self):
        return 5

    def name(self, i):
        return f"{self.spec}[{i}]"

    def class_names(self, feature):
        assert feature == "label"
        return self.names

    def load(self, i):
        assert self.names is None        # labelled: image and label from one decode
        self.reads.append(i)
        return self._image(i)

    def load_with(self, i, feature):
        assert feature == "label" and self.names is not None
        self.reads.append(i)
        return self._image(i), np.int64(self.labels[i])

    def _image(self, i):
        from adain_jax.errors import ImageError

        if i == 2:
            raise ImageError("record 2: corrupt JPEG")
        rng = np.random.default_rng(i)
        return (rng.random((24 + 8 * i, 32, 3)) * 255).astype(np.uint8)


def test_tfds_source_written_by_split_and_label_and_resumes(tmp_path, params, monkeypatch):
    """tfds -> SPLIT/LABEL/NNNNNNNN.png (safe class names; the integer without one); the
    content key SPLIT/NNNNNNNN sets the style; a rerun decodes only what has no output."""
    from adain_jax.training import sources

    monkeypatch.setattr(sources, "TfdsSource", FakeSplit)
    write_ramp_images(tmp_path / "styles", 2, 2, [(32, 32)])
    styles = sorted(p.name for p in (tmp_path / "styles").iterdir())
    out = tmp_path / "out"

    def run(folder=out):
        FakeSplit.reads = []
        return stylize_dataset(DatasetJob("tfds:fake/cfg:train[:50%]", str(tmp_path / "styles"),
                                          str(folder), content_size=0, style_size=0),
                               params, log=lambda m: None)

    s = run()
    assert s.written == 4 and s.failed == [("train__50__/00000002", "record 2: corrupt JPEG")]
    assert sorted(FakeSplit.reads) == [0, 1, 2, 3, 4]
    expected = {0: "big_dog_x", 1: "cat", 3: "-1", 4: "_hidden"}
    rows = manifest.read(out, with_output=True)
    keys = [f"train__50__/0000000{i}" for i in expected]
    assert rows == [(k, styles[plan.style_index(k, 0, 2)], 1.0,
                     f"train__50__/{expected[i]}/0000000{i}.png") for k, i in zip(keys, expected)]
    assert (out / "manifest.csv").read_text().splitlines()[0] == "content,style,alpha,output"
    assert set(outputs(out)) == {r[3] for r in rows} | {"manifest.csv", "errors.csv"}
    assert image_io.load_image(out / rows[2][3]).shape == (48, 32, 3)
    # a rerun decodes only the unreadable record; one lost output is remade, nothing else
    before = outputs(out)
    s = run()
    assert (s.written, s.done_before, FakeSplit.reads) == (0, 4, [2])
    (out / rows[2][3]).unlink()
    (out / "train__50__" / "-1" / ".00000003.png.abcdefgh.tmp").write_bytes(b"partial")
    s = run()
    assert (s.written, s.done_before, sorted(FakeSplit.reads)) == (1, 3, [2, 3])
    assert outputs(out) == before and not list(out.rglob(".*.tmp"))
    # no `label` ClassLabel: SPLIT/NNNNNNNN.png, the same assignment
    monkeypatch.setattr(FakeSplit, "names", None)
    run(tmp_path / "flat")
    flat = manifest.read(tmp_path / "flat", with_output=True)
    assert [r[:3] for r in flat] == [r[:3] for r in rows]
    assert [r[3] for r in flat] == [k + ".png" for k in keys]
    assert (tmp_path / "flat" / "train__50__" / "00000004.png").is_file()


def test_tfds_class_names_from_dataset_info():
    tfds = pytest.importorskip("tensorflow_datasets")
    from types import SimpleNamespace

    from adain_jax.training.sources import TfdsSource

    def source(**features):
        src = object.__new__(TfdsSource)      # the reader itself needs a prepared dataset
        src.spec, src.key = "tfds:x", "image"
        src._ds = SimpleNamespace(dataset_info=SimpleNamespace(
            features=tfds.features.FeaturesDict({"image": tfds.features.Image(), **features})))
        return src

    src = source(label=tfds.features.ClassLabel(names=["a", "b"]))
    assert src.class_names("label") == ["a", "b"]
    assert source(label=tfds.features.ClassLabel(num_classes=2)).class_names() == ["0", "1"]
    assert source(label=tfds.features.Tensor(shape=(), dtype=np.int64)).class_names() is None
    assert source().class_names() is None
    src._ds = {0: {"image": "pixels", "label": 1}}
    assert src.load_with(0, "label") == ("pixels", 1)
    assert plan.safe_component("a/b c") == "a_b_c" and plan.safe_component("..") == "_."
    assert plan.safe_component("", "7") == "7"


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
