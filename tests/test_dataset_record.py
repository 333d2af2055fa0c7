"""The dataset job's record (job.json) is untrusted input: a record nested 100,000 deep, a
FIFO, a device, a symlink or a huge file in its place is another job's (refused without
overwrite), never a RecursionError, a hang or a read of another file."""
import json
import os
import threading

import pytest

from adain_jax.datasets import manifest
from adain_jax.errors import ConfigError


def planted(tmp_path, make):
    out = tmp_path / "out"
    path = manifest.job_path(out)
    path.parent.mkdir(parents=True)
    make(path)
    return out


def read_within(out, seconds=5.0):
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", manifest.read_job(out)), daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "read_job hung"
    return box["r"]


@pytest.mark.parametrize("kind", ["deep", "fifo", "huge", "symlink", "dir", "binary", "list"])
def test_hostile_record_is_another_jobs(tmp_path, kind):
    target = tmp_path / "secret.json"
    target.write_text(json.dumps({"source": "x"}))
    makers = {
        "deep": lambda p: p.write_text("[" * 100_000 + "]" * 100_000),
        "fifo": lambda p: os.mkfifo(p),
        "huge": lambda p: p.write_text(" " * (manifest.MAX_RECORD_BYTES + 1) + "{}"),
        "symlink": lambda p: p.symlink_to(target),
        "dir": lambda p: p.mkdir(),
        "binary": lambda p: p.write_bytes(b"\xff\xfe{}"),
        "list": lambda p: p.write_text("[1, 2]"),
    }
    out = planted(tmp_path, makers[kind])
    record = read_within(out)
    assert record["source"].startswith("unknown"), record
    with pytest.raises(ConfigError, match="another job"):
        manifest.check_job(out, {"source": "mine", "version": 2}, overwrite=False)
    assert manifest.check_job(out, {"source": "mine", "version": 2}, overwrite=True) == "takeover"


def test_a_real_record_round_trips(tmp_path):
    out = tmp_path / "out"
    rec = {"version": 2, "source": "a", "styles": [["s.jpg", 10]], "seed": 0}
    manifest.write_job(out, rec)
    assert manifest.read_job(out) == rec
    assert manifest.check_job(out, dict(rec), overwrite=False) == "resume"
