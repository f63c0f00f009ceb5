"""Waiting for a cgroup to change: inotify on v2 `cgroup.events`, polling otherwise.

Why inotify and not polling: the supervisor of every running container waits for
"no process left" for the container's whole life; a poll per container every few
milliseconds would cost CPU for nothing and still add latency. cgroup2 signals every
change of `cgroup.events` (populated, frozen) as an IN_MODIFY on that file, so a
wait costs nothing until the change and returns at once after it.

How: pyinotify's `WatchManager` owns the inotify fd; trio waits for the fd with
`trio.lowlevel.wait_readable` and we then let pyinotify read and dispatch the
queued events (`Notifier.read_events` / `process_events`, never its blocking
`loop()`, which would stall every other task of the daemon). trio and pyinotify are
imported by the waits themselves, so the synchronous part of the package costs
neither at import time (the spawner, which runs no trio, may use it). The watch is set up
*before* the condition is first checked, so a change between the check and the wait
still wakes us. pyinotify is imported on first use: it costs import time and, on
Python 3.11, imports the deprecated asyncore.

cgroup v1 has no such file (its release agent is one host-wide program, not an
event we can wait on), so v1-only hosts poll with `trio.sleep`, which other tasks
do not notice: first after `POLL_FIRST`, doubling up to every `POLL_INTERVAL`.

Two ways to hold the inotify fd:
- by default each wait opens its own inotify instance and reads it itself
  (`InotifyWatch`): nothing to set up, right for a command or a test;
- a daemon that waits on many containers at once should share one instance:
  Linux allows 128 inotify instances per user by default (this VM too), so one
  instance per running container would run out, and the waits would silently fall
  back to polling. `CgroupWatcher` is that shared instance: start `watcher.run` in
  the daemon's nursery and pass `watcher=` to the waits.

A deadline is the caller's business: wrap the wait in `trio.move_on_after` /
`trio.fail_after`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import trio

__all__ = [
    "INOTIFY",
    "POLL",
    "POLL_FIRST",
    "POLL_INTERVAL",
    "CgroupWatcher",
    "InotifyWatch",
    "poll_until",
    "wait_until",
]

POLL_INTERVAL = 0.025
#: The first wait of `poll_until`, doubled at each check up to its interval.
POLL_FIRST = 0.0005
INOTIFY = "inotify"
POLL = "poll"


class InotifyWatch:
    """IN_MODIFY watches on some files, awaitable from trio. Use as a context manager."""

    def __init__(self, paths: Sequence[str]) -> None:
        import pyinotify

        self._manager = pyinotify.WatchManager()
        self._fd: int = self._manager.get_fd()
        self.seen = 0
        try:
            mask = pyinotify.IN_MODIFY | pyinotify.IN_DELETE_SELF
            for path in paths:
                self._manager.add_watch(path, mask, quiet=False)
            self._notifier = pyinotify.Notifier(
                self._manager, default_proc_fun=self._count, timeout=0
            )
        except BaseException:
            self._manager.close()
            raise

    def _count(self, _event: Any) -> None:
        self.seen += 1

    async def changed(self) -> None:
        """Return after at least one event arrived (and consume what is queued)."""
        import trio

        await trio.lowlevel.wait_readable(self._fd)
        self._notifier.read_events()
        self._notifier.process_events()

    def close(self) -> None:
        import trio

        trio.lowlevel.notify_closing(self._fd)
        self._manager.close()

    def __enter__(self) -> InotifyWatch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Subscription:
    """One wait's view of a shared watcher: woken by any event on its files."""

    def __init__(self, watcher: CgroupWatcher) -> None:
        import trio

        self._watcher = watcher
        self._event: trio.Event = trio.Event()
        self.wds: list[int] = []

    def fire(self) -> None:
        self._event.set()

    async def changed(self) -> None:
        import trio

        await self._event.wait()
        self._event = trio.Event()

    def __enter__(self) -> _Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._watcher.unsubscribe(self)


