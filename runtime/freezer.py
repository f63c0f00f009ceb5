"""Freeze and thaw a supervised container, read and write its cgroup keys, read
its figures: the daemon's side of `lxc-freeze`, `lxc-unfreeze`, `lxc-cgroup` and
`op_stats`.

The life cycle (runtime.lifecycle) has the freezer's states, and every change goes
through `Supervisor._transition`, which records it (so `lxc-info -s` and
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

One `trio.Lock` per supervisor serializes freeze, thaw and the thaw before a
graceful stop, so two commands racing never interleave their transitions. A
freeze that does not complete within `FREEZE_TIMEOUT` (a task stuck in the
kernel) is undone: the freezer is thawed and the container goes back to RUNNING
(FREEZING -> RUNNING is in the table for this). A container whose init exits
while it freezes leaves through STOPPING as always; the freeze then fails.

A stop must work on a frozen container: a graceful one thaws first
(`thaw_before_signal`: THAWED, RUNNING are published, then the halt signal can be
delivered); a kill (`after_kill`) thaws without events after SIGKILL is queued,
because a task frozen by the v1 freezer would otherwise never die (cgroup2's
`cgroup.kill` reaches frozen tasks by itself).
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

import trio

from runtime import lifecycle as lc

log = logging.getLogger("trio-lxc.freezer")

#: Seconds a freeze may take before it is undone and reported as failed.
FREEZE_TIMEOUT = 30.0

#: The kinds of failure a reply names (the commands word LXC's message from them).
NOT_RUNNING = "not-running"
FAILED = "failed"
UNKNOWN_KEY = "unknown-key"

#: States in which the container has a live cgroup the freezer may act on.
_FREEZABLE = (lc.RUNNING, lc.FREEZING, lc.FROZEN, lc.THAWED)
#: States in which keys and figures can be read: the cgroups exist and hold the
#: container (from STARTING, once they are made, to STOPPING, until removed).
_LIVE = (lc.STARTING, *_FREEZABLE, lc.STOPPING)

_locks: weakref.WeakKeyDictionary[Any, trio.Lock] = weakref.WeakKeyDictionary()


class FreezerError(Exception):
    """A freeze, thaw or key request failed; `kind` is one of the constants above."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _lock(supervisor: Any) -> trio.Lock:
    lock = _locks.get(supervisor)
    if lock is None:
        lock = _locks[supervisor] = trio.Lock()
    return lock


def _cgroups(supervisor: Any, states: tuple[str, ...] = _FREEZABLE) -> Any:
    if supervisor is None or supervisor.state not in states or supervisor.cgroups is None:
        name = getattr(supervisor, "name", "container")
        raise FreezerError(NOT_RUNNING, f"{name} is not running")
    return supervisor.cgroups


# -- freezer --------------------------------------------------------------------------


async def freeze(supervisor: Any, *, timeout: float = FREEZE_TIMEOUT) -> bool:
    """Freeze every process of the container; True if it was not frozen before."""
    from runtime.cgroups import CgroupError

    _cgroups(supervisor)  # before the lock: there may be no supervisor at all
    async with _lock(supervisor):
        cgroups = _cgroups(supervisor)
        if supervisor.state == lc.FROZEN:
            return False
        if supervisor.state == lc.THAWED:  # a thaw a crashed daemon did not finish
            supervisor._transition(lc.RUNNING)
        if supervisor.state == lc.RUNNING:
            supervisor._transition(lc.FREEZING)
        # else FREEZING: a freeze a crashed daemon did not finish; complete it.
        try:
            cgroups.freeze()
            with trio.fail_after(timeout):
                await cgroups.wait_frozen()
        except (CgroupError, trio.TooSlowError) as err:
            reason = (
                f"the freeze did not complete within {timeout:g} s"
                if isinstance(err, trio.TooSlowError)
                else str(err)
            )
            if supervisor.state != lc.FREEZING:  # it stopped meanwhile
                raise FreezerError(
                    NOT_RUNNING, f"{supervisor.name} stopped while freezing"
                ) from None
            log.warning("%s: freeze failed: %s", supervisor.name, reason)
            try:
                cgroups.thaw()
            except CgroupError as thaw_err:
                log.error("%s: cannot thaw after a failed freeze: %s", supervisor.name, thaw_err)
            supervisor._transition(lc.RUNNING)
            raise FreezerError(FAILED, reason) from None
        if supervisor.state != lc.FREEZING:
            raise FreezerError(NOT_RUNNING, f"{supervisor.name} stopped while freezing")
        supervisor._transition(lc.FROZEN)
        return True


async def unfreeze(supervisor: Any) -> bool:
    """Let the container's processes run again; True if it was frozen before."""
    from runtime.cgroups import CgroupError

    _cgroups(supervisor)  # before the lock: there may be no supervisor at all
    async with _lock(supervisor):
        cgroups = _cgroups(supervisor)
        if supervisor.state == lc.RUNNING:
            try:
                cgroups.thaw()  # undoes a freeze made through lxc-cgroup; no event
            except CgroupError as err:
                raise FreezerError(FAILED, str(err)) from None
            return False
        if supervisor.state == lc.FROZEN:
            supervisor._transition(lc.THAWED)
        # FREEZING here is a freeze a crashed daemon did not finish: FREEZING -> RUNNING.
        try:
            cgroups.thaw()
        except CgroupError as err:
            raise FreezerError(FAILED, str(err)) from None
        if supervisor.state in (lc.THAWED, lc.FREEZING):
            supervisor._transition(lc.RUNNING)
        return True


