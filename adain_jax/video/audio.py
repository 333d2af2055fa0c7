"""The audio stream of a video copied into a new file, interleaved by time: packets copied as
they are, or re-encoded where the output container does not take the codec (AAC into WebM).
A corrupt or unreadable audio track costs the audio (a note says so), never the video."""
from __future__ import annotations

from pathlib import Path

from adain_jax.errors import one_line

#: muxers that cannot take an audio stream (it is dropped, with a note)
NO_AUDIO = {"gif"}


class AudioCopy:
    """Copies the first audio stream of ``path`` into the open output container ``out``.

    ``notes`` (a list) collects what the user should know (audio dropped, re-encoded, cut)."""

    def __init__(self, av, out, path: Path, muxer: str, notes: list[str]):
        self._out, self.notes = out, notes
        self._src = self._stream = self._packets = self._pending = None
        self._transcode = False
        try:
            src = av.open(str(path), "r")
        except Exception:
            return
        if not src.streams.audio:
            src.close()
            return
        if muxer in NO_AUDIO:
            notes.append(f"the {muxer} format has no audio: audio dropped")
            src.close()
            return
        a = src.streams.audio[0]
        try:
            self._stream = out.add_stream_from_template(a)
        except Exception:  # the container does not take the codec (aac in webm): re-encode
            try:
                codec = "libopus" if muxer == "webm" else "aac"
                rate = 48000 if codec == "libopus" else (a.rate or 48000)
                self._stream = out.add_stream(codec, rate=rate)
                self._stream.layout = a.layout.name if a.layout else "stereo"
                self._transcode = True
                notes.append(f"audio re-encoded as {codec} (the {muxer} format does not "
                             f"take {a.codec_context.name})")
            except Exception as e:
                notes.append(f"audio not copied ({one_line(e, 100)})")
                src.close()
                return
        self._src = src
        self._packets = src.demux(a)

    def mux_until(self, until: float | None) -> None:
        """Copies audio packets that start before ``until`` seconds (None: all)."""
        while self._packets is not None:
            pkt = self._pending
            if pkt is None:
                try:
                    pkt = next(self._packets)
                except StopIteration:
                    self._packets = None
                    return
                except Exception as e:
                    self.notes.append(f"audio copy stopped early ({one_line(e, 100)})")
                    self._packets = None
                    return
                if pkt.dts is None or pkt.size == 0:
                    continue
            ts = pkt.pts if pkt.pts is not None else pkt.dts
            t = float(ts * pkt.time_base)
            if until is not None and t >= until:
                self._pending = pkt
                return
            self._pending = None
            try:
                if self._transcode:
                    for frame in pkt.decode():
                        frame.pts = None
                        self._out.mux(self._stream.encode(frame))
                else:
                    pkt.stream = self._stream
                    self._out.mux(pkt)
            except Exception as e:  # a corrupt audio track costs the audio, not the video
                self.notes.append(f"audio dropped from t={t:.2f} s ({one_line(e, 100)})")
                self._packets = None
                return

    def finish(self, until: float | None) -> None:
        """The remaining audio (up to ``until`` seconds), and the re-encoder's flush."""
        if self._stream is None:
            return
        self.mux_until(until)
        if self._transcode:
            try:
                self._out.mux(self._stream.encode(None))
            except Exception as e:
                self.notes.append(f"audio end not written ({one_line(e, 100)})")

    def close(self) -> None:
        if self._src is not None:
            try:
                self._src.close()
            except Exception:
                pass
            self._src = None
