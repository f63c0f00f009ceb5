"""`events(pattern, states)`: the monitor bus's live events, for a script (`for`) or
a trio program (`async for`), from one object.

    for event in events("web.*", states={"RUNNING", "STOPPED"}):
        print(event.name, event.state)

    async for event in events("web.*"):            # inside trio
        ...

Each item is a bus event (bus.protocol.StateEvent: `name`, `state`, `reason`;
ExitEvent: `name`, `status`; ...); the snapshot, sync and reconnect markers the bus
also sends are left out: this is the stream of what happens from now on. The name
pattern is a regular expression matched against the whole name, as lxc-monitor's.
The lxcpath's daemon is started if none runs, so nothing can be missed between
asking and the first event.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Iterator

from bus.protocol import Event
from runtime.lxcpath import default_lxcpath


class EventStream:
    """Iterate it (blocking) or `async for` it (trio); close it, or leave the block."""

    def __init__(self, pattern: str, states: Iterable[str] | None, lxcpath: str | None) -> None:
        from bus.protocol import Filter

        self.lxcpath = os.path.abspath(lxcpath or default_lxcpath())
        self.pattern = pattern
        self.states = None if states is None else frozenset(s.upper() for s in states)
        Filter(pattern, self.states)  # a bad regex or state is the caller's error, now

    def __iter__(self) -> Iterator[Event]:
        from bus.client import BusClient
        from runtime.daemon_client import bus_socket

        client = BusClient(lambda: bus_socket(self.lxcpath))
        with client.subscribe(self.pattern, self.states) as subscription:
            for message in subscription:
                if isinstance(message, Event):
                    yield message

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._aiterate()

    async def _aiterate(self) -> AsyncIterator[Event]:
        import trio

        from bus.aclient import open_bus
        from runtime.daemon_client import bus_socket

        path = await trio.to_thread.run_sync(bus_socket, self.lxcpath)
        async with open_bus(path) as bus:
            async for message in bus.subscribe(self.pattern, self.states):
                if isinstance(message, Event):
                    yield message


def events(
    pattern: str = ".*", states: Iterable[str] | None = None, *, lxcpath: str | None = None
) -> EventStream:
    """The live events of the containers whose name matches `pattern` (a regex), in
    `states` if given (STOPPED, STARTING, RUNNING, ...), in `lxcpath` (the default)."""
    return EventStream(pattern, states, lxcpath)