async def thaw_before_signal(supervisor: Any) -> None:
    """Before a graceful stop or reboot: a frozen container could not receive the
    signal, so it is thawed first (THAWED, RUNNING are published). Never raises."""
    if supervisor.state not in (lc.FREEZING, lc.FROZEN, lc.THAWED):
        return
    try:
        await unfreeze(supervisor)
    except FreezerError as err:
        log.warning("%s: cannot thaw before stopping: %s", supervisor.name, err)


def after_kill(supervisor: Any) -> None:
    """After SIGKILL was queued for every process: clear the freezer so the v1
    freezer's frozen tasks run into their SIGKILL. No state change is published:
    the container goes on to STOPPING. Never raises."""
    cgroups = supervisor.cgroups
    if cgroups is None:
        return
    try:
        if cgroups.freezer_state() != "THAWED":
            cgroups.thaw()
    except Exception as err:  # noqa: BLE001 - a kill must not fail over the freezer
        log.debug("%s: thaw after kill: %s", supervisor.name, err)


# -- keys and figures -----------------------------------------------------------------


def cgroup_get(supervisor: Any, key: str) -> str:
    """The key's file content as the kernel gives it (newline included)."""
    from runtime.cgroups import CgroupError, CgroupUnknownKey

    cgroups = _cgroups(supervisor, _LIVE)
    try:
        return str(cgroups.get(key))
    except CgroupUnknownKey as err:
        raise FreezerError(UNKNOWN_KEY, str(err)) from None
    except CgroupError as err:
        raise FreezerError(FAILED, str(err)) from None


def cgroup_set(supervisor: Any, key: str, value: str) -> None:
    from runtime.cgroups import CgroupError, CgroupSettingError, CgroupUnknownKey

    cgroups = _cgroups(supervisor, _LIVE)
    try:
        cgroups.set(key, value)
    except CgroupUnknownKey as err:
        raise FreezerError(UNKNOWN_KEY, str(err)) from None
    except CgroupSettingError as err:
        raise FreezerError(FAILED, err.reason) from None
    except CgroupError as err:
        raise FreezerError(FAILED, str(err)) from None


def stats(supervisor: Any) -> dict[str, int | None]:
    """The figures of `runtime.cgroup_files` (cpu_ns, blkio_bytes, ...)."""
    return dict(_cgroups(supervisor, _LIVE).stats())


# -- requests (ControlConnection.op_* call these) ------------------------------------------
#
# Each returns the final reply line. A failure the user caused is `ok: false` with
# `kind` (the commands word LXC's message from it); a bug is logged and answered
# the same way, so one bad request never takes the daemon's control server down.


def _failure(kind: str, error: str) -> dict[str, object]:
    return {"ok": False, "kind": kind, "error": error, "exit_code": 1}


async def _answer(work: Any) -> dict[str, object]:
    try:
        return await work()
    except FreezerError as err:
        return _failure(err.kind, str(err))
    except Exception as err:  # noqa: BLE001 - see above
        log.exception("freezer request failed")
        return _failure(FAILED, f"internal error: {err}")


def _supervisor(supervisors: dict[str, Any], message: dict[str, object]) -> Any:
    return supervisors.get(str(message.get("name")))


async def request_freeze(
    supervisors: dict[str, Any], message: dict[str, object]
) -> dict[str, object]:
    async def work() -> dict[str, object]:
        return {"ok": True, "changed": await freeze(_supervisor(supervisors, message))}

    return await _answer(work)


async def request_unfreeze(
    supervisors: dict[str, Any], message: dict[str, object]
) -> dict[str, object]:
    async def work() -> dict[str, object]:
        return {"ok": True, "changed": await unfreeze(_supervisor(supervisors, message))}

    return await _answer(work)


async def request_cgroup(
    supervisors: dict[str, Any], message: dict[str, object]
) -> dict[str, object]:
    """`{"key": K}` reads, `{"key": K, "value": V}` writes."""
    from runtime.config.names import cgroup_file_problem

    async def work() -> dict[str, object]:
        supervisor = _supervisor(supervisors, message)
        key = str(message.get("key") or "")
        # Any local root process may ask: the key must be a plain cgroup file name,
        # and a write never one that moves processes (runtime.config.names).
        problem = cgroup_file_problem(key, write=message.get("value") is not None)
        if problem is not None:
            raise FreezerError(UNKNOWN_KEY, f"key {problem}")
        if message.get("value") is None:
            return {"ok": True, "value": cgroup_get(supervisor, key)}
        cgroup_set(supervisor, key, str(message["value"]))
        return {"ok": True}

    return await _answer(work)


async def request_stats(
    supervisors: dict[str, Any], message: dict[str, object]
) -> dict[str, object]:
    async def work() -> dict[str, object]:
        supervisor = _supervisor(supervisors, message)
        figures = stats(supervisor)
        return {"ok": True, "state": supervisor.state, "pid": supervisor.pid, "stats": figures}

    return await _answer(work)
