"""Arguments that used to pass silently or fail mid-run (issue 12, items 6, 8, 9, 10, 13):
each is refused (or handled) at the API boundary before any output is written."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adain_jax import ops
from adain_jax.errors import ConfigError
from adain_jax.inference import pipeline, validate


def _png(path: Path, value=128, size=(16, 16)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value,) * 3).save(path)
    return path


# ----------------------------------------------------------------------- item 6: collisions

def test_recursive_folders_mirror_the_input_tree(tmp_path):
    """``a/x.png`` and ``b/x.png`` map to ``out/a/...`` and ``out/b/...``, not one file."""
    contents = [_png(tmp_path / "in" / "a" / "x.png"), _png(tmp_path / "in" / "b" / "x.png")]
    style = _png(tmp_path / "s.png")
    jobs = pipeline.plan_jobs(contents, [(style,)], tmp_path / "out")
    assert [j.output.relative_to(tmp_path / "out").as_posix() for j in jobs] == \
        ["a/x_stylized_s.png", "b/x_stylized_s.png"]


def test_flat_folder_names_are_unchanged(tmp_path):
    contents = [_png(tmp_path / "in" / "x.png"), _png(tmp_path / "in" / "y.png")]
    jobs = pipeline.plan_jobs(contents, [(_png(tmp_path / "s.png"),)], tmp_path / "out")
    assert [j.output.name for j in jobs] == ["x_stylized_s.png", "y_stylized_s.png"]
    assert all(j.output.parent == tmp_path / "out" for j in jobs)


def test_styles_with_clashing_stems_are_disambiguated(tmp_path):
    """``s.jpg`` and ``s.png`` -> ``s-jpg``/``s-png``; ``a/s.png`` and ``b/s.png`` -> their
    folders too."""
    c = _png(tmp_path / "c.png")
    styles = [_png(tmp_path / "st" / "s.png"), tmp_path / "st" / "s.jpg",
              _png(tmp_path / "st" / "a" / "t.png"), _png(tmp_path / "st" / "b" / "t.png")]
    Image.new("RGB", (8, 8)).save(styles[1])
    jobs = pipeline.plan_jobs([c], [(s,) for s in styles], tmp_path / "out")
    assert [j.output.name for j in jobs] == [
        "c_stylized_s-png.png", "c_stylized_s-jpg.png", "c_stylized_a-t-png.png",
        "c_stylized_b-t-png.png"]


def test_any_remaining_collision_is_refused_before_writing(tmp_path):
    """Case-only differences, hand-built jobs sharing an output, or an output that is an
    input: ConfigError from plan_jobs/run, and nothing is written even with overwrite."""
    c1, c2 = _png(tmp_path / "X.png"), _png(tmp_path / "x.png")
    s = _png(tmp_path / "s.png")
    with pytest.raises(ConfigError, match="two outputs would be written"):
        pipeline.plan_jobs([c1, c2], [(s,)], tmp_path / "out")
    out = tmp_path / "out" / "o.png"
    jobs = [pipeline.Job(c1, (s,), out), pipeline.Job(c2, (s,), out)]
    with pytest.raises(ConfigError, match="nothing was written"):
        pipeline.run(None, jobs, overwrite=True)
    with pytest.raises(ConfigError, match="would overwrite the input"):
        pipeline.plan_jobs([c1], [(s,)], s)
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------- item 8: weights

def test_style_weights_beyond_float32_are_normalised_in_float64():
    ws = validate.style_weights([1e39, 1], 2)
    assert ws == pytest.approx([1.0, 1e-39], rel=1e-12)
    means, stds = np.ones((2, 1, 1, 1, 4), np.float32), np.ones((2, 1, 1, 1, 4), np.float32)
    mean, std = ops.mix_stats(means, stds, ws)
    assert np.isfinite(np.asarray(mean)).all() and np.isfinite(np.asarray(std)).all()
    with pytest.raises(ConfigError, match="too large"):
        validate.style_weights([1.7e308, 1.7e308], 2)


# ----------------------------------------------------------------------- item 9: tile

@pytest.mark.parametrize("tile", [1, 8, 16, 32])
def test_tile_too_small_is_refused_before_anything_runs(tmp_path, tile):
    c, s = _png(tmp_path / "c.png"), _png(tmp_path / "s.png")
    jobs = pipeline.plan_jobs([c], [(s,)], tmp_path / "out")
    with pytest.raises(ConfigError, match=r"tile must be 0 \(never tile\) or more than 32") as e:
        pipeline.run(None, jobs, tile=tile)
    assert "halo" not in str(e.value)
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------- item 10: masks

@pytest.mark.parametrize("n_styles, n_masks", [(2, 2), (1, 1)])
def test_all_black_masks_fail_instead_of_a_grey_image(tmp_path, n_styles, n_masks):
    c = _png(tmp_path / "c.png")
    styles = tuple(_png(tmp_path / f"s{i}.png") for i in range(n_styles))
    masks = [_png(tmp_path / f"m{i}.png", value=0) for i in range(n_masks)]
    jobs = pipeline.plan_jobs([c], [styles], tmp_path / "out")
    report = pipeline.run(None, jobs, mask_paths=masks, content_size=16, style_size=16)
    assert not report.written and len(report.failed) == 1
    assert "black everywhere" in report.failed[0][1]
    with pytest.raises(ConfigError, match="black everywhere"):
        validate.masks(np.zeros((n_styles, 8, 8), np.float32), 1, n_styles, (8, 8), xp=np)
    validate.masks(np.eye(8, dtype=np.float32)[None].repeat(n_styles, 0), 1, n_styles, (8, 8),
                   xp=np)


def test_one_black_mask_for_two_styles_is_fine(tmp_path):
    """One mask for two styles: black means 'all second style', which covers every pixel."""
    m = np.zeros((1, 8, 8), np.float32)
    validate.mask_coverage(np.concatenate([m, 1 - m]))


# ----------------------------------------------------------------------- item 13: dtypes

def test_uint8_and_pil_inputs_are_converted_as_documented():
    u8 = np.arange(48, dtype=np.uint8).reshape(4, 4, 3) * 5
    batch, single = validate.as_batch(u8, "content")
    assert single and np.allclose(np.asarray(batch[0]), u8 / 255.0, atol=1e-7)
    pil, _ = validate.as_batch(Image.fromarray(u8), "content")
    assert np.allclose(np.asarray(pil), np.asarray(batch), atol=1e-7)
    f32, _ = validate.as_batch(u8 / 255.0, "content")
    assert np.allclose(np.asarray(f32), np.asarray(batch), atol=1e-7)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((4, 4, 3), np.int64), "dtype int64"), (np.zeros((4, 4, 3), bool), "dtype bool"),
    ("photo.jpg", "path or bytes"), (Path("photo.jpg"), "path or bytes")])
def test_other_inputs_are_rejected_with_a_clear_message(bad, match):
    with pytest.raises(ConfigError, match=match):
        validate.as_batch(bad, "content")


def test_stylize_accepts_uint8_like_its_float_equivalent(random_params):
    import adain_jax

    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    a = np.asarray(adain_jax.stylize(random_params, u8, u8))
    b = np.asarray(adain_jax.stylize(random_params, u8 / np.float32(255), u8 / np.float32(255)))
    assert np.allclose(a, b, atol=1e-5)


def test_cli_folder_run_with_overwrite_writes_every_output(tmp_path, capsys):
    """Item 6 end to end: contents ``a/x.png`` and ``b/x.png`` with styles ``s.jpg`` and
    ``s.png``, run twice with ``--overwrite``: four distinct files, each reported once."""
    import jax

    from adain_jax.cli.stylize import stylize_main
    from adain_jax.nn.models import init_params
    from adain_jax.weights import save_params

    p = init_params(jax.random.PRNGKey(3))
    save_params(tmp_path / "vgg.npz", {"vgg": p["vgg"]})
    save_params(tmp_path / "dec.npz", {"decoder": p["decoder"]})
    rng = np.random.default_rng(0)
    for name in ("in/a/x.png", "in/b/x.png", "st/s.png", "st/s.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(tmp_path / name)
    args = ["--content", str(tmp_path / "in"), "--style", str(tmp_path / "st"), "--output",
            str(tmp_path / "out"), "--content-size", "16", "--style-size", "16", "--quiet",
            "--overwrite", "--vgg", str(tmp_path / "vgg.npz"), "--decoder",
            str(tmp_path / "dec.npz")]
    for _ in range(2):
        assert stylize_main(args) == 0
        wrote = [line for line in capsys.readouterr().out.splitlines() if line.startswith("wrote")]
        assert len(wrote) == len(set(wrote)) == 4
    files = sorted(p.relative_to(tmp_path / "out").as_posix()
                   for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert files == ["a/x_stylized_s-jpg.png", "a/x_stylized_s-png.png",
                     "b/x_stylized_s-jpg.png", "b/x_stylized_s-png.png"]
