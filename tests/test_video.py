"""Video: the stylize_video generator, temporal consistency, metrics on clips with exactly
known motion, and stylize.py on video files (formats, audio, bad inputs, atomic output).
Tiny clips (64x48, 8 frames) are made with PyAV in the tests."""
import itertools
import os
from fractions import Fraction

import numpy as np
import pytest

av = pytest.importorskip("av")
pytest.importorskip("cv2")

import adain_jax  # noqa: E402
from adain_jax import fs  # noqa: E402
from adain_jax.errors import ConfigError, ImageError  # noqa: E402
from adain_jax.video import io as vio  # noqa: E402
from adain_jax.video import metrics, synthetic  # noqa: E402

H, W, N, FPS = 48, 64, 8, 12


def frames_rgb(n=N, h=H, w=W, seed=0):
    """uint8 frames: a smooth colour ramp panned 2 px per frame, plus mild noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w + 2 * n]
    base = np.stack([xx / (w + 2 * n), yy / h, 0.5 + 0.5 * np.sin(xx / 5.0)], -1)
    base = base + rng.normal(0, 0.03, base.shape)
    return [(np.clip(base[:, 2 * t:2 * t + w], 0, 1) * 255).astype(np.uint8) for t in range(n)]


def make_clip(path, n=N, audio=True, fmt=None, options=None, h=H, w=W, rotation=0):
    codec = "libvpx" if str(path).endswith(".webm") else "libx264"
    with av.open(str(path), "w", format=fmt, options=options or {}) as c:
        s = c.add_stream(codec, rate=FPS)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        if rotation:
            s.set_display_rotation(rotation)
        a = None
        if audio:
            a = c.add_stream("aac", rate=8000)
            a.layout = "mono"
        for i, img in enumerate(frames_rgb(n, h, w)):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode(None))
        if a is not None:
            x = (0.3 * np.sin(np.arange(int(8000 * n / FPS)) / 3.0)).astype(np.float32)[None]
            for k in range(0, x.shape[1], 1024):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[:, k:k + 1024]),
                                                format="fltp", layout="mono")
                af.sample_rate, af.pts = 8000, k
                c.mux(a.encode(af))
            c.mux(a.encode(None))
    return path


def make_audio_only(path):
    with av.open(str(path), "w", format="mp4") as c:
        a = c.add_stream("aac", rate=8000)
        a.layout = "mono"
        af = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.float32), format="fltp",
                                        layout="mono")
        af.sample_rate, af.pts = 8000, 0
        c.mux(a.encode(af))
        c.mux(a.encode(None))
    return path


@pytest.fixture(scope="module")
def style():
    return np.random.default_rng(1).random((32, 32, 3), dtype=np.float32)


# ----------------------------------------------------------------------- generator


def test_generator_is_lazy_and_per_frame_matches_stylize(random_params, style):
    pulled = []

    def endless():
        for i in itertools.count():
            pulled.append(i)
            yield frames_rgb(1, seed=i)[0]

    gen = adain_jax.stylize_video(random_params, endless(), style, batch_size=2,
                                  temporal="none")
    assert pulled == []  # nothing decoded before the first frame is asked for
    out = list(itertools.islice(gen, 3))
    assert len(pulled) <= 4  # two batches of two: memory does not grow with the clip
    assert out[0].shape == (H, W, 3) and out[0].dtype == np.float32

    frames = frames_rgb(5)
    ref = np.asarray(adain_jax.stylize(random_params, np.stack(frames) / np.float32(255), style))
    got = np.stack(list(adain_jax.stylize_video(random_params, frames, style, batch_size=3,
                                                temporal="none")))
    np.testing.assert_allclose(got, ref, atol=2e-5)  # the padded last batch changes nothing


def test_lite_model_video_matches_per_frame_stylize(style):
    import jax

    from adain_jax.nn import lite

    params = lite.init_params(jax.random.PRNGKey(5), lite.LiteConfig(8, 1))
    frames = frames_rgb(3)
    ref = np.asarray(adain_jax.stylize(params, np.stack(frames) / np.float32(255), style))
    got = np.stack(list(adain_jax.stylize_video(params, frames, style, batch_size=2,
                                                temporal="none")))
    np.testing.assert_allclose(got, ref, atol=2e-5)
    both = list(adain_jax.stylize_video(params, frames, style, batch_size=2, temporal="both"))
    assert len(both) == 3 and all(np.isfinite(b).all() for b in both)


def test_cli_video_with_the_lite_model(tmp_path, style_file):
    src = make_clip(tmp_path / "clip.mp4")
    out = tmp_path / "out.mp4"
    assert run_cli("--content", src, "--style", style_file, "--output", out, "--model", "lite",
                   "--content-size", "0") == 0
    assert len(list(vio.FrameReader(out))) == N


@pytest.mark.parametrize("method", ["ema", "flow", "both"])
def test_temporal_methods(random_params, style, method):
    frames = frames_rgb(6)
    out = list(adain_jax.stylize_video(random_params, frames, style, batch_size=4,
                                       temporal=method, alpha=0.7))
    assert len(out) == 6 and all(o.shape == (H, W, 3) for o in out)
    assert all(np.isfinite(o).all() and o.min() >= 0 and o.max() <= 1 for o in out)


def test_temporal_off_switches(random_params, style):
    frames = frames_rgb(4)
    none = np.stack(list(adain_jax.stylize_video(random_params, frames, style, temporal=False)))
    ema0 = np.stack(list(adain_jax.stylize_video(random_params, frames, style, temporal="ema",
                                                 ema_momentum=0.0)))
    flow0 = np.stack(list(adain_jax.stylize_video(random_params, frames, style, temporal="flow",
                                                  flow_weight=0.0, align=False)))
    np.testing.assert_allclose(ema0, none, atol=1e-6)
    np.testing.assert_allclose(flow0, none, atol=1e-6)


def test_style_options(random_params, style):
    frames = frames_rgb(3)
    mixed = list(adain_jax.stylize_video(random_params, frames, [style, style[::-1]],
                                         style_weights=[1, 3], temporal="none"))
    kept = list(adain_jax.stylize_video(random_params, frames, style, preserve_color=True,
                                        temporal="ema"))
    stats = adain_jax.style_stats(random_params, style)
    cached = list(adain_jax.stylize_video(random_params, frames, stats, temporal="none"))
    assert len(mixed) == len(kept) == len(cached) == 3


@pytest.mark.parametrize("kwargs", [dict(temporal="sometimes"), dict(batch_size=0),
                                    dict(ema_momentum=1.0), dict(flow_weight=-0.1),
                                    dict(alpha=2.0)])
def test_bad_options_raise_at_call(random_params, style, kwargs):
    with pytest.raises(ConfigError):
        adain_jax.stylize_video(random_params, [], style, **kwargs)


def test_frames_of_different_sizes(random_params, style):
    frames = [np.zeros((16, 16, 3), np.float32), np.zeros((16, 24, 3), np.float32)]
    with pytest.raises(ConfigError, match="one size"):
        list(adain_jax.stylize_video(random_params, frames, style, batch_size=2))


# ----------------------------------------------------------------------- metrics


@pytest.fixture(scope="module")
def photo():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:96, 0:128]
    img = np.stack([np.sin(xx / 7.0), np.cos(yy / 5.0), np.sin((xx + yy) / 9.0)], -1)
    return np.clip(0.5 + 0.35 * img + rng.normal(0, 0.05, img.shape), 0, 1).astype(np.float32)


def test_exact_flows_give_zero_warping_error(photo):
    pan = synthetic.pan(photo, 8, (64, 80), step=(3, 1))
    obj = synthetic.moving_object(photo[:64, :80], photo[::-1, ::-1][:16, :16].copy(), 8,
                                  step=(3, 2))
    for clip in (pan, obj):
        assert metrics.warping_error(clip.frames, clip.flow, 1) == 0.0
        assert metrics.warping_error(clip.frames, clip.flow, 4) == 0.0
    zoom = synthetic.zoom(photo, 8, (48, 64), rate=1.02)
    assert metrics.warping_error(zoom.frames, zoom.flow, 1) < 0.02  # resampling only
    # the object's old place is occluded background: masked out
    _, mask = obj.flow(5, 1)
    assert 0 < (~mask).sum() < mask.size // 10


def test_warping_error_sees_flicker_and_dis_matches_exact_flow(photo):
    clip = synthetic.pan(photo, 8, (64, 80), step=(2, 0))
    rng = np.random.default_rng(0)
    noisy = [np.clip(f + rng.normal(0, 0.05, f.shape), 0, 1).astype(np.float32)
             for f in clip.frames]
    assert metrics.warping_error(noisy, clip.flow, 1) > 0.03
    dis = metrics.dis_flows(clip.frames)
    assert metrics.warping_error(clip.frames, dis, 1) < 0.01
    f, mask = dis(3, 1)
    np.testing.assert_allclose(np.median(f[mask], axis=0), (2, 0), atol=0.1)
    res = metrics.evaluate(noisy, clip.flow, long_k=4, reference=clip.frames)
    assert res["sharpness_ratio"] > 1 and 0.02 < res["mad_to_per_frame"] < 0.05


def test_grid_alignment_removes_pan_flicker(random_params, style, photo):
    """A pan: with the pooling grid following the scene, consecutive outputs agree where
    independent per-frame outputs do not."""
    clip = synthetic.pan(photo, 6, (48, 64), step=(3, 0))
    per_frame = list(adain_jax.stylize_video(random_params, clip.frames, style,
                                             temporal="none"))
    aligned = list(adain_jax.stylize_video(random_params, clip.frames, style, temporal="flow",
                                           flow_weight=0.0))
    e_per, e_al = (metrics.warping_error(o, clip.flow, 1) for o in (per_frame, aligned))
    assert e_al < 0.5 * e_per


def test_warp_error_tool(tmp_path, random_params, style):
    from tools.video import warp_error

    src = make_clip(tmp_path / "a.mp4", audio=False)
    out = tmp_path / "out.json"
    assert warp_error.main(["--content", str(src), "--stylized", str(src), "--reference",
                            str(src), "--long-k", "3", "--json", str(out)]) == 0
    import json

    res = json.loads(out.read_text())
    assert res["frames"] == N and res["stylized"]["mad_to_per_frame"] == 0.0
    assert res["content"]["warp_short"] < 0.05


# ----------------------------------------------------------------------- files and the CLI


def run_cli(*args):
    from adain_jax.cli import stylize_main

    return stylize_main([*map(str, args), "--quiet", "--style-size", "32"])


@pytest.fixture(scope="module")
def style_file(tmp_path_factory):
    from adain_jax import image_io

    p = tmp_path_factory.mktemp("style") / "s.png"
    image_io.save_image(p, np.random.default_rng(2).random((32, 32, 3)))
    return p


def test_cli_video_same_frames_rate_size_and_audio(tmp_path, style_file, capsys):
    src = make_clip(tmp_path / "clip.mp4")
    out = tmp_path / "out.mp4"
    assert run_cli("--content", src, "--style", style_file, "--output", out,
                   "--content-size", "0", "--batch-size", "3") == 0
    info = vio.probe(out)
    assert (info.width, info.height, info.fps, info.has_audio) == (W, H, Fraction(FPS), True)
    assert len(list(vio.FrameReader(out))) == N
    assert "wrote" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ["clip.mp4", "out.mp4"]  # no temporary left

    # --content-size like images, other containers, detection by content not suffix
    disguised = tmp_path / "clip.data"
    disguised.write_bytes(src.read_bytes())
    for suffix in (".mkv", ".webm", ".gif"):
        o = tmp_path / f"small{suffix}"
        assert run_cli("--content", disguised, "--style", style_file, "--output", o,
                       "--content-size", "24", "--no-temporal") == 0
        info = vio.probe(o)
        assert (info.height, info.width) == (24, 32)
        assert info.has_audio == (suffix != ".gif")  # webm: aac re-encoded as opus
        assert len(list(vio.FrameReader(o))) == N


def test_cli_refuses_to_overwrite(tmp_path, style_file, capsys):
    src = make_clip(tmp_path / "clip.mp4", audio=False)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"keep me")
    assert run_cli("--content", src, "--style", style_file, "--output", out) == 2
    assert out.read_bytes() == b"keep me"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists" in err[0]
    assert run_cli("--content", src, "--style", style_file, "--output", out, "--overwrite",
                   "--content-size", "0") == 0
    assert len(list(vio.FrameReader(out))) == N


def test_cli_truncated_video_writes_what_decodes(tmp_path, style_file, capsys):
    src = make_clip(tmp_path / "full.mp4", n=24, audio=True, options={"movflags": "faststart"})
    data = src.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[:len(data) // 2])
    out = tmp_path / "out.mp4"
    assert run_cli("--content", cut, "--style", style_file, "--output", out,
                   "--content-size", "0") == 1
    err = capsys.readouterr().err
    assert "partial" in err and "frames" in err
    n = len(list(vio.FrameReader(out)))
    assert 0 < n < 24 and vio.probe(out).width == W


def test_cli_corrupt_mkv_is_partial(tmp_path, style_file, capsys):
    src = make_clip(tmp_path / "full.mkv", n=24, audio=False)
    data = bytearray(src.read_bytes())
    m = len(data) // 2
    data[m:m + 3000] = np.random.default_rng(0).integers(0, 256, 3000, np.uint8).tobytes()
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(bytes(data))
    out = tmp_path / "out.mkv"
    assert run_cli("--content", bad, "--style", style_file, "--output", out,
                   "--content-size", "0", "--temporal", "ema") == 1
    assert "partial" in capsys.readouterr().err
    assert 0 < len(list(vio.FrameReader(out))) < 24


@pytest.mark.parametrize("case", ["audio-only", "garbage", "bad-suffix", "mask", "style-folder"])
def test_cli_input_errors_exit_2_and_write_nothing(tmp_path, style_file, capsys, case):
    content = make_clip(tmp_path / "clip.mp4", audio=False)
    out = tmp_path / "out.mp4"
    extra = []
    if case == "audio-only":
        content = make_audio_only(tmp_path / "sound.m4a")
    elif case == "garbage":
        content = tmp_path / "broken.mp4"
        content.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(500))
    elif case == "bad-suffix":
        out = tmp_path / "out.xyz"
    elif case == "mask":
        extra = ["--mask", str(style_file)]
    style = style_file
    if case == "style-folder":
        style = tmp_path / "styles"
        style.mkdir()
        for name in ("s.png", "t.png"):
            (style / name).write_bytes(style_file.read_bytes())
    before = set(os.listdir(tmp_path))
    assert run_cli("--content", content, "--style", style, "--output", out, *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    assert set(os.listdir(tmp_path)) == before


def test_failed_encode_leaves_no_file(tmp_path, random_params, style, monkeypatch):
    from adain_jax.video import files

    src = make_clip(tmp_path / "clip.mp4")
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    real = vio.FrameWriter.write

    def failing(self, rgb):
        if self.frames_written == 3:
            raise ImageError("disk full (simulated)")
        real(self, rgb)

    monkeypatch.setattr(vio.FrameWriter, "write", failing)
    with pytest.raises(ImageError, match="simulated"):
        files.stylize_file(random_params, src, out, style, content_size=0, overwrite=True,
                           progress=False)
    assert out.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["clip.mp4", "out.mp4"]


def test_classify_by_content(tmp_path, style_file):
    assert vio.classify(style_file) == "other"  # a still image
    assert vio.classify(make_clip(tmp_path / "x.bin", audio=False, fmt="mp4")) == "video"
    assert vio.classify(make_audio_only(tmp_path / "a.m4a")) == "no-video"
    assert vio.classify(tmp_path) == "other"


def test_atomic_path(tmp_path):
    target = tmp_path / "f.bin"
    with fs.atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".f.bin.")
        tmp.write_bytes(b"new")
        assert not target.exists()
    assert target.read_bytes() == b"new"
    with pytest.raises(FileExistsError):
        with fs.atomic_path(target, overwrite=False):
            pass
    with pytest.raises(RuntimeError):
        with fs.atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["f.bin"]


def test_import_stays_light():
    """``adain_jax.stylize_video`` is lazy: importing the package (and reaching the function)
    loads neither PyAV nor OpenCV."""
    import subprocess
    import sys

    code = ("import sys, adain_jax; adain_jax.stylize_video; "
            "assert 'av' not in sys.modules and 'cv2' not in sys.modules, 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_display_rotation_is_kept(tmp_path, random_params, style):
    from adain_jax.video import files

    src = make_clip(tmp_path / "phone.mp4", audio=False, rotation=90)
    rep = files.stylize_file(random_params, src, tmp_path / "out.mp4", style, content_size=0,
                             progress=False, temporal="none")
    reader = vio.FrameReader(rep.output)
    assert len(list(reader)) == N and reader.rotation == 90
