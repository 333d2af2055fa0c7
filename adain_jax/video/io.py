"""Video files through PyAV (FFmpeg's libraries in-process): content probing, streaming
decode to uint8 RGB frames, streaming encode with the audio stream copied, atomic output.

Frames are handed out and taken in as uint8 (H, W, 3) RGB, the form FFmpeg gives; the
conversion to and from float32 is done by :mod:`adain_jax.image_io` (``to_float_rgb``,
``to_uint8``). Memory is bounded: one decoded frame at a time on the way in, the encoder's
own look-ahead on the way out, and the audio packets of at most one frame interval.
"""
from __future__ import annotations

import dataclasses
import os
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from adain_jax import fs
from adain_jax.errors import ImageError, one_line
from adain_jax.image_io import MAX_PIXELS
from adain_jax.video import audio

#: output suffix -> (FFmpeg muxer, video encoder)
OUTPUT_FORMATS: dict[str, tuple[str, str]] = {
    ".mp4": ("mp4", "libx264"), ".m4v": ("mp4", "libx264"), ".mov": ("mov", "libx264"),
    ".mkv": ("matroska", "libx264"), ".webm": ("webm", "libvpx"), ".avi": ("avi", "mpeg4"),
    ".gif": ("gif", "gif"),
}


def _av():
    try:
        import av
    except ImportError:  # pragma: no cover - the [video] extra is missing
        raise ImageError("video needs PyAV: pip install 'adain-jax[video]'") from None
    # PyAV's default log level (None) keeps FFmpeg's log lines away from Python: a Python
    # log callback can deadlock with frame-threaded decoders on corrupt input.
    return av


@dataclasses.dataclass
class VideoInfo:
    """What the container says about its first video stream."""

    path: Path
    width: int
    height: int
    fps: Fraction
    frames: int | None  # declared frame count (None when the container does not say)
    duration: float | None  # seconds
    has_audio: bool
    container: str
    codec: str
    start: float | None = None  # seconds of the first frame


def _is_still_image(fmt_name: str) -> bool:
    names = fmt_name.split(",")
    return any(n == "image2" or n.endswith("_pipe") for n in names)


def classify(path: str | os.PathLike) -> str:
    """By content, not suffix: ``'video'`` (FFmpeg reads a moving video stream: any container
    with a video stream that is not a still-image demuxer, or a GIF with more than one frame),
    ``'no-video'`` (a media container without a video stream, e.g. audio only), or
    ``'other'`` (a still image, or not something FFmpeg reads)."""
    p = Path(path)
    if not p.is_file():
        return "other"
    av = _av()
    try:
        with av.open(str(p), "r") as c:
            if _is_still_image(c.format.name):
                return "other"
            vs = [s for s in c.streams if s.type == "video"]
            if not vs:
                return "no-video" if any(s.type in ("audio", "subtitle", "data")
                                         for s in c.streams) else "other"
            if c.format.name == "gif":  # a one-frame GIF is an image
                vs[0].codec_context.options = {"max_pixels": str(MAX_PIXELS)}
                n = 0
                for _ in c.decode(vs[0]):
                    n += 1
                    if n > 1:
                        return "video"
                return "other"
            return "video"
    except Exception:
        return "other"


def probe(path: str | os.PathLike) -> VideoInfo:
    """Facts about a video file; :class:`ImageError` when there is no readable video stream."""
    p = Path(path)
    av = _av()
    try:
        with av.open(str(p), "r") as c:
            vs = [s for s in c.streams if s.type == "video"]
            if not vs:
                raise ImageError(f"{p}: no video stream")
            v = vs[0]
            cc = v.codec_context
            if not cc.width or not cc.height:
                raise ImageError(f"{p}: video stream without a frame size (unsupported codec?)")
            check_frame_pixels(p, cc.width, cc.height)
            fps = v.average_rate or v.guessed_rate or v.base_rate or Fraction(25)
            dur = (float(v.duration * v.time_base) if v.duration and v.time_base else
                   (c.duration / 1e6 if c.duration else None))
            start = float(v.start_time * v.time_base) if v.start_time is not None else None
            return VideoInfo(p, cc.width, cc.height, Fraction(fps), v.frames or None, dur,
                             any(s.type == "audio" for s in c.streams), c.format.name,
                             cc.name, start)
    except ImageError:
        raise
    except Exception as e:
        raise ImageError(f"{p}: cannot read video ({one_line(e)})") from None


def check_frame_pixels(path: Path, width: int, height: int, max_pixels: int | None = None
                       ) -> None:
    """Refuses frames over ``max_pixels`` (default: the image decoder's budget)."""
    max_pixels = MAX_PIXELS if max_pixels is None else max_pixels
    if width * height > max_pixels:
        raise ImageError(f"{path}: video frames of {width}x{height} = {width * height} pixels, "
                         f"more than the limit of {max_pixels}")


