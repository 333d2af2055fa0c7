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
    assert len(messages) == 2 and "checkpoints/3 is damaged" in messages[0], messages
    assert "moved the damaged checkpoint 3" in messages[1] and "\n" not in messages[0]
    assert (tmp_path / "damaged-checkpoints" / "3").is_dir()
    assert not (tmp_path / "checkpoints" / "3").exists()


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
    assert "STEP 2" in p.stdout and "MSGS 3" in p.stdout, p.stdout
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
    assert step == 1 and "non-finite" in messages[-2], messages


def test_non_finite_decoder_never_replaces_a_good_export(tmp_path):
    from adain_jax.errors import WeightsError
    from adain_jax.training.checkpoint import export_decoder

    path = tmp_path / "decoder.npz"
    export_decoder(path, {"k": np.ones((3, 3), np.float32)})
    before = path.read_bytes()
    with pytest.raises(WeightsError, match="1 non-finite weights; .* was not replaced"):
        export_decoder(path, {"k": np.array([[1.0, np.inf]], np.float32)})
    assert path.read_bytes() == before


class _Loader:
    """Deterministic random batches with a resumable position."""

    def __init__(self):
        self.i = 0

    def __iter__(self):
        return self

    def __next__(self):
        rng = np.random.default_rng(self.i)
        self.i += 1
        shape = (2, 32, 32, 3)
        return {"content": rng.random(shape, dtype=np.float32),
                "style": rng.random(shape, dtype=np.float32)}

    def get_state(self):
        return {"i": self.i}

    def set_state(self, state):
        self.i = int(state["i"])


def test_training_resumes_from_the_newest_intact_step(tmp_path, capsys):
    """The issue's case end to end: 64 bytes overwritten in the middle of the newest step's
    data file -> the run says so, resumes from the step before, and decoder.npz stays a
    finite decoder."""
    import jax

    from adain_jax.nn.models import init_params
    from adain_jax.training.config import TrainConfig
    from adain_jax.training.loop import train
    from adain_jax.weights import load_decoder

    vgg = jax.tree.map(np.asarray, init_params(jax.random.PRNGKey(0), 32)["vgg"])
    cfg = TrainConfig(workdir=str(tmp_path), steps=4, batch_size=2, crop_size=32, resize=32,
                      log_every=1, checkpoint_every=2, sample_every=0, keep=3)
    train(cfg, loader=_Loader(), vgg_params=vgg, progress=False, verbose=False)
    target = _data_files(tmp_path / "checkpoints" / "4")[0]
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 64] = b"\xff" * 64
    target.write_bytes(bytes(raw))
    capsys.readouterr()
    train(cfg, loader=_Loader(), vgg_params=vgg, progress=False, verbose=True)
    out = capsys.readouterr().out
    assert "checkpoints/4 is damaged" in out and "resuming from" in out, out
    assert f"{tmp_path / 'checkpoints' / '2'} at step 2" in out, out
    assert (tmp_path / "damaged-checkpoints" / "4").is_dir() and "moved the damaged" in out
    decoder = load_decoder(tmp_path / "decoder.npz")
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(decoder))
