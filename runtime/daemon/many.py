"""`start-many` and `stop-many`: lxc-autostart's whole set in one daemon request.

Why one request: LXC's lxc-autostart starts (stops) containers one by one, and a
boot with many containers pays every start in sequence. Here the command sends the
plan (runtime.tools.autostart: batches in order, each with the seconds to wait after it)
and the daemon starts every container of a batch concurrently, as supervisor tasks
of its own nursery, then waits the batch's delay before the next one. The command
stays connected and gets one line per container as it is done; if it goes away
(killed), the batches not begun yet are dropped, as LXC's stop when it is killed.

The messages (runtime.client.control_protocol): `StartMany` / `StopMany` (action, timeout)
carry `Batch`es (names, delay); a `ContainerDone` event per container (started,
stopped, halted, rebooted, skipped or failed, with why); last a `ManyReply` (attempted,
failed).

A start here is `lxc-start -n NAME` (the container's own config, lxc.init.cmd or
/sbin/init); a shutdown is `lxc-stop -t TIMEOUT` (the halt signal, then a kill after
the timeout; -1 waits for ever; 0 sends the halt signal alone, "halted", as LXC's
`-s -t 0` asks and returns), a kill `lxc-stop -k`, a reboot `lxc-stop -r`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from runtime.client import control_protocol as cp
from runtime.client.control_protocol import Batch, ContainerDone, ManyReply, StartMany, StopMany
from runtime.client.lxcpath import ContainerPaths
from runtime.daemon import freezer, stop_signal
from runtime.daemon import lifecycle as lc
from runtime.daemon.supervisor import Supervisor
from runtime.spawn.start_spec import StartArgs

if TYPE_CHECKING:
    from runtime.daemon.app import ControlConnection

log = logging.getLogger("trio-lxc.daemon.many")

def batches_problem(batches: tuple[Batch, ...]) -> str | None:
    """What the protocol cannot check field by field: every batch names someone, no
    container twice, at most MANY_MAX in all."""
    seen: set[str] = set()
    for batch in batches:
        if not batch.names:
            return "bad request: 'batches' must give each batch a non-empty list of names"
        for name in batch.names:
            if name in seen:
                return f"bad request: 'batches' names '{name}' twice"
            seen.add(name)
    if len(seen) > cp.MANY_MAX:
        return f"bad request: 'batches' must name at most {cp.MANY_MAX} containers"
    return None


# -- running it -------------------------------------------------------------------------


class _Tally:
    def __init__(self) -> None:
        self.attempted = 0
        self.failed = 0


Action = Callable[[str], Awaitable[tuple[str, str | None]]]


async def _run(conn: ControlConnection, batches: tuple[Batch, ...], action: Action) -> None:
    """Each batch concurrently, then its delay; one line per container; stop early if
    the command went away."""
    problem = batches_problem(batches)
    if problem is not None:
        await conn.reply(cp.ErrorReply(error=problem, exit_code=1))
        return
    tally = _Tally()
    sending = trio.Lock()  # one line at a time: concurrent send_all is an error

    async def one(name: str) -> None:
        tally.attempted += 1
        try:
            result, error = await action(name)
        except Exception as err:  # noqa: BLE001 - one container's bug fails that container
            log.exception("%s: autostart action failed", name)
            result, error = "failed", f"internal error: {err}"
        if result == "failed":
            tally.failed += 1
        async with sending:
            try:
                await conn.reply(ContainerDone(name=name, result=result, error=error))
            except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
                pass  # the command is gone: watch_caller ends the plan

    async def plan(cancel_scope: trio.CancelScope) -> None:
        for batch in batches:
            async with trio.open_nursery() as nursery:
                for name in batch.names:
                    nursery.start_soon(one, name)
            if batch.delay:
                await trio.sleep(batch.delay)
        cancel_scope.cancel()

    async def watch_caller(cancel_scope: trio.CancelScope) -> None:
        while True:
            try:
                item = await conn.next_message()
            except Exception as err:  # noqa: BLE001 - a broken or garbled connection: gone too
                log.info("autostart request: connection failed (%s)", err)
                item = None
            if item is None:  # the command is gone: begin nothing more
                log.info("autostart request: the command went away, remaining batches dropped")
                cancel_scope.cancel()
                return
            for fd in item[1]:  # nothing else is expected on this connection
                os.close(fd)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(plan, nursery.cancel_scope)
        nursery.start_soon(watch_caller, nursery.cancel_scope)
    try:
        await conn.reply(ManyReply(attempted=tally.attempted, failed=tally.failed))
    except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
        pass


async def start_many(conn: ControlConnection, request: StartMany) -> None:
    daemon = conn.daemon
    log.info("start-many: %d containers in %d batches", sum(len(b.names) for b in request.batches),
             len(request.batches))  # fmt: skip

    async def start(name: str) -> tuple[str, str | None]:
        if name in daemon.supervisors:
            return "skipped", "already running"
        paths = ContainerPaths(daemon.lxcpath, name)
        if not paths.is_defined():
            return "failed", f"{name} doesn't exist"
        # pid 1 is chosen by the daemon (runtime.spawn.start_spec.pid1_argv), as for lxc-start
        supervisor = await daemon.launch(StartArgs(name=name, mode="system", config_path=paths.config))
        if supervisor.start_error is not None:
            return "failed", supervisor.start_error
        return "started", None

    await _run(conn, request.batches, start)


async def stop_many(conn: ControlConnection, request: StopMany) -> None:
    daemon = conn.daemon
    log.info("stop-many (%s): %d containers in %d batches", request.action,
             sum(len(b.names) for b in request.batches), len(request.batches))  # fmt: skip

    async def stop(name: str) -> tuple[str, str | None]:
        supervisor = daemon.supervisors.get(name)
        if supervisor is None or supervisor.state == lc.STOPPED:
            return "skipped", "not running"
        await supervisor.started.wait()
        if supervisor.start_error is not None:
            return "skipped", "not running"
        if request.action == "reboot":
            await freezer.thaw_before_signal(supervisor)  # a frozen init cannot take it
            supervisor.reboot()
            return "rebooted", None
        if request.action == "shutdown":
            await freezer.thaw_before_signal(supervisor)
            supervisor.halt()
            if request.timeout == 0:  # LXC's shutdown with no timeout: it asks, and returns
                return "halted", None
            timeout = request.timeout if request.timeout >= 0 else math.inf
            with trio.move_on_after(timeout):
                await supervisor.stopped.wait()
            if supervisor.stopped.is_set():
                return "stopped", None
        return await _hard_stop(supervisor)

    await _run(conn, request.batches, stop)


async def _hard_stop(supervisor: Supervisor) -> tuple[str, str | None]:
    """lxc-stop -k: everything killed, then STOPPED; with another lxc.signal.stop only
    the init gets it and what it does is its business (as lxc-stop -k)."""
    if await stop_signal.hard_stop(supervisor):
        await supervisor.stopped.wait()
    return "stopped", None
