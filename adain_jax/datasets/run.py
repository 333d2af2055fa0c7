"""The dataset job: every content of a source stylized with its planned style, on every local
device of every process, resumable.

Per process: the styles are loaded and encoded once (bucketed batches, like the contents) and
their statistics kept on the local devices; the contents of this process's share that have no
output yet are read by a thread pool, grouped into shape buckets (height and width rounded up
to ``bucket`` pixels, reflection-padded; the AdaIN content statistics are taken over each
image's own region only), stylized in fixed-size batches sharded over the local devices (one
``jax.jit`` per bucket shape, inputs placed with ``NamedSharding``), cropped back and written
by a second thread pool. A batch's outputs depend only on its images, so the order in which
contents are done, and so any interruption, changes nothing in the results.

Crash safety: every file is written atomically, an output that exists is done (one walk of
the output tree finds them; see :func:`sweep_temporaries`), and the manifest is rebuilt from
the plan and the outputs at the end, so a run killed at any point (SIGKILL included) and
restarted with the same arguments does only the remaining work.
"""
from __future__ import annotations

import collections
import concurrent.futures as cf
import dataclasses
import functools
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from adain_jax import fs, image_io, ops
from adain_jax.datasets import manifest
from adain_jax.errors import AdainError, ConfigError, one_line
from adain_jax.model import forward
from adain_jax.nn import layers

VERSION = 2     # 2: tfds contents keyed SPLIT/NNNNNNNN, written by label; output column


@dataclasses.dataclass
class DatasetJob:
    """The job's options (the CLI's flags).

    Attributes:
      content: a folder tree of images or ``tfds:NAME[/CONFIG][:SPLIT]``.
      styles: a folder of style images (or one image).
      output: the output folder (mirrors the content tree).
      seed: the style/alpha assignment's seed.
      alpha: (lo, hi): each content's alpha is drawn in [lo, hi] (lo == hi: fixed).
      content_size, style_size: shorter side in pixels (0 keeps the original size).
      batch_size: contents per batch per process (rounded up to a multiple of the local devices).
      bucket: shape bucket granularity in pixels (a multiple of 8; 8 = exact sizes).
      dtype: ``'float32'`` or ``'bfloat16'``.
      vgg, decoder: weight files (None: the shipped ones).
      model: a registered model's name (``adain_jax.model.names()``; for a model whose
        encoder is part of its weights file, ``decoder`` names that file).
      workers: threads reading and writing images.
      overwrite: take over a folder that holds another job's outputs.
      tfds_data_dir: where prepared tfds datasets live.
    """

    content: str
    styles: str
    output: str
    seed: int = 0
    alpha: tuple[float, float] = (1.0, 1.0)
    content_size: int = 512
    style_size: int = 512
    batch_size: int = 8
    bucket: int = 64
    dtype: str = "float32"
    vgg: str | None = None
    decoder: str | None = None
    model: str = "adain"
    workers: int = 4
    overwrite: bool = False
    tfds_data_dir: str | None = None


