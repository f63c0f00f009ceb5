"""A control connection's read loop: one request at a time, or many at once by id.

Why: a trio program that starts 300 containers through the API used to open 300
connections (each a listen-backlog slot, a file descriptor and a task in the
daemon). A request that carries an id (runtime.client.control_protocol) may now
share its connection with others: the daemon serves it in a task of its own in
the connection's nursery and keeps reading, so replies go out in completion
order, each line echoing its id. A request without an id is served as it always
was: read, run to its end, then the next one is read (the commands send one per
connection).

Rules of a shared connection:
- At most MAX_IN_FLIGHT requests run at once on one connection; the next one waits
  for a slot and the socket is not read meanwhile (the client's sends then block:
  back-pressure instead of unbounded tasks).
- Replies never interleave: each line is sent under the connection's send lock.
- Requests that need a connection of their own (fds either way, or the connection
  becomes a stream: `control_protocol.shares_connection`) and requests without an
  id are served inline when nothing is in flight, and refused otherwise.
- When the client goes away (it closed its end, or a reply cannot be sent), the
  connection's requests are cancelled. A client that only shut its writing half
  (the end of its requests) still gets the replies of those in flight. A start
  already handed to the supervisor runs on in the daemon's own nursery (it ends
  RUNNING, or STOPPED if it fails: never half-made); the ops in SHIELDED, whose work
  is not one atomic step, finish their work and only their reply is lost.
- One request's failure (a refused field, a handler's bug) is answered on its id
  and does not disturb the others.
- The REQUEST_TIMEOUT for an idle connection runs only while nothing is in flight;
  its notice carries kind IDLE_KIND: the client knows nothing it sent after the
  last reply was read, and may send it again on a new connection.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from runtime.client import control_protocol as cp
from runtime.daemon.control_async import close_all
from runtime.daemon.peer_watch import HALF_CLOSED_POLL

if TYPE_CHECKING:
    from runtime.daemon.app import ControlConnection

log = logging.getLogger("trio-lxc.daemon")

#: Requests one connection may have in flight. 256: enough for one program's
#: concurrent starts to keep the daemon and spawner busy (2 cores saturate long
#: before), small enough to bound one client's share of the daemon (tasks, memory).
MAX_IN_FLIGHT = 256
#: Ops whose work runs to its end even when their connection goes away: each is
#: several steps (a freeze waits for FROZEN, criu dumps and restores, a device is
#: added inside the container) that must not stop half-way.
SHIELDED = frozenset({"freeze", "unfreeze", "cgroup", "device", "checkpoint", "restore", "shutdown"})
#: The ErrorReply kind of the idle-connection notice.
IDLE_KIND = "idle-timeout"

Handler = Callable[[cp.Request[cp.Reply], list[int]], Awaitable[None]]


class _Shared:
    """The connection's requests in flight: their nursery, slots and send lock."""

    def __init__(self, conn: ControlConnection, nursery: trio.Nursery) -> None:
        self.conn = conn
        self.nursery = nursery
        self.slots = trio.Semaphore(MAX_IN_FLIGHT)
        self.sending = trio.Lock()
        self.in_flight = 0
        #: The ids of the requests in flight: a second request with one of them is
        #: refused (its lines could not be told from the first one's).
        self.ids: set[int] = set()
        #: Set when the last request in flight ends, while a half-closed client waits.
        self.drained: trio.Event | None = None
        #: The pending read's scope while nothing is in flight (its idle deadline).
        self.read_scope: trio.CancelScope | None = None

    def view(self, request_id: int | None) -> ControlConnection:
        """The connection as one request sees it: its own id, the shared send lock."""
        view = copy.copy(self.conn)
        view.request_id = request_id
        view.sending = self.sending
        return view

    async def submit(self, view: ControlConnection, op: cp.Op, request: cp.Request[cp.Reply]) -> None:
        """Wait for a slot (not reading meanwhile), then serve `request` in its task."""
        await self.slots.acquire()
        self.in_flight += 1
        if view.request_id is not None:
            self.ids.add(view.request_id)
        self.nursery.start_soon(self._serve, view, op, request)

    async def _serve(self, view: ControlConnection, op: cp.Op, request: cp.Request[cp.Reply]) -> None:
        handler: Handler = getattr(view, f"op_{op.name.replace('-', '_')}")
        try:
            with trio.CancelScope(shield=op.name in SHIELDED), view.stream.running():
                await handler(request, [])
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError) as err:
            log.debug("control connection ended: %s", err)
            self.nursery.cancel_scope.cancel()  # the client is gone: so are its requests
        except Exception as err:  # noqa: BLE001 - one request's bug fails that request
            log.exception("control request %s failed", op.name)
            await view.reply_quietly(cp.ErrorReply(error=f"internal error: {err}", exit_code=1))
        finally:
            self.in_flight -= 1
            self.ids.discard(view.request_id)  # a None was never added
            self.slots.release()
            if self.in_flight == 0 and self.drained is not None:
                self.drained.set()
            if self.in_flight == 0 and self.read_scope is not None:
                self.read_scope.deadline = trio.current_time() + _request_timeout()


