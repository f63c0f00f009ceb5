"""The blocking monitor-bus client, for `lxc-monitor`, `lxc-wait` and scripts (stdlib only).

    client = BusClient("/run/trio-lxc/.../bus.sock")
    with client.subscribe("foo|bar", states={"RUNNING"}) as events:
        for event in events:
            ...

The regex is matched here, in the subscriber's process (the server sends events
by exact names or all of them; see bus.protocol). A subscription is an iterator
of protocol messages: the replay (if `since` was
given), one `SnapshotItem` per matching container, `Synced`, then live events.
When the connection is lost (the daemon restarted, or this subscriber fell behind
and got `overflow`), it reconnects with backoff, asks for a replay since the last
sequence number it saw (lossless when the same server still holds those events
in its ring; a restarted daemon replays everything it has published so far), and
yields a `Reconnected` marker followed by the replay, a fresh snapshot and `Synced`. `socket_path` may be a callable, called at every (re)connect, so the
commands can start the daemon again if it is gone.

Deadlines are monotonic-clock times checked around `poll()`, so a timeout is
honoured to the millisecond (lxc-wait's `-t 0.3` returns after 0.3 s). Several
subscriptions can be waited on together with `iter_many` (lxc-monitor with
several `-P`); each subscription exposes its fd and a non-blocking `poll()` for
use in another event loop.
"""

from __future__ import annotations

import _socket  # not `socket`, which also imports selectors: start-up time matters here
import select
import time

from bus.endpoint import RETRY_MIN, RETRYABLE, BusEndpoint, next_delay
from bus.protocol import (
    BusConnectionError,
    BusError,
    BusOverflow,
    BusProtocolError,
    BusRefused,
    BusTimeout,
    Decoder,
    Filter,
    Message,
    Reconnected,
    Subscribe,
    SubscriberState,
    encode,
)

__all__ = [
    "BusClient",
    "BusConnectionError",
    "BusError",
    "BusOverflow",
    "BusRefused",
    "BusTimeout",
    "Subscription",
    "iter_many",
]

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: `typing` costs the client commands at start-up
    from collections import deque
    from collections.abc import Iterable, Iterator
else:  # the same type; `collections` itself costs ~2 ms at a command's start-up
    from _collections import deque


#: Bytes read at once: below malloc's mmap threshold, so a read costs no mmap/munmap.
RECV_SIZE = 65536


def _now() -> float:
    return time.monotonic()


class BusClient(BusEndpoint):
    """Where the bus is, and how hard to try reaching it; `subscribe` connects."""

    def subscribe(
        self,
        regex: str = ".*",
        states: Iterable[str] | None = None,
        since: int | None = None,
        *,
        since_time: float | None = None,
        timeout: float | None = None,
        reconnect: bool = True,
    ) -> Subscription:
        """Connect and subscribe; InvalidFilter at once for a bad regex or state.

        `timeout` (seconds from now) sets the subscription's deadline; iterating past
        it raises BusTimeout. `since` replays events after that sequence number,
        `since_time` those published at or after that Unix time.
        """
        flt = Filter(regex, states)  # the errors belong to the caller, before any IO
        request = Subscribe.for_filter(flt, since, since_time)
        deadline = None if timeout is None else _now() + timeout
        return Subscription(self, request, flt, deadline=deadline, reconnect=reconnect)