@dataclasses.dataclass
class Summary:
    """What one process did."""

    total: int            # contents in the whole source
    share: int            # contents of this process
    done_before: int      # of those, already written by an earlier run
    written: int
    failed: list          # (content, error) of this process, this run
    seconds: float

    @property
    def images_per_s(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


# ---------------------------------------------------------------------------- device side

@functools.partial(jax.jit, static_argnames="dtype")
def _encode_stats(enc, images, fmask, dtype=None):
    return forward.style_stats(enc, images, dtype, mask=fmask)


@functools.partial(jax.jit, static_argnames="dtype")
def _stylize_batch(params, contents, fmask, means, stds, idx, alpha, dtype=None):
    """Bucketed contents (B, Hb, Wb, 3) -> stylized (B, Hb, Wb, 3); content statistics over
    ``fmask`` (B, Hb/8, Wb/8, 1); style ``idx[b]`` of the bank ``means``/``stds``."""
    def restyle(feat):   # content statistics over each image's own region
        return forward.adain_with(feat, *ops.masked_channel_stats(feat, fmask), means[idx],
                                  stds[idx])

    return forward.finish(forward.run(params, contents, restyle, alpha[:, None, None, None],
                                      dtype))


class Devices:
    """The local devices as a 1-D ``('data',)`` mesh: batches sharded, the rest replicated.
    Each process works on its own devices only (no collectives in the device loop)."""

    def __init__(self):
        self.mesh = Mesh(np.asarray(jax.local_devices()), ("data",))
        self.n = self.mesh.size
        self.data = NamedSharding(self.mesh, P("data"))
        self.repl = NamedSharding(self.mesh, P())

    def put_batch(self, *arrays):
        return [jax.device_put(a, self.data) for a in arrays]

    def replicate(self, tree):
        return jax.device_put(tree, self.repl)


def bucket_shape(hw: tuple[int, int], bucket: int) -> tuple[int, int]:
    return tuple(-(-s // bucket) * bucket for s in hw)


def pad_to(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pad at the bottom/right to ``shape``: to a multiple of 8 exactly as ``stylize`` does,
    then by reflection (edge for 1-pixel sides)."""
    a = layers.pad_to_multiple(img, layers.DOWNSCALE, xp=np)
    ph, pw = shape[0] - a.shape[0], shape[1] - a.shape[1]
    if ph or pw:
        mode = "reflect" if min(a.shape[:2]) > 1 else "edge"
        a = np.pad(a, ((0, ph), (0, pw), (0, 0)), mode=mode)
    return a


def feature_mask(hw: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """(Hb/8, Wb/8, 1): 1 on the features of the image's own (8-padded) region."""
    m = np.zeros((shape[0] // layers.DOWNSCALE, shape[1] // layers.DOWNSCALE, 1), np.float32)
    m[:-(-hw[0] // layers.DOWNSCALE), :-(-hw[1] // layers.DOWNSCALE)] = 1.0
    return m


def batches(loaded: Iterator[tuple[Any, np.ndarray]], bucket: int, size: int
            ) -> Iterator[tuple[tuple[int, int], list]]:
    """(item, image) -> (bucket shape, up to ``size`` (item, image)) batches: a bucket is sent
    when full; the rest when the input ends."""
    pending: dict[tuple[int, int], list] = collections.defaultdict(list)
    for entry in loaded:
        key = bucket_shape(entry[1].shape[:2], bucket)
        pending[key].append(entry)
        if len(pending[key]) == size:
            yield key, pending.pop(key)
    for key in sorted(pending):
        yield key, pending[key]


def stack_batch(entries: list, shape: tuple[int, int], size: int):
    """Padded images, feature masks and the original sizes; the batch is filled up to
    ``size`` by repeating its last entry (those results are dropped)."""
    imgs = [pad_to(img, shape) for _, img in entries]
    masks = [feature_mask(img.shape[:2], shape) for _, img in entries]
    fill = size - len(entries)
    imgs += [imgs[-1]] * fill
    masks += [masks[-1]] * fill
    return np.stack(imgs), np.stack(masks), [img.shape[:2] for _, img in entries]


# ---------------------------------------------------------------------------- host side

def _describe(e: Exception) -> str:
    return one_line(e, 300) if isinstance(e, AdainError) else one_line(e, 300, with_type=True)


def read_ahead(pool: cf.Executor, keys: list, load: Callable, window: int,
               on_error: Callable[[Any, str], None]) -> Iterator[tuple[Any, np.ndarray]]:
    """``(key, load(key))`` in order, ``window`` reads in flight; a read that fails is
    reported to ``on_error(key, message)`` and skipped."""
    futures: collections.deque = collections.deque()
    it = iter(keys)
    for key in it:
        futures.append((key, pool.submit(load, key)))
        if len(futures) >= window:
            break
    while futures:
        key, fut = futures.popleft()
        for nxt in it:
            futures.append((nxt, pool.submit(load, nxt)))
            break
        try:
            img = fut.result()
        except Exception as e:  # noqa: BLE001 - any unreadable content is skipped, not fatal
            on_error(key, _describe(e))
            continue
        yield key, img


def encode_styles(params, paths: list[Path], size: int, devices: Devices, *, bucket: int,
                  batch_size: int, workers: int, dtype=None):
    """relu4_1 mean/std of every style, (S, 1, 1, 512) each, replicated on the local devices.
    A style that cannot be read is a ConfigError (the assignment depends on the style list)."""
    bad: list[str] = []
    n = len(paths)
    means: list = [None] * n
    stds: list = [None] * n
    size_b = -(-batch_size // devices.n) * devices.n
    with cf.ThreadPoolExecutor(workers) as pool:
        loaded = read_ahead(pool, list(range(n)),
                            lambda i: image_io.load_image(paths[i], size=size or None),
                            4 * size_b, lambda i, msg: bad.append(f"{paths[i]}: {msg}"))
        for shape, entries in batches(loaded, bucket, size_b):
            imgs, masks, _ = stack_batch(entries, shape, size_b)
            m, s = _encode_stats(forward.encoder_part(params), *devices.put_batch(imgs, masks),
                                 dtype=dtype)
            m, s = np.asarray(m), np.asarray(s)
            for j, (i, _) in enumerate(entries):
                means[i], stds[i] = m[j], s[j]
    if bad:
        raise ConfigError(f"{len(bad)} style image(s) cannot be read, e.g. {bad[0]}")
    return devices.replicate((np.stack(means), np.stack(stds)))


def stylize_items(params, bank, items: list, *, load: Callable, output: Path,
                  assign: Callable, devices: Devices, bucket: int, batch_size: int,
                  workers: int, dtype=None, on_error: Callable, on_written: Callable) -> None:
    """Stylize and write ``items``.

    Args:
      load: ``load(item) -> (image, output path relative to output)``.
      output: the output folder.
      assign: ``assign(item) -> (style index, alpha)``.
      on_error: ``on_error(item, message)`` for a read or write that fails.
      on_written: ``on_written(item, output path relative to output)`` for each output.
    """
    size = -(-batch_size // devices.n) * devices.n
    means, stds = bank
    writes: collections.deque = collections.deque()

    def save(item, rel, img):
        try:
            image_io.save_image(output.joinpath(*rel.split("/")), img, overwrite=True)
        except Exception as e:  # noqa: BLE001 - reported per content
            on_error(item, "cannot write the output: " + _describe(e))
        else:
            on_written(item, rel)

    def finish(out, entries, hws, wpool):
        host = np.asarray(out)      # waits for this batch only
        for j, (((item, rel), _), (h, w)) in enumerate(zip(entries, hws)):
            writes.append(wpool.submit(save, item, rel, host[j, :h, :w]))
        while len(writes) > 4 * size:
            writes.popleft().result()

    with cf.ThreadPoolExecutor(workers) as rpool, cf.ThreadPoolExecutor(workers) as wpool:
        loaded = (((item, rel), img) for item, (img, rel)
                  in read_ahead(rpool, items, load, 4 * size, on_error))
        previous = None
        for shape, entries in batches(loaded, bucket, size):
            imgs, masks, hws = stack_batch(entries, shape, size)
            chosen = [assign(item) for (item, _), _ in entries]
            chosen += [chosen[-1]] * (size - len(chosen))
            idx = np.asarray([c[0] for c in chosen], np.int32)
            alpha = np.asarray([c[1] for c in chosen], np.float32)
            x, m, i, a = devices.put_batch(imgs, masks, idx, alpha)
            out = _stylize_batch(params, x, m, means, stds, i, a, dtype=dtype)  # asynchronous
            if previous is not None:
                finish(*previous, wpool)     # the previous batch, while this one runs
            previous = (out, entries, hws)
        if previous is not None:
            finish(*previous, wpool)
        for f in writes:
            f.result()


def sweep_temporaries(output: Path, own: Callable[[str], bool]) -> set[str]:
    """One walk of ``output``'s tree: removes the hidden temporary files that a killed
    ``atomic_write`` left, for the targets ``own(relative target path)`` says belong to this
    process, and returns the relative paths of the files that exist (the outputs done)."""
    existing: set[str] = set()
    for folder, dirs, files in os.walk(output):
        dirs[:] = [d for d in dirs if not d.startswith(".") or d == manifest.STATE_DIR]
        base = Path(folder).relative_to(output).as_posix()
        for name in files:
            target = fs.temp_target(name)
            if target is None:
                existing.add(name if base == "." else f"{base}/{name}")
                continue
            if own(target if base == "." else f"{base}/{target}"):
                try:
                    os.unlink(Path(folder) / name)
                except FileNotFoundError:
                    pass
    return existing


__all__ = ["DatasetJob", "Summary", "Devices", "encode_styles", "stylize_items",
           "sweep_temporaries", "bucket_shape", "VERSION"]
