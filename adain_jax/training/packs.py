"""Training data that lives on the accelerator: image packs decoded once, batches sampled there.

A pack is an ``.npz`` of two plain arrays (no pickle), as ``tools.device.pack_training_data``
writes it: ``data`` (uint8, concatenated encoded square images of one size) and ``offsets``
(int64, ``len + 1`` boundaries). :class:`PackFeed` keeps the pixels on the devices as uint8 and
samples every step's batch there (random images, random crops, random horizontal flips), keyed
by the step number, so the host never feeds the loop and a resumed run sees the same batches.
Needs jax and numpy only (no grain): the loop imports this module when the data are packs.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from adain_jax import image_io
from adain_jax.errors import ConfigError, ImageError, one_line
from adain_jax.training.step import replicate

PACK_SUFFIX = ".npz"


def is_pack(spec: str) -> bool:
    """Whether a data spec names a pack (a ``.npz`` file) rather than a folder or tfds split."""
    return str(spec).lower().endswith(PACK_SUFFIX)


def read_pack(path: str | os.PathLike, threads: int | None = None) -> np.ndarray:
    """``(N, S, S, 3)`` uint8 pixels of a pack."""
    try:
        with np.load(path, allow_pickle=False) as z:
            data, offsets = np.asarray(z["data"]), np.asarray(z["offsets"])
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError(f"cannot read the image pack {path} ({one_line(e)})") from None
    if data.dtype != np.uint8 or offsets.ndim != 1 or len(offsets) < 2 or offsets[0] != 0 \
            or offsets[-1] != data.size or np.any(np.diff(offsets) <= 0):
        raise ConfigError(f"{path} is not an image pack (uint8 'data' and increasing 'offsets')")

    def one(i: int) -> np.ndarray:
        what = f"image {i} of {path}"
        x = image_io.decode_bytes(data[offsets[i]:offsets[i + 1]].tobytes(), what)
        x = np.round(np.broadcast_to(x, x.shape[:2] + (3,)) * 255.0).astype(np.uint8)
        return x

    try:
        with ThreadPoolExecutor(threads or os.cpu_count()) as pool:
            images = list(pool.map(one, range(len(offsets) - 1)))
    except ImageError as e:
        raise ConfigError(str(e)) from None
    shapes = {im.shape for im in images}
    if len(shapes) != 1 or images[0].shape[0] != images[0].shape[1]:
        raise ConfigError(f"the images of {path} are not squares of one size: {sorted(shapes)[:3]}")
    return np.stack(images)


def sample_batch(pixels, key, batch: int, crop: int):
    """``(batch, crop, crop, 3)`` float32 in [0, 1]: random images of ``pixels`` (uint8
    ``(N, S, S, 3)`` on the device), random crops, random horizontal flips."""
    n, size = pixels.shape[0], pixels.shape[1]
    k_idx, k_off, k_flip = jax.random.split(key, 3)
    idx = jax.random.randint(k_idx, (batch,), 0, n)
    off = jax.random.randint(k_off, (batch, 2), 0, size - crop + 1)
    flip = jax.random.bernoulli(k_flip, 0.5, (batch,))

    def one(i, o, f):
        img = jax.lax.dynamic_slice(pixels[i], (o[0], o[1], 0), (crop, crop, 3))
        return jnp.where(f, img[:, ::-1], img)
    return jax.vmap(one)(idx, off, flip).astype(jnp.float32) / 255.0


class PackFeed:
    """The loop's feed (:mod:`adain_jax.training.feed`) over two packs held on the devices.

    Step ``t``'s batch uses the keys ``split(fold_in(PRNGKey(seed), t))`` (content, style).
    Every process holds the whole packs and computes the same global batch."""

    def __init__(self, content: np.ndarray, style: np.ndarray, mesh, batch_size: int,
                 crop_size: int, seed: int = 0):
        self.shapes = {"content": content.shape, "style": style.shape}
        small = min(content.shape[1], style.shape[1])
        if crop_size > small:
            raise ConfigError(f"crop_size {crop_size} is larger than the packed images ({small} px)")
        self._pixels = (replicate(content, mesh), replicate(style, mesh))
        base = jax.random.PRNGKey(seed)

        def sample(c, s, step):
            k_c, k_s = jax.random.split(jax.random.fold_in(base, step))
            return {"content": sample_batch(c, k_c, batch_size, crop_size),
                    "style": sample_batch(s, k_s, batch_size, crop_size)}
        self._sample = jax.jit(sample, out_shardings=NamedSharding(mesh, P("data")))

    @classmethod
    def open(cls, content: str, style: str, mesh, batch_size: int, crop_size: int,
             seed: int = 0) -> "PackFeed":
        for spec in (content, style):
            if not Path(spec).is_file():
                raise ConfigError(f"image pack {spec!r}: no such file")
        return cls(read_pack(content), read_pack(style), mesh, batch_size, crop_size, seed)

    def batch(self, step: int):
        """(global batch of step ``step``, no host copy)."""
        return self._sample(*self._pixels, np.int32(step)), None

    def get_state(self) -> dict:
        return {"feed": "pack"}    # batches are keyed by the step: nothing to restore

    def set_state(self, state) -> None:
        pass

    def close(self) -> None:
        self._pixels = None


__all__ = ["PACK_SUFFIX", "is_pack", "read_pack", "sample_batch", "PackFeed"]
