"""The one atomic writer never replaces a special file: an output path naming a FIFO, a
device, a socket or a folder is refused (one OSError), while files and symlinks are replaced."""
import errno
import os
import socket
import stat

import pytest

from adain_jax import fs


def special(tmp_path, kind):
    p = tmp_path / f"target_{kind}"
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "dir":
        p.mkdir()
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(p))
        s.close()
    elif kind == "device":
        try:
            os.mknod(p, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # like /dev/null
        except PermissionError:
            pytest.skip("mknod needs root")
    return p


@pytest.mark.parametrize("kind", ["fifo", "dir", "socket", "device"])
def test_special_files_are_never_replaced(tmp_path, kind):
    p = special(tmp_path, kind)
    before = os.lstat(p)
    with pytest.raises(OSError) as e:
        fs.atomic_write(p, b"data")
    assert e.value.errno in (errno.EPERM, errno.EEXIST, errno.EISDIR)
    after = os.lstat(p)
    assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode)
    assert [n for n in os.listdir(tmp_path) if n.endswith(".tmp")] == []  # nothing left


def test_regular_files_and_symlinks_are_replaced(tmp_path):
    f = tmp_path / "f.txt"
    f.write_text("old")
    fs.atomic_write(f, "new")
    assert f.read_text() == "new"
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    fs.atomic_write(link, "mine")
    assert not link.is_symlink() and link.read_text() == "mine"
    assert target.read_text() == "keep"  # the link is replaced, never what it points to
