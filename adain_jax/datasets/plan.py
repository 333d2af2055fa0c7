"""What the dataset job does, decided before any pixel is read: the contents and their keys,
the styles, each content's style and alpha, and each process's share.

Every decision is a function of the content's key (its relative path; ``SPLIT/NNNNNNNN`` for
tfds) and the seed only (a SHA-256 hash), never of the listing order, the batch or the process
count, so any subset or sharding of the source reproduces the same assignment (and a resumed
run the same manifest). Only a labelled tfds content's output folder waits for the read: its
label comes with its image.
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
    """One content: its key (for a folder its path relative to the source, POSIX, which is
    also its output's relative path) and how to read it."""

    rel: str      # the content's key: a folder's relative path, tfds ``SPLIT/NNNNNNNN``
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
    """A folder tree of images; relative paths are kept (hidden files skipped). A content's
    key is its relative path, which is also its output's."""

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
        self._rels = {it.rel for it in self.items}

    def read(self, item: Item, size: int | None) -> tuple[np.ndarray, str]:
        """The image (shorter side ``size``) and its output's relative path."""
        return image_io.load_image(item.key, size=size or None), item.rel

    def content_of(self, out_rel: str) -> str | None:
        """The content whose output is ``out_rel`` (a relative path), or None."""
        return out_rel if out_rel in self._rels else None


def safe_component(text: str, fallback: str = "_") -> str:
    """``text`` as one safe path component: characters other than letters, digits and
    ``-_.`` become ``_``, no leading dot, at most 200 bytes; ``fallback`` when empty."""
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
    name = name.encode("utf-8")[:200].decode("utf-8", "ignore")
    if name.startswith("."):
        name = "_" + name[1:]
    return name or fallback


class TfdsContents:
    """A prepared tfds split, written as ``SPLIT/LABEL/NNNNNNNN.png`` when the dataset has a
    ClassLabel feature ``label`` (the class name as a safe folder name, the integer when it
    has no name), else as ``SPLIT/NNNNNNNN.png`` (NNNNNNNN: the example's index).

    A content's key (manifest, style hash, process share) is ``SPLIT/NNNNNNNN``, never the
    label: the label is not known at planning time (tfds decodes whole records), it is taken
    from the example that gives the image. A finished output is recognised by its file name
    in any label folder of its split, so a rerun decodes nothing to know what is done.
    """

    LABEL = "label"

    def __init__(self, spec: str, data_dir: str | None = None):
        from adain_jax.training.sources import TfdsSource, parse_tfds_spec

        self.spec = spec
        self.source = TfdsSource(spec, data_dir)
        self.split = safe_component(parse_tfds_spec(spec)["split"])
        self.names = self.source.class_names(self.LABEL)   # None: no label folders
        self.n = len(self.source)
        self.width = max(8, len(str(self.n - 1)))
        self.items = [Item(f"{self.split}/{i:0{self.width}d}", i) for i in range(self.n)]

    def label_folder(self, label: Any) -> str:
        """The folder of class ``label`` (an integer): its safe name, else the integer."""
        try:
            value = int(label)
        except (TypeError, ValueError):
            raise ImageError(f"label {label!r} is not a class index") from None
        name = self.names[value] if 0 <= value < len(self.names) else ""
        return safe_component(name, str(value))

    def read(self, item: Item, size: int | None) -> tuple[np.ndarray, str]:
        """The image (shorter side ``size``) and its output's relative path."""
        if self.names is None:
            image, folder = self.source.load(item.key), self.split
        else:
            image, label = self.source.load_with(item.key, self.LABEL)
            try:
                folder = f"{self.split}/{self.label_folder(label)}"
            except ImageError as e:
                raise ImageError(f"{self.source.name(item.key)}: {e}") from None
        image = resize_shorter(image_io.to_float_rgb(image), size)
        return image, f"{folder}/{item.key:0{self.width}d}.png"

    def content_of(self, out_rel: str) -> str | None:
        """The content whose output is ``out_rel`` (``SPLIT[/LABEL]/NNNNNNNN.png``), or None."""
        parts = out_rel.split("/")
        if len(parts) != (2 if self.names is None else 3) or parts[0] != self.split:
            return None
        stem, ext = parts[-1][:-4], parts[-1][-4:]
        if ext != ".png" or len(stem) != self.width or not (stem.isascii() and stem.isdigit()) \
                or int(stem) >= self.n:
            return None
        return f"{self.split}/{stem}"


def resize_shorter(a: np.ndarray, size: int | None) -> np.ndarray:
    """Shorter side to ``size`` (None/0 keeps it): :func:`image_io.to_working_size`."""
    return image_io.to_working_size(a, size, what="content")


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


def output_path(output: Path, out_rel: str) -> Path:
    """The file of an output's relative (POSIX) path under ``output``."""
    return output.joinpath(*out_rel.split("/"))


__all__ = ["Item", "style_index", "alpha_for", "owner", "share", "FolderContents",
           "TfdsContents", "open_contents", "list_styles", "output_path", "resize_shorter",
           "safe_component"]
