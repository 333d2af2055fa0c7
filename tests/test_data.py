"""Tests for adain_jax.data: the (content, style) training stream.  Images are tiny and
made in tmp_path; crops are 16 px."""

from __future__ import annotations

import io
import json
import logging
import sys

import numpy as np
import pytest
from PIL import Image

from adain_jax.image_io import to_float_rgb
from adain_jax.training.data import PairLoader, parse_tfds_spec, preprocess
from adain_jax.errors import ConfigError

CROP = 16


def _save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def _folder(root, n=6, size=(20, 28), seed=0, sub=""):
    rng = np.random.default_rng(seed)
    for i in range(n):
        ext = ["png", "jpg", "bmp"][i % 3]
        _save(root / sub / f"img{i}.{ext}",
              rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    return root


def _solid_folder(root, n):
    """n solid-colour images; image i has red = 10 * (i + 1), so crops identify it."""
    for i in range(n):
        a = np.zeros((CROP, CROP + 4, 3), np.uint8)
        a[..., 0] = 10 * (i + 1)
        _save(root / f"s{i}.png", a)
    return root


def _ids(batch):
    return [int(round(x * 255 / 10)) - 1 for x in batch[:, 0, 0, 0]]


def _take(loader, k):
    return [next(loader) for _ in range(k)]


def _loader(content, style=None, **kw):
    kw.setdefault("batch_size", 3)
    kw.setdefault("crop_size", CROP)
    kw.setdefault("resize", 24)
    kw.setdefault("workers", 2)
    return PairLoader(str(content), str(style or content), **kw)


def _same(batches_a, batches_b):
    return all(
        a[k].tobytes() == b[k].tobytes() for a, b in zip(batches_a, batches_b)
        for k in ("content", "style"))


@pytest.fixture
def imgs(tmp_path):
    return _folder(tmp_path / "imgs")


def test_shapes_dtype_range_and_no_tensorflow(imgs):
    with _loader(imgs) as ld:
        for b in _take(ld, 3):  # 9 > 6 images: crosses an epoch
            assert set(b) == {"content", "style"}
            for v in b.values():
                assert v.shape == (3, CROP, CROP, 3) and v.dtype == np.float32
                assert 0.0 <= v.min() and v.max() <= 1.0
        assert ld.skipped == 0 and ld.sizes == {"content": 6, "style": 6}
    assert "tensorflow" not in sys.modules


def test_deterministic_per_seed_and_differs_across_seeds(imgs):
    with _loader(imgs, seed=1) as a, _loader(imgs, seed=1, workers=0) as b, \
            _loader(imgs, seed=2) as c:
        ba, bb, bc = _take(a, 4), _take(b, 4), _take(c, 4)
    assert _same(ba, bb)  # also independent of the number of workers
    assert not _same(ba, bc)


def test_epochs_reshuffled_and_streams_independent(tmp_path):
    d = _solid_folder(tmp_path / "s", 8)
    with _loader(d, batch_size=4, resize=0, seed=3) as ld:
        bs = _take(ld, 4)
    content = [_ids(b["content"]) for b in bs]
    style = [_ids(b["style"]) for b in bs]
    e1, e2 = content[0] + content[1], content[2] + content[3]
    assert sorted(e1) == sorted(e2) == list(range(8))  # each epoch is a permutation
    assert e1 != e2  # reshuffled per epoch
    assert e1 != style[0] + style[1]  # content and style shuffled independently
    assert e1 != list(range(8))


def test_resume_from_state_is_exact(imgs):
    with _loader(imgs, seed=5) as a:
        _take(a, 2)
        state = json.loads(json.dumps(a.get_state()))  # JSON round trip
        cont = _take(a, 3)  # crosses the epoch boundary
        with _loader(imgs, seed=5) as b:
            b.set_state(state)
            assert _same(cont, _take(b, 3))
        # restoring the original loader itself also rewinds it
        a.set_state(state)
        assert _same(cont, _take(a, 3))


def test_resume_state_checked(imgs):
    with _loader(imgs, seed=5) as a, _loader(imgs, seed=6) as b:
        with pytest.raises(ConfigError, match="seed"):
            b.set_state(a.get_state())
        with pytest.raises(ConfigError, match="invalid"):
            b.set_state({"version": 1})


def test_corrupt_images_skipped_counted_logged_once(tmp_path, caplog):
    d = _folder(tmp_path / "c", n=5)
    (d / "broken.jpg").write_bytes(b"not an image at all")
    good = io.BytesIO()
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(good, format="PNG")
    (d / "truncated.png").write_bytes(good.getvalue()[:60])
    caplog.set_level(logging.WARNING, logger="adain_jax.training.data")
    with _loader(d, batch_size=2, seed=0) as ld:
        for b in _take(ld, 8):  # 16 good images per stream = 3+ epochs
            assert b["content"].shape == (2, CROP, CROP, 3)
        state = ld.get_state()
        assert ld.skipped >= 8  # 2 bad files per epoch, 2 streams, >= 2 epochs
        skipped = ld.skipped
    with _loader(d, batch_size=2, seed=0) as ld2:
        ld2.set_state(state)
        assert ld2.skipped == skipped
    msgs = [r.getMessage() for r in caplog.records]
    for name in ("broken.jpg", "truncated.png"):
        # once per file per stream (content and style read the same folder)
        assert 1 <= sum(name in m for m in msgs) <= 2


def test_all_unreadable_raises_not_hangs(tmp_path, imgs):
    d = tmp_path / "bad"
    d.mkdir()
    for i in range(3):
        (d / f"x{i}.jpg").write_bytes(b"garbage")
    with _loader(imgs, d) as ld:
        with pytest.raises(ConfigError, match="none of its 3 images"):
            next(ld)


def test_recursive_folders(tmp_path):
    root = tmp_path / "r"
    _folder(root, n=2, sub="a")
    _folder(root, n=3, sub="b/c", seed=1)
    (root / "notes.txt").write_text("not an image")
    with _loader(root) as ld:
        assert ld.sizes == {"content": 5, "style": 5}
        assert next(ld)["content"].shape == (3, CROP, CROP, 3)


@pytest.mark.parametrize("resize", [0, 8, 24])
def test_small_images_upscaled_to_crop(tmp_path, resize):
    d = _folder(tmp_path / "small", n=3, size=(9, 13))
    with _loader(d, resize=resize, crop_size=CROP) as ld:
        b = next(ld)
    assert b["content"].shape == (3, CROP, CROP, 3)
    assert b["content"].std() > 0.01  # real content, not padding


def test_bad_specs(tmp_path, imgs):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    cases = [
        dict(content=str(tmp_path / "missing")),
        dict(content=str(empty)),
        dict(content=""),
        dict(content="tfds:"),
        dict(content="tfds:bad name!"),
        dict(batch_size=0),
        dict(shard_index=2, shard_count=2),
        dict(resize=-1),
    ]
    for kw in cases:
        args = dict(content=str(imgs), style=str(imgs), batch_size=2, crop_size=CROP)
        args.update(kw)
        with pytest.raises(ConfigError) as ei:
            PairLoader(args.pop("content"), args.pop("style"), **args)
        assert "\n" not in str(ei.value)
    # more shards than images
    with pytest.raises(ConfigError, match="shard"):
        PairLoader(str(_folder(tmp_path / "one", n=1)), str(imgs), batch_size=1,
                   shard_index=1, shard_count=2)


def test_parse_tfds_spec():
    assert parse_tfds_spec("tfds:coco/2017") == {
        "name": "coco/2017", "split": "train", "key": "image"}
    assert parse_tfds_spec("tfds:coco/2017:1.1.0:validation#img") == {
        "name": "coco/2017:1.1.0", "split": "validation", "key": "img"}
    assert parse_tfds_spec("tfds:tf_flowers:train[:90%]")["split"] == "train[:90%]"
    with pytest.raises(ConfigError):
        parse_tfds_spec("tfds:a b")


def test_tfds_unprepared_dataset_is_config_error(tmp_path, imgs):
    with pytest.raises(ConfigError, match="array_record"):
        PairLoader("tfds:tf_flowers", str(imgs), batch_size=2,
                   tfds_data_dir=str(tmp_path / "tfds"))
    with pytest.raises(ConfigError):
        PairLoader("tfds:no_such_dataset_xyz", str(imgs), batch_size=2,
                   tfds_data_dir=str(tmp_path / "tfds"))


def test_tfds_source_via_mock_data_source(imgs):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=7):
        with _loader("tfds:tf_flowers:train", imgs, seed=4) as a, \
                _loader("tfds:tf_flowers", imgs, seed=4) as b:
            assert a.sizes["content"] == 7
            ba, bb = _take(a, 3), _take(b, 3)
            assert _same(ba, bb)
            assert ba[0]["content"].shape == (3, CROP, CROP, 3)
            assert ba[0]["content"].dtype == np.float32
            state = a.get_state()
            cont = _take(a, 2)
            b.set_state(state)
            assert _same(cont, _take(b, 2))
        with pytest.raises(ConfigError, match="label"):
            PairLoader("tfds:tf_flowers#nope", str(imgs), batch_size=2)
    assert "tensorflow" not in sys.modules


