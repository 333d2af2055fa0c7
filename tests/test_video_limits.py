"""Video frames are held to the image decoder's pixel budget: the declared size at probe, and
every decoded frame (a size change mid-stream included) before FFmpeg allocates it."""
import struct

import numpy as np
import pytest

av = pytest.importorskip("av")

from adain_jax.errors import ImageError  # noqa: E402
from adain_jax.video import io as vio  # noqa: E402


def h264(path, n, w, h):
    """A raw H.264 elementary stream of ``n`` frames (its SPS declares w x h)."""
    with av.open(str(path), "w", format="h264") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            img = np.full((h, w, 3), (i * 40) % 255, np.uint8)
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)


def test_declared_size_over_budget_is_refused_before_decoding(tmp_path):
    clip = tmp_path / "small.h264"
    h264(clip, 2, 64, 48)
    with pytest.raises(ImageError, match="64x48 = 3072 pixels, more than the limit of 3000"):
        vio.FrameReader(clip, max_pixels=3000)
    assert len(list(vio.FrameReader(clip, max_pixels=3072))) == 2


def test_frame_growing_mid_stream_stops_decoding(tmp_path):
    a, b = tmp_path / "a.h264", tmp_path / "b.h264"
    h264(a, 3, 64, 48)
    h264(b, 2, 640, 480)
    clip = tmp_path / "grows.h264"
    clip.write_bytes(a.read_bytes() + b.read_bytes())
    unlimited = [f.shape for f in vio.FrameReader(clip)]
    assert unlimited == [(48, 64, 3)] * 3 + [(480, 640, 3)] * 2
    reader = vio.FrameReader(clip, max_pixels=64 * 48 * 4)
    shapes = [f.shape for f in reader]
    assert shapes and all(s == (48, 64, 3) for s in shapes)
    assert "640x480 pixels, more than the limit of 12288" in reader.stopped


def test_default_budget_is_the_image_decoders():
    from adain_jax.image_io import MAX_PIXELS

    with pytest.raises(ImageError, match=f"more than the limit of {MAX_PIXELS}"):
        vio.check_frame_pixels("clip.mkv", 16000, 16000)
    vio.check_frame_pixels("clip.mkv", 4096, 2160)


def test_gif_with_a_huge_canvas_is_refused(tmp_path):
    """A ~100-byte GIF whose logical screen is 30000 x 30000 (two 1x1 frames)."""
    frame = (b"\x21\xf9\x04\x00\x0a\x00\x00\x00" + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0x80)
             + b"\x00\x00\x00\xff\xff\xff" + b"\x02\x02\x44\x01\x00")
    gif = tmp_path / "bomb.gif"
    gif.write_bytes(b"GIF89a" + struct.pack("<HHBBB", 30000, 30000, 0, 0, 0) + frame * 2 + b"\x3b")
    with pytest.raises(ImageError):
        list(vio.FrameReader(gif))


def clip_with_garbage_audio(path, n=6, w=64, h=48):
    """An MKV whose video is real and whose AAC packets hold random bytes."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", format="matroska") as c:
        v = c.add_stream("libx264", rate=12)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = c.add_stream("aac", rate=8000)
        a.layout = "mono"
        for i in range(n):
            f = av.VideoFrame.from_ndarray(np.full((h, w, 3), 20 * i, np.uint8), format="rgb24")
            f.pts = i
            c.mux(v.encode(f))
        c.mux(v.encode(None))
        for k in range(6):
            pkt = av.Packet(rng.integers(0, 256, 200, dtype=np.uint8).tobytes())
            pkt.stream = a
            pkt.pts = pkt.dts = k * 1024
            pkt.time_base = a.time_base
            c.mux(pkt)
    return path


def test_corrupt_audio_is_dropped_with_a_note(tmp_path):
    """Transcoding (AAC into WebM: Opus) a corrupt audio track keeps the video."""
    src = clip_with_garbage_audio(tmp_path / "bad_audio.mkv")
    info = vio.probe(src)
    out = tmp_path / "out.webm"
    with vio.open_output(out, info.width, info.height, info.fps, src) as writer:
        for frame in vio.FrameReader(src):
            writer.write(frame)
    assert any("audio" in n for n in writer.notes), writer.notes
    assert sum(1 for _ in vio.FrameReader(out)) == 6
