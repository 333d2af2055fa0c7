"""Packaging: the oneDNN kernels are loaded only from the installed package (RECORD-listed,
hash-checked), never built or loaded from a cache; importing the package changes no
process-wide setting; the dtype rule and the backend note."""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from importlib import metadata

import jax.numpy as jnp
import pytest

import adain_jax
from adain_jax.nn import backends
from adain_jax.nn.backends import onednn

# Subprocesses import the adain_jax under test (a checkout or an installed wheel), wherever
# they run.
PACKAGE_ROOT = str(os.path.dirname(os.path.dirname(os.path.abspath(adain_jax.__file__))))


def _env(drop=(), **extra):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT, env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _record_line(rel, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{rel},sha256={digest},{len(data)}"


@pytest.fixture
def fake_install(tmp_path, monkeypatch):
    """A fake installed distribution in tmp_path whose RECORD lists a kernels file."""
    site = tmp_path / "site"
    pkg = site / "adain_jax" / "nn" / "backends"
    pkg.mkdir(parents=True)
    lib = pkg / "_onednn_kernels.so"
    lib.write_bytes(b"\x7fELF pretend kernels")
    info = site / "adain_jax-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: adain-jax\nVersion: 0.1.0\n")
    (info / "RECORD").write_text(
        _record_line("adain_jax/nn/backends/_onednn_kernels.so", lib.read_bytes()) + "\n")
    dist = metadata.PathDistribution(info)
    monkeypatch.setattr(onednn.metadata, "distribution", lambda name: dist)
    monkeypatch.setattr(onednn, "HERE", pkg.resolve())
    return lib


def test_extension_path_accepts_the_recorded_file(fake_install):
    assert onednn.extension_path() == fake_install.resolve()


def test_extension_path_rejects_a_modified_file(fake_install):
    fake_install.write_bytes(b"\x7fELF something else")
    with pytest.raises(RuntimeError, match="does not match the hash"):
        onednn.extension_path()


def test_extension_path_rejects_a_writable_file(fake_install):
    fake_install.chmod(0o666)
    with pytest.raises(RuntimeError, match="writable"):
        onednn.extension_path()


def test_extension_path_without_kernels_in_record(fake_install):
    record = fake_install.parents[3] / "adain_jax-0.1.0.dist-info" / "RECORD"
    record.write_text("adain_jax/__init__.py,,\n")
    with pytest.raises(RuntimeError, match="not built"):
        onednn.extension_path()


def test_extension_path_of_another_copy(fake_install, monkeypatch, tmp_path):
    monkeypatch.setattr(onednn, "HERE", tmp_path)
    with pytest.raises(RuntimeError, match="not the installed one"):
        onednn.extension_path()


def test_no_runtime_build_left():
    source = open(onednn.__file__, encoding="utf-8").read()
    for gone in ("subprocess", "g++", "user_cache_dir", "tempfile"):
        assert gone not in source


PLANTED_C = r"""
#include <stdio.h>
#include <stdlib.h>
__attribute__((constructor)) static void planted(void) {
  FILE* f = fopen(getenv("PLANTED_MARKER"), "w");
  if (f) { fputs("loaded", f); fclose(f); }
}
const char* adain_onednn_isa(void) { return "avx512_core_bf16"; }
"""