def _tiny_builder_cls(tfds):
    """A local tfds builder over 5 generated images, feature key 'picture'.  A uint8
    Tensor feature (not Image) so that preparing it needs no TensorFlow."""

    class AdainTinyImages(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "picture": tfds.features.Tensor(shape=(None, None, 3), dtype=np.uint8,
                                                encoding="bytes")}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            rng = np.random.default_rng(0)
            for i in range(5):
                yield i, {"picture": rng.integers(0, 256, (18 + i, 24, 3), dtype=np.uint8)}

    return AdainTinyImages


_TINY = {}


def test_tfds_local_array_record_dataset(tmp_path, imgs):
    tfds = pytest.importorskip("tensorflow_datasets")
    if "cls" not in _TINY:  # register the builder once per session
        _TINY["cls"] = _tiny_builder_cls(tfds)
    data_dir = str(tmp_path / "tfds")
    _TINY["cls"](data_dir=data_dir, file_format="array_record").download_and_prepare()
    spec = "tfds:adain_tiny_images:train#picture"
    with _loader(spec, imgs, seed=2, tfds_data_dir=data_dir) as a, \
            _loader(spec, imgs, seed=2, tfds_data_dir=data_dir, workers=0) as b:
        assert a.sizes["content"] == 5
        ba = _take(a, 4)
        assert _same(ba, _take(b, 4))
        assert ba[0]["content"].shape == (3, CROP, CROP, 3)
    with pytest.raises(ConfigError, match="picture"):
        PairLoader("tfds:adain_tiny_images", str(imgs), batch_size=2, tfds_data_dir=data_dir)
    assert "tensorflow" not in sys.modules


