"""The dataset job's records in its output folder, all written atomically
(:func:`adain_jax.fs.atomic_write`):

- ``.adain-dataset/job.json``: what the job is (source, styles, seed, alpha, sizes, weights,
  dtype); a rerun with the same record resumes, a different one is refused unless
  ``--overwrite``;
- ``.adain-dataset/{manifest,errors}.part-P-of-N.csv``: process P's rows, written when it
  finishes its share;
- ``manifest.csv`` (``content,style,alpha,output``, sorted by content; ``output`` is the
  stylized file's path relative to the output folder: the content's own path for a folder
  source, ``SPLIT[/LABEL]/NNNNNNNN.png`` for tfds, whose content is ``SPLIT/NNNNNNNN``) and
  ``errors.csv`` (``content,error``): the parts merged by process 0 once every process has
  finished (:func:`read` merges the parts itself when ``manifest.csv`` is missing).

The rows are a function of the plan and of which contents could not be read, so an
interrupted and resumed run writes the same files as an uninterrupted one.
"""
from __future__ import annotations

import csv
import io
import json
import os
import stat
from pathlib import Path
from typing import Iterable, Sequence

from adain_jax import fs
from adain_jax.errors import ConfigError

STATE_DIR = ".adain-dataset"
MANIFEST = "manifest.csv"
ERRORS = "errors.csv"
HEADER = ("content", "style", "alpha", "output")
ERROR_HEADER = ("content", "error")
#: the fields of the job record that must match for a rerun to resume
IDENTITY = ("version", "source", "styles", "seed", "alpha", "content_size", "style_size",
            "vgg", "decoder", "dtype", "bucket")


#: a job record is a few hundred bytes; anything far larger is not one
MAX_RECORD_BYTES = 1 << 20


def job_path(output: Path) -> Path:
    return output / STATE_DIR / "job.json"


def part_path(output: Path, kind: str, process_id: int, num_processes: int) -> Path:
    return output / STATE_DIR / f"{kind}.part-{process_id:05d}-of-{num_processes:05d}.csv"


def read_job(output: Path) -> dict | None:
    """The stored job record; None when there is none. An unreadable record, or a manifest
    without one (another tool's output), counts as another job's."""
    path = job_path(output)
    if not path.exists():
        return {"source": "unknown (a manifest.csv without a job record)"} \
            if (output / MANIFEST).exists() else None
    text = _read_small(path, MAX_RECORD_BYTES)
    if text is None:
        return {"source": "unknown (unreadable job record: not a regular file, or too large)"}
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):
        return {"source": "unknown (unreadable job record)"}
    return record if isinstance(record, dict) else {"source": "unknown (malformed job record)"}


def _read_small(path: Path, limit: int) -> str | None:
    """The text of a regular file of at most ``limit`` bytes, else None. Opened without
    blocking and without following a symlink, so a FIFO or device planted there is not read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        data = os.read(fd, limit + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > limit:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def differences(stored: dict, current: dict) -> list[str]:
    """The identity fields in which ``stored`` differs from ``current``."""
    return [k for k in IDENTITY if stored.get(k) != current.get(k)]


def check_job(output: Path, current: dict, overwrite: bool) -> str:
    """``'new'`` (no record), ``'resume'`` (same job) or ``'takeover'`` (another job's folder,
    with ``overwrite``). Raises ConfigError for another job's folder without ``overwrite``."""
    stored = read_job(output)
    if stored is None:
        return "new"
    diff = differences(stored, current)
    if not diff:
        return "resume"
    if not overwrite:
        raise ConfigError(f"--output {output} holds another job's manifest (different "
                          f"{', '.join(diff)}); pass --overwrite to replace it, or use another "
                          "folder")
    return "takeover"


def forget_merged(output: Path) -> None:
    """Remove the merged files and every part (before another job takes the folder over)."""
    for p in [output / MANIFEST, output / ERRORS, *(output / STATE_DIR).glob("*.part-*.csv")]:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def write_job(output: Path, record: dict) -> None:
    fs.atomic_write(job_path(output), json.dumps(record, indent=2, sort_keys=True) + "\n")


def _csv(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def format_alpha(alpha: float) -> str:
    return repr(float(alpha))


def write_part(output: Path, process_id: int, num_processes: int, rows: Iterable[tuple],
               errors: Iterable[tuple]) -> None:
    """Process ``process_id``'s manifest rows ``(content, style, alpha, output)`` and error
    rows ``(content, error)``."""
    fs.atomic_write(part_path(output, "manifest", process_id, num_processes),
                    _csv(HEADER, ((c, s, format_alpha(a), o) for c, s, a, o in rows)))
    fs.atomic_write(part_path(output, "errors", process_id, num_processes),
                    _csv(ERROR_HEADER, errors))


def _read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))[1:]


def _parts(output: Path, kind: str, num_processes: int) -> list[Path] | None:
    paths = [part_path(output, kind, p, num_processes) for p in range(num_processes)]
    return paths if all(p.exists() for p in paths) else None


def merge(output: Path, num_processes: int) -> tuple[int, int]:
    """Merge the N parts into ``manifest.csv`` and ``errors.csv`` (sorted by content); parts of
    other process counts (older runs) are removed. Returns (rows, errors)."""
    merged = {}
    for kind in ("manifest", "errors"):
        paths = _parts(output, kind, num_processes)
        if paths is None:
            raise ConfigError(f"{output}: not every process wrote its {kind} part")
        merged[kind] = sorted(row for p in paths for row in _read_rows(p))
    fs.atomic_write(output / MANIFEST, _csv(HEADER, merged["manifest"]))
    fs.atomic_write(output / ERRORS, _csv(ERROR_HEADER, merged["errors"]))
    suffix = f"-of-{num_processes:05d}.csv"
    for p in (output / STATE_DIR).glob("*.part-*.csv"):
        if not p.name.endswith(suffix):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
    return len(merged["manifest"]), len(merged["errors"])


def read(output: str | os.PathLike, with_output: bool = False) -> list[tuple]:
    """The manifest rows.

    Args:
      output: the job's output folder: its ``manifest.csv``, or the merged parts of a run
        whose processes all finished but whose merge did not happen.
      with_output: add each row's output path (relative to ``output``).
    Returns:
      ``(content, style, alpha)`` or, with ``with_output``, ``(content, style, alpha,
      output)`` tuples, sorted by content.
    """
    output = Path(output)
    if (output / MANIFEST).exists():
        rows = _read_rows(output / MANIFEST)
    else:
        counts = {}
        for p in (output / STATE_DIR).glob("manifest.part-*-of-*.csv"):
            counts.setdefault(int(p.stem.rsplit("-", 1)[1]), []).append(p)
        complete = [n for n, ps in counts.items() if len(ps) == n]
        if not complete:
            raise ConfigError(f"{output}: no manifest (the job has not finished)")
        rows = sorted(r for p in counts[max(complete)] for r in _read_rows(p))
    if with_output:     # a manifest without the column (version 1): outputs mirror contents
        return [(r[0], r[1], float(r[2]), r[3] if len(r) > 3 else r[0]) for r in rows]
    return [(r[0], r[1], float(r[2])) for r in rows]


__all__ = ["check_job", "write_job", "read_job", "write_part", "merge", "read",
           "forget_merged", "MANIFEST", "ERRORS", "STATE_DIR"]