PROBE = r"""
import json, os, sys
import numpy as np
import adain_jax
from adain_jax.nn.backends import onednn
params = adain_jax.init_params(__import__("jax").random.PRNGKey(0))
np.asarray(adain_jax.stylize(params, np.zeros((16, 16, 3), np.float32),
                             np.zeros((16, 16, 3), np.float32)))
cache = os.environ["ADAIN_JAX_CACHE"]
maps = open("/proc/self/maps").read()
print(json.dumps({"loaded_from_cache": cache in maps, "reason": onednn.reason(),
                  "available": onednn.available()}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc/self/maps")
def test_a_library_planted_in_the_cache_is_never_loaded(tmp_path):
    cache = tmp_path / "cache"
    marker = tmp_path / "marker"
    names = [cache / "onednn" / f"adain_onednn_{'0' * 16}.so", cache / "_onednn_kernels.so",
             cache / "onednn" / "_onednn_kernels.so"]
    cc = shutil.which("cc") or shutil.which("gcc")
    for name in names:
        name.parent.mkdir(parents=True, exist_ok=True)
        if cc:  # a real library whose constructor leaves a marker when loaded
            src = tmp_path / "planted.c"
            src.write_text(PLANTED_C)
            subprocess.run([cc, "-shared", "-fPIC", str(src), "-o", str(name)], check=True)
        else:
            name.write_bytes(b"\x7fELF planted")
    env = _env(ADAIN_JAX_CACHE=str(cache), PLANTED_MARKER=str(marker), JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert not got["loaded_from_cache"]
    assert not marker.exists()
    for name in names:  # left alone, nothing new written there
        assert name.exists()
    assert sorted(p.name for p in (cache / "onednn").iterdir()) == sorted(
        n.name for n in names if n.parent.name == "onednn")


IMPORT_PROBE = r"""
import json, os, sys
import adain_jax, adain_jax.cli
print(json.dumps({"flags": os.environ.get("XLA_FLAGS"),
                  "cache_dir": __import__("jax").config.jax_compilation_cache_dir}))
"""


def test_import_changes_no_process_setting():
    env = _env(drop=("XLA_FLAGS",))
    out = subprocess.run([sys.executable, "-c", IMPORT_PROBE], env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"flags": None, "cache_dir": None}


def test_auto_dtype_rule(monkeypatch):
    monkeypatch.setattr(backends.jax, "default_backend", lambda: "gpu")
    assert backends.resolve_dtype("auto") == jnp.bfloat16
    monkeypatch.setattr(backends.jax, "default_backend", lambda: "cpu")
    monkeypatch.setattr(onednn, "use_for", lambda dtype: True)
    assert backends.resolve_dtype("auto") == jnp.bfloat16
    monkeypatch.setattr(onednn, "use_for", lambda dtype: False)
    assert backends.resolve_dtype("auto") == jnp.float32
    assert backends.resolve_dtype("float32") == jnp.float32
    assert backends.resolve_dtype("bfloat16") == jnp.bfloat16


def test_missing_fast_path_note(monkeypatch):
    monkeypatch.setattr(backends.jax, "default_backend", lambda: "cpu")
    monkeypatch.setattr(onednn, "cpu_could_use", lambda: True)
    monkeypatch.setattr(onednn, "available", lambda: False)
    monkeypatch.setattr(onednn, "reason", lambda: "the oneDNN kernels were not built")
    assert "XLA" in backends.missing_fast_path() and "not built" in backends.missing_fast_path()
    monkeypatch.setattr(onednn, "cpu_could_use", lambda: False)
    assert backends.missing_fast_path() is None
    monkeypatch.setattr(onednn, "cpu_could_use", lambda: True)
    monkeypatch.setattr(onednn, "available", lambda: True)
    assert backends.missing_fast_path() is None


def test_compilation_cache_is_private(tmp_path):
    from adain_jax.nn.backends import xla_flags

    probe = textwrap.dedent("""
        import json, sys
        from adain_jax.nn.backends import xla_flags
        print(json.dumps(str(xla_flags.enable_compilation_cache(sys.argv[1]))))
    """)
    env = _env(drop=("ADAIN_JAX_NO_COMPILATION_CACHE",))
    out = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "c")], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    folder = tmp_path / "c" / xla_flags.COMPILATION_CACHE
    assert json.loads(out.stdout.strip().splitlines()[-1]) == str(folder)
    assert folder.stat().st_mode & 0o777 == 0o700
    folder.chmod(0o777)  # others could plant compiled programs: not used
    out = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "c")], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == "None"
