"""Who owns a container's cgroup: an flock on its directory, held while it lives.

Why: `create` replaces a cgroup without processes as a crash's leftover. But a
cgroup is also empty between its creation and the attach of the container's first
process (the spawner's fork and handshake), and another daemon (another lxcpath
with a container of the same name, which LXC also places in `lxc.payload.<name>`)
could create it in that window. Without a mark of ownership the second daemon would
take the first one's fresh cgroup for a leftover, remove it and make its own in the
same place, and both containers would end up in one cgroup.

The mark: the owning `ContainerCgroups` keeps an O_CLOEXEC directory fd of its
first hierarchy's limit cgroup with `flock(LOCK_EX)` on it (flock works on
cgroupfs directories). The kernel drops it when the owner closes it or dies, so a
crashed daemon's cgroup reads as a leftover again, and nothing needs cleaning.
`create` checks and claims under a short host-wide lock on the hierarchy's mount
point, so the check and the claim cannot interleave with another daemon's.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from runtime.cgroups.errors import CgroupError

__all__ = ["CREATION_LOCK_WAIT", "creation_lock", "is_owned", "release", "try_claim"]

#: A creation holds the mount-point lock for a few milliseconds; waiting longer
#: than this means something else holds it, and we say so instead of hanging.
CREATION_LOCK_WAIT = 2.0


def _open_dir(directory: str) -> int:
    return os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def try_claim(directory: str) -> int | None:
    """An fd holding the ownership lock of `directory`, or None if another owner
    holds it. Raises OSError (FileNotFoundError) when the directory is missing."""
    fd = _open_dir(directory)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def is_owned(directory: str) -> bool:
    """Whether a live owner holds `directory` (False when it does not exist)."""
    try:
        fd = try_claim(directory)
    except FileNotFoundError:
        return False
    if fd is None:
        return True
    os.close(fd)
    return False


def release(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


@contextmanager
def creation_lock(mountpoint: str) -> Iterator[None]:
    """Serialise creations in one hierarchy across processes (a few ms each)."""
    fd = _open_dir(mountpoint)
    try:
        deadline = time.monotonic() + CREATION_LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise CgroupError(
                        f"another process holds the cgroup creation lock on {mountpoint}"
                    ) from None
                time.sleep(0.002)
        yield
    finally:
        os.close(fd)
