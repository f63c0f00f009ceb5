"""Small file operations on cgroup directories, shared by both backends.

Why a module of its own: cgroup files behave unlike ordinary files (a write is one
`write(2)` whose errno is the kernel's verdict on the value; a directory is removed
with `rmdir` even though it lists files; a tree must be removed deepest first), and
both backends need exactly the same handling of that.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator

__all__ = ["may_have_children", "listdirs_deepest_first", "procs", "read", "remove_tree", "write"]

_CHUNK = 1 << 16


def read(path: str) -> str:
    """The whole file, as the kernel gives it (trailing newline included).

    With os.open/os.read, not `open()`: a kernel file needs no buffer, no fstat, no
    seek and no text layer, and the daemon reads several per start and stop
    (half the CPU of `open().read()` on the project's machine). A seq file (proc,
    cgroup.procs) may come in pieces: read until EOF."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, _CHUNK)
        if data:
            chunks = [data]
            while more := os.read(fd, _CHUNK):
                chunks.append(more)
            data = b"".join(chunks)
    finally:
        os.close(fd)
    return data.decode()


def write(path: str, value: str) -> None:
    """One `write(2)` of `value`: cgroup files take one value per write, and the
    errno of that write is the kernel's reason for refusing it (EINVAL, EBUSY...)."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        # surrogateescape: a byte that is not UTF-8 (from a command line, or a request)
        # goes to the kernel as it was given, which refuses it itself.
        os.write(fd, value.encode("utf-8", "surrogateescape"))
    finally:
        os.close(fd)


def listdirs_deepest_first(top: str) -> Iterator[str]:
    """`top` and every cgroup below it, children before parents (the rmdir order)."""
    for dirpath, _dirnames, _files in os.walk(top, topdown=False):
        yield dirpath


def may_have_children(directory: str) -> bool:
    """Whether the cgroup `directory` may have child cgroups, from its link count alone.

    cgroupfs (kernfs, v1 and v2) counts a directory's links as 2 + its
    subdirectories, so one stat answers what a listing of its ~10-60 control files
    would: the usual container cgroup has no children, and the clean-up after every
    run asks this of each hierarchy. A missing directory has none."""
    try:
        return os.stat(directory).st_nlink != 2  # other filesystems may say 1: look
    except FileNotFoundError:
        return False


def procs(top: str, recursive: bool = True) -> set[int]:
    """The pids in `top`'s cgroup.procs (and its descendants' when recursive).

    A cgroup removed while we walk is skipped: its processes are gone with it.
    """
    found: set[int] = set()
    if recursive and may_have_children(top):
        dirs: Iterator[str] = listdirs_deepest_first(top)
    else:
        dirs = iter((top,))
    for directory in dirs:
        try:
            text = read(os.path.join(directory, "cgroup.procs"))
        except FileNotFoundError:
            continue
        found.update(int(word) for word in text.split())
    return found


def remove_tree(top: str) -> None:
    """rmdir `top` and every cgroup below it, deepest first; a missing one is fine.

    Raises the OSError of the first rmdir that fails for another reason (EBUSY when
    processes remain).
    """
    try:
        os.rmdir(top)  # the usual case: no child cgroup, no process (one syscall)
        return
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY):
            raise
    for directory in listdirs_deepest_first(top):
        try:
            os.rmdir(directory)
        except FileNotFoundError:
            pass
