"""File-system rules in one place: atomic writes, crash-safe appends, temporary-file names,
file modes, the user cache folder.

Every file the library writes goes through :func:`atomic_write` (or :func:`atomic_path`): the
bytes go to a hidden temporary file in the target's folder, are fsynced, get the permissions a
normally created file would get, and are renamed over the target; the folder is fsynced after
the rename. A failure (full disk, kill, exception) never leaves a partial file and never
damages an existing one. Logs that grow a line at a time (``metrics.csv``) use
:func:`append_line` and are read back with :func:`read_complete_lines`, which never returns a
line a killed writer left half written.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import IO, Callable, Iterator

#: The temporaries of :func:`atomic_path` are named ``.<target>.<8 random chars>.tmp`` (the
#: random part is ``tempfile``'s); :func:`temp_target` is the one parser of such names.
_TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"\.(.+)\.[a-z0-9_]{8}" + re.escape(_TEMP_SUFFIX), re.DOTALL)


def temp_name_prefix(target_name: str) -> str:
    """The start of the name of every temporary made for the file called ``target_name``."""
    return f".{target_name}."


def temp_target(name: str) -> str | None:
    """The target's file name when ``name`` is one of :func:`atomic_path`'s temporaries (a
    killed writer leaves it behind), else None."""
    m = _TEMP_NAME.fullmatch(name)
    return m.group(1) if m else None


def new_file_mode() -> int:
    """Permissions a normally created file would get (0o666 minus the umask), for files made
    with ``mkstemp`` (0600). Read from /proc where possible: setting the umask to learn it
    briefly changes it for every thread (orbax saves asynchronously)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def fsync_dir(folder: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename is durable only once its folder is synced)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None] | bytes | str,
                 *, overwrite: bool = True, mode: int | None = None) -> Path:
    """Write ``path`` atomically.

    Args:
      path: the target file; its folder is created if needed.
      write: the content (``bytes``, or ``str`` written as UTF-8), or a function that writes
        it to the binary file object it is given.
      overwrite: when False, an existing target raises ``FileExistsError`` (nothing written).
      mode: permissions of the new file (default: those of a normally created file).
    Returns:
      ``path`` as a ``Path``. ``OSError`` (and anything ``write`` raises) propagates after the
      temporary file was removed; callers turn it into their own one-line error.
    """
    if isinstance(write, str):
        write = write.encode("utf-8")
    with atomic_path(path, overwrite=overwrite, mode=mode) as tmp, open(tmp, "wb") as f:
        if isinstance(write, (bytes, bytearray, memoryview)):
            data = memoryview(write)
            f.write(data)
            f.flush()
            size = os.fstat(f.fileno()).st_size
            if size != data.nbytes:
                raise OSError(errno.EIO, f"short write ({size} of {data.nbytes} bytes)")
        else:
            write(f)
    return Path(path)


def append_line(path: str | os.PathLike, line: str | bytes) -> None:
    """Append one newline-terminated line to ``path`` (created if missing), crash-safely.

    The line is one ``os.write`` on an ``O_APPEND`` descriptor, then fsynced: a kill leaves it
    whole or absent, at worst (power loss) a tail without its newline, which
    :func:`read_complete_lines` drops. A short write (full disk) is cut off again and raises
    ``OSError``, so the next line never joins a partial one.
    """
    data = line.encode("utf-8") if isinstance(line, str) else bytes(line)
    if not data.endswith(b"\n"):
        raise ValueError("append_line: the line must end with a newline")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        start = os.fstat(fd).st_size
        written = os.write(fd, data)
        if written != len(data):
            os.ftruncate(fd, start)
            raise OSError(errno.EIO, f"short write ({written} of {len(data)} bytes)")
        os.fsync(fd)
    finally:
        os.close(fd)


def read_complete_lines(path: str | os.PathLike) -> list[str]:
    """The lines of a file written with :func:`atomic_write` / :func:`append_line`, each with
    its line ending, up to the last newline: a half-written last line (or one a crash filled
    with NUL bytes) is not returned. A missing file has no lines."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    data = data[:data.rfind(b"\n") + 1]
    return [ln for ln in data.decode("utf-8", "replace").splitlines(keepends=True)
            if "\x00" not in ln]


def move_aside(src: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """Moves ``src`` (a file or folder) into ``folder`` under its own name, or ``name.1``,
    ``name.2``, ... if taken; one rename, so it is never half moved. Returns the new path."""
    src, folder = Path(src), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target, n = folder / src.name, 1
    while target.exists():
        target, n = folder / f"{src.name}.{n}", n + 1
    os.replace(src, target)
    fsync_dir(src.parent)
    fsync_dir(folder)
    return target


def user_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$ADAIN_JAX_CACHE``, else the platform user cache dir."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("ADAIN_JAX_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("adain-jax"))


def refuse_special(path: Path) -> None:
    """Raises ``OSError`` when ``path`` exists and is neither a regular file nor a symlink
    (a folder, FIFO, device or socket is never replaced by an output)."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        raise OSError(errno.EPERM, "not a regular file; refusing to replace it", str(path))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = True,
                mode: int | None = None) -> Iterator[Path]:
    """The one place files are replaced: yields a hidden temporary path in the target's folder
    (for :func:`atomic_write`, and writers that must open a path themselves, e.g. FFmpeg
    muxers); when the block ends without an exception the file is fsynced,
    given normal permissions and renamed over ``path`` (folder fsynced), else it is removed.

    ``overwrite=False``: an existing target raises ``FileExistsError`` before the block runs
    and again at the rename if one appeared meanwhile (nothing is replaced)."""
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(errno.EEXIST, "exists", str(path))
    refuse_special(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_name_prefix(path.name), suffix=_TEMP_SUFFIX,
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        fd = os.open(tmp, os.O_RDONLY)  # the writer may have used its own descriptor
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, new_file_mode() if mode is None else mode)
        if not overwrite and path.exists():
            raise FileExistsError(errno.EEXIST, "exists", str(path))
        refuse_special(path)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)
