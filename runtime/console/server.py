"""The control requests for terminals, served on a command's control connection.

- `console` {"name", "tty": N (-1: the first free tty, 0: the console)}: the reply
  `{"ok": true, "tty": N}` carries one fd (SCM_RIGHTS): the tty's master, or for the
  console one end of a socketpair the daemon pumps. The lease on the terminal lasts
  until the connection closes; meanwhile the command may send `console-resize`
  {"rows", "cols"} on it, and it is sent `{"event": "closed"}` when the container
  stops.
- `console-resize` {"name", "tty", "rows", "cols"} on a connection of its own (how
  `lxc-start -F` passes SIGWINCH on).
- `console-log` {"name", "clear": bool}: the console ring buffer, as latin-1 text.

Errors use LXC's wording where LXC has one (`NAME is not running`, `Denied access
to tty`), exit code 1.
"""

from __future__ import annotations

import array
import os
import socket
from typing import Any

import trio

from runtime.console.terminals import TerminalBusy
from runtime.control import encode
from runtime.daemon.requests import RequestError, parse_console_resize


async def reply_with_fds(conn: Any, message: dict[str, object], fds: list[int]) -> None:
    """One reply line with fds attached to its first byte."""
    data = encode(message)
    if fds:
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        sent = await conn.stream.socket.sendmsg([data], ancillary)
        data = data[sent:]
    if data:
        await conn.stream.send_all(data)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def _terminals(conn: Any, name: str) -> Any:
    return conn.daemon.consoles.get(name)


async def _not_running(conn: Any, name: str) -> None:
    await conn.reply({"ok": False, "error": f"{name} is not running", "exit_code": 1})


async def serve_console(conn: Any, message: dict[str, object], fds: list[int]) -> None:
    _close_all(fds)
    name = str(message.get("name"))
    try:
        number = int(message.get("tty", -1))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = -1
    terminals = _terminals(conn, name)
    if terminals is None:
        if name in conn.daemon.supervisors:
            await conn.reply({
                "ok": False, "exit_code": 1,
                "error": f"Denied access to tty: the terminals of {name} were lost with the "
                         "daemon that started it (they come back at its next start)",
            })  # fmt: skip
        else:
            await _not_running(conn, name)
        return
    try:
        lease, fd = terminals.acquire(number)
    except TerminalBusy as err:
        await conn.reply({"ok": False, "error": str(err), "exit_code": 1})
        return
    try:
        try:
            await reply_with_fds(conn, {"ok": True, "tty": lease.number}, [fd])
        finally:
            if lease.peer is not None:
                os.close(fd)  # the client's end of the console socketpair
        await _hold(conn, terminals, lease)
    finally:
        lease.release()


async def _hold(conn: Any, terminals: Any, lease: Any) -> None:
    """Keep the lease while the command is connected; pass resizes; say when it ends."""
    async with trio.open_nursery() as nursery:

        async def watch() -> None:
            if lease.peer is not None:
                await _first(lease.peer.gone.wait, terminals.closed.wait)
            else:
                await terminals.closed.wait()
            try:
                await conn.reply({"event": "closed"})
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            nursery.cancel_scope.cancel()

        nursery.start_soon(watch)
        while True:
            item = await conn.next_message()
            if item is None:
                break
            request, extra = item
            _close_all(extra)
            if request.get("op") == "console-resize":
                _resize(terminals, lease.number, request)
        nursery.cancel_scope.cancel()


async def _first(*waits: Any) -> None:
    """Return when the first of the given waits returns."""
    async with trio.open_nursery() as nursery:
        for wait in waits:

            async def one(wait: Any = wait) -> None:
                await wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(one)


def _resize(terminals: Any, number: int, request: dict[str, object]) -> None:
    try:  # rows and cols are checked (0..65535): a bad size is ignored, never raised
        size = parse_console_resize(request)
    except RequestError:
        return
    terminals.resize(number, size.rows, size.cols)


async def serve_resize(conn: Any, message: dict[str, object], fds: list[int]) -> None:
    _close_all(fds)
    name = str(message.get("name"))
    terminals = _terminals(conn, name)
    if terminals is None:
        await _not_running(conn, name)
        return
    try:
        number = int(message.get("tty", 0))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = 0
    _resize(terminals, number, message)
    await conn.reply({"ok": True})


async def serve_log(conn: Any, message: dict[str, object], fds: list[int]) -> None:
    _close_all(fds)
    name = str(message.get("name"))
    terminals = _terminals(conn, name)
    if terminals is None:
        await _not_running(conn, name)
        return
    data = terminals.ring.read()
    if message.get("clear"):
        terminals.ring.clear()
    await conn.reply({"ok": True, "data": data.decode("latin-1")})
