"""Damaged checkpoints (issue 12, item 7): checksums written with every step and checked on
restore, fallback to the newest intact step with a message, no orbax tracebacks, and never a
non-finite decoder.npz."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from limits import REPO


def _state(v: float):
    k = np.random.default_rng(int(v)).normal(size=(128, 128)).astype(np.float32)
    return {"step": np.int32(int(v)), "params": {"k": k, "b": np.full((8,), v, np.float32)}}


def _save_steps(workdir: Path, steps=(1, 2, 3)):
    from adain_jax.training.checkpoint import Checkpoints

    ck = Checkpoints(workdir, keep=5)
    for s in steps:
        ck.save(s, _state(float(s)), [{"pos": s}], {"arch": "test"})
    ck.close()


def _restore(workdir: Path):
    from adain_jax.training.checkpoint import Checkpoints, abstract_like

    messages = []
    ck = Checkpoints(workdir, keep=5)
    try:
        out = ck.restore_newest(abstract_like(_state(0.0)), lambda c: None, messages.append)
    finally:
        ck.close()
    return out, messages


def _data_files(step_dir: Path):
    return sorted((p for p in step_dir.rglob("*") if p.is_file() and p.stat().st_size > 256
                   and "state" in p.parts), key=lambda p: -p.stat().st_size)


def test_every_step_is_sealed_with_checksums(tmp_path):
    from adain_jax.training.checkpoint import MANIFEST, damage

    _save_steps(tmp_path)
    for s in (1, 2, 3):
        d = tmp_path / "checkpoints" / str(s)
        manifest = json.loads((d / MANIFEST).read_text())
        assert manifest["step"] == s and manifest["files"]
        assert damage(d) is None
    (step, config, state, data), messages = _restore(tmp_path)
    assert step == 3 and messages == [] and float(state["params"]["b"][0]) == 3.0


@pytest.mark.parametrize("how", ["overwrite", "truncate", "delete"])
def test_damaged_newest_step_falls_back_with_a_message(tmp_path, how):
    """64 bytes overwritten in the middle of the newest step's largest data file (the
    issue's case), a truncated one, or a deleted one: step 2 is restored, with a message."""
    _save_steps(tmp_path)
    target = _data_files(tmp_path / "checkpoints" / "3")[0]
    raw = bytearray(target.read_bytes())
    if how == "overwrite":
        mid = len(raw) // 2
        raw[mid:mid + 64] = b"\xff" * 64
        target.write_bytes(bytes(raw))
    elif how == "truncate":
        target.write_bytes(bytes(raw[: len(raw) // 3]))
    else:
        target.unlink()
    (step, _, state, _), messages = _restore(tmp_path)
    assert step == 2 and float(state["params"]["b"][0]) == 2.0
    assert len(messages) == 1 and "checkpoints/3 is damaged" in messages[0], messages
    assert "\n" not in messages[0]


def test_every_step_damaged_is_one_line_error(tmp_path):
    from adain_jax.errors import ConfigError

    _save_steps(tmp_path, (1, 2))
    for s in (1, 2):
        f = _data_files(tmp_path / "checkpoints" / str(s))[0]
        f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(ConfigError, match="every checkpoint .* is damaged"):
        _restore(tmp_path)


def test_unsealed_truncated_step_is_skipped_without_orbax_tracebacks(tmp_path):
    """A step without a manifest (killed before the seal) that is also truncated: orbax
    fails to read it; its asyncio tracebacks are not shown, the earlier step is restored."""
    _save_steps(tmp_path)
    d = tmp_path / "checkpoints" / "3"
    (d / "adain_sha256.json").unlink()
    for f in _data_files(d):
        f.write_bytes(f.read_bytes()[:64])
    code = (f"import sys; sys.path.insert(0, {str(REPO / 'tests')!r})\n"
            "from pathlib import Path\nimport test_hostile_checkpoints as t\n"
            f"(step, *_), msgs = t._restore(Path({str(tmp_path)!r}))\n"
            "print('STEP', step); print('MSGS', len(msgs))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=REPO, env={"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin",
                                      "PYTHONPATH": str(REPO)})
    assert p.returncode == 0, p.stderr[-3000:]
    assert "STEP 2" in p.stdout and "MSGS 2" in p.stdout, p.stdout
    assert "Traceback" not in p.stderr and "Event loop is closed" not in p.stderr, p.stderr[-3000:]


def test_non_finite_restored_values_are_damage(tmp_path):
    """A step without a manifest whose restored values are not finite is not used."""
    from adain_jax.training.checkpoint import Checkpoints

    ck = Checkpoints(tmp_path, keep=5)
    ck.save(1, _state(1.0), [{}], {"arch": "test"})
    bad = _state(2.0)
    bad["params"]["k"][3, 3] = np.nan
    ck.save(2, bad, [{}], {"arch": "test"})
    ck.close()
    (tmp_path / "checkpoints" / "2" / "adain_sha256.json").unlink()
    (step, *_), messages = _restore(tmp_path)
    assert step == 1 and "non-finite" in messages[-1], messages


def test_non_finite_decoder_never_replaces_a_good_export(tmp_path):
    from adain_jax.errors import WeightsError
    from adain_jax.training.checkpoint import export_decoder

    path = tmp_path / "decoder.npz"
    export_decoder(path, {"k": np.ones((3, 3), np.float32)})
    before = path.read_bytes()
    with pytest.raises(WeightsError, match="1 non-finite weights; .* was not replaced"):
        export_decoder(path, {"k": np.array([[1.0, np.inf]], np.float32)})
    assert path.read_bytes() == before
