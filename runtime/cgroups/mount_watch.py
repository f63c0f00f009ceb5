"""Parse this process's mount table again only when the kernel says it changed.

The daemon needs the cgroup hierarchies (runtime.cgroups.mounts.discover) at every
start and stop; reading and parsing /proc/self/mountinfo, /proc/cgroups and the v2
root's controllers cost ~0.25 ms of the daemon's serial CPU per call on the
project's machine. The mount table of a host changes rarely, and the kernel says
when: an open mountinfo file turns POLLPRI (and POLLERR) once after each mount or
unmount in the mount namespace it shows (proc(5), "/proc/pid/mounts"; each poll
consumes the change). So a `Watch` keeps such a file open and returns its last
parse until a poll at zero timeout reports a change.

The file shows the mount namespace and process it was opened in: a forked child or
a process that entered another mount namespace (unshare, setns) opens a new one
before it trusts anything cached. Anything the kernel refuses (no /proc) falls back
to parsing every time. Thread-safe: trio's worker threads may ask too.
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

MOUNTINFO = "/proc/self/mountinfo"
MNT_NS = "/proc/self/ns/mnt"
_CHANGED = select.POLLPRI | select.POLLERR


class _Open:
    """An open mountinfo of one process in one mount namespace."""

    __slots__ = ("fd", "ns", "pid", "poller")

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.ns = _mount_ns()
        self.fd = os.open(MOUNTINFO, os.O_RDONLY | os.O_CLOEXEC)
        self.poller = select.poll()
        self.poller.register(self.fd, select.POLLPRI)

    def current(self) -> bool:
        """Still this process and namespace, and no mount change since the last call."""
        if self.pid != os.getpid() or self.ns != _mount_ns():
            return False
        return not any(mask & _CHANGED for _fd, mask in self.poller.poll(0))

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


def _mount_ns() -> int:
    return os.stat(MNT_NS).st_ino


class Watch(Generic[T]):
    """`parse()`'s result, computed again only after the mount table changed."""

    def __init__(self, parse: Callable[[], T]) -> None:
        self._parse = parse
        self._lock = threading.Lock()
        self._open: _Open | None = None
        self._cached: tuple[T] | None = None

    def get(self) -> T:
        with self._lock:
            watch, cached = self._open, self._cached
            if cached is not None and watch is not None and watch.current():
                return cached[0]
            self._cached = self._open = None
            if watch is not None:
                watch.close()  # in a forked child: its own copy of the fd
            try:
                self._open = _Open()  # before the parse: a change during it shows next time
            except OSError:
                return self._parse()  # no /proc: no cache
            value = self._parse()
            self._cached = (value,)
            return value