class FrameReader:
    """Decodes the first video stream one frame at a time as uint8 RGB (H, W, 3).

    Every frame is held to ``max_pixels`` (the image decoder's budget) before it is decoded:
    the container's declared size by :func:`probe`, and each frame by FFmpeg's own
    ``max_pixels`` decoder option, which refuses to allocate a larger frame (a size change
    mid-stream included); a refused frame ends the iteration like any decode error.

    A decode error ends the iteration instead of raising: ``stopped`` then says where
    (frame index and time) and why, and ``count`` frames were delivered. In MP4/MOV, whose
    index declares the frame count, fewer decoded frames are reported the same way (a
    truncated file; other containers' counts are not reliable enough for that)."""

    def __init__(self, path: str | os.PathLike, max_pixels: int | None = None):
        self.max_pixels = int(MAX_PIXELS if max_pixels is None else max_pixels)
        self.info = probe(path)
        check_frame_pixels(self.info.path, self.info.width, self.info.height, self.max_pixels)
        self.count = 0
        self.stopped: str | None = None
        self.last_time = 0.0
        self.rotation = 0  # display rotation of the first frame (degrees counter-clockwise)

    def __iter__(self) -> Iterator[np.ndarray]:
        av = _av()
        p = self.info.path
        try:
            container = av.open(str(p), "r")
        except Exception as e:
            raise ImageError(f"{p}: cannot read video ({one_line(e)})") from None
        with container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            stream.codec_context.options = {"max_pixels": str(self.max_pixels)}
            try:
                frames = container.decode(stream)
            except Exception as e:
                raise ImageError(f"{p}: cannot open the decoder ({one_line(e)})") from None
            while True:
                try:
                    frame = next(frames)
                    rgb = frame.to_ndarray(format="rgb24")
                except StopIteration:
                    break
                except Exception as e:
                    cc = stream.codec_context
                    why = (f"a frame of {cc.width}x{cc.height} pixels, more than the limit of "
                           f"{self.max_pixels}" if cc.width * cc.height > self.max_pixels
                           else one_line(e, 120))
                    self.stopped = (f"decoding stopped at frame {self.count} "
                                    f"(t={self.last_time:.2f} s): {why}")
                    return
                if frame.width * frame.height > self.max_pixels:  # a decoder without the check
                    self.stopped = (f"decoding stopped at frame {self.count}: a frame of "
                                    f"{frame.width}x{frame.height} pixels, more than the limit "
                                    f"of {self.max_pixels}")
                    return
                if frame.time is not None:
                    self.last_time = float(frame.time)
                if self.count == 0:
                    self.rotation = int(getattr(frame, "rotation", 0) or 0)
                self.count += 1
                yield rgb
        info = self.info
        declared = info.frames if info.container.startswith("mov,mp4") else None
        if declared and self.count < declared and self.count:
            self.stopped = (f"only {self.count} of {declared} declared frames decoded "
                            f"(stopped at t={self.last_time:.2f} s; truncated file?)")
        elif not declared and info.duration and self.count:
            end = self.last_time - (info.start or 0.0) + 1.0 / float(info.fps)
            if end < info.duration - max(0.5, 2.0 / float(info.fps)):
                self.stopped = (f"decoding ended at frame {self.count} (t={self.last_time:.2f} s)"
                                f" of a {info.duration:.2f} s clip; truncated file?")


def check_output(path: str | os.PathLike) -> tuple[str, str]:
    """(muxer, encoder) for an output file name; :class:`ImageError` for unknown suffixes."""
    p = Path(path)
    fmt = OUTPUT_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise ImageError(f"{p}: unknown video suffix {p.suffix!r}; use one of "
                         f"{', '.join(sorted(OUTPUT_FORMATS))}")
    return fmt


