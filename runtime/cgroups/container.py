"""One container's cgroups, over every hierarchy of the host: `ContainerCgroups`.

The runtime asks for one thing at a time (create, attach, freeze, kill, wait,
destroy) and must not care whether the host is legacy, hybrid or pure cgroup2; this
class holds one `Placement` per hierarchy and turns each request into the right
file operations on each. Everything is synchronous (a few small writes to kernfs,
which never blocks) except the two waits, which are trio coroutines.

Which mechanism serves which request, and why:

| request      | v2 present                          | v1 only                        |
|--------------|-------------------------------------|--------------------------------|
| freeze/thaw  | `cgroup.freeze` (has an event)      | `freezer.state`                |
| wait_frozen  | inotify on `cgroup.events` frozen 1 | poll `freezer.state`           |
| wait_empty   | inotify on `cgroup.events` populated 0, then check v1 | poll procs |
| kill_all     | `cgroup.kill`, then a v1 sweep for anything only v1 holds | freeze-kill-thaw sweep |
| limits       | `lxc.cgroup2.*`                     | `lxc.cgroup.*` (see settings)  |

A hybrid host thus freezes with cgroup2 (LXC would use the v1 freezer there):
cgroup2 says when the freeze is complete by an event, and it is what pure-v2 hosts
use, so one code path is exercised everywhere. `thaw` undoes both kinds, so a
freeze made through `lxc-cgroup freezer.state FROZEN` is undone too.

Freeze, kill, wait, pids and statistics act on the *limit* cgroup (which contains
the payload cgroup when `lxc.cgroup.dir.container.inner` separates them), so a
container cannot thaw or hide itself from inside its cgroup namespace.

`create` is all or nothing: routing errors are found before anything is touched,
and a failure half-way removes every cgroup this call created. An existing cgroup
is replaced only when it is a leftover: no processes and no live owner (the
ownership lock of `ownership`, held by the creating object until `destroy`).

The waits open their own inotify instance unless given the daemon's shared
`events.CgroupWatcher` (`watcher=`), which a daemon with many containers should
use. The synchronous calls can wait on the kernel only in bad cases: `kill_all` for
a v1 freeze that does not complete (a task in uninterruptible sleep; at most
`KILL_SWEEP_LIMIT` s), `destroy` for killed tasks still leaving (`DESTROY_RETRY`
s; `await wait_empty()` first and it does not wait).
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from runtime.cgroups import _fs, events, ownership, v1, v2
from runtime.cgroups.errors import (
    CgroupBusy,
    CgroupError,
    CgroupSettingError,
    CgroupUnknownKey,
)
from runtime.cgroups.layout import Placement, plan
from runtime.cgroups.mounts import CgroupMounts, Hierarchy, discover
from runtime.cgroups.settings import Write, check_file_name, route

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

__all__ = ["ContainerCgroups", "cleanup_stale"]

log = logging.getLogger(__name__)

#: How long a synchronous call may wait for the kernel: for a freeze to complete
#: inside `kill_all`, for killed tasks to leave the cgroup inside `destroy`.
FREEZE_SETTLE = 0.1
KILL_SWEEP_LIMIT = 2.0
DESTROY_RETRY = 1.0
_SIGKILL_BIT = 1 << (signal.SIGKILL - 1)
_PF_EXITING = 0x4


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


class ContainerCgroups:
    """A container's cgroup in each hierarchy. Build with `create` or `from_paths`."""

    def __init__(
        self,
        placements: list[Placement],
        *,
        name: str | None = None,
        warnings: list[str] | None = None,
        owner_fd: int | None = None,
    ) -> None:
        if not placements:
            raise CgroupError("a container needs at least one cgroup hierarchy")
        self.name = name
        self._placements = list(placements)
        # The ownership lock (see `ownership`): held from creation to `destroy`, or
        # until this object is dropped (then the cgroup reads as a leftover).
        self._owner = (
            weakref.finalize(self, ownership.release, owner_fd) if owner_fd is not None else None
        )
        #: Settings skipped on purpose and controllers a level would not enable:
        #: for the supervisor to log (they are logged here at WARNING/INFO too).
        self.warnings: list[str] = list(warnings or [])
        #: How the last `wait_empty` / `wait_frozen` waited: "inotify" or "poll".
        self.last_wait: str | None = None

    # -- construction ---------------------------------------------------------------

    @classmethod
    def create(
        cls, name: str, config: ContainerConfig, *, mounts: CgroupMounts | None = None
    ) -> ContainerCgroups:
        """Create the container's cgroups and apply its `lxc.cgroup*` settings.

        A leftover cgroup without processes (a crash) is removed and made anew; one
        with processes raises `CgroupBusy` and changes nothing. A failure removes
        everything this call created.
        """
        mounts = mounts if mounts is not None else discover()
        if not mounts.hierarchies:
            raise CgroupError("no cgroup hierarchy is mounted (see /proc/self/mountinfo)")
        placements = plan(name, config, mounts)
        writes, warnings = route(config, mounts)
        with ownership.creation_lock(placements[0].hierarchy.mountpoint):
            # One stat per hierarchy; a fresh start (nothing left over) checks no more.
            leftovers = [p for p in placements if os.path.isdir(p.limit)]
            if leftovers:
                _check_not_in_use(name, leftovers)
            for placement in leftovers:
                try:
                    _fs.remove_tree(placement.limit)
                except OSError as exc:
                    raise CgroupError(
                        f"{name}: cannot remove the leftover cgroup {placement.limit}:"
                        f" {_reason(exc)}"
                    ) from exc
            for warning in warnings:
                log.warning("%s: %s", name, warning)
            return cls._make(name, placements, writes, warnings)

    @classmethod
    def _make(
        cls, name: str, placements: list[Placement], writes: list[Write], warnings: list[str]
    ) -> ContainerCgroups:
        """mkdir, claim, enable controllers, apply settings; undo it all on failure."""
        created: list[str] = []
        owner_fd: int | None = None
        made: ContainerCgroups | None = None
        try:
            for placement in placements:
                _make_dirs(placement, created)
            owner_fd = ownership.try_claim(placements[0].limit)
            if owner_fd is None:  # pragma: no cover - we hold the creation lock
                raise CgroupBusy(f"{name}: {placements[0].limit} was claimed by another process")
            wanted = v2.BASE_CONTROLLERS | {
                w.filename.split(".", 1)[0] for w in writes if w.hierarchy.version == 2
            }
            for placement in placements:
                if placement.hierarchy.version == 2:
                    warnings += v2.enable_controllers(
                        placement.hierarchy.mountpoint, placement.payload, frozenset(wanted)
                    )
            made = cls(placements, name=name, warnings=warnings, owner_fd=owner_fd)
            for write in writes:
                made._apply(write)
            return made
        except BaseException:
            if made is not None:
                made.release()  # the object owns the fd now: close it only once
            else:
                ownership.release(owner_fd)
            for directory in reversed(created):
                try:
                    os.rmdir(directory)
                except OSError as exc:  # pragma: no cover - nothing more we can do
                    log.error("%s: cannot remove %s after a failure: %s", name, directory, exc)
            raise

    @classmethod
    def from_paths(
        cls,
        paths: dict[str, str],
        limit_paths: dict[str, str] | None = None,
        *,
        mounts: CgroupMounts | None = None,
        name: str | None = None,
    ) -> ContainerCgroups:
        """Re-adopt the cgroups `paths` (and `limit_paths`) of an earlier `create`,
        as recorded by a daemon before it restarted. Keys are only labels: each
        directory's hierarchy is found again from the mounts.

        The ownership lock is taken when free (the old owner died with the daemon);
        if another live object holds it, this one works without owning."""
        mounts = mounts if mounts is not None else discover()
        limit_paths = limit_paths or {}
        placements = []
        for key, payload in paths.items():
            hierarchy = mounts.owning(payload)
            if hierarchy is None:
                raise CgroupError(f"{payload} ({key}) is not in a mounted cgroup hierarchy")
            limit = limit_paths.get(key, payload)
            placements.append(Placement(hierarchy, os.path.dirname(limit), limit, payload))
        try:
            owner_fd = ownership.try_claim(placements[0].limit) if placements else None
        except OSError:
            owner_fd = None  # already removed: nothing to own
        return cls(placements, name=name, owner_fd=owner_fd)

    # -- what was created ---------------------------------------------------------------

    @property
    def paths(self) -> dict[str, str]:
        """Hierarchy key (`memory`, `cpu,cpuacct`, `name=systemd`, `unified`) -> the
        absolute directory the container's processes are in."""
        return {p.hierarchy.key: p.payload for p in self._placements}

    @property
    def limit_paths(self) -> dict[str, str]:
        """Hierarchy key -> the directory holding the limits (= `paths` unless
        `lxc.cgroup.dir.container.inner` is set)."""
        return {p.hierarchy.key: p.limit for p in self._placements}

    @property
    def hierarchies(self) -> list[Hierarchy]:
        return [p.hierarchy for p in self._placements]

    def _v2(self) -> Placement | None:
        for placement in self._placements:
            if placement.hierarchy.version == 2:
                return placement
        return None

    def _v1(self, controller: str | None = None) -> list[Placement]:
        return [
            p
            for p in self._placements
            if p.hierarchy.version == 1 and (controller is None or p.hierarchy.has(controller))
        ]

    def _apply(self, write: Write) -> None:
        placement = self._placement_of(write.hierarchy)
        path = os.path.join(placement.limit, write.filename)
        try:
            _fs.write(path, write.value)
        except OSError as exc:
            reason = f"cannot write {write.value!r} to {path}: {_reason(exc)}"
            if isinstance(exc, FileNotFoundError):
                controller = write.filename.split(".", 1)[0]
                if write.hierarchy.version == 2:
                    reason += (
                        f" (the {controller} controller is not enabled for this cgroup;"
                        f" cgroup2 offers: {' '.join(write.hierarchy.controllers) or 'none'})"
                    )
                else:
                    reason += f" (the {controller} controller has no such file)"
            raise CgroupSettingError(write.config_key, reason) from exc

    def _placement_of(self, hierarchy: Hierarchy) -> Placement:
        for placement in self._placements:
            if placement.hierarchy == hierarchy:
                return placement
        raise CgroupError(f"the container has no cgroup in {hierarchy.mountpoint}")

    # -- processes ------------------------------------------------------------------------

    @property
    def joinable(self) -> tuple[tuple[str, ...], str | None]:
        """(the v1 payload directories, the v2 payload directory or None): what the
        container's first process can join without the daemon's `attach`.

        Why: every pid written to a `cgroup.procs` takes the kernel's global
        threadgroup rwsem for writing, which waits for an RCU grace period
        (runtime.cgroups.prime: 4-8 ms on the project's machine, the longest wait
        of a start). Two ways into a cgroup skip that lock. A single-threaded
        process writing "0" (itself) to a v1 hierarchy's `tasks` file migrates one
        thread, `current`, which the kernel moves under `cgroup_mutex` alone (~15 µs
        a hierarchy here); runtime.spawn.cgroup_join does it. And cgroup2 has no such file, but
        clone3(CLONE_INTO_CGROUP) creates the process in its cgroup
        (runtime.kernel.clone3). On a kernel that still takes the rwsem for a
        thread's own move, the child waits for the grace period instead of the
        daemon: no slower than `attach`.
        """
        v1_dirs = tuple(p.payload for p in self._placements if p.hierarchy.version == 1)
        v2_placement = self._v2()
        return v1_dirs, v2_placement.payload if v2_placement is not None else None

    def attach(self, pid: int, joined: frozenset[str] = frozenset()) -> None:
        """Move process `pid` into the container's cgroup of every hierarchy but the
        `joined` payload directories (the process is in those already: `joinable`).

        The runtime calls it while the container's first process waits for "go", so
        everything the container runs is accounted and limited from its first
        instruction, and every child it forks inherits all the cgroups.
        """
        for placement in self._placements:
            if placement.payload in joined:
                continue
            path = os.path.join(placement.payload, "cgroup.procs")
            try:
                _fs.write(path, str(pid))
            except OSError as exc:
                raise CgroupError(f"cannot move process {pid} into {path}: {_reason(exc)}") from exc

    def attached_by_daemon(self, joined: frozenset[str]) -> bool:
        """Whether `attach` has anything left to move once `joined` are joined."""
        return any(p.payload not in joined for p in self._placements)

    def pids(self) -> set[int]:
        """Every process of the container, in any hierarchy, nested cgroups included."""
        found: set[int] = set()
        for placement in self._placements:
            found |= _fs.procs(placement.limit)
        return found

    def is_populated(self) -> bool:
        """Whether any process is left (v2 asks the kernel's own count first)."""
        placement = self._v2()
        if placement is not None:
            try:
                if v2.events(placement.limit).get("populated"):
                    return True
            except FileNotFoundError:
                pass
            return any(_fs.procs(p.limit) for p in self._v1())
        return bool(self.pids())

    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to every process of the container.

        SIGKILL cannot be outrun by forking: cgroup2's `cgroup.kill` does it in the
        kernel; elsewhere (and for anything only a v1 hierarchy holds) the cgroup is
        frozen, every process gets SIGKILL, and it is thawed, until a round found
        the cgroup completely frozen (then nobody could fork, and everyone listed
        has a pending SIGKILL) or nothing is left. The processes die right after;
        `await wait_empty()` before `destroy()`.

        Any other signal (a graceful stop) is sent once to every process listed.
        """
        if not any(os.path.isdir(p.limit) for p in self._placements):
            return  # destroyed already: nothing can be in it
        if sig != signal.SIGKILL:
            for pid in self.pids():
                _signal(pid, sig)
            return
        placement = self._v2()
        if placement is not None and v2.has_kill(placement.limit):
            v2.kill(placement.limit)
            v2_pids = _fs.procs(placement.limit)
            if not any(_fs.procs(p.limit) - v2_pids for p in self._v1()):
                return
        self._kill_sweep()

    def _sweep_freezer(
        self,
    ) -> tuple[Callable[[str], None], Callable[[str], None], Callable[[], bool], str] | None:
        """(freeze, thaw, is_frozen, directory) for the kill sweep: the v1 freezer
        first (it holds what cgroup.kill could not reach), else cgroup2's."""
        freezer = self._v1("freezer")
        if freezer:
            directory = freezer[0].limit
            return v1.freeze, v1.thaw, lambda: v1.freezer_state(directory) == "FROZEN", directory
        placement = self._v2()
        if placement is not None and v2.has_freeze(placement.limit):
            directory = placement.limit
            return v2.freeze, v2.thaw, lambda: bool(v2.events(directory).get("frozen")), directory
        return None

    def _kill_sweep(self) -> None:
        freezer = self._sweep_freezer()
        deadline = time.monotonic() + KILL_SWEEP_LIMIT
        while True:
            frozen = False
            if freezer is not None:
                freeze, _thaw, is_frozen, directory = freezer
                try:
                    freeze(directory)
                    settle = time.monotonic() + FREEZE_SETTLE
                    while not (frozen := is_frozen()) and time.monotonic() < settle:
                        time.sleep(0.001)
                except FileNotFoundError:
                    freezer = None  # removed under us: plain signals from now on
            pids = self.pids()
            for pid in pids:
                _signal(pid, signal.SIGKILL)
            if freezer is not None:
                _freeze, thaw, _is_frozen, directory = freezer
                try:
                    thaw(directory)
                except FileNotFoundError:
                    freezer = None
            if not pids or frozen or time.monotonic() > deadline:
                if pids and not frozen:
                    log.warning("%s: kill sweep stopped with %d processes", self.name, len(pids))
                return
            time.sleep(0.002)

    # -- freezer ------------------------------------------------------------------------

    def _freeze_target(self) -> tuple[str, str]:
        """("v2" | "v1", directory) of the freezer `freeze` uses."""
        placement = self._v2()
        if placement is not None and v2.has_freeze(placement.limit):
            return "v2", placement.limit
        freezer = self._v1("freezer")
        if freezer:
            return "v1", freezer[0].limit
        raise CgroupError("no freezer: neither cgroup.freeze (cgroup2) nor the v1 freezer exists")

    def freeze(self) -> None:
        """Ask the kernel to stop every process; `await wait_frozen()` for the end."""
        kind, directory = self._freeze_target()
        try:
            (v2.freeze if kind == "v2" else v1.freeze)(directory)
        except OSError as exc:
            raise CgroupError(f"cannot freeze {directory}: {_reason(exc)}") from exc

    def thaw(self) -> None:
        """Let the processes run again (undoes a freeze by either mechanism)."""
        done = False
        placement = self._v2()
        try:
            if placement is not None and v2.has_freeze(placement.limit):
                v2.thaw(placement.limit)
                done = True
            for freezer in self._v1("freezer"):
                if v1.freezer_state(freezer.limit) != "THAWED":
                    v1.thaw(freezer.limit)
                done = True
        except OSError as exc:
            raise CgroupError(f"cannot thaw {self.name}: {_reason(exc)}") from exc
        if not done:
            raise CgroupError(
                "no freezer: neither cgroup.freeze (cgroup2) nor the v1 freezer exists"
            )

    def freezer_state(self) -> str:
        """'FROZEN', 'FREEZING' or 'THAWED'."""
        kind, directory = self._freeze_target()
        try:
            if kind == "v1":
                return v1.freezer_state(directory)
            if v2.freeze_requested(directory):
                return "FROZEN" if v2.events(directory).get("frozen") else "FREEZING"
            for freezer in self._v1("freezer"):  # frozen through lxc-cgroup freezer.state
                state = v1.freezer_state(freezer.limit)
                if state != "THAWED":
                    return state
            return "THAWED"
        except OSError as exc:
            raise CgroupError(
                f"cannot read the freezer state of {directory}: {_reason(exc)}"
            ) from exc

    async def wait_frozen(self, *, watcher: events.CgroupWatcher | None = None) -> None:
        """Return when the freeze is complete; raise `CgroupError` if the cgroup is
        thawed instead (a concurrent thaw) or removed. `watcher`: a running shared
        inotify instance (a daemon's), else the wait opens its own."""

        def frozen() -> bool:
            state = self.freezer_state()
            if state == "THAWED":
                raise CgroupError(f"{self.name}: thawed while waiting for it to freeze")
            return state == "FROZEN"

        kind, directory = self._freeze_target()
        watch = [os.path.join(directory, v2.EVENTS)] if kind == "v2" else []
        self.last_wait = await events.wait_until(frozen, watch, watcher)

    async def wait_empty(self, *, watcher: events.CgroupWatcher | None = None) -> None:
        """Return when no process is left in any of the container's cgroups.
        `watcher` as for `wait_frozen`."""
        placement = self._v2()
        if placement is not None:

            def empty_v2() -> bool:
                try:
                    return not v2.events(placement.limit).get("populated")
                except FileNotFoundError:
                    return True  # removed: nothing can be in it

            self.last_wait = await events.wait_until(
                empty_v2, [os.path.join(placement.limit, v2.EVENTS)], watcher
            )
            if not any(_fs.procs(p.limit) for p in self._v1()):
                return
        await events.poll_until(lambda: not self.pids())
        self.last_wait = events.POLL

    # -- keys for lxc-cgroup ------------------------------------------------------------------

    def _locate(self, key: str) -> str:
        """The file for `key`: in the v1 hierarchy of its controller when that has
        it, else in cgroup2 (`cgroup.*` core files: cgroup2 first). The rule is
        `runtime.client.cgroup_files.locate`, which lxc-cgroup applies to the record."""
        from runtime.client.cgroup_files import locate

        check_file_name(key, key)
        path = locate(self.limit_paths, key)
        if path is None:
            raise CgroupUnknownKey(key)
        return path

    def get(self, key: str) -> str:
        """The file's content as the kernel gives it (trailing newline included:
        `lxc-cgroup` prints it as LXC does, with one more newline)."""
        path = self._locate(key)
        try:
            return _fs.read(path)
        except OSError as exc:
            raise CgroupError(f"{key}: cannot read {path}: {_reason(exc)}") from exc

    def set(self, key: str, value: str) -> None:
        path = self._locate(key)
        try:
            _fs.write(path, value)
        except OSError as exc:
            raise CgroupSettingError(
                key, f"cannot write {value!r} to {path}: {_reason(exc)}"
            ) from exc

    # -- figures for lxc-info -------------------------------------------------------------

    def stats(self) -> dict[str, int | None]:
        """`cpu_ns`, `blkio_bytes`, `memory_bytes`, `kmem_bytes`, `swap_bytes`; None
        when the host does not account it. v1 files win on a hybrid host (controllers
        live there). The reading is `runtime.client.cgroup_files`, which the commands use
        directly on the paths of the runtime record."""
        from runtime.client.cgroup_files import figures

        return figures(self.limit_paths)

    # -- removal --------------------------------------------------------------------------

    def destroy(self) -> None:
        """Remove every cgroup of the container, deepest first. Safe to call twice.

        Killed processes take a moment to leave their cgroup: while every process
        still listed is exiting (or has SIGKILL pending), rmdir is retried for up to
        `DESTROY_RETRY` seconds. A live process raises `CgroupBusy` at once; what
        could be removed is removed.
        """
        deadline = time.monotonic() + DESTROY_RETRY
        failure: CgroupError | None = None
        for placement in self._placements:
            tops = [placement.limit]
            if placement.payload != placement.limit and not placement.payload.startswith(
                placement.limit + "/"
            ):
                tops.append(placement.payload)
            for top in tops:
                error = _remove_with_retry(top, deadline)
                if error is not None and failure is None:
                    failure = error
        if failure is not None:
            raise failure
        self.release()

    def release(self) -> None:
        """Stop owning the cgroups without removing them (the daemon hands them
        over or exits); `destroy` does this itself. Safe to call twice."""
        if self._owner is not None:
            self._owner()

    def __repr__(self) -> str:
        return f"ContainerCgroups(name={self.name!r}, paths={self.paths!r})"