class Subscription:
    """One subscription: an iterator of messages that survives reconnects."""

    def __init__(
        self,
        client: BusClient,
        request: Subscribe,
        flt: Filter | None = None,
        *,
        deadline: float | None = None,
        reconnect: bool = True,
    ) -> None:
        self.client = client
        self.request = request
        #: Monotonic time after which iteration raises BusTimeout (None: never).
        self.deadline = deadline
        self.reconnect = reconnect
        #: Epoch and last sequence number seen, whether the live phase was reached, and
        #: the regex filter, applied here (the server never runs it).
        self.state = SubscriberState(request, flt)
        self._sock: _socket.socket | None = None
        self._decoder = Decoder()
        self._pending: deque[Message] = deque()
        self._ended = False
        self._closed = False
        self._retry_at: float | None = None
        self._lost_at = 0.0
        self._backoff = RETRY_MIN
        self._reason = ""
        #: A reconnect not yet announced: the marker goes out with the first message
        #: of the new connection, so a connection that dies at once is not announced.
        self._announce: str | None = None
        self._connect_first()

    # ------------------------------------------------------------------ connection

    def _connect_first(self) -> None:
        limit = _now() + self.client.connect_timeout
        if self.deadline is not None:
            limit = max(min(limit, self.deadline), _now())
        delay = RETRY_MIN
        while True:
            try:
                self._connect(self.request)
                return
            except OSError as err:
                if err.errno not in RETRYABLE or _now() + delay > limit:
                    raise BusConnectionError(
                        f"cannot connect to the monitor bus: {err.strerror or err}"
                    ) from None
            time.sleep(delay)
            delay = next_delay(delay)

    def _connect(self, request: Subscribe) -> None:
        path = self.client.resolve()
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        try:
            sock.settimeout(self.client.connect_timeout)
            sock.connect(path)
            sock.sendall(encode(request))
            # Blocking: `__next__` waits in recv itself when it has no deadline; every
            # other read passes MSG_DONTWAIT.
            sock.settimeout(None)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._decoder = Decoder()
        self.state.synced = False

    @property
    def synced(self) -> bool:
        """True between a `Synced` and the next loss of the connection."""
        return self.state.synced

    @property
    def last_seq(self) -> int | None:
        return self.state.last_seq

    def _lost(self, reason: str) -> None:
        """The connection is gone: end, raise, or schedule a reconnect."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self.state.synced = False
        if not self.reconnect:
            if reason == "overflow":
                raise BusOverflow("this subscriber fell behind and was disconnected")
            self._ended = True
            return
        self._reason = self._announce or reason
        self._announce = None
        self._lost_at = _now()
        self._retry_at = self._lost_at
        self._backoff = RETRY_MIN

    def _try_reconnect(self) -> None:
        try:
            self._connect(self.state.resubscribe_request())
        except Exception as err:  # noqa: BLE001 - locating may fail in many ways; retry
            now = _now()
            limit = self.client.reconnect_timeout
            if limit is not None and now - self._lost_at >= limit:
                self._retry_at = None
                self._ended = True
                raise BusConnectionError(
                    f"lost the monitor bus and could not reconnect in {limit:g} s: {err}"
                ) from None
            self._retry_at = now + self._backoff
            self._backoff = next_delay(self._backoff)
            return
        self._retry_at = None
        self._announce = self._reason

    # ------------------------------------------------------------------ non-blocking API

    def fileno(self) -> int:
        """The socket's fd to wait on, or -1 while disconnected (see `next_retry`)."""
        return -1 if self._sock is None else self._sock.fileno()

    @property
    def next_retry(self) -> float | None:
        """Monotonic time of the next reconnect attempt, if one is due."""
        return self._retry_at

    @property
    def ended(self) -> bool:
        """No more messages will come (closed, or disconnected without reconnect)."""
        return (self._ended or self._closed) and not self._pending

    def poll(self) -> list[Message]:
        """Do what can be done without blocking; return the messages that became ready."""
        self._step()
        ready = list(self._pending)
        self._pending.clear()
        return ready

    def _step(self) -> None:
        if self._closed or self._ended:
            return
        if self._sock is None:
            if self._retry_at is not None and _now() >= self._retry_at:
                self._try_reconnect()
            return
        try:
            data = self._sock.recv(RECV_SIZE, _socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        self._take(data)

    def _take(self, data: bytes) -> None:
        """Decode what one recv returned (b"": the connection ended)."""
        if not data:
            try:
                self._decoder.feed_eof()
            except BusProtocolError:
                pass  # cut off mid-line (dropped after overflow): the same as a hang-up
            self._lost("disconnected")
            return
        deliver: list[Message] = []
        try:
            still_subscribed = self.state.receive(self._decoder.feed(data), deliver)
        except BusRefused:
            self.close()
            raise
        if deliver and self._announce is not None:
            self._pending.append(Reconnected(self._announce))
            self._announce = None
        self._pending.extend(deliver)
        if not still_subscribed:
            self._lost("overflow")

    # ------------------------------------------------------------------ blocking API

    def __iter__(self) -> Subscription:
        return self

    def __next__(self) -> Message:
        """The next message, waiting for it until `deadline` (then BusTimeout)."""
        # A lean loop for the one-subscription case (lxc-wait, scripts): every event
        # costs a subscriber process this much, times the number of subscribers.
        pending = self._pending
        checked_after_deadline = False
        while True:
            if pending:
                return pending.popleft()
            if self._ended or self._closed:
                raise StopIteration
            deadline = self.deadline
            if checked_after_deadline:
                raise BusTimeout("the deadline passed")
            wake = deadline
            retry = self._retry_at
            if retry is not None and (wake is None or retry < wake):
                wake = retry
            sock = self._sock
            if sock is not None and wake is None:
                # Nothing to time (lxc-monitor, an lxc-wait without -t): the wait is the
                # blocking recv itself, one syscall per wake-up instead of select + recv.
                try:
                    data = sock.recv(RECV_SIZE)
                except OSError:
                    data = b""
                self._take(data)
                continue
            timeout = None if wake is None else max(0.0, wake - _now())
            if sock is not None:
                select.select((sock,), (), (), timeout)
            elif timeout is not None:
                time.sleep(timeout)
            else:
                raise StopIteration  # nothing to wait for (cannot happen)
            self._step()
            checked_after_deadline = deadline is not None and _now() >= deadline

    def close(self) -> None:
        self._closed = True
        self._retry_at = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        sock = getattr(self, "_sock", None)
        if sock is not None:
            sock.close()


def iter_many(
    subscriptions: list[Subscription], deadline: float | None = None
) -> Iterator[tuple[Subscription, Message]]:
    """Messages from several subscriptions as they come, as (subscription, message) pairs.

    Ends when every subscription has ended; raises BusTimeout when the monotonic
    `deadline` passes (checked only when nothing is ready, so nothing received is lost).
    """
    if len(subscriptions) == 1 and deadline is None:
        # lxc-monitor with one -P: the subscription's own lean loop (a blocking recv
        # per wake-up), not a poll set rebuilt around every event.
        only = subscriptions[0]
        for message in only:
            yield only, message
        return
    poller = select.poll()
    registered: dict[int, Subscription] = {}
    polled_at_deadline = False
    while True:
        progressed = False
        for sub in subscriptions:
            while sub._pending:
                progressed = True
                yield sub, sub._pending.popleft()
        if progressed:
            continue
        live = [sub for sub in subscriptions if not sub.ended]
        if not live:
            return
        if polled_at_deadline:
            raise BusTimeout("the deadline passed")
        wanted = {sub.fileno(): sub for sub in live if sub.fileno() >= 0}
        if wanted.keys() != registered.keys():
            for fd in registered.keys() - wanted.keys():
                poller.unregister(fd)
            for fd in wanted.keys() - registered.keys():
                poller.register(fd, select.POLLIN)
        registered = wanted
        now = _now()
        wake = deadline
        for sub in live:
            retry = sub._retry_at
            if retry is not None and (wake is None or retry < wake):
                wake = retry
        # Round up: waking early only costs a loop, waking late misses the deadline.
        timeout_ms = None if wake is None else max(0, -int(-(wake - now) * 1000 // 1))
        if registered:
            ready = {fd for fd, _mask in poller.poll(timeout_ms)}
        elif timeout_ms is not None:
            time.sleep(timeout_ms / 1000)
            ready = set()
        else:
            return  # nothing to wait for (cannot happen: a live subscription has one)
        now = _now()
        for sub in live:
            fd = sub.fileno()
            if fd in ready or (sub._retry_at is not None and now >= sub._retry_at):
                sub._step()
                if sub.fileno() != fd and fd in registered:
                    # Closed (and maybe reopened): the number may come back for another socket.
                    poller.unregister(fd)
                    del registered[fd]
        # Past the deadline, everything that was already there has now been read once:
        # deliver it, then time out.
        polled_at_deadline = deadline is not None and now >= deadline
