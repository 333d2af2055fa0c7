"""fs: temporary-file names and their parser, crash-safe line appends."""
import os

import pytest

from adain_jax import fs


def test_temp_target_names_the_temporaries_atomic_path_makes(tmp_path):
    for name in ("f.bin", "a.b.png", ".hidden", "x.tmp"):
        with fs.atomic_path(tmp_path / name) as tmp:
            assert fs.temp_target(tmp.name) == name
            tmp.write_bytes(b"x")
    for name in ("f.bin", ".f.bin", ".f.bin.tmp", ".f.bin.ABCDEFGH.tmp", ".f.bin.abc.tmp",
                 "f.bin.abcdefgh.tmp", ".f.bin.abcdefgh.tmpx"):
        assert fs.temp_target(name) is None, name
    assert fs.temp_target(".00000003.png.abcdefgh.tmp") == "00000003.png"


def test_append_line_and_complete_lines(tmp_path):
    path = tmp_path / "log.csv"
    assert fs.read_complete_lines(path) == []
    fs.append_line(path, "a,b\r\n")
    fs.append_line(path, b"1,2\r\n")
    assert fs.read_complete_lines(path) == ["a,b\r\n", "1,2\r\n"]
    with pytest.raises(ValueError):
        fs.append_line(path, "no newline")
    with open(path, "ab") as f:  # what a writer killed mid-line leaves
        f.write(b"3,")
    assert fs.read_complete_lines(path) == ["a,b\r\n", "1,2\r\n"]
    with open(path, "ab") as f:
        f.write(b"\x00\x00\n")
    assert fs.read_complete_lines(path) == ["a,b\r\n", "1,2\r\n"]
    assert oct(os.stat(path).st_mode & 0o777) == oct(fs.new_file_mode())


def test_metrics_csv_resume_drops_a_half_row_and_later_steps(tmp_path):
    from adain_jax.training.metrics import MetricsLogger

    values = {"loss": 1.5, "content": 1.0, "style": 0.05, "lr": 1e-4, "steps_per_s": 2.0}
    log = MetricsLogger(tmp_path, 0, enabled=True, echo=False)
    for step in (1, 2, 3):
        log.log(step, values, 10)
    log.close()
    path = tmp_path / "metrics.csv"
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(MetricsLogger.FIELDS) and len(lines) == 4
    assert lines[1].startswith("1,1.5,1,0.05,,0.0001,2,")
    with open(path, "ab") as f:  # a kill in the middle of step 4's row
        f.write(b"4,1.2")
    MetricsLogger(tmp_path, 4, enabled=True, echo=False).close()  # resumed from step 4
    assert path.read_text().splitlines() == lines  # the half row is not trusted
    MetricsLogger(tmp_path, 2, enabled=True, echo=False).close()  # resumed from step 2
    assert path.read_text().splitlines() == lines[:3]
    assert not [p for p in tmp_path.iterdir() if fs.temp_target(p.name)]
