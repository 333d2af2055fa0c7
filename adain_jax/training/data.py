"""Training input: an infinite, shuffled, deterministic stream of (content, style) batches.

Each of the two sources is one string:

* a folder of images (recursive; jpg/jpeg/png/webp/bmp/tif/tiff), or a single image file;
* ``tfds:NAME[/CONFIG][:VERSION][:SPLIT][#KEY]``, e.g. ``tfds:coco/2017``,
  ``tfds:tf_flowers:train[:90%]``, ``tfds:my_set:validation#picture``.  The split defaults
  to ``train`` and the image feature key to ``image``.  It is read through
  ``tfds.data_source`` (random access over array_record files, no TensorFlow), so the
  dataset must already be prepared in ``array_record`` format (``tfds build NAME
  --file_format=array_record``); nothing is downloaded.  ``tfds_data_dir`` (or the
  ``TFDS_DATA_DIR`` environment variable) says where it lives.

Per image, as in the paper: resize so the shorter side is ``resize`` (0 keeps the size),
upscale further if needed so the shorter side is at least ``crop_size``, take a random
``crop_size`` square crop and flip it horizontally with probability 1/2.  The resize and
crop are done together (only the crop window is resampled, antialiased triangle filter)
so that large images stay cheap.

The pipeline is grain's lazy dataset API, one per source:
``range(n)[shard::count].shuffle(seed).repeat().random_map(load_and_augment)
.to_iter_dataset(ReadOptions(num_threads=workers)).batch(B)``.  The random crop/flip of
element ``i`` uses a generator seeded from ``(seed, i)`` (grain's ``random_map``), and the
shuffle is reseeded every epoch, so a seed fixes the whole stream and
``get_state``/``set_state`` (grain's iterator position) restore it exactly.  Images that
cannot be read come back as ``None`` and are dropped by grain; they are logged once per
file and counted in :attr:`PairLoader.skipped`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

import numpy as np

from adain_jax import image_io
from adain_jax.errors import ConfigError, one_line
from adain_jax.training.sources import open_source, parse_tfds_spec

__all__ = ["PairLoader", "preprocess", "parse_tfds_spec"]

log = logging.getLogger(__name__)

_STATE_VERSION = 1

# --------------------------------------------------------------------------- pixels


def preprocess(image: Any, rng: np.random.Generator, *, crop_size: int = 256,
               resize: int = 512) -> np.ndarray:
    """Decoded image (see :func:`to_float_rgb`) -> random training crop, float32
    (crop_size, crop_size, 3) in [0, 1].

    Shorter side resized to ``resize`` (0: kept), then raised to ``crop_size`` if it is
    smaller; random crop; horizontal flip with probability 1/2.  Draws, in order, the
    crop top, the crop left and the flip from ``rng``.
    """
    a = image_io.to_float_rgb(image)
    h, w = a.shape[:2]
    short = resize if resize > 0 else min(h, w)
    short = max(short, crop_size)
    fh, fw = (h, w) if short == min(h, w) else image_io.shorter_side_shape(h, w, short)
    top = int(rng.integers(0, fh - crop_size + 1))
    left = int(rng.integers(0, fw - crop_size + 1))
    out = image_io.resized_window(a, (fh, fw), top, left, crop_size)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out, dtype=np.float32)


class _LoadAugment:
    """grain random_map transform: source index -> training crop, or None if unreadable."""

    def __init__(self, source, n_shard: int, crop_size: int, resize: int, role: str):
        self._source = source
        self._n_shard = n_shard
        self._crop = crop_size
        self._resize = resize
        self._role = role
        self._lock = threading.Lock()
        self._failed: set[int] = set()
        self._any_ok = False
        self._first_error = ""

    def __call__(self, index: int, rng: np.random.Generator) -> np.ndarray | None:
        index = int(index)
        try:
            img = self._source.load(index)
            out = preprocess(img, rng, crop_size=self._crop, resize=self._resize)
        except ConfigError:
            raise
        except Exception as exc:  # ImageError, or anything a tfds source raises
            self._fail(index, exc)
            return None
        if not self._any_ok:
            self._any_ok = True
        return out

    def _fail(self, index: int, exc: BaseException) -> None:
        name = self._source.name(index)
        msg = one_line(exc)
        if name not in msg:
            msg = f"{name}: {msg}"
        with self._lock:
            new = index not in self._failed
            self._failed.add(index)
            if not self._first_error:
                self._first_error = msg
            all_failed = not self._any_ok and len(self._failed) >= self._n_shard
        if new:
            log.warning("skipping unreadable %s image: %s", self._role, msg)
        if all_failed:
            raise ConfigError(
                f"{self._role} source {self._source.spec!r}: none of its "
                f"{self._n_shard} images (in this shard) can be read, e.g. {self._first_error}")


def _derive_seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def _positive_int(name: str, v: Any, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


# --------------------------------------------------------------------------- loader


class PairLoader:
    """Infinite iterator of ``{'content': (B, crop, crop, 3), 'style': same}`` float32
    batches in [0, 1]; ``B`` is this process's batch size.

    Content and style are shuffled independently, reshuffled every epoch, and decoded in
    ``workers`` threads each.  ``shard_index``/``shard_count`` (usually
    ``jax.process_index()``/``jax.process_count()``) give this host a disjoint share
    of each source.  ``get_state()`` is a small JSON-able dict; a loader built with the
    same arguments and given it through ``set_state`` continues with exactly the same
    batches.
    """

    def __init__(self, content: str, style: str, *, batch_size: int, crop_size: int = 256,
                 resize: int = 512, seed: int = 0, workers: int = 2, shard_index: int = 0,
                 shard_count: int = 1, tfds_data_dir: str | None = None):
        self._batch_size = _positive_int("batch_size", batch_size, 1)
        self._crop = _positive_int("crop_size", crop_size, 1)
        self._resize = _positive_int("resize", resize, 0)
        self._seed = _positive_int("seed", seed, 0)
        self._workers = _positive_int("workers", workers, 0)
        self._shard_count = _positive_int("shard_count", shard_count, 1)
        self._shard_index = _positive_int("shard_index", shard_index, 0)
        if self._shard_index >= self._shard_count:
            raise ConfigError(
                f"shard_index must be < shard_count, got {shard_index} of {shard_count}")
        self._streams: dict[str, dict[str, Any]] = {}
        self._closed = False
        for stream_id, (role, spec) in enumerate((("content", content), ("style", style))):
            self._streams[role] = self._build(role, stream_id, spec, tfds_data_dir)

    def _build(self, role: str, stream_id: int, spec: str, tfds_data_dir: str | None):
        try:
            import grain
        except ImportError:
            raise ConfigError("training needs grain, part of the training extra: "
                              "pip install 'adain-jax[train]'") from None

        source = open_source(spec, tfds_data_dir)
        n_total = len(source)
        ds = grain.MapDataset.range(n_total)[self._shard_index::self._shard_count]
        n = len(ds)
        if n == 0:
            raise ConfigError(
                f"{role} source {spec!r} has {n_total} images, too few for "
                f"{self._shard_count} shards (shard {self._shard_index} is empty)")
        fn = _LoadAugment(source, n, self._crop, self._resize, role)
        ds = ds.shuffle(seed=_derive_seed(self._seed, stream_id, 0))
        ds = ds.repeat()  # infinite; shuffle and random_map reseeded each epoch
        ds = ds.random_map(fn, seed=_derive_seed(self._seed, stream_id, 1, self._shard_index))
        read = grain.ReadOptions(
            num_threads=self._workers,
            prefetch_buffer_size=(2 * self._batch_size + self._workers) if self._workers else 0,
        )
        it = ds.to_iter_dataset(read).batch(self._batch_size, drop_remainder=True)
        return {"iter": iter(it), "yielded": 0, "n": n, "spec": spec, "fn": fn}

    def __iter__(self) -> "PairLoader":
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if self._closed:
            raise ConfigError("PairLoader is closed")
        out = {}
        for role, st in self._streams.items():
            out[role] = next(st["iter"])
            st["yielded"] += self._batch_size
        return out

    def get_state(self) -> dict:
        """JSON-serialisable position (plus the arguments it is only valid for)."""
        state: dict[str, Any] = {
            "version": _STATE_VERSION,
            "seed": self._seed,
            "shard_index": self._shard_index,
            "shard_count": self._shard_count,
        }
        for role, st in self._streams.items():
            state[role] = {
                "next_index": int(st["iter"].get_state()["next_index"]),
                "yielded": int(st["yielded"]),
                "size": int(st["n"]),
            }
        return state

    def set_state(self, state: dict) -> None:
        try:
            if state.get("version") != _STATE_VERSION:
                raise ValueError(f"unknown version {state.get('version')!r}")
            pos = {r: (int(state[r]["next_index"]), int(state[r]["yielded"]),
                       int(state[r]["size"])) for r in self._streams}
            mine = (self._seed, self._shard_index, self._shard_count)
            theirs = (int(state["seed"]), int(state["shard_index"]), int(state["shard_count"]))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"invalid data-loader state ({one_line(exc)})") from None
        if mine != theirs:
            raise ConfigError(
                f"data-loader state is for seed/shard_index/shard_count {theirs}, "
                f"this loader has {mine}")
        for role, (next_index, yielded, size) in pos.items():
            st = self._streams[role]
            if size != st["n"]:
                log.warning(
                    "%s source %r now has %d images (%d when the state was saved); "
                    "the resumed order differs from the original", role, st["spec"],
                    st["n"], size)
            if next_index < 0 or yielded < 0 or yielded > next_index:
                raise ConfigError(f"invalid data-loader state for {role}: {state[role]}")
            st["iter"].set_state({"next_index": next_index})
            st["yielded"] = yielded

    @property
    def skipped(self) -> int:
        """Unreadable images skipped so far (positions passed over, both streams)."""
        total = 0
        for st in self._streams.values():
            total += int(st["iter"].get_state()["next_index"]) - st["yielded"]
        return total

    @property
    def sizes(self) -> dict[str, int]:
        """Number of images in this shard of each source."""
        return {role: st["n"] for role, st in self._streams.items()}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for st in self._streams.values():
            close: Callable[[], None] | None = getattr(st["iter"], "close", None)
            if close is not None:
                close()

    def __enter__(self) -> "PairLoader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