class CgroupWatcher:
    """One inotify instance for every wait of a program (see the module docstring).

    ```
    async with trio.open_nursery() as nursery:
        watcher = CgroupWatcher()
        await nursery.start(watcher.run)
        ...
        await cgroups.wait_empty(watcher=watcher)
    ```
    A wait given a watcher that is not running opens its own instance instead.
    """

    def __init__(self) -> None:
        self._manager: Any = None
        self._notifier: Any = None
        self._by_wd: dict[int, set[_Subscription]] = {}

    @property
    def running(self) -> bool:
        return self._manager is not None

    async def ensure_running(self) -> None:
        """Called by a wait that must wait, before it looks at `running`. Here it
        does nothing (start `run` yourself); the daemon's watcher starts itself
        on first need (runtime.daemon.cgroup_watch)."""

    async def run(self, *, task_status: trio.TaskStatus[None] | None = None) -> None:
        """Read events until cancelled (start it with `nursery.start`). Every wait
        still subscribed is then woken and goes on with an inotify instance of its
        own."""
        import pyinotify
        import trio

        self._manager = pyinotify.WatchManager()
        self._notifier = pyinotify.Notifier(
            self._manager, default_proc_fun=self._dispatch, timeout=0
        )
        fd = self._manager.get_fd()
        try:
            if task_status is not None:
                task_status.started()
            while True:
                await trio.lowlevel.wait_readable(fd)
                self._notifier.read_events()
                self._notifier.process_events()
        finally:
            trio.lowlevel.notify_closing(fd)
            self._manager.close()
            self._manager = self._notifier = None
            for subscriptions in self._by_wd.values():
                for subscription in subscriptions:
                    subscription.fire()
            self._by_wd.clear()

    def _dispatch(self, event: Any) -> None:
        import pyinotify

        if event.mask & pyinotify.IN_Q_OVERFLOW:  # events were lost: everyone re-checks
            for subscriptions in self._by_wd.values():
                for subscription in subscriptions:
                    subscription.fire()
            return
        subscriptions = self._by_wd.get(event.wd, set())
        if event.mask & pyinotify.IN_IGNORED:  # the file is gone; the kernel dropped wd
            self._by_wd.pop(event.wd, None)
        for subscription in subscriptions:
            subscription.fire()

    def subscribe(self, paths: Sequence[str]) -> _Subscription:
        """Watch `paths` (IN_MODIFY) until the subscription is closed (a context
        manager). Raises OSError / pyinotify's error when a file cannot be watched."""
        import pyinotify

        if self._manager is None:
            raise OSError("the cgroup watcher is not running")
        subscription = _Subscription(self)
        try:
            for path in paths:
                added = self._manager.add_watch(
                    path, pyinotify.IN_MODIFY | pyinotify.IN_DELETE_SELF, quiet=False
                )
                wd = added[path]
                self._by_wd.setdefault(wd, set()).add(subscription)
                subscription.wds.append(wd)
        except BaseException:
            self.unsubscribe(subscription)
            raise
        return subscription

    def unsubscribe(self, subscription: _Subscription) -> None:
        for wd in subscription.wds:
            subscribers = self._by_wd.get(wd)
            if subscribers is None:
                continue  # IN_IGNORED came: the kernel removed the watch already
            subscribers.discard(subscription)
            if not subscribers:
                del self._by_wd[wd]
                if self._manager is not None:
                    self._manager.rm_watch(wd, quiet=True)
        subscription.wds.clear()


async def poll_until(predicate: Callable[[], bool], interval: float = POLL_INTERVAL) -> None:
    """Return when `predicate()` is true, checking every `interval` seconds at most.

    The first checks come sooner (POLL_FIRST, doubling up to `interval`): what is
    polled is mostly done within a millisecond (a cgroup v1 freeze of sleeping tasks,
    the last exits after a SIGKILL), and a first sleep of the whole interval made
    one `lxc-freeze` in three take 25 ms more."""
    import trio

    delay = min(POLL_FIRST, interval)
    while not predicate():
        await trio.sleep(delay)
        delay = min(delay * 2, interval)


async def wait_until(
    predicate: Callable[[], bool],
    paths: Sequence[str] = (),
    watcher: CgroupWatcher | None = None,
) -> str:
    """Wait by inotify on `paths` when given and watchable, else by polling.

    With a running `watcher` the shared instance is used, else a private one.
    Returns how it waited (`INOTIFY` or `POLL`), which the tests assert on. The
    polling goes through the module attribute `poll_until`, so a test can replace
    it to prove the event path was taken.

    A condition already true returns at once, before any watch is set up (the
    answer is then the mechanism that would have waited): a cgroup2 freeze of
    sleeping tasks is complete when the write returns, and a private inotify
    instance costs milliseconds (pyinotify runs `ldconfig -p` to find libc each
    time), which was most of an `lxc-freeze`.
    """
    if predicate():
        return INOTIFY if paths else POLL
    if paths and watcher is not None:
        await watcher.ensure_running()
    if paths and watcher is not None and watcher.running:
        try:
            subscription: _Subscription | None = watcher.subscribe(paths)
        except Exception:  # a file gone (pyinotify's WatchManagerError): try alone
            subscription = None
        if subscription is not None:
            with subscription:
                while not predicate():
                    if not watcher.running:
                        break  # the watcher was stopped: go on alone
                    await subscription.changed()
                else:
                    return INOTIFY
    if paths:
        try:
            watch: InotifyWatch | None = InotifyWatch(paths)
        except Exception:  # no inotify instance left, a file gone: poll instead
            watch = None
        if watch is not None:
            with watch:
                while not predicate():
                    await watch.changed()
            return INOTIFY
    await poll_until(predicate)
    return POLL
