"""Which output belongs to which content and style: a manifest CSV or a file-name convention.

Manifest (``--manifest FILE.csv``): a header row with ``content,style,output`` and optionally
``method`` (default ``output``) and ``seconds`` (the time the method took for that pair);
relative paths are relative to the CSV's folder.

Folders (``--content DIR --style DIR --method NAME=DIR ...``): every image in a method's folder
is named ``<content stem>__<style stem>.<ext>`` (two underscores), e.g. ``cat__starry.png``
for ``content/cat.jpg`` and ``style/starry.jpg``. Timing, if known, is a ``timing.json`` in
that folder: ``{"seconds_per_pair": 0.12}`` or ``{"cat__starry.png": 0.12, ...}``.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import NamedTuple

from adain_jax import image_io
from adain_jax.errors import ConfigError, ImageError

SEPARATOR = "__"
TIMING_FILE = "timing.json"
REQUIRED = ("content", "style", "output")


class Pair(NamedTuple):
    """One scored output: its method, files and (optional) seconds it took."""

    method: str
    content: Path
    style: Path
    output: Path
    seconds: float | None = None

    @property
    def key(self) -> str:
        """``<content stem>__<style stem>``: the pair, whichever method made it."""
        return f"{self.content.stem}{SEPARATOR}{self.style.stem}"


def output_name(content: Path, style: Path, suffix: str = ".png") -> str:
    """The file name the folder convention expects for ``content`` x ``style``."""
    return f"{Path(content).stem}{SEPARATOR}{Path(style).stem}{suffix}"


def _seconds(text: str | None, where: str) -> float | None:
    if text is None or str(text).strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{where}: seconds must be a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{where}: seconds must be a finite number >= 0, got {text!r}")
    return value


def read_manifest(path: str | Path) -> list[Pair]:
    """Pairs from a manifest CSV (see the module docstring)."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: cannot read the manifest ({exc})") from None
    if not rows or any(k not in rows[0] for k in REQUIRED):
        raise ConfigError(f"{path}: the manifest needs a header with {', '.join(REQUIRED)}")
    base, pairs = path.parent, []
    for n, row in enumerate(rows, start=2):
        where = f"{path}:{n}"
        files = []
        for k in REQUIRED:
            p = Path((row.get(k) or "").strip())
            if not str(p) or str(p) == ".":
                raise ConfigError(f"{where}: empty {k}")
            files.append(p if p.is_absolute() else base / p)
        method = (row.get("method") or "output").strip() or "output"
        pairs.append(Pair(method, *files, _seconds(row.get("seconds"), where)))
    return pairs


def _by_stem(folder: Path, what: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in image_io.list_images(folder):
        if p.stem in out:
            raise ConfigError(f"{folder}: two {what} images named {p.stem!r}")
        out[p.stem] = p
    return out


def _timing(folder: Path) -> tuple[float | None, dict[str, float]]:
    path = folder / TIMING_FILE
    if not path.exists():
        return None, {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    every = _seconds(data.get("seconds_per_pair"), str(path))
    per = {k: _seconds(v, f"{path}: {k}") for k, v in data.items() if k != "seconds_per_pair"}
    return every, per


def from_folders(content_dir: str | Path, style_dir: str | Path,
                 methods: dict[str, str | Path]) -> list[Pair]:
    """Pairs of every method folder by the file-name convention."""
    contents = _by_stem(Path(content_dir), "content")
    styles = _by_stem(Path(style_dir), "style")
    pairs = []
    for method, folder in methods.items():
        folder = Path(folder)
        every, per = _timing(folder)
        try:
            outputs = image_io.list_images(folder)
        except ImageError as exc:
            raise ConfigError(f"method {method}: {exc}") from None
        for out in outputs:
            c_stem, sep, s_stem = out.stem.partition(SEPARATOR)
            if not sep or c_stem not in contents or s_stem not in styles:
                raise ConfigError(f"{out}: not named <content>{SEPARATOR}<style> after files "
                                  f"in {content_dir} and {style_dir}")
            seconds = per.get(out.name, every)
            pairs.append(Pair(method, contents[c_stem], styles[s_stem], out, seconds))
    return pairs


def parse_method(text: str) -> tuple[str, Path]:
    """``NAME=DIR`` (a bare ``DIR`` is named after the folder)."""
    name, sep, folder = text.partition("=")
    if not sep:
        name, folder = Path(text).name, text
    if not name.strip() or not folder.strip():
        raise ConfigError(f"--method wants NAME=DIR, got {text!r}")
    return name.strip(), Path(folder)
