"""Containers created and destroyed in the lxcpath, seen by inotify, announced on the bus.

The bus announces `created` and `destroyed` events; the commands that make and
remove containers (`lxc-create`, `lxc-destroy`, `lxc-copy`, or LXC's own tools, or
an editor) do not talk to the daemon, so the daemon watches the lxcpath itself.

What counts is LXC's rule: a container is defined when `<lxcpath>/<name>/config`
exists, for a name that does not start with '.' (hidden names are the store's
staging directories). The store makes every change with a rename, so most changes
are one event on the lxcpath: `lxc-create` renames a hidden staging directory into
place (IN_MOVED_TO), `lxc-destroy` renames the directory to a hidden name
(IN_MOVED_FROM) before deleting it, `lxc-copy -R` does both. A directory made in
place whose config comes later (LXC's own `lxc-create`, or by hand) is caught by a
watch on each container directory for its `config` entry.

How it decides: events are handled in the order the kernel queued them, and
each is checked against the file system as it is when handled, with a set of the
names we announced as defined:
- the lxcpath loses name N (moved away or deleted): N was defined -> `destroyed`;
- the lxcpath gains directory N, or a container directory gains `config`: watch
  the directory first, then look: config there and N not announced -> `created`;
- a container directory loses `config`: no config now and N announced -> `destroyed`.
Because the watch on a directory is added before its config is looked at, a config
written just after the directory appeared is never missed. A destroy and a
re-create of the same name handled in one batch show as `destroyed` then `created`.
A container that appears and vanishes again before the daemon gets to look is not
announced at all (nothing at the time of looking says it ever had a config).
On IN_Q_OVERFLOW (events were lost) the directory is listed again and the
differences are announced.

Watches on container directories are never removed one by one: a watch follows its
directory's inode, and the store renames directories around (destroy renames before
deleting, copy -R renames to staging and back). Removing a watch whose events are
still queued makes pyinotify log a warning for each of them; instead the mapping
from watch to name is dropped, the kernel drops the watch when the directory is
deleted, and re-adding a watch on the same inode returns the same descriptor.

The lxcpath need not exist: until it does, a separate inotify instance watches the
nearest existing ancestor and the watch starts once the lxcpath appears; what is
in it by then is announced as created. If the lxcpath itself is deleted or moved,
every container in it is announced as destroyed and the wait starts again. Only
the containers found at start-up are not announced: they are in the bus snapshot.

Like runtime.cgroups.events, pyinotify's fd is driven from trio with
`trio.lowlevel.wait_readable`, and pyinotify only reads and dispatches what is
queued (`Notifier.read_events`/`process_events`), never its blocking loop.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from bus.server import BusServer

log = logging.getLogger("trio-lxc.lxcpath-watch")

__all__ = ["LxcpathWatcher", "watch_lxcpath"]

CONFIG = "config"


def _pyinotify() -> Any:
    """pyinotify, imported without the DeprecationWarning of the asyncore it imports
    on Python 3.11 (it never uses it here; `pyasyncore` stands in on 3.12)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The asyncore module", DeprecationWarning)
        import pyinotify
    return pyinotify


def _masks() -> tuple[int, int, int]:
    pyinotify = _pyinotify()

    entries = (
        pyinotify.IN_CREATE | pyinotify.IN_DELETE | pyinotify.IN_MOVED_TO | pyinotify.IN_MOVED_FROM
    )
    root = entries | pyinotify.IN_DELETE_SELF | pyinotify.IN_MOVE_SELF | pyinotify.IN_ONLYDIR
    container = entries | pyinotify.IN_ONLYDIR
    ancestor = (
        pyinotify.IN_CREATE
        | pyinotify.IN_MOVED_TO
        | pyinotify.IN_DELETE_SELF
        | pyinotify.IN_MOVE_SELF
        | pyinotify.IN_ONLYDIR
    )
    return root, container, ancestor


class _LxcpathGone(Exception):
    """The lxcpath itself was deleted or moved away."""