def _request_timeout() -> float:
    from runtime.daemon.app import REQUEST_TIMEOUT

    return REQUEST_TIMEOUT


async def serve(conn: ControlConnection) -> None:
    """Read and serve the connection's requests until it ends; then its requests in
    flight are cancelled (see the module's rules). A ProtocolError (bad framing)
    ends the connection and is raised once the requests are cancelled."""
    error: Exception | None = None
    async with trio.open_nursery() as nursery:
        shared = _Shared(conn, nursery)
        try:
            await _read_loop(conn, shared)
        except Exception as err:  # raised bare below: the caller words it
            error = err
        else:
            await _finish_for_half_closed(conn, shared)
        nursery.cancel_scope.cancel()
    if error is not None:
        raise error


async def _finish_for_half_closed(conn: ControlConnection, shared: _Shared) -> None:
    """The client's input ended with requests in flight: if it only shut its writing
    half it still reads, and they run to their replies; once it closed entirely they
    are cancelled (runtime.daemon.peer_watch)."""
    while shared.in_flight and not conn.stream.peer_closed():
        shared.drained = trio.Event()
        with trio.move_on_after(HALF_CLOSED_POLL):  # the kernel tells no hang-up: polled
            await shared.drained.wait()


async def _read_loop(conn: ControlConnection, shared: _Shared) -> None:
    timeout = _request_timeout()
    while True:
        idle = shared.in_flight == 0
        with trio.CancelScope(deadline=trio.current_time() + timeout if idle else math.inf) as scope:
            shared.read_scope = scope
            item = await conn.next_message()
        shared.read_scope = None
        if scope.cancelled_caught:
            log.info("control connection: no complete request in %g s: closed", timeout)
            await conn.reply_quietly(
                cp.ErrorReply(error=f"no complete request within {timeout:g} s", exit_code=1, kind=IDLE_KIND)
            )
            return
        if item is None:
            return
        message, fds = item
        try:
            await _dispatch(conn, shared, message, fds)
        finally:
            close_all(fds)  # whatever the handler did not take over


async def _dispatch(conn: ControlConnection, shared: _Shared, message: dict[str, object], fds: list[int]) -> None:
    busy = shared.in_flight > 0
    try:
        incoming = cp.decode_request(message, len(fds))
    except cp.RequestError as err:
        close_all(fds)
        fds.clear()
        log.info("request refused: %s", err)
        await (shared.view(err.request_id) if busy else _inline(conn, err.request_id)).reply(err.reply())
        return
    if incoming.id is not None and cp.shares_connection(incoming.request, len(fds)):
        # Refused on that id (the only one it has): a client that reuses an id in
        # flight cannot tell the two apart anyway; ours never does.
        if incoming.id in shared.ids:
            error = f"bad request: id {incoming.id} is already in flight on this connection"
            log.info("request refused: %s", error)
            await shared.view(incoming.id).reply(cp.ErrorReply(error=error, exit_code=1))
            return
        await shared.submit(shared.view(incoming.id), incoming.op, incoming.request)
        return
    if busy:  # its lines could not be told from the others', or it would take the stream
        close_all(fds)
        fds.clear()
        why = "has no id" if incoming.id is None else "needs a connection of its own"
        error = f"bad request: '{incoming.op.name}' {why}: {shared.in_flight} requests are in flight on this connection"
        log.info("request refused: %s", error)
        await shared.view(incoming.id).reply(cp.ErrorReply(error=error, exit_code=1))
        return
    handler: Handler = getattr(_inline(conn, incoming.id), f"op_{incoming.op.name.replace('-', '_')}")
    with conn.stream.running():  # busy: never evicted for room (runtime.daemon.conn_gate)
        await handler(incoming.request, fds)


def _inline(conn: ControlConnection, request_id: int | None) -> ControlConnection:
    """The connection serving one request at a time (no lock: nothing else sends)."""
    conn.request_id = request_id
    return conn
