"""The daemon's one inotify instance for every cgroup wait, started on first need.

Why shared: every wait that opens its own inotify instance (runtime.cgroups.events)
costs one of the 128 instances a user may hold by default
(fs.inotify.max_user_instances); a daemon stopping or freezing more containers
than that at once would see the rest silently fall back to polling. One
`CgroupWatcher` serves them all, whatever their number.

Why started on first need and not with the daemon: most daemons never wait on a
cgroup (an application container's init is usually the last process of its
cgroups, and a freeze of sleeping tasks is complete when the write returns), and
the first inotify instance costs ~70 ms here (importing pyinotify, whose set-up
runs `ldconfig -p` to find libc). So the first wait that really has to wait
starts the watcher in the daemon's nursery; the slow, blocking part (the import
and that first set-up) runs in a worker thread (`trio.to_thread`), not in the
loop that every container's supervisor shares. Waits that arrive while it starts
wait for it; if it cannot start, each wait opens its own instance as before.
"""

from __future__ import annotations

import logging

import trio

from runtime.cgroups.events import CgroupWatcher

__all__ = ["DaemonCgroupWatcher"]

log = logging.getLogger("trio-lxc.daemon")


def _prepare() -> None:
    """Import pyinotify and make (and drop) one instance: the slow first time."""
    import pyinotify

    pyinotify.WatchManager().close()


class DaemonCgroupWatcher(CgroupWatcher):
    """A `CgroupWatcher` that runs in `nursery` from the first wait that needs it."""

    def __init__(self, nursery: trio.Nursery) -> None:
        super().__init__()
        #: Where the watcher runs: the daemon's nursery, cancelled when it leaves.
        self._nursery = nursery
        self._starting: trio.Event | None = None
        #: Set once a start failed: waits open their own instances from then on.
        self.failed = False

    async def ensure_running(self) -> None:
        if self.running or self.failed:
            return
        if self._starting is not None:  # another wait is starting it
            await self._starting.wait()
            return
        self._starting = starting = trio.Event()
        try:
            await trio.to_thread.run_sync(_prepare)
            await self._nursery.start(self._run_quietly)
        except Exception:  # noqa: BLE001 - the waits go on with instances of their own
            log.warning("cannot start the shared cgroup watcher", exc_info=True)
            self.failed = True
        finally:
            self._starting = None
            starting.set()

    async def _run_quietly(self, *, task_status: trio.TaskStatus[None]) -> None:
        """`run`, whose failure ends only itself: the waits then fall back."""
        try:
            await self.run(task_status=task_status)
        except Exception:  # noqa: BLE001 - never the daemon's end
            log.warning("the shared cgroup watcher failed", exc_info=True)
            self.failed = True
