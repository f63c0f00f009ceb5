"""The monitor bus server: a trio Unix-socket server that fans events out to subscribers.

The runtime daemon owns one `BusServer` per lxcpath and calls its `publish_*`
methods on every transition. Those methods are synchronous and never wait: each
event is encoded once, kept in a ring of recent events, and written straight to
every matching subscriber's socket with one non-blocking write. Only when a
socket's buffer is full does the rest go to that subscriber's own bounded backlog,
which its writer task drains when the socket becomes writable again. A
subscriber whose backlog is full has fallen behind; it is told so (an `overflow`
line, best effort, within `overflow_grace` seconds) and disconnected, and nobody
else notices. A container's supervisor therefore never waits for a slow
`lxc-monitor`.

Why a direct write rather than a queue and a task per subscriber: with 50
subscribers a queue-and-task design costs 50 task switches and 50 `send_all`
calls per event, and measured (bench/bus.py, 2 CPUs) it topped out near 400
events/s with a p50 delay over 10 ms; the direct write costs one syscall per
subscriber and wakes no task while subscribers keep up. It relies on Python
ignoring SIGPIPE (the default), so a vanished peer is an EPIPE, not a signal.
The loop of writes runs as SCHED_FIFO where the daemon may (bus.sched): else the
subscribers it wakes preempt it midway, and the last one waits for all of them.

On subscribe the server replays what was asked for from the ring (`since`;
a `since` that names another server's epoch, sent by a client reconnecting
after a daemon restart, replays this server's whole ring), sends the last known state of every matching container (`snapshot` lines), then
`synced`, then live events. The replay, the snapshot and the registration of the
subscriber's queue happen in one synchronous step with no checkpoint in between,
so no event can fall between what the snapshot shows and what arrives live:
`lxc-wait` cannot miss a state the container is already in.

Trio has no public Unix-socket listener, so the server binds a `trio.socket`
itself (to a temporary name, chmod 0600, then renamed over the real path so a
client never sees a half-made socket) and wraps it in `trio.SocketListener`.

Every connection is untrusted, and none may end the server: the peer's
credentials are checked first (SO_PEERCRED: only root or the server's own uid),
before one byte of it is decoded; its request line is bounded in size
(protocol.MAX_LINE) and nesting (bus.jsonlimit) and must come within
HANDSHAKE_TIMEOUT; the server only narrows by exact names and states and never
runs a subscriber's regex (the client filters: see bus.protocol); and any other
error in serving one connection is logged once and closes that connection only.
"""

from __future__ import annotations

import errno
import logging
import os
import socket as stdlib_socket
import stat
import struct
import time
from collections import deque
from collections.abc import Callable, Mapping

import trio

from bus.admission import Admission, listen_backlog
from bus.protocol import (
    MAX_LINE,
    BusError,
    BusProtocolError,
    CreatedEvent,
    Decoder,
    DestroyedEvent,
    Error,
    Event,
    ExitEvent,
    InvalidFilter,
    Overflow,
    Selection,
    SnapshotItem,
    StateEvent,
    Subscribe,
    Synced,
    UnknownMessage,
    check_state,
    encode,
    exit_status,
)
from bus.sched import FanoutPriority

#: How long a new connection may take to send its subscribe line.
HANDSHAKE_TIMEOUT = 10.0
#: Most backlog bytes joined into one write when a subscriber catches up.
WRITE_CHUNK = 256 * 1024
#: How long a refused peer's unread request is drained so the refusal reaches it.
REFUSAL_LINGER = 1.0
_ACCEPT_RETRY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}

log = logging.getLogger("trio-lxc.bus")


class BusAddressInUse(BusError, OSError):
    """Another live server already listens on the socket path."""


SnapshotSource = Callable[[], Mapping[str, str]]


