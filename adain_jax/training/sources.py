"""Training image sources: random access to a folder of images or a prepared tfds split.

``open_source(spec)`` takes ``DIR`` (recursive; jpg/jpeg/png/webp/bmp/tif/tiff) or a single
image file, or ``tfds:NAME[/CONFIG][:VERSION][:SPLIT][#KEY]`` read through
``tfds.data_source`` (array_record files, no TensorFlow; nothing is downloaded).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from adain_jax import image_io
from adain_jax.errors import ConfigError, ImageError, one_line

# tfds:NAME[/CONFIG][:VERSION][:SPLIT][#KEY]
_TFDS_RE = re.compile(
    r"^(?P<name>[A-Za-z0-9_][\w\-]*(?:/[\w\-.=,]+)?)"
    r"(?::(?P<version>\d+\.\d+\.\d+))?"
    r"(?::(?P<split>[^#]+))?"
    r"(?:#(?P<key>[\w\-/]+))?$"
)




def parse_tfds_spec(spec: str) -> dict[str, str | None]:
    """``tfds:NAME[/CONFIG][:VERSION][:SPLIT][#KEY]`` -> dict(name, split, key)."""
    body = spec[len("tfds:"):] if spec.startswith("tfds:") else spec
    m = _TFDS_RE.match(body.strip())
    if not m:
        raise ConfigError(
            f"bad tfds source {spec!r}; expected tfds:NAME[/CONFIG][:VERSION][:SPLIT][#KEY], "
            "e.g. tfds:coco/2017:train#image"
        )
    name = m["name"] + (f":{m['version']}" if m["version"] else "")
    return {"name": name, "split": (m["split"] or "train").strip(), "key": m["key"] or "image"}


class FolderSource:
    """Random access over the images of a folder (sorted, recursive)."""

    def __init__(self, spec: str):
        self._load = image_io.load_image
        p = Path(spec).expanduser()
        if not p.exists():
            raise ConfigError(f"image source {spec!r}: no such folder or file")
        try:
            self.paths = [str(x) for x in image_io.list_images(p)]
        except ImageError as exc:
            raise ConfigError(f"image source {spec!r}: {exc}") from None
        self.spec = spec

    def __len__(self) -> int:
        return len(self.paths)

    def name(self, i: int) -> str:
        return self.paths[i]

    def load(self, i: int) -> Any:
        return self._load(self.paths[i])


class TfdsSource:
    """Random access over one split of a prepared tfds dataset (tfds.data_source)."""

    def __init__(self, spec: str, data_dir: str | None):
        parsed = parse_tfds_spec(spec)
        self.spec = spec
        self.key = parsed["key"]
        try:
            import tensorflow_datasets as tfds
        except ImportError as exc:
            raise ConfigError(
                f"{spec}: tensorflow-datasets is not installed ({one_line(exc)}); "
                "pip install 'adain-jax[train]'") from None
        data_dir = data_dir or os.environ.get("TFDS_DATA_DIR") or None
        name = parsed["name"]
        where = data_dir or "the default tfds data_dir (~/tensorflow_datasets)"
        build = f"`tfds build {name} --file_format=array_record`"
        try:
            self._ds = tfds.data_source(name, split=parsed["split"], data_dir=data_dir,
                                        download=False)
        except Exception as exc:  # DatasetNotFoundError, missing TF, wrong format, split
            cause = one_line(exc)
            prepared = _tfds_prepared(tfds, name, data_dir)
            if isinstance(exc, ModuleNotFoundError) and "tensorflow" in str(exc):
                hint = (f"its tfds code needs TensorFlow (not installed) and no prepared copy "
                        f"was found in {where}; prepare it once with {build} (or set "
                        "TFDS_DATA_DIR / tfds_data_dir to where it is prepared)")
            elif prepared is None and "not found" in cause.lower():
                hint = f"no tfds dataset named {name!r} (neither registered nor in {where})"
            elif prepared is False:
                hint = (f"the dataset is not prepared in {where}; nothing is downloaded "
                        f"here: prepare it with {build}")
            elif prepared and "format" in cause.lower():
                hint = (f"random access (tfds.data_source) needs the array_record format; "
                        f"rebuild it with {build}")
            else:
                hint = (f"cannot open split {parsed['split']!r} from {where}; it must be "
                        f"prepared in array_record format ({build})")
            raise ConfigError(f"{spec}: {hint} [{cause}]") from None
        try:
            n = len(self._ds)
        except Exception as exc:
            raise ConfigError(f"{spec}: cannot get the dataset size ({one_line(exc)})") from None
        if n == 0:
            raise ConfigError(f"{spec}: the split is empty")
        self._n = n
        keys = self._feature_keys()
        if keys is not None and self.key not in keys:
            raise ConfigError(
                f"{spec}: no feature {self.key!r}; the dataset has {sorted(keys)} "
                "(pick one with #KEY)")

    def _feature_keys(self) -> set[str] | None:
        try:
            return set(self._ds.dataset_info.features.keys())
        except Exception:
            return None

    def __len__(self) -> int:
        return self._n

    def name(self, i: int) -> str:
        return f"{self.spec}[{i}]"

    def class_names(self, feature: str = "label") -> list[str] | None:
        """The class names of the ClassLabel feature ``feature`` (``[]`` when it has none),
        or None when the dataset has no such ClassLabel; read from the dataset info, nothing
        is decoded."""
        import tensorflow_datasets as tfds

        try:
            f = self._ds.dataset_info.features[feature]
        except Exception:  # noqa: BLE001 - no dataset info or no such feature: no labels
            return None
        if not isinstance(f, tfds.features.ClassLabel):
            return None
        try:
            return [str(n) for n in (f.names or [])]
        except Exception:  # noqa: BLE001 - names not available: integer folders
            return []

    def _feature(self, ex: Any, i: int, key: str) -> Any:
        try:
            return ex[key]
        except (KeyError, TypeError):
            raise ImageError(f"{self.name(i)}: example has no feature {key!r}") from None

    def load(self, i: int) -> Any:
        return self._feature(self._ds[i], i, self.key)

    def load_with(self, i: int, feature: str) -> tuple[Any, Any]:
        """The image and feature ``feature`` of example ``i``, from one decode of the record."""
        ex = self._ds[i]
        return self._feature(ex, i, self.key), self._feature(ex, i, feature)


def _tfds_prepared(tfds, name: str, data_dir: str | None) -> bool | None:
    """Whether some version of the dataset has been prepared (None: cannot tell)."""
    try:
        return bool(tfds.builder(name, data_dir=data_dir).is_prepared())
    except Exception:
        return None


def open_source(spec: str, tfds_data_dir: str | None):
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"image source must be a folder or tfds:NAME, got {spec!r}")
    if spec.startswith("tfds:"):
        return TfdsSource(spec, tfds_data_dir)
    return FolderSource(spec)
