"""The control requests for terminals, served on a command's control connection.

- `Console` (name, tty: -1 the first free tty, 0 the console): the reply
  `ConsoleReply(tty)` carries one fd (SCM_RIGHTS): the tty's master, or for the
  console one end of a socketpair the daemon pumps. The lease on the terminal lasts
  until the connection closes; meanwhile the command may send `ConsoleResize`
  (rows, cols) on it, and it is sent `Closed` when the container stops.
- `ConsoleResize` (name, tty, rows, cols) on a connection of its own (how
  `lxc-start -F` passes SIGWINCH on).
- `ConsoleLog` (name, clear): the console ring buffer, as latin-1 text.

The messages are runtime.client.control_protocol's, checked before they get here. What
this module needs of the daemon comes in typed: the connection as a `Channel`
(reply, and the messages that follow within a request), the ConsoleManager, and
whether a name is supervised. Errors use LXC's wording where LXC has one
(`NAME is not running`, `Denied access to tty`), exit code 1.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Container, Sequence
from typing import Protocol

import trio

from runtime.client.control_protocol import (
    Closed,
    Console,
    ConsoleLog,
    ConsoleLogReply,
    ConsoleReply,
    ConsoleResize,
    Done,
    ErrorReply,
    Event,
    Reply,
    Request,
)
from runtime.daemon.console.manager import ConsoleManager
from runtime.daemon.console.terminals import ContainerTerminals, Lease, TerminalBusy


class Channel(Protocol):
    """The control connection a console request came on (runtime.daemon.app)."""

    async def reply(self, message: Reply | ErrorReply | Event, fds: Sequence[int] = ()) -> None:
        """Send a reply or event of the current request, with fds on its first byte."""

    async def next_request(self) -> Request[Reply] | None:
        """The next valid message on the connection (None once it closed)."""


async def _not_running(channel: Channel, name: str) -> None:
    await channel.reply(ErrorReply(error=f"{name} is not running", exit_code=1))


async def serve_console(
    channel: Channel, request: Console, consoles: ConsoleManager, supervised: Container[str]
) -> None:
    name = request.name
    terminals = consoles.get(name)
    if terminals is None:
        if name in supervised:
            await channel.reply(ErrorReply(
                error=f"Denied access to tty: the terminals of {name} were lost with the "
                      "daemon that started it (they come back at its next start)",
                exit_code=1,
            ))  # fmt: skip
        else:
            await _not_running(channel, name)
        return
    try:
        lease, fd = terminals.acquire(request.tty)
    except TerminalBusy as err:
        await channel.reply(ErrorReply(error=str(err), exit_code=1))
        return
    try:
        try:
            await channel.reply(ConsoleReply(tty=lease.number), [fd])
        finally:
            if lease.peer is not None:
                os.close(fd)  # the client's end of the console socketpair
        await _hold(channel, terminals, lease)
    finally:
        lease.release()


async def _hold(channel: Channel, terminals: ContainerTerminals, lease: Lease) -> None:
    """Keep the lease while the command is connected; pass resizes; say when it ends."""
    async with trio.open_nursery() as nursery:

        async def watch() -> None:
            if lease.peer is not None:
                await _first(lease.peer.gone.wait, terminals.closed.wait)
            else:
                await terminals.closed.wait()
            try:
                await channel.reply(Closed())
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            nursery.cancel_scope.cancel()

        nursery.start_soon(watch)
        while True:
            message = await channel.next_request()
            if message is None:
                break
            if isinstance(message, ConsoleResize):  # rows, cols checked (0..65535)
                terminals.resize(lease.number, message.rows, message.cols)
        nursery.cancel_scope.cancel()


async def _first(*waits: Callable[[], Awaitable[object]]) -> None:
    """Return when the first of the given waits returns."""
    async with trio.open_nursery() as nursery:
        for wait in waits:

            async def one(wait: Callable[[], Awaitable[object]] = wait) -> None:
                await wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(one)


async def serve_resize(channel: Channel, request: ConsoleResize, consoles: ConsoleManager) -> None:
    if request.name is None:
        await channel.reply(ErrorReply(error="bad request: 'name' is missing", exit_code=1))
        return
    terminals = consoles.get(request.name)
    if terminals is None:
        # Between the two runs of a reboot, lxc-start -F's console waits for the next one.
        if request.tty == 0 and request.rows > 0 and request.cols > 0 and consoles.resize_carried(
            request.name, request.rows, request.cols
        ):
            await channel.reply(Done())
            return
        await _not_running(channel, request.name)
        return
    try:
        terminals.resize(request.tty, request.rows, request.cols)
    except TerminalBusy as err:
        await channel.reply(ErrorReply(error=str(err), exit_code=1))
        return
    await channel.reply(Done())


async def serve_log(channel: Channel, request: ConsoleLog, consoles: ConsoleManager) -> None:
    terminals = consoles.get(request.name)
    if terminals is None:
        await _not_running(channel, request.name)
        return
    data = terminals.ring.read()
    if request.clear:
        terminals.ring.clear()
    await channel.reply(ConsoleLogReply(data=data.decode("latin-1")))