class _Subscriber:
    """One connected subscriber: what it asked for, its socket and its backlog of unsent bytes."""

    __slots__ = (
        "selection",
        "fd",
        "backlog",
        "limit",
        "wakeup",
        "scope",
        "overflowed",
        "gone",
        "notice",
    )

    def __init__(self, selection: Selection, fd: int, limit: int) -> None:
        self.selection = selection
        self.fd = fd
        #: Encoded events not yet written (the socket was full), oldest first.
        self.backlog: deque[bytes] = deque()
        self.limit = limit
        self.wakeup = trio.Event()
        self.scope = trio.CancelScope()
        self.overflowed = False
        #: Unregistered: never write to `fd` again (its number may be reused).
        self.gone = False
        #: Why it is dropped, when not for falling behind (its `overflow` line says it).
        self.notice: str | None = None

    def deliver(self, data: bytes) -> bool:
        """Write or queue one event without blocking; False if this subscriber must go."""
        backlog = self.backlog
        if backlog:
            if len(backlog) >= self.limit:
                self.overflowed = True
                return False
            backlog.append(data)
            return True
        try:
            written = os.write(self.fd, data)
        except BlockingIOError:
            written = 0
        except OSError:
            return False  # hung up (EPIPE, ECONNRESET): drop quietly
        if written < len(data):
            backlog.append(data[written:])
            self.wakeup.set()
        return True

    def flush(self) -> bool:
        """Write as much of the backlog as the socket takes now; True if it all went."""
        backlog = self.backlog
        while backlog:
            chunks = []
            size = 0
            while backlog and size < WRITE_CHUNK:
                chunk = backlog.popleft()
                chunks.append(chunk)
                size += len(chunk)
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            try:
                written = os.write(self.fd, data)
            except BlockingIOError:
                written = 0
            if written < len(data):
                backlog.appendleft(data[written:])
                return False
        return True


