"""Wait for a container init's exit and learn its true wait status.

Whoever is the init's parent reaps it and is the only one to know its status:
usually the spawner (a child subreaper: the inits are re-parented to it), which
reports the exit to the daemon; after that spawner died, this daemon, if it
started that spawner (the daemon is a child subreaper too, so the orphans come to
it). The daemon cannot tell in advance which, so it waits for both at once: the
spawner's report, and the init's pidfd. When the pidfd says the init is gone, the
daemon tries to reap it itself (`waitid(P_PIDFD)`, which only works for its own
child); if it cannot, the spawner is the parent and reports soon, or nobody of ours
is, and the status is unknown (None): never invented.

Trio owns SIGCHLD handling for the processes it starts (`trio.Process`), so the
daemon never calls a wait for "any child": it waits for the init's pidfd only.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol

import trio

from runtime.client.status import process_start_time

if TYPE_CHECKING:
    from runtime.kernel.start_trace import Recorder

#: After the init exited: how long a parent that is not us gets to report it.
REPORT_GRACE = 3.0
#: How often to try reaping it ourselves meanwhile (it may be re-parented to us).
REAP_POLL = 0.05


class ExitSource(Protocol):
    """The spawner as seen here (runtime.daemon.spawner_link.Spawner)."""

    def cancel_on_exit(self, pid: int, scope: trio.CancelScope) -> None: ...

    def forget_exit_scope(self, pid: int, scope: trio.CancelScope) -> None: ...

    def take_exit(self, pid: int) -> int | None: ...


def open_pidfd(pid: int, start_time: int | None = None) -> int | None:
    """A pidfd for `pid`, None if it is gone (or, given `start_time`, is another process
    now: checked after opening, so the pidfd surely names the process we meant)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    if start_time is not None and process_start_time(pid) != start_time:
        os.close(pidfd)
        return None
    return pidfd


async def wait_init_exit(
    pid: int, pidfd: int, spawner: ExitSource, trace: Recorder | None = None
) -> int | None:
    """The init's wait status once it has exited; None if no process of ours reaped it.
    `trace` (runtime.daemon.exit_trace) gets how the exit was noticed and learnt.

    One task waits for both: the init's pidfd here, and the spawner's report through
    a cancel scope that the report cancels (`cancel_on_exit`): every running
    container waits here, so a nursery and a second task each would be memory kept
    per container for nothing (README, "Speed": memory per container).
    """
    with trio.CancelScope() as reported:
        spawner.cancel_on_exit(pid, reported)
        try:
            await trio.lowlevel.wait_readable(pidfd)
            if trace is not None:
                trace.mark("init exit noticed (pidfd readable)")
            with trio.move_on_after(REPORT_GRACE):
                while True:
                    status = reap_pidfd(pidfd)
                    if status is not None:
                        break
                    await trio.sleep(REAP_POLL)
                if trace is not None:
                    trace.mark("exit status: reaped here (waitid)")
                return status
            return None
        finally:
            spawner.forget_exit_scope(pid, reported)
    if trace is not None:
        trace.mark("exit status: the spawner's report")
    return spawner.take_exit(pid)


def reap_pidfd(pidfd: int) -> int | None:
    """Reap the exited process if it is our child: its wait status; None if it is not."""
    try:
        info = os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG)
    except ChildProcessError:
        return None
    if info is None:
        return None
    return wait_status(info.si_code, info.si_status)


def wait_status(code: int, value: int) -> int:
    """The waitpid-style status of a waitid result (CLD_EXITED/KILLED/DUMPED)."""
    if code == os.CLD_EXITED:
        return (value & 0xFF) << 8
    if code == os.CLD_DUMPED:
        return (value & 0x7F) | 0x80
    return value & 0x7F
