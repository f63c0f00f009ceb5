"""Freeze and thaw a supervised container: the daemon's side of `lxc-freeze` and
`lxc-unfreeze` (cgroup keys and figures are runtime.daemon.cgroup_ops).

Each supervisor owns one `Freezer` (`supervisor.freezer`), given the supervisor's
own way to change state. The life cycle (runtime.daemon.lifecycle) has the freezer's
states, and every change goes through that transition, which records it (so `lxc-info -s` and
`lxc-ls --frozen` see FROZEN without asking the daemon) and publishes it once:

    freeze:    RUNNING -> FREEZING, write the freezer, wait until the kernel says
               every task is frozen (cgroup2 `cgroup.events` by inotify, or the v1
               `freezer.state`), -> FROZEN
    unfreeze:  FROZEN -> THAWED, write the freezer, -> RUNNING

LXC announces FROZEN and THAWED twice each (once from the command, once from the
monitor); we announce every state once. Freezing a FROZEN container and thawing a
RUNNING one change nothing and publish nothing (exit 0, as LXC); a thaw of a RUNNING
container still clears the freezer files, which undoes a freeze made behind the
runtime's back (`lxc-cgroup NAME freezer.state FROZEN`). Freezing or thawing a
container that does not run is an error (LXC returns 0 for the thaw).

The freezer's `trio.Lock` (one per container) serializes freeze, thaw and the thaw before a
graceful stop, so two commands racing never interleave their transitions. A
freeze that does not complete within `FREEZE_TIMEOUT` (a task stuck in the
kernel) is undone: the freezer is thawed and the container goes back to RUNNING
(FREEZING -> RUNNING is in the table for this). A container whose init exits
while it freezes leaves through STOPPING as always; the freeze then fails.

A stop must work on a frozen container: a graceful one thaws first
(`Freezer.thaw_before_signal`: THAWED, RUNNING are published, then the halt signal can be
delivered); a kill (`Freezer.after_kill`) thaws without events after SIGKILL is queued,
because a task frozen by the v1 freezer would otherwise never die (cgroup2's
`cgroup.kill` reaches frozen tasks by itself).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import trio

from runtime.daemon import lifecycle as lc
from runtime.daemon.op_reply import FAILED, NOT_RUNNING, OpError

if TYPE_CHECKING:
    from runtime.cgroups import CgroupWatcher, ContainerCgroups

log = logging.getLogger("trio-lxc.freezer")

#: Seconds a freeze may take before it is undone and reported as failed.
FREEZE_TIMEOUT = 30.0

#: States in which the container has a live cgroup the freezer may act on.
FREEZABLE = (lc.RUNNING, lc.FREEZING, lc.FROZEN, lc.THAWED)


class Owner(Protocol):
    """What a freezer reads of the supervisor that owns it."""

    @property
    def name(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def cgroups(self) -> ContainerCgroups | None: ...


class Freezer:
    """The freezer of one container: freeze, thaw, and the thaws a stop needs."""

    def __init__(
        self,
        owner: Owner,
        transition: Callable[[str], None],
        watcher: CgroupWatcher | None = None,
    ) -> None:
        self._owner = owner
        self._transition = transition
        self._watcher = watcher
        self._lock = trio.Lock()

    def _cgroups(self) -> ContainerCgroups:
        owner = self._owner
        if owner.state not in FREEZABLE or owner.cgroups is None:
            raise OpError(NOT_RUNNING, f"{owner.name} is not running")
        return owner.cgroups

    async def freeze(self, *, timeout: float = FREEZE_TIMEOUT) -> bool:
        """Freeze every process of the container; True if it was not frozen before."""
        from runtime.cgroups import CgroupError

        owner = self._owner
        self._cgroups()
        async with self._lock:
            cgroups = self._cgroups()
            if owner.state == lc.FROZEN:
                return False
            if owner.state == lc.THAWED:  # a thaw a crashed daemon did not finish
                self._transition(lc.RUNNING)
            if owner.state == lc.RUNNING:
                self._transition(lc.FREEZING)
            # else FREEZING: a freeze a crashed daemon did not finish; complete it.
            try:
                cgroups.freeze()
                with trio.fail_after(timeout):
                    await cgroups.wait_frozen(watcher=self._watcher)
            except (CgroupError, trio.TooSlowError) as err:
                reason = (
                    f"the freeze did not complete within {timeout:g} s"
                    if isinstance(err, trio.TooSlowError)
                    else str(err)
                )
                if owner.state != lc.FREEZING:  # it stopped meanwhile
                    raise OpError(NOT_RUNNING, f"{owner.name} stopped while freezing") from None
                log.warning("%s: freeze failed: %s", owner.name, reason)
                try:
                    cgroups.thaw()
                except CgroupError as thaw_err:
                    log.error("%s: cannot thaw after a failed freeze: %s", owner.name, thaw_err)
                self._transition(lc.RUNNING)
                raise OpError(FAILED, reason) from None
            if owner.state != lc.FREEZING:
                raise OpError(NOT_RUNNING, f"{owner.name} stopped while freezing")
            self._transition(lc.FROZEN)
            return True

    async def unfreeze(self) -> bool:
        """Let the container's processes run again; True if it was frozen before."""
        from runtime.cgroups import CgroupError

        owner = self._owner
        self._cgroups()
        async with self._lock:
            cgroups = self._cgroups()
            if owner.state == lc.RUNNING:
                try:
                    cgroups.thaw()  # undoes a freeze made through lxc-cgroup; no event
                except CgroupError as err:
                    raise OpError(FAILED, str(err)) from None
                return False
            if owner.state == lc.FROZEN:
                self._transition(lc.THAWED)
            # FREEZING here is a freeze a crashed daemon did not finish: FREEZING -> RUNNING.
            try:
                cgroups.thaw()
            except CgroupError as err:
                raise OpError(FAILED, str(err)) from None
            if owner.state in (lc.THAWED, lc.FREEZING):
                self._transition(lc.RUNNING)
            return True

    async def thaw_before_signal(self) -> None:
        """Before a graceful stop or reboot: a frozen container could not receive the
        signal, so it is thawed first (THAWED, RUNNING are published). Never raises."""
        if self._owner.state not in (lc.FREEZING, lc.FROZEN, lc.THAWED):
            return
        try:
            await self.unfreeze()
        except OpError as err:
            log.warning("%s: cannot thaw before stopping: %s", self._owner.name, err)

    def after_kill(self) -> None:
        """After SIGKILL was queued for every process: clear the freezer so the v1
        freezer's frozen tasks run into their SIGKILL. No state change is published:
        the container goes on to STOPPING. Never raises."""
        cgroups = self._owner.cgroups
        if cgroups is None:
            return
        try:
            if cgroups.freezer_state() != "THAWED":
                cgroups.thaw()
        except Exception as err:  # noqa: BLE001 - a kill must not fail over the freezer
            log.debug("%s: thaw after kill: %s", self._owner.name, err)


class Frozen(Protocol):
    """A supervisor, as the freezer requests see it."""

    @property
    def freezer(self) -> Freezer: ...


async def thaw_before_signal(supervisor: Frozen) -> None:
    """`supervisor.freezer.thaw_before_signal()` (lxc-stop, runtime.daemon.stop_signal)."""
    await supervisor.freezer.thaw_before_signal()
