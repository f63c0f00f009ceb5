"""The daemon's side of a control connection, guarded against clients that stall or vanish.

Why: a request handler writes replies and waits for containers, and a client may
stop reading (its socket buffer fills, and `send_all` would wait for ever, holding
the connection's task and fd), or go away while the handler waits (a `lxc-stop -t
-1` killed while its container ignores the halt signal: the handler, its fd and
the wait stayed until the container stopped, if ever). `GuardedStream` is the
daemon's ControlStream with both answered:

- a reply that cannot be written within `reply_timeout` seconds ends the
  connection: the socket is shut down both ways (so a task reading it sees the end,
  as if the command had gone) and every later send fails at once;
- `wait_unless_gone(event)` waits for `event` unless the peer hangs up first, so a
  handler stops waiting for a command that is no longer there. The hang-up is seen
  by peeking, never by reading: a request the client pipelined behind this one
  stays where it is, to be read in turn (and then there is no telling whether the
  client is gone until that request is handled, so the wait simply goes on).
  The end of the client's input is not a hang-up by itself: a client that only
  shut its writing half (`shutdown(SHUT_WR)`, as `socat` or `nc -N` do after the
  request) still reads the reply. It is gone once it closed its end entirely
  (POLLHUP: both halves), which `peer_closed` tells and `hung_up` polls for.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import trio

from runtime.daemon.control_async import ControlStream

if TYPE_CHECKING:
    from runtime.daemon.conn_gate import ConnectionGate

#: How often a client that shut its writing half is checked for having closed
#: entirely: the kernel wakes a reader at the end of input, not at the hang-up.
HALF_CLOSED_POLL = 0.2


class GuardedStream(ControlStream):
    """A ControlStream whose sends give up after `reply_timeout` seconds."""

    def __init__(self, stream: trio.SocketStream, *, max_fds: int, reply_timeout: float) -> None:
        super().__init__(stream, max_fds=max_fds)
        self.reply_timeout = reply_timeout
        #: Set once a send timed out (or the gate closed it): unusable from then on.
        self.broken = False
        #: Requests being handled now: a connection with none is idle (runtime.daemon.conn_gate).
        self.requests = 0
        #: The gate that holds this connection, told of every read (its buffer budget).
        self.gate: ConnectionGate | None = None

    @contextmanager
    def running(self) -> Iterator[None]:
        """Around a request's handling: the connection is busy, not to be evicted."""
        self.requests += 1
        try:
            yield
        finally:
            self.requests -= 1

    async def _read_more(self) -> bool:
        more = await super()._read_more()
        if self.gate is not None:
            self.gate.buffered(self)
        return more

    async def send(self, data: bytes, fds: Sequence[int] = ()) -> None:
        if self.broken:
            raise trio.BrokenResourceError("the client stopped reading its replies")
        with trio.move_on_after(self.reply_timeout):
            await super().send(data, fds)
            return
        self.broken = True
        try:
            self.stream.socket.shutdown(socket.SHUT_RDWR)  # readers of it see the end too
        except OSError:
            pass
        raise trio.BrokenResourceError(f"the client read no reply for {self.reply_timeout:g} s")

    def peer_closed(self) -> bool:
        """Whether the client closed its end entirely (not only its writing half)."""
        if self.broken:
            return True
        poller = select.poll()
        poller.register(self.stream.socket.fileno(), 0)  # POLLHUP and POLLERR come anyway
        return any(events & (select.POLLHUP | select.POLLERR) for _, events in poller.poll(0))

    async def hung_up(self) -> None:
        """Return once the peer has hung up; never, if it sent more (read that in turn)."""
        if not self.eof:
            if self.queue or self.reader.pending:
                await trio.sleep_forever()
            try:
                data = await self.stream.socket.recv(1, socket.MSG_PEEK)
            except OSError:
                return  # reset: gone
            if data:
                await trio.sleep_forever()
        # The end of its input: gone, or only done writing (see the module docstring).
        while not self.peer_closed():
            await trio.sleep(HALF_CLOSED_POLL)

    async def wait_unless_gone(self, event: trio.Event) -> bool:
        """Wait for `event`; False if the peer hung up first (stop waiting for it)."""
        gone = False
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                nonlocal gone
                await self.hung_up()
                gone = True
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
            await event.wait()
            nursery.cancel_scope.cancel()
        return event.is_set() or not gone