class BusServer:
    """Serve the monitor bus on `socket_path`; publish with the synchronous `publish_*`."""

    def __init__(
        self,
        socket_path: str,
        *,
        queue_size: int = 1024,
        ring_size: int = 4096,
        lxcpath: str | None = None,
        snapshot_source: SnapshotSource | None = None,
        overflow_grace: float = 1.0,
    ) -> None:
        if queue_size < 1 or ring_size < 1:
            raise ValueError("queue_size and ring_size must be at least 1")
        self.socket_path = socket_path
        self.queue_size = queue_size
        self.lxcpath = lxcpath
        #: Called (synchronously) at every subscribe: {name: state} of every container
        #: defined in the lxcpath, so a container the daemon never started shows as
        #: STOPPED. Published states take precedence over what it returns.
        self.snapshot_source: SnapshotSource | None = snapshot_source
        self.overflow_grace = overflow_grace
        #: Names this server instance; a restarted daemon has another epoch.
        self.epoch = os.urandom(8).hex()
        self._seq = 0
        self._ring: deque[tuple[Event, bytes]] = deque(maxlen=ring_size)
        self._evicted_seq = 0
        self._evicted_time: float | None = None
        self._known: dict[str, str] = {}
        self._subscribers: set[_Subscriber] = set()
        self._scope: trio.CancelScope | None = None
        self._stopped: trio.Event | None = None
        self.overflows = 0
        #: Bounds the connections held (bus.admission): the oldest goes to make room.
        self.admission = Admission()
        #: Runs each fan-out's writes as SCHED_FIFO where allowed (bus.sched).
        self._fanout = FanoutPriority()

    # ------------------------------------------------------------------ state

    @property
    def seq(self) -> int:
        """The sequence number of the last published event (0 before the first)."""
        return self._seq

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def set_known(self, states: Mapping[str, str]) -> None:
        """Replace the known states (the daemon does this after re-adopting containers)."""
        self._known = {name: check_state(state) for name, state in states.items()}

    def snapshot(self) -> dict[str, str]:
        """{name: state} as a new subscriber sees it: the source, overridden by published states."""
        merged: dict[str, str] = {}
        if self.snapshot_source is not None:
            try:
                merged.update(self.snapshot_source())
            except Exception:  # noqa: BLE001 - a broken source must not break subscribing
                pass
        merged.update(self._known)
        return merged

    # ------------------------------------------------------------------ publishing

    def publish_state(self, name: str, state: str, reason: str | None = None) -> StateEvent:
        """Announce a transition (`reason`: why, for ABORTING); never blocks (a
        subscriber that cannot keep up is dropped)."""
        check_state(state)
        self._known[name] = state
        event = StateEvent(self._next_seq(), time.time(), name, state, self.lxcpath, reason)
        self._publish(event, name, state)
        return event

    def publish_exit(
        self, name: str, exit_code: int | None = None, signal: int | None = None
    ) -> ExitEvent:
        """Announce the exit of a container's init or application (code, or killing signal)."""
        status = exit_status(exit_code, signal)
        event = ExitEvent(
            self._next_seq(), time.time(), name, status, exit_code, signal, self.lxcpath
        )
        self._publish(event, name, None)
        return event

    def publish_created(self, name: str) -> CreatedEvent:
        """Announce a newly defined container (known as STOPPED from now on)."""
        self._known.setdefault(name, "STOPPED")
        event = CreatedEvent(self._next_seq(), time.time(), name, self.lxcpath)
        self._publish(event, name, None)
        return event

    def forget(self, name: str) -> None:
        """Drop `name`'s published state from the snapshot (no event): the source
        answers for it from now on (a defined container that stopped), or it is gone
        (a name no config defines, once STOPPED)."""
        self._known.pop(name, None)

    def publish_destroyed(self, name: str) -> DestroyedEvent:
        """Announce a removed container (it leaves the snapshot)."""
        self._known.pop(name, None)
        event = DestroyedEvent(self._next_seq(), time.time(), name, self.lxcpath)
        self._publish(event, name, None)
        return event

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _publish(self, event: Event, name: str, state: str | None) -> None:
        data = encode(event)
        ring = self._ring
        if len(ring) == ring.maxlen:
            oldest = ring[0][0]
            self._evicted_seq = oldest.seq
            self._evicted_time = oldest.time
        ring.append((event, data))
        dropped: list[_Subscriber] | None = None
        # No wakee may preempt the loop (bus.sched): the subscribers run after it.
        uninterrupted = len(self._subscribers) > 1 and self._fanout.enter()
        try:
            for sub in self._subscribers:
                if sub.selection.wants(name, state) and not sub.deliver(data):
                    dropped = [sub] if dropped is None else [*dropped, sub]
        finally:
            if uninterrupted:
                self._fanout.leave()
        if dropped:
            for sub in dropped:
                self._drop(sub)

    def _evict(self, sub: _Subscriber, reason: str) -> None:
        """Make room (bus.admission): dropped as one that fell behind, told `reason`."""
        sub.overflowed = True
        sub.notice = reason
        self._drop(sub)

    def _drop(self, sub: _Subscriber) -> None:
        """Stop feeding a subscriber; an overflowed one gets `overflow_grace` to be told."""
        self._unregister(sub)
        if sub.overflowed:
            self.overflows += 1
            sub.scope.deadline = min(sub.scope.deadline, trio.current_time() + self.overflow_grace)
        else:
            sub.scope.cancel()

    # ------------------------------------------------------------------ subscribing

    def _register(self, request: Subscribe, flt: Selection, fd: int) -> _Subscriber:
        """Replay, snapshot, `synced` and the subscriber's registration, in one step with no await.

        The initial block goes first in the backlog, so live events queue behind it.
        """
        parts: list[bytes] = []
        replay_complete: bool | None = None
        if request.since is not None or request.since_time is not None:
            replay_complete = self._replay(request, flt, parts)
        lxcpath = self.lxcpath
        for name, state in sorted(self.snapshot().items()):
            if flt.wants(name, state):
                parts.append(encode(SnapshotItem(name, state, lxcpath)))
        parts.append(encode(Synced(self._seq, self.epoch, replay_complete)))
        sub = _Subscriber(flt, fd, self.queue_size)
        sub.backlog.append(b"".join(parts))
        self._subscribers.add(sub)
        return sub

    def _replay(self, request: Subscribe, flt: Selection, parts: list[bytes]) -> bool:
        """Append the ring's matching events since the requested point; True if none is missing."""
        if request.epoch is not None and request.epoch != self.epoch:
            # Another server's numbering: a client back after a daemon restart. Only
            # one daemon serves an lxcpath at a time, so it has seen none of ours:
            # replay all of them, so a start that happened before it reconnected
            # is not lost. Complete while the ring still holds our first event.
            for event, data in self._ring:
                if flt.matches(event):
                    parts.append(data)
            return self._evicted_seq == 0
        if request.since is not None:
            since = request.since
            if since > self._seq:
                return False
            for event, data in self._ring:
                if event.seq > since and flt.matches(event):
                    parts.append(data)
            return since >= self._evicted_seq
        since_time = request.since_time
        assert since_time is not None
        for event, data in self._ring:
            if event.time >= since_time and flt.matches(event):
                parts.append(data)
        return self._evicted_time is None or self._evicted_time < since_time

    def _unregister(self, sub: _Subscriber) -> None:
        self._subscribers.discard(sub)
        sub.gone = True
        sub.wakeup.set()

    # ------------------------------------------------------------------ serving

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen and serve until cancelled (or `aclose`); removes the socket file on the way out."""
        if self._stopped is not None:
            raise BusError("this BusServer is already serving")
        self._stopped = trio.Event()
        try:
            sock = await self._bind()
            identity = _identity(self.socket_path)
            try:
                listener = trio.SocketListener(sock)
                with trio.CancelScope() as scope:
                    self._scope = scope
                    async with listener, trio.open_nursery() as nursery:
                        task_status.started()
                        await self._accept_loop(listener, nursery)
            finally:
                for sub in list(self._subscribers):
                    self._unregister(sub)
                # Only our own socket: a successor may already have renamed its own over it.
                if _identity(self.socket_path) == identity:
                    try:
                        os.unlink(self.socket_path)
                    except OSError:
                        pass
        finally:
            self._scope = None
            self._stopped.set()

    async def aclose(self) -> None:
        """Stop serving, disconnect every subscriber, remove the socket file."""
        if self._scope is not None:
            self._scope.cancel()
        if self._stopped is not None:
            await self._stopped.wait()

    async def _bind(self) -> trio.socket.SocketType:
        """A listening socket at socket_path (mode 0600); refuses if a live server is there."""
        path = self.socket_path
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None:
            if not stat.S_ISSOCK(mode):
                raise BusError(f"{path} exists and is not a socket; not removing it")
            if await _is_live(path):
                raise BusAddressInUse(errno.EADDRINUSE, f"a bus server already listens on {path}")
        temporary = f"{path}.{os.getpid()}.tmp"
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        sock = trio.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
        try:
            await sock.bind(temporary)
            os.chmod(temporary, 0o600)
            sock.listen(listen_backlog())
            os.rename(temporary, path)  # atomic: replaces a stale socket
        except BaseException:
            sock.close()
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise
        return sock

    async def _accept_loop(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        while True:
            try:
                stream = await listener.accept()
            except OSError as err:
                if err.errno not in _ACCEPT_RETRY_ERRNOS:
                    raise
                await trio.sleep(0.1)  # out of fds or memory: wait for some to come back
                continue
            nursery.start_soon(self._handle, stream)

    async def _handle(self, stream: trio.SocketStream) -> None:
        """Serve one connection; whatever goes wrong with it ends it, never the server."""
        self.admission.admit(stream, lambda reason: _end_handshake(stream, reason))
        try:
            async with stream:
                await self._serve_subscriber(stream)
        except* (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # the subscriber went away; nothing to tell anyone
        except* Exception:
            log.exception("bus connection failed")
        finally:
            self.admission.leave(stream)

    async def _serve_subscriber(self, stream: trio.SocketStream) -> None:
        # Credentials first: nothing a stranger sends is ever decoded.
        refusal = _peer_refusal(stream)
        if refusal is not None:
            await _refuse(stream, refusal)
            return
        decoder = Decoder()
        request = None
        with trio.move_on_after(HANDSHAKE_TIMEOUT):
            try:
                request = await _read_request(stream, decoder)
            except BusProtocolError as err:
                await _refuse(stream, str(err))
                return
        if not isinstance(request, Subscribe):
            return  # timed out or closed before subscribing
        try:
            selection = request.selection()
        except InvalidFilter as err:
            await _send_error(stream, str(err))
            return
        sub = self._register(request, selection, stream.socket.fileno())
        self.admission.subscribed(stream, lambda reason: self._evict(sub, reason))
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_cancel_on_eof, stream, nursery.cancel_scope)
                await self._write(stream, sub)
                nursery.cancel_scope.cancel()
        finally:
            self._unregister(sub)  # before the stream (and its fd number) is closed

    async def _write(self, stream: trio.SocketStream, sub: _Subscriber) -> None:
        """Drain the backlog whenever the socket is full; the overflow notice at the end."""
        with sub.scope:
            while True:
                if sub.backlog:
                    if not sub.flush():
                        await trio.lowlevel.wait_writable(stream.socket)
                    continue
                if sub.gone:
                    break
                sub.wakeup = trio.Event()
                await sub.wakeup.wait()
            if sub.overflowed:
                notice = Overflow(
                    sub.notice
                    or f"more than {self.queue_size} events queued: disconnected; "
                    "resubscribe (with since) to resync"
                )
                await stream.send_all(encode(notice))


def _identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


async def _is_live(path: str) -> bool:
    """Whether something accepts connections on the Unix socket at path."""
    probe = trio.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    try:
        with trio.move_on_after(1.0):
            await probe.connect(path)
            return True
        return True  # a listener that does not even accept in time is not stale
    except OSError:
        return False
    finally:
        probe.close()


def _peer_refusal(stream: trio.SocketStream) -> str | None:
    """None if the peer may subscribe (root or our uid), else the reason it may not."""
    size = struct.calcsize("3i")
    try:
        raw = stream.socket.getsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_PEERCRED, size)
    except OSError as err:
        return f"cannot check the peer's credentials: {err.strerror}"
    _pid, uid, _gid = struct.unpack("3i", raw)
    own = os.geteuid()
    if uid in (0, own):
        return None
    return f"permission denied: uid {uid} may not subscribe (only root or uid {own})"


async def _read_request(stream: trio.SocketStream, decoder: Decoder) -> object:
    """The first message of a connection (a Subscribe, or an error); None at EOF."""
    while True:
        data = await stream.receive_some(65536)
        if not data:
            return None
        messages = decoder.feed(data)
        if messages:
            first = messages[0]
            if not isinstance(first, Subscribe):
                kind = first.type if isinstance(first, UnknownMessage) else first.TYPE
                raise BusProtocolError(f"expected a 'subscribe' message, got '{kind}'")
            return first


def _end_handshake(stream: trio.SocketStream, reason: str) -> None:
    """End a connection that has not subscribed (bus.admission): an `error` line if the
    socket takes it now, then shutdown; its task sees the end and finishes."""
    sock = stream.socket
    try:
        os.write(sock.fileno(), encode(Error(reason)))
    except OSError:
        pass
    try:
        sock.shutdown(stdlib_socket.SHUT_RDWR)
    except OSError:
        pass


async def _send_error(stream: trio.SocketStream, message: str) -> None:
    with trio.move_on_after(1.0):
        await stream.send_all(encode(Error(message)))


async def _refuse(stream: trio.SocketStream, message: str) -> None:
    """Send an error, then read and drop what the peer still sends, for a while.

    The client sends its request at once; closing with that unread would reset the
    connection, and the client would see a broken pipe instead of the reason.
    Nothing read here is decoded, and at most MAX_LINE bytes are taken.
    """
    await _send_error(stream, message)
    with trio.move_on_after(REFUSAL_LINGER):
        try:
            await stream.send_eof()
            left = MAX_LINE
            while left > 0:
                data = await stream.receive_some(min(left, 65536))
                if not data:
                    break
                left -= len(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass


async def _cancel_on_eof(stream: trio.SocketStream, scope: trio.CancelScope) -> None:
    """Notice a subscriber that hung up while no event was due (else it lingers until one is)."""
    while await stream.receive_some(4096):
        pass  # nothing more is expected after subscribe; ignore it
    scope.cancel()
