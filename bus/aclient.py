"""The async monitor-bus client, for trio programs.

    async with open_bus(socket_path) as bus:
        async for event in bus.subscribe("foo|bar", states={"RUNNING"}):
            ...

The same messages and the same reconnect behaviour as the blocking client
(bus.client): replay if asked, snapshot, `Synced`, live events; after a lost
connection (daemon restart, or `overflow` because this subscriber fell behind) it
reconnects with backoff, asks for a replay since the last event it saw (a
restarted daemon replays all it has), and yields a `Reconnected` marker then the
replay, a fresh snapshot and `Synced`. Timeouts are
trio's: wrap the loop in `trio.move_on_after`/`fail_after` rather than passing a
timeout. A subscription connects on first use, so `bus.subscribe(...)` can go
straight into `async for`; closing the bus closes its subscriptions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import trio

from bus.endpoint import RETRY_MIN, RETRYABLE, BusEndpoint, next_delay
from bus.protocol import (
    BusConnectionError,
    BusOverflow,
    BusProtocolError,
    BusRefused,
    Decoder,
    Filter,
    Message,
    Reconnected,
    Subscribe,
    SubscriberState,
    encode,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bus.endpoint import SocketPath


class AsyncBus(BusEndpoint):
    """A bus endpoint for trio code; make one with `open_bus`."""

    def __init__(
        self,
        socket_path: SocketPath,
        *,
        connect_timeout: float = 5.0,
        reconnect_timeout: float | None = 30.0,
    ) -> None:
        super().__init__(
            socket_path, connect_timeout=connect_timeout, reconnect_timeout=reconnect_timeout
        )
        self._subscriptions: set[AsyncSubscription] = set()

    def subscribe(
        self,
        regex: str = ".*",
        states: Iterable[str] | None = None,
        since: int | None = None,
        *,
        since_time: float | None = None,
        reconnect: bool = True,
    ) -> AsyncSubscription:
        """A subscription (connected on first use); InvalidFilter at once if the filter is bad."""
        flt = Filter(regex, states)
        request = Subscribe.for_filter(flt, since, since_time)
        subscription = AsyncSubscription(self, request, flt, reconnect=reconnect)
        self._subscriptions.add(subscription)
        return subscription

    async def aclose(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.aclose()


@asynccontextmanager
async def open_bus(
    socket_path: SocketPath,
    *,
    connect_timeout: float = 5.0,
    reconnect_timeout: float | None = 30.0,
) -> AsyncIterator[AsyncBus]:
    """An AsyncBus whose subscriptions are all closed when the block ends."""
    bus = AsyncBus(
        socket_path, connect_timeout=connect_timeout, reconnect_timeout=reconnect_timeout
    )
    try:
        yield bus
    finally:
        with trio.CancelScope(shield=True):
            await bus.aclose()


class AsyncSubscription:
    """An async iterator of bus messages that survives reconnects."""

    def __init__(
        self,
        bus: AsyncBus,
        request: Subscribe,
        flt: Filter | None = None,
        *,
        reconnect: bool = True,
    ) -> None:
        self.bus = bus
        self.reconnect = reconnect
        #: Also applies the regex, in this process (the server never runs it).
        self.state = SubscriberState(request, flt)
        self._stream: trio.SocketStream | None = None
        self._decoder = Decoder()
        self._pending: deque[Message] = deque()
        self._started = False
        self._ended = False
        self._lost_reason: str | None = None
        #: A reconnect not yet announced: the marker goes out with the first message
        #: of the new connection, so a connection that dies at once is not announced.
        self._announce: str | None = None
        self._error: BaseException | None = None

    @property
    def synced(self) -> bool:
        return self.state.synced

    @property
    def last_seq(self) -> int | None:
        return self.state.last_seq

    async def connect(self) -> None:
        """Connect and subscribe now (iteration does it by itself)."""
        if self._started:
            return
        self._started = True
        limit = trio.current_time() + self.bus.connect_timeout
        delay = RETRY_MIN
        while True:
            try:
                await self._connect(self.state.request)
                return
            except OSError as err:
                if err.errno not in RETRYABLE or trio.current_time() + delay > limit:
                    self._ended = True
                    raise BusConnectionError(
                        f"cannot connect to the monitor bus: {err.strerror or err}"
                    ) from None
            await trio.sleep(delay)
            delay = next_delay(delay)

    async def _connect(self, request: Subscribe) -> None:
        stream = await trio.open_unix_socket(self.bus.resolve())
        try:
            await stream.send_all(encode(request))
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        self._stream = stream
        self._decoder = Decoder()
        self.state.synced = False

    async def _reconnect(self, reason: str) -> None:
        """Try again with backoff until connected, or give up after reconnect_timeout."""
        limit = self.bus.reconnect_timeout
        give_up = None if limit is None else trio.current_time() + limit
        delay = RETRY_MIN
        while True:
            try:
                await self._connect(self.state.resubscribe_request())
            except Exception as err:  # noqa: BLE001 - locating may fail in many ways; retry
                now = trio.current_time()
                if give_up is not None and now >= give_up:
                    self._ended = True
                    raise BusConnectionError(
                        f"lost the monitor bus and could not reconnect in {limit:g} s: {err}"
                    ) from None
                await trio.sleep(delay if give_up is None else min(delay, give_up - now))
                delay = next_delay(delay)
                continue
            self._announce = reason
            return

    async def _close_stream(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await trio.aclose_forcefully(stream)

    async def _lost(self, reason: str) -> None:
        """The connection is gone: deliver what is pending first, then reconnect or end."""
        await self._close_stream()
        self.state.synced = False
        if not self.reconnect:
            self._ended = True
            if reason == "overflow":
                self._error = BusOverflow("this subscriber fell behind and was disconnected")
            return
        self._lost_reason = self._announce or reason
        self._announce = None

    def __aiter__(self) -> AsyncSubscription:
        return self

    async def __anext__(self) -> Message:
        if not self._started:
            await self.connect()
        while True:
            if self._pending:
                return self._pending.popleft()
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            if self._ended:
                raise StopAsyncIteration
            if self._stream is None:
                if self._lost_reason is None:
                    raise StopAsyncIteration
                reason, self._lost_reason = self._lost_reason, None
                await self._reconnect(reason)
                continue
            try:
                data = await self._stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                try:
                    self._decoder.feed_eof()
                except BusProtocolError:
                    pass  # cut off mid-line (dropped after overflow): the same as a hang-up
                await self._lost("disconnected")
                continue
            deliver: list[Message] = []
            try:
                still_subscribed = self.state.receive(self._decoder.feed(data), deliver)
            except BusRefused:
                self._ended = True
                await self._close_stream()
                raise
            if deliver and self._announce is not None:
                self._pending.append(Reconnected(self._announce))
                self._announce = None
            self._pending.extend(deliver)
            if not still_subscribed:
                await self._lost("overflow")

    async def aclose(self) -> None:
        self._ended = True
        self._pending.clear()
        self.bus._subscriptions.discard(self)
        await self._close_stream()

    async def __aenter__(self) -> AsyncSubscription:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