def _check_not_in_use(name: str, placements: list[Placement]) -> None:
    """Refuse a cgroup with processes in it, or one a live object owns (created
    by another daemon and not yet attached): neither is a leftover."""
    for placement in placements:
        if os.path.isdir(placement.limit) and _fs.procs(placement.limit):
            raise CgroupBusy(
                f"{name}: {placement.limit} has processes: a container of that name is"
                " running (here or in another lxcpath; lxc.cgroup.dir can separate them)"
            )
    if ownership.is_owned(placements[0].limit):
        raise CgroupBusy(
            f"{name}: {placements[0].limit} belongs to a live process: a container of that"
            " name is starting (here or in another lxcpath)"
        )


def _make_dirs(placement: Placement, created: list[str]) -> None:
    """mkdir the payload and missing parents below `base`, recording what was made.

    mkdir first, no stat before it: at a start every level is usually new."""
    relative = os.path.relpath(placement.payload, placement.base)
    directory = placement.base
    for part in relative.split("/"):
        directory = os.path.join(directory, part)
        try:
            os.mkdir(directory)
        except OSError as exc:
            if isinstance(exc, FileExistsError) and os.path.isdir(directory):
                continue
            raise CgroupError(f"cannot create the cgroup {directory}: {_reason(exc)}") from exc
        created.append(directory)
        if placement.hierarchy.version != 1:
            continue
        try:
            v1.init_new_cgroup(placement.hierarchy, directory)
        except OSError as exc:
            raise CgroupError(f"cannot initialise the cgroup {directory}: {_reason(exc)}") from exc


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _dying(pid: int) -> bool:
    """Whether `pid` is gone, exiting, or has SIGKILL pending (it cannot run again)."""
    try:
        status = _fs.read(f"/proc/{pid}/status")
        stat = _fs.read(f"/proc/{pid}/stat")
    except (FileNotFoundError, ProcessLookupError):
        return True
    flags = int(stat.rpartition(")")[2].split()[6])
    if flags & _PF_EXITING:
        return True
    for line in status.splitlines():
        name, _, value = line.partition(":")
        if name == "State" and value.split()[0] in ("Z", "X"):
            return True
        if name in ("SigPnd", "ShdPnd") and int(value.strip(), 16) & _SIGKILL_BIT:
            return True
    return False


