"""One video file in, one stylized video file out: probe, stream-decode, resize, stylize,
encode (audio copied), with a progress bar in frames and partial-input reporting."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator

import numpy as np

from adain_jax import image_io
from adain_jax.errors import ImageError
from adain_jax.video import io as vio
from adain_jax.video.stylize import stylize_video


@dataclasses.dataclass
class VideoReport:
    """What was written: ``frames`` frames to ``output``; ``stopped`` says where and why
    decoding stopped early (a corrupt or truncated input: the output is valid but partial);
    ``notes`` are remarks (audio not copied, ...)."""

    output: Path
    frames: int
    expected: int | None
    stopped: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)


def frame_shape(h: int, w: int, content_size: int | None, crop: bool) -> tuple[int, int]:
    """The processed frame size: :func:`adain_jax.image_io.working_shape`, as images."""
    return image_io.working_shape(h, w, content_size, crop, "video frames")


def _prepared(frames: Iterator[np.ndarray], h: int, w: int, size: int, crop: bool):
    """uint8 frames -> float32 frames at the working size of an (h, w) stream, as images."""
    for rgb in frames:
        yield image_io.to_working_size(image_io.to_float_rgb(rgb), size, crop, "video frames",
                                       (h, w))


def stylize_file(params, content: str | Path, output: str | Path, style, *,
                 content_size: int | None = 512, crop: bool = False, overwrite: bool = False,
                 progress: bool = True, **options) -> VideoReport:
    """Stylizes the video ``content`` into ``output`` (format from its suffix: mp4, mov, m4v,
    mkv, webm, avi, gif), same frame count and rate, frames resized as images are by
    ``content_size``/``crop``, audio copied. ``options`` go to :func:`stylize_video`.

    Raises :class:`ImageError` (nothing written) when the input has no decodable video, the
    output exists without ``overwrite``, or encoding fails. A decode error part-way writes
    the frames before it into a valid file and returns a report whose ``stopped`` is set."""
    content, output = Path(content), Path(output)
    vio.check_output(output)
    if output.exists() and not overwrite:
        raise ImageError(f"{output} exists; pass --overwrite to replace it")
    info = vio.probe(content)
    size = image_io.check_size(content_size)
    h, w = frame_shape(info.height, info.width, size, crop)
    expected = info.frames or (round(info.duration * info.fps) if info.duration else None)
    reader = vio.FrameReader(content)
    frames = stylize_video(params, _prepared(iter(reader), info.height, info.width, size, crop),
                           style, **options)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=expected, unit="frame", desc="stylizing", dynamic_ncols=True)
    out = vio.open_output(output, w, h, info.fps, content if info.has_audio else None,
                          overwrite=overwrite)
    try:
        with out as writer:
            for frame in frames:
                if writer.frames_written == 0:
                    writer.set_rotation(reader.rotation)  # phone clips: stored sideways
                writer.write(image_io.to_uint8(frame))
                if bar is not None:
                    bar.update(1)
            if reader.stopped:  # the audio of the decoded part only
                out.audio_until = writer.frames_written / float(info.fps)
    except ImageError as e:
        if reader.stopped and reader.count == 0:
            raise ImageError(f"{content}: no frame could be decoded ({reader.stopped})") from None
        raise e
    finally:
        if bar is not None:
            bar.close()
    return VideoReport(output, out.writer.frames_written, expected, reader.stopped,
                       list(out.writer.notes))