def test_shards_disjoint_per_epoch(tmp_path):
    d = _solid_folder(tmp_path / "s", 9)
    seen = []
    for shard in range(2):
        with _loader(d, batch_size=1, resize=0, seed=7, shard_index=shard,
                     shard_count=2) as ld:
            n = ld.sizes["content"]
            ids = [_ids(b["content"])[0] for b in _take(ld, 2 * n)]
        assert sorted(ids[:n]) == sorted(ids[n:])  # one epoch = the whole shard
        seen.append(set(ids[:n]))
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == set(range(9))


def test_preprocess_inputs_and_resize_matches_pil():
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    np.testing.assert_allclose(to_float_rgb(u8), u8 / 255.0, atol=1e-7)
    assert to_float_rgb(u8[..., 0]).shape == (20, 30, 3)  # grey -> RGB
    png = io.BytesIO()
    Image.fromarray(u8).save(png, format="PNG")
    np.testing.assert_allclose(to_float_rgb(png.getvalue()), u8 / 255.0, atol=1e-7)
    # resize + crop equals PIL's antialiased bilinear resize, then the same crop
    a = rng.random((40, 50, 3)).astype(np.float32)
    for resize in (17, 30, 64):
        out = preprocess(a, np.random.default_rng(1), crop_size=CROP, resize=resize)
        g = np.random.default_rng(1)
        h, w = resize, round(50 * resize / 40)
        top, left = int(g.integers(0, h - CROP + 1)), int(g.integers(0, w - CROP + 1))
        flip = g.random() < 0.5
        ref = np.stack([np.asarray(Image.fromarray(a[..., c]).resize(
            (w, h), Image.Resampling.BILINEAR)) for c in range(3)], -1)
        ref = ref[top:top + CROP, left:left + CROP]
        if flip:
            ref = ref[:, ::-1]
        np.testing.assert_allclose(out, np.clip(ref, 0, 1), atol=1e-5)