class LxcpathWatcher:
    """Watch an lxcpath; call `on_created(name)` / `on_destroyed(name)` as containers come and go.

    Start it with `nursery.start(watcher.run)`: it returns once the first listing is
    done (or the lxcpath was found missing), so a container created after that is
    announced. The callbacks are synchronous and must not block (BusServer's
    `publish_created` / `publish_destroyed` fit).
    """

    def __init__(
        self,
        lxcpath: str,
        on_created: Callable[[str], object],
        on_destroyed: Callable[[str], object],
        on_presence: Callable[[], object] | None = None,
    ) -> None:
        self.lxcpath = os.path.abspath(lxcpath)
        self.on_created = on_created
        self.on_destroyed = on_destroyed
        #: Called when the lxcpath itself appears or goes (its containers announced):
        #: the daemon's idle time depends on it (runtime.daemon.app, `wait_idle`).
        self.on_presence = on_presence
        #: Names announced (or found at start-up) as defined.
        self.defined: set[str] = set()
        self._manager: Any = None
        self._root_wd: int | None = None
        self._names: dict[int, str] = {}  # watch descriptor of a container dir -> name
        self._wds: dict[str, int] = {}  # and back
        self._gone = False
        self._overflowed = False

    # ------------------------------------------------------------------ running

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Watch until cancelled."""
        started = False
        announce = False  # what is there at start-up is in the snapshot, not news
        while True:
            if not os.path.isdir(self.lxcpath):
                if not started:
                    log.info("%s does not exist yet: waiting for it to appear", self.lxcpath)
                    started = True
                    task_status.started()
                await self._wait_for_lxcpath()
                if self.on_presence is not None:
                    self.on_presence()  # it is there now
                announce = True
            try:
                await self._watch(announce, task_status if not started else None)
            except _LxcpathGone:
                log.info("%s was removed: every container in it is gone", self.lxcpath)
            started = True
            announce = True
            for name in sorted(self.defined):
                self._destroyed(name)
            if self.on_presence is not None:
                self.on_presence()

    async def _watch(self, announce: bool, task_status: trio.TaskStatus[None] | None) -> None:
        """One inotify instance for the lxcpath's life; raises _LxcpathGone at its end."""
        pyinotify = _pyinotify()

        root_mask, _container_mask, _ = _masks()
        manager = pyinotify.WatchManager()
        notifier = pyinotify.Notifier(manager, default_proc_fun=self._dispatch, timeout=0)
        fd = manager.get_fd()
        self._manager = manager
        self._gone = False
        self._names, self._wds = {}, {}
        try:
            try:
                added = manager.add_watch(self.lxcpath, root_mask, quiet=False)
            except pyinotify.WatchManagerError:
                if task_status is not None:
                    task_status.started()
                raise _LxcpathGone() from None
            self._root_wd = added[self.lxcpath]
            self._rescan(announce)
            if task_status is not None:
                task_status.started()
            while not self._gone:
                await trio.lowlevel.wait_readable(fd)
                notifier.read_events()
                notifier.process_events()
                if self._overflowed:
                    self._overflowed = False
                    log.warning("inotify queue overflowed: listing %s again", self.lxcpath)
                    self._rescan(True)
            raise _LxcpathGone()
        finally:
            trio.lowlevel.notify_closing(fd)
            manager.close()
            self._manager = None
            self._root_wd = None
            self._names, self._wds = {}, {}

    async def _wait_for_lxcpath(self) -> None:
        """Return once the lxcpath is a directory (watching the nearest ancestor meanwhile)."""
        pyinotify = _pyinotify()

        _, _, ancestor_mask = _masks()
        while not os.path.isdir(self.lxcpath):
            ancestor = os.path.dirname(self.lxcpath)
            while not os.path.isdir(ancestor):
                ancestor = os.path.dirname(ancestor)
            manager = pyinotify.WatchManager()
            notifier = pyinotify.Notifier(manager, default_proc_fun=_ignore, timeout=0)
            fd = manager.get_fd()
            try:
                try:
                    manager.add_watch(ancestor, ancestor_mask, quiet=False)
                except pyinotify.WatchManagerError:
                    continue  # the ancestor went away meanwhile: look again
                if self._deeper_exists(ancestor):
                    continue  # appeared before the watch was set: go one level deeper
                await trio.lowlevel.wait_readable(fd)
                notifier.read_events()
                notifier.process_events()
            finally:
                trio.lowlevel.notify_closing(fd)
                manager.close()

    def _deeper_exists(self, ancestor: str) -> bool:
        relative = os.path.relpath(self.lxcpath, ancestor)
        return os.path.isdir(os.path.join(ancestor, relative.split(os.sep, 1)[0]))

    # ------------------------------------------------------------------ events

    def _dispatch(self, event: Any) -> None:
        pyinotify = _pyinotify()

        mask = event.mask
        if mask & pyinotify.IN_Q_OVERFLOW:
            self._overflowed = True
            return
        wd = event.wd
        if wd == self._root_wd:
            if mask & (pyinotify.IN_DELETE_SELF | pyinotify.IN_MOVE_SELF | pyinotify.IN_IGNORED):
                self._gone = True
                return
            self._root_event(mask, event.name or "")
            return
        name = self._names.get(wd)
        if name is None:
            return  # a directory that left the lxcpath (or was never ours)
        if mask & pyinotify.IN_IGNORED:
            del self._names[wd]
            if self._wds.get(name) == wd:
                del self._wds[name]
            return
        if event.name == CONFIG and not self._gone:
            self._check(name)

    def _root_event(self, mask: int, name: str) -> None:
        pyinotify = _pyinotify()

        if not name or name.startswith(".") or self._gone:
            return
        if mask & (pyinotify.IN_MOVED_FROM | pyinotify.IN_DELETE):
            self._forget(name)
            if name in self.defined:
                self._destroyed(name)
        elif mask & (pyinotify.IN_MOVED_TO | pyinotify.IN_CREATE):
            if self._watch_dir(name):
                self._check(name)

    def _watch_dir(self, name: str) -> bool:
        """Watch `<lxcpath>/<name>` for its config; False if it is not a directory (now)."""
        pyinotify = _pyinotify()

        _, container_mask, _ = _masks()
        path = os.path.join(self.lxcpath, name)
        self._forget(name)
        try:
            added = self._manager.add_watch(path, container_mask, quiet=False)
        except pyinotify.WatchManagerError:
            return False  # gone again, or not a directory (IN_ONLYDIR)
        wd = added.get(path, -1)
        if wd < 0:
            return False
        previous = self._names.get(wd)
        if previous is not None:  # the same directory, known under its old name
            self._wds.pop(previous, None)
        self._names[wd] = name
        self._wds[name] = wd
        return True

    def _forget(self, name: str) -> None:
        wd = self._wds.pop(name, None)
        if wd is not None:
            self._names.pop(wd, None)

    def _check(self, name: str) -> None:
        """Announce what changed for one name, judged by its config file now."""
        defined = os.path.isfile(os.path.join(self.lxcpath, name, CONFIG))
        if defined and name not in self.defined:
            self._created(name)
        elif not defined and name in self.defined:
            self._destroyed(name)

    def _rescan(self, announce: bool) -> None:
        """List the lxcpath: watch every directory, announce (or just note) the differences."""
        try:
            entries = sorted(os.listdir(self.lxcpath))
        except OSError:
            self._gone = True
            return
        visible = [name for name in entries if not name.startswith(".")]
        for name in set(self._wds) - set(visible):
            self._forget(name)
        present = set()
        for name in visible:
            self._watch_dir(name)  # first, so a config written meanwhile is an event
            if os.path.isfile(os.path.join(self.lxcpath, name, CONFIG)):
                present.add(name)
        for name in sorted(self.defined - present):
            self._forget(name)
            self._destroyed(name)
        for name in sorted(present - self.defined):
            if announce:
                self._created(name)
            else:
                self.defined.add(name)

    def _created(self, name: str) -> None:
        self.defined.add(name)
        log.info("%s: created", name)
        try:
            self.on_created(name)
        except Exception:
            log.exception("%s: announcing the creation", name)

    def _destroyed(self, name: str) -> None:
        self.defined.discard(name)
        log.info("%s: destroyed", name)
        try:
            self.on_destroyed(name)
        except Exception:
            log.exception("%s: announcing the destruction", name)


def _ignore(_event: Any) -> None:
    """Events on an ancestor only mean "look again"."""


class _StartedOnce:
    """Passes `started()` on once and remembers whether it was called."""

    def __init__(self, task_status: trio.TaskStatus[None]) -> None:
        self.task_status = task_status
        self.done = False

    def started(self, value: None = None) -> None:
        if not self.done:
            self.done = True
            self.task_status.started()


async def watch_lxcpath(
    lxcpath: str,
    bus: BusServer,
    on_presence: Callable[[], object] | None = None,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """The daemon's task: announce created/destroyed containers on `bus` until cancelled,
    and call `on_presence` when the lxcpath itself appears or is removed.

    A failure of the watch (no inotify instance left, pyinotify missing) is logged
    and ends only this task: the daemon goes on without these two events.
    """
    status = _StartedOnce(task_status)
    watcher = LxcpathWatcher(lxcpath, bus.publish_created, bus.publish_destroyed, on_presence)
    try:
        await watcher.run(task_status=status)
    except Exception:
        log.exception("watching %s failed: no created/destroyed events from now on", lxcpath)
        status.started()
