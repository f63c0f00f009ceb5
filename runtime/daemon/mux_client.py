"""Many typed requests from one trio program over one control connection.

Why: `AsyncClient` opens a connection per request, so 300 concurrent starts cost
the daemon 300 accepts, 300 connection tasks and 300 fds, and their connects
queue on the listen backlog. `MuxClient` (what runtime.api.Runtime uses) sends
every request that may share a connection (control_protocol.shares_connection)
on one connection with an id, and a reader task routes each reply line to the
request of that id, in whatever order the daemon completes them (runtime.daemon.
control_mux serves them). Requests that need a connection of their own (fds, a
console, an attached start, start-many/stop-many) go through `AsyncClient`.

The connection is opened on first use (the daemon started if none answers, as
the commands do) and belongs to the trio run it was opened in (a RunVar: a
client may serve several runs, one after another or in threads): its reader is
a system task of that run. It is opened again when it ended: the daemon restarted,
or we closed it after LINGER seconds with nothing in flight (so an idle program
does not keep the daemon from its idle exit, and we close before the daemon's
idle timeout can). A request sent on a connection the daemon closed without
reading it (its idle notice, or a send that failed) is sent again on a new one;
a request in flight when the daemon went away fails with DaemonUnavailable.
One request's error reply or malformed reply fails that request only. A caller
cancelled while waiting leaves its request to the daemon; its reply is dropped.
Sending is shielded (a line cut short would garble the next): when the daemon
has its MAX_IN_FLIGHT requests of this connection running and stops reading, a
caller is cancelled only once its line is written.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence

import trio

from runtime.client.control import ProtocolError
from runtime.client.control_protocol import (
    ID_MAX,
    ErrorReply,
    Event,
    Op,
    Reply,
    ReplyError,
    Request,
    decode_reply,
    encode_request,
    op_of,
    request_id_of,
    result,
    shares_connection,
)
from runtime.client.daemon_client import DaemonUnavailable
from runtime.daemon.control_async import AsyncClient, ControlStream, close_all
from runtime.daemon.control_mux import IDLE_KIND

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runtime.client.control_protocol import R


def _linger() -> float:
    """Seconds an idle connection is kept: well within the daemon's idle timeout
    (the same environment variable sets it: runtime.daemon.app.REQUEST_TIMEOUT)."""
    timeout = float(os.environ.get("TRIO_LXC_REQUEST_TIMEOUT", "30"))
    return min(5.0, timeout / 3)


class _Resend(Exception):
    """The daemon never read the request: send it again on a new connection."""


class _Pending:
    """One request in flight: its op (to decode its lines), its events' callback, and
    its outcome once the final line came or the connection ended."""

    __slots__ = ("op", "on_event", "done", "reply", "error")

    def __init__(self, op: Op, on_event: Callable[[Event], None] | None) -> None:
        self.op = op
        self.on_event = on_event
        self.done = trio.Event()
        self.reply: Reply | ErrorReply | None = None
        self.error: Exception | None = None

    def finish(self, reply: Reply | ErrorReply | None = None, error: Exception | None = None) -> None:
        self.reply, self.error = reply, error
        self.done.set()


class _Connection:
    """One open shared connection: its stream, send lock, requests in flight, reader."""

    def __init__(self, stream: ControlStream) -> None:
        self.stream = stream
        self.sending = trio.Lock()
        self.pending: dict[int, _Pending] = {}
        self.closed = False
        #: Bumped on every send and reply: the lingering close looks for a quiet spell.
        self.activity = 0

    async def read(self) -> None:
        """The reader (a system task): route every line by id until the end, then fail
        (or hand back for resending) whatever is still in flight."""
        why = "the runtime daemon closed the connection (see its log)"
        resend = False
        try:
            while True:
                item = await self.stream.receive()
                if item is None:
                    break
                data, fds = item
                close_all(fds)  # no shared op sends fds
                self.activity += 1
                resend = self._route(data) or resend
        except (ProtocolError, OSError, trio.BrokenResourceError, trio.ClosedResourceError) as err:
            why = f"the connection to the runtime daemon failed: {err}"
        except Exception as err:  # noqa: BLE001 - a system task must not crash the program's run
            why = f"the connection to the runtime daemon failed: {type(err).__name__}: {err}"
        finally:
            self.closed = True
            for pending in self.pending.values():
                pending.finish(error=_Resend() if resend else DaemonUnavailable(why))
            self.pending.clear()
            self.stream.close_fds()
            self.stream.stream.socket.close()

    def _route(self, data: dict[str, object]) -> bool:
        """Hand a line to its request; True for the daemon's idle notice (it read
        nothing after it: what is in flight now was never read)."""
        request_id = request_id_of(data)
        if request_id is None:
            return data.get("ok") is False and data.get("kind") == IDLE_KIND
        pending = self.pending.get(request_id)
        if pending is None:
            return False  # a cancelled caller's
        try:
            line = decode_reply(pending.op, data)
        except ReplyError as err:
            del self.pending[request_id]
            pending.finish(error=err)
            return False
        if isinstance(line, Event):
            if pending.on_event is not None:
                try:
                    pending.on_event(line)
                except Exception as err:  # noqa: BLE001 - the caller's callback fails its request
                    del self.pending[request_id]
                    pending.finish(error=err)
            return False
        del self.pending[request_id]
        pending.finish(reply=line)
        return False

    async def linger(self) -> None:
        """Close the connection once nothing has been in flight for LINGER seconds
        (a system task, as the reader)."""
        wait = _linger()
        while not self.closed:
            seen = self.activity
            await trio.sleep(wait)
            if not self.pending and seen == self.activity and not self.closed:
                self.closed = True
                # Both halves: we want no more replies, and the daemon takes a client
                # that only stopped writing for one still reading (runtime.daemon.
                # peer_watch): the requests of abandoned calls would run on, holding
                # the connection. Our reader sees the end at once and ends.
                self.stream.stream.socket.shutdown(socket.SHUT_RDWR)
                return


class _RunState:
    """The client's state in one trio run (a RunVar): its connection, and the lock
    that makes concurrent first calls open one connection, not several."""

    def __init__(self) -> None:
        self.opening = trio.Lock()
        self.connection: _Connection | None = None


class MuxClient:
    """Typed requests to one lxcpath's daemon from a trio program, concurrently, over
    one connection (see the module's docstring)."""

    def __init__(self, lxcpath: str) -> None:
        self.lxcpath = os.path.abspath(lxcpath)
        self.own = AsyncClient(self.lxcpath)  # connects, starts the daemon; own-connection ops
        self._run: trio.lowlevel.RunVar[_RunState] = trio.lowlevel.RunVar(f"trio-lxc mux {self.lxcpath}")
        self._next_id = 0

    async def call(
        self,
        request: Request[R],
        fds: Sequence[int] = (),
        on_event: Callable[[Event], None] | None = None,
    ) -> R:
        """Send one request and return its final reply; RequestFailed if it failed."""
        if not shares_connection(request, len(fds)):
            return await self.own.call(request, fds, on_event)
        for attempt in range(3):
            try:
                return await self._call_shared(request, on_event)
            except _Resend:
                if attempt == 2:
                    raise DaemonUnavailable("the runtime daemon kept closing the connection") from None
        raise AssertionError("unreachable")

    async def _call_shared(self, request: Request[R], on_event: Callable[[Event], None] | None) -> R:
        connection = await self._open()
        self._next_id = self._next_id + 1 if self._next_id < ID_MAX else 1
        request_id = self._next_id
        pending = connection.pending[request_id] = _Pending(op_of(request), on_event)
        try:
            try:
                # Shielded: a line cut short by a cancellation would garble the next one.
                with trio.CancelScope(shield=True):
                    async with connection.sending:
                        connection.activity += 1
                        await connection.stream.send(encode_request(request, request_id))
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
                # Not delivered whole: the daemon cannot have read it.
                connection.closed = True
                raise _Resend from None
            await pending.done.wait()
        finally:
            connection.pending.pop(request_id, None)
        if pending.error is not None:
            raise pending.error
        assert pending.reply is not None
        return result(request, pending.reply)

    async def _open(self) -> _Connection:
        """The run's open connection, or a new one (its reader and linger started)."""
        try:
            state = self._run.get()
        except LookupError:
            state = _RunState()
            self._run.set(state)
        connection = state.connection
        if connection is not None and not connection.closed:
            return connection
        async with state.opening:
            connection = state.connection
            if connection is not None and not connection.closed:
                return connection
            connection = _Connection(await self.own.connect())
            trio.lowlevel.spawn_system_task(connection.read, name="trio-lxc control reader")
            trio.lowlevel.spawn_system_task(connection.linger, name="trio-lxc control linger")
            state.connection = connection
            return connection