class FrameWriter:
    """Encodes uint8 RGB frames at a constant rate to ``tmp_path`` (the caller renames it,
    see :func:`open_output`), copying the audio stream of ``audio_from`` interleaved by time.

    ``close(audio_until)`` flushes the encoder, copies the remaining audio (up to
    ``audio_until`` seconds when given: a partial video gets the matching audio only) and
    writes the trailer, so the file is valid whenever ``close`` returns."""

    def __init__(self, tmp_path: Path, target: Path, width: int, height: int, fps: Fraction,
                 audio_from: Path | None = None, crf: int = 18):
        av = _av()
        muxer, codec = check_output(target)
        self.notes: list[str] = []
        self._out = av.open(str(tmp_path), "w", format=muxer)
        fps = Fraction(fps).limit_denominator(1001 * 1000)
        self._stream = self._out.add_stream(codec, rate=fps)
        self._stream.width, self._stream.height = width, height
        odd = width % 2 or height % 2
        if codec == "libx264":
            self._stream.pix_fmt = "yuv444p" if odd else "yuv420p"
            self._stream.options = {"crf": str(crf), "preset": "medium"}
        elif codec == "libvpx":
            self._stream.pix_fmt = "yuv420p"
            self._stream.bit_rate = max(1_000_000, width * height * 8)
            self._stream.options = {"crf": "10", "quality": "good", "cpu-used": "4"}
        elif codec == "gif":
            self._stream.pix_fmt = "rgb8"
        else:
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"qscale": "2"}
            self._stream.codec_context.qscale = 2
        self._time_base = Fraction(1) / fps
        self._n = 0
        self.audio = audio.AudioCopy(av, self._out, audio_from, muxer, self.notes) \
            if audio_from is not None else None

    def set_rotation(self, degrees: int) -> None:
        """Display rotation of the output (the input's, so players turn it the same way);
        before the first frame only."""
        if degrees and self._n == 0:
            try:
                self._stream.set_display_rotation(degrees)
            except Exception as e:
                self.notes.append(f"display rotation not kept ({one_line(e, 100)})")

    def write(self, rgb: np.ndarray) -> None:
        av = _av()
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self._n
        frame.time_base = self._time_base
        self._n += 1
        try:
            self._out.mux(self._stream.encode(frame))
            if self.audio is not None:
                self.audio.mux_until(float(self._n * self._time_base))
        except Exception as e:
            raise ImageError(f"cannot encode frame {self._n - 1} ({one_line(e)})") from None

    @property
    def frames_written(self) -> int:
        return self._n

    def close(self, audio_until: float | None = None) -> None:
        try:
            self._out.mux(self._stream.encode(None))
            if self.audio is not None:
                self.audio.finish(audio_until)
        finally:
            self._out.close()
            if self.audio is not None:
                self.audio.close()

    def abort(self) -> None:
        try:
            self._out.close()
        except Exception:
            pass
        if self.audio is not None:
            self.audio.close()


class open_output:
    """``with open_output(target, w, h, fps, audio_from, overwrite) as writer:`` -- frames go
    to a hidden temporary file in the target's folder (:func:`adain_jax.fs.atomic_path`),
    renamed over ``target`` when the block ends without an exception (after at least one
    frame); otherwise nothing is written."""

    def __init__(self, target, width: int, height: int, fps, audio_from=None, *,
                 overwrite: bool = False, audio_until: float | None = None):
        self.target = Path(target)
        check_output(self.target)
        self._args = (width, height, Fraction(fps), audio_from)
        self._overwrite = overwrite
        self.audio_until = audio_until
        self._cm = None
        self.writer: FrameWriter | None = None

    def __enter__(self) -> FrameWriter:
        if self.target.is_dir():
            raise ImageError(f"{self.target}: is a folder; cannot write a video there")
        self._cm = fs.atomic_path(self.target, overwrite=self._overwrite)
        try:
            tmp = self._cm.__enter__()
        except FileExistsError:
            raise ImageError(f"{self.target} exists; pass --overwrite to replace it") from None
        except OSError as e:
            raise ImageError(f"{self.target}: cannot write ({one_line(e)})") from None
        w, h, fps, audio = self._args
        try:
            self.writer = FrameWriter(tmp, self.target, w, h, fps, audio)
        except BaseException as e:
            self._cm.__exit__(type(e), e, e.__traceback__)
            if isinstance(e, Exception) and not isinstance(e, ImageError):
                raise ImageError(f"{self.target}: cannot open the encoder "
                                 f"({one_line(e)})") from None
            raise
        return self.writer

    def __exit__(self, kind, exc, tb) -> bool:
        w, err = self.writer, exc
        if err is None and w.frames_written == 0:
            err = ImageError(f"{self.target}: no frame to write; nothing written")
        if err is None:
            try:
                w.close(self.audio_until)
            except Exception as e:
                err = ImageError(f"{self.target}: could not encode video ({one_line(e)}); "
                                 "nothing was written")
        else:
            w.abort()
        try:
            self._cm.__exit__(None if err is None else type(err), err,
                              None if err is None else err.__traceback__)
        except FileExistsError:
            raise ImageError(f"{self.target} exists; pass --overwrite to replace it") from None
        except OSError as e:
            raise ImageError(f"{self.target}: could not write video ({one_line(e)}); "
                             "nothing was written") from None
        if err is not None and err is not exc:
            raise err
        return False
