"""`events(pattern, states)`: the monitor bus's live events, for a script (`for`) or
a trio program (`async for`), from one object.

    with iter(events("web.*", states={"RUNNING", "STOPPED"})) as stream:
        for event in stream:
            print(event.name, event.state)

    async with events("web.*") as stream:          # inside trio
        async for event in stream:
            ...

Each item is a bus event (bus.protocol.StateEvent: `name`, `state`, `reason`;
ExitEvent: `name`, `status`; ...: `states` filters state events only); the snapshot, sync and reconnect markers the bus
also sends are left out: this is the stream of what happens from now on. The name
pattern is a regular expression matched against the whole name, as lxc-monitor's.
The lxcpath's daemon is started if none runs, so nothing can be missed between
asking and the first event.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from bus.protocol import Event
from runtime.client.errors import LxcError
from runtime.client.lxcpath import default_lxcpath

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bus.aclient import AsyncSubscription
    from bus.client import Subscription


class EventStream:
    """Iterate it (blocking) or `async for` it (trio); close it, or leave the block."""

    def __init__(self, pattern: str, states: Iterable[str] | None, lxcpath: str | None) -> None:
        from bus.protocol import BusError, Filter

        self.lxcpath = os.path.abspath(lxcpath or default_lxcpath())
        self.pattern = pattern
        self.states = None if states is None else frozenset(s.upper() for s in states)
        try:
            Filter(pattern, self.states)  # a bad regex or state is the caller's error, now
        except BusError as err:
            raise LxcError(str(err)) from None
        self._async: AsyncEvents | None = None

    def __iter__(self) -> BlockingEvents:
        """Subscribe now (nothing after this call is missed) and iterate, blocking."""
        from bus.client import BusClient
        from runtime.api.requests import bus_path

        client = BusClient(lambda: bus_path(self.lxcpath))
        return BlockingEvents(client.subscribe(self.pattern, self.states))

    def __aiter__(self) -> AsyncEvents:
        if self._async is None:
            self._async = AsyncEvents(self.lxcpath, self.pattern, self.states)
        return self._async

    async def __aenter__(self) -> AsyncEvents:
        return self.__aiter__()

    async def __aexit__(self, *exc_info: object) -> None:
        if self._async is not None:
            await self._async.aclose()


class AsyncEvents:
    """The async iterator of an EventStream (a bus subscription, made on first use);
    `aclose` ends it (leaving `async with events(...)` does)."""

    def __init__(self, lxcpath: str, pattern: str, states: frozenset[str] | None) -> None:
        self.lxcpath = lxcpath
        self.pattern = pattern
        self.states = states
        self._subscription: AsyncSubscription | None = None

    def __aiter__(self) -> AsyncEvents:
        return self

    async def __anext__(self) -> Event:
        if self._subscription is None:
            from bus.aclient import AsyncBus
            from runtime.api.requests import abus_path

            bus = AsyncBus(await abus_path(self.lxcpath))
            self._subscription = bus.subscribe(self.pattern, self.states)
        while True:
            message = await self._subscription.__anext__()
            if isinstance(message, Event):
                return message

    async def aclose(self) -> None:
        if self._subscription is not None:
            await self._subscription.aclose()


class BlockingEvents:
    """The blocking iterator of an EventStream (a bus subscription); `close` ends it."""

    def __init__(self, subscription: Subscription) -> None:
        self._subscription = subscription

    def __iter__(self) -> BlockingEvents:
        return self

    def __next__(self) -> Event:
        while True:
            message = next(self._subscription)
            if isinstance(message, Event):
                return message

    def close(self) -> None:
        self._subscription.close()

    def __enter__(self) -> BlockingEvents:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def events(
    pattern: str = ".*", states: Iterable[str] | None = None, *, lxcpath: str | None = None
) -> EventStream:
    """The live events of the containers whose name matches `pattern` (a regex), in
    `states` if given (STOPPED, STARTING, RUNNING, ...), in `lxcpath` (the default)."""
    return EventStream(pattern, states, lxcpath)
