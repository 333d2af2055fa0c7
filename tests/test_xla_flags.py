"""The CLIs' set-up (``cli.common.prepare_runtime`` -> ``xla_flags.configure``) adds the XLA
CPU flag for known jaxlib versions only; importing the package adds nothing.

Each case runs in a fresh interpreter (XLA_FLAGS is read once, when jax starts its
backends), imports the package without touching a device, and prints XLA_FLAGS.
Cheap: no compilation, no timing.
"""
import json
import os
import subprocess
import sys

import pytest

import adain_jax
from adain_jax.nn.backends import xla_flags

SCRIPT = r"""
import json, os, sys
from importlib import metadata
fake = os.environ.get("FAKE_JAXLIB_VERSION")
if fake:
    real = metadata.version
    metadata.version = lambda name: fake if name == "jaxlib" else real(name)
import adain_jax
before = os.environ.get("XLA_FLAGS", "")
if not os.environ.get("IMPORT_ONLY"):
    from adain_jax.cli import common
    common.prepare_runtime(compilation_cache=False)
print(json.dumps({"flags": os.environ.get("XLA_FLAGS", ""), "jax_loaded": "jax" in sys.modules}))
"""


def run(env_extra, drop=("XLA_FLAGS", "ADAIN_JAX_NO_XLA_FLAGS")):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    root = os.path.dirname(os.path.dirname(os.path.abspath(adain_jax.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_flag_set_for_jaxlib_0_10():
    got = run({"FAKE_JAXLIB_VERSION": "0.10.2"})
    assert xla_flags.CPU_FLAG in got["flags"].split()


def test_import_alone_sets_no_flag():
    got = run({"FAKE_JAXLIB_VERSION": "0.10.2", "IMPORT_ONLY": "1"})
    assert got["flags"] == ""


def test_flag_not_set_for_unknown_versions():
    for version in ("0.9.0", "0.11.0", "1.0.0"):
        got = run({"FAKE_JAXLIB_VERSION": version})
        assert "xla_cpu_experimental_ynn_fusion_type" not in got["flags"], version


def test_user_flags_kept_and_opt_out():
    got = run({"FAKE_JAXLIB_VERSION": "0.10.2", "XLA_FLAGS": "--xla_cpu_use_thunk_runtime=true"})
    assert got["flags"].split() == ["--xla_cpu_use_thunk_runtime=true", xla_flags.CPU_FLAG]
    got = run({"FAKE_JAXLIB_VERSION": "0.10.2", "ADAIN_JAX_NO_XLA_FLAGS": "1"})
    assert got["flags"] == ""
    own = "--xla_cpu_experimental_ynn_fusion_type=dot"
    got = run({"FAKE_JAXLIB_VERSION": "0.10.2", "XLA_FLAGS": own})
    assert got["flags"] == own


def test_installed_jaxlib_matches_the_rule():
    from importlib import metadata

    got = run({})
    expected = metadata.version("jaxlib").startswith(xla_flags.KNOWN_JAXLIB_PREFIXES)
    assert (xla_flags.CPU_FLAG in got["flags"].split()) == expected


@pytest.mark.parametrize("version,ok", [("0.10.0", True), ("0.10.2", True), ("0.1.0", False),
                                        ("0.100.0", False), ("0.9.9", False)])
def test_version_rule(version, ok):
    assert xla_flags.cpu_flag_supported(version) is ok
