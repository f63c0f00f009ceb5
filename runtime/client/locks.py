"""Per-container locks that serialize create, destroy, copy and start.

A lock is an flock on a file in the lxcpath's run directory, not in the container's
own directory: destroy removes that directory while holding the lock, and create
takes it before the directory exists. flock is released by the kernel when the
holder dies, so a crashed command never leaves a container locked.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from runtime.client import lean_os as os  # not `os`: start-up time
from runtime.client.rundir import ensure_run_dir, same_file, tidy_run_dir


def lock_path(lxcpath: str, name: str) -> str:
    return os.path.join(ensure_run_dir(lxcpath), "locks", name + ".lock")


@contextmanager
def container_lock(lxcpath: str, name: str) -> Iterator[None]:
    """Hold the container's lock for the duration of the block (waits if taken)."""
    while True:
        # An idle daemon removes unheld lock files with its run directory
        # (runtime.client.rundir.remove_run_dir): the file we locked must still be there.
        try:
            path = lock_path(lxcpath, name)
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            continue
        fcntl.flock(fd, fcntl.LOCK_EX)
        if same_file(fd, path):
            break
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)
        tidy_run_dir(lxcpath)  # made for this lock alone, the run directory goes again
