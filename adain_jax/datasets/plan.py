"""What the dataset job does, decided before any pixel is read: the contents and their
relative paths, the styles, each content's style and alpha, and each process's share.

Every decision is a function of the content's relative path and the seed only (a SHA-256
hash), never of the listing order, the batch or the process count, so any subset or sharding
of the source reproduces the same assignment (and a resumed run the same manifest).
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from adain_jax import image_io
from adain_jax.errors import ConfigError, ImageError


@dataclasses.dataclass(frozen=True)
class Item:
    """One content: its path relative to the source (POSIX, also the output's relative path)
    and how to read it."""

    rel: str
    key: Any      # a Path for folders, an index for tfds


def _u64(*parts: str) -> int:
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def style_index(rel: str, seed: int, n_styles: int) -> int:
    """The style (index into the sorted style names) of content ``rel``."""
    return _u64("style", str(seed), rel) % n_styles


def alpha_for(rel: str, seed: int, alpha_range: tuple[float, float]) -> float:
    """``lo`` when the range is one value, else uniform in [lo, hi] from the hash, rounded to
    4 decimals (the value used is the value written to the manifest)."""
    lo, hi = alpha_range
    if lo == hi:
        return float(lo)
    u = _u64("alpha", str(seed), rel) / 2.0 ** 64
    return round(lo + (hi - lo) * u, 4)


def owner(rel: str, num_processes: int) -> int:
    """The process that stylizes ``rel`` (independent of the seed and of the listing)."""
    return _u64("shard", rel) % num_processes


def share(items: Sequence[Item], process_id: int, num_processes: int) -> list[Item]:
    """This process's items, in the listing's order."""
    return [it for it in items if owner(it.rel, num_processes) == process_id]


# ---------------------------------------------------------------------------- sources

class FolderContents:
    """A folder tree of images; relative paths are kept (hidden files skipped)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        self.spec = str(self.root.absolute())
        if not self.root.is_dir():
            raise ConfigError(f"--content {root}: no such folder")
        try:
            paths = image_io.list_images(self.root)
        except ImageError:
            raise ConfigError(f"--content {root}: the source has no images") from None
        self.items = [Item(p.relative_to(self.root).as_posix(), p) for p in paths]

    def load(self, item: Item, size: int | None) -> np.ndarray:
        return image_io.load_image(item.key, size=size or None)


class TfdsContents:
    """A prepared tfds split, written as ``SPLIT/NNNNNNNN.png`` (the example's index; labels
    are not read at planning time because tfds decodes whole records)."""

    def __init__(self, spec: str, data_dir: str | None = None):
        from adain_jax.training.sources import TfdsSource, parse_tfds_spec

        self.spec = spec
        self.source = TfdsSource(spec, data_dir)
        split = parse_tfds_spec(spec)["split"]
        folder = "".join(c if c.isalnum() or c in "-_." else "_" for c in split)
        width = max(8, len(str(len(self.source) - 1)))
        self.items = [Item(f"{folder}/{i:0{width}d}.png", i) for i in range(len(self.source))]

    def load(self, item: Item, size: int | None) -> np.ndarray:
        return resize_shorter(image_io.to_float_rgb(self.source.load(item.key)), size)


def resize_shorter(a: np.ndarray, size: int | None) -> np.ndarray:
    """Shorter side to ``size`` (None/0 keeps it), as :func:`image_io.load_image` does."""
    if not size:
        return a
    from adain_jax.image_io.resample import LANCZOS

    hw = image_io.shorter_side_shape(a.shape[0], a.shape[1], size)
    image_io.check_pixels(hw, f"resizing to a shorter side of {size}")
    return image_io.resize_float(a, hw, LANCZOS)


def open_contents(spec: str, tfds_data_dir: str | None = None):
    """A folder or ``tfds:NAME[/CONFIG][:SPLIT]``; exit-2 errors when it has no images."""
    if spec.startswith("tfds:"):
        return TfdsContents(spec, tfds_data_dir)
    return FolderContents(spec)


def list_styles(folder: str | Path) -> list[tuple[str, Path]]:
    """(name relative to the folder, path) of every style image, sorted by name."""
    root = Path(folder).expanduser()
    if not root.exists():
        raise ConfigError(f"--styles {folder}: no such folder")
    try:
        paths = image_io.list_images(root)
    except ImageError:
        raise ConfigError(f"--styles {folder}: the style folder has no images") from None
    if root.is_file():
        return [(root.name, root)]
    return sorted((p.relative_to(root).as_posix(), p) for p in paths)


def output_path(output: Path, item: Item) -> Path:
    """Where ``item``'s stylized image goes: the same relative path under ``output``."""
    return output.joinpath(*item.rel.split("/"))


__all__ = ["Item", "style_index", "alpha_for", "owner", "share", "FolderContents",
           "TfdsContents", "open_contents", "list_styles", "output_path", "resize_shorter"]