def _remove_with_retry(top: str, deadline: float) -> CgroupError | None:
    while True:
        try:
            _fs.remove_tree(top)
            return None
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                return CgroupError(f"cannot remove {top}: {_reason(exc)}")
            remaining = _fs.procs(top) if os.path.isdir(top) else set()
            alive = sorted(pid for pid in remaining if not _dying(pid))
            if alive:
                shown = " ".join(map(str, alive[:10]))
                return CgroupBusy(f"cannot remove {top}: processes remain ({shown})")
            if time.monotonic() > deadline:
                return CgroupError(f"cannot remove {top}: {_reason(exc)}")
            time.sleep(0.005)


def cleanup_stale(
    name: str, config: ContainerConfig | None = None, *, mounts: CgroupMounts | None = None
) -> list[str]:
    """Remove a stopped container's leftover cgroups (a crash before `destroy`).

    Returns the directories removed; raises `CgroupBusy` if processes are in one
    (then nothing is removed). `config` gives `lxc.cgroup.dir*` and `.relative`.
    """
    mounts = mounts if mounts is not None else discover()
    placements = plan(name, config, mounts)
    with ownership.creation_lock(placements[0].hierarchy.mountpoint):
        _check_not_in_use(name, placements)
        existing = [p.limit for p in placements if os.path.isdir(p.limit)]
        for directory in existing:
            try:
                _fs.remove_tree(directory)
            except OSError as exc:
                raise CgroupError(f"cannot remove {directory}: {_reason(exc)}") from exc
    return existing
