"""Wait until a container is in one of some states, over the monitor bus (lxc-wait,
`Container.wait` and `AsyncContainer.wait` of the Python API).

One subscription for the one name: the snapshot, then live events. The server takes
the snapshot and starts queueing live events in one step, so a transition never
falls between the look and the wait. A container the bus knows nothing of counts as
STOPPED, as in LXC. The deadline applies once the snapshot is read (reading it is
not cut short, so a timeout of 0 still answers from the current state); after a
reconnect the decision is made again from the new snapshot.

`Tracker` is the decision, without IO; `wait_for` (blocking, standard library
only) and `await_state` (trio) feed it.
"""

from __future__ import annotations

import time

from runtime.client.errors import LxcError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from bus.protocol import Message

#: How long reading the first snapshot may take past a short timeout (a daemon starting up).
SNAPSHOT_GRACE = 10.0

REACHED, SYNCED, NOTHING = "reached", "synced", "nothing"


class Tracker:
    """What the messages of a subscription to one name say about reaching `states`."""

    def __init__(self, name: str, states: frozenset[str]) -> None:
        self.name = name
        self.states = states
        self.current: str | None = None
        #: The state it was found in, once REACHED.
        self.reached: str | None = None

    def feed(self, message: Message) -> str:
        """REACHED when the container is in one of the states; SYNCED when the
        snapshot is read and it is not (the deadline applies from now); else NOTHING."""
        from bus.protocol import Reconnected, SnapshotItem, StateEvent, Synced

        if isinstance(message, StateEvent) and message.name == self.name:
            self.current = message.state
            if message.state in self.states:
                self.reached = message.state
                return REACHED
        elif isinstance(message, SnapshotItem) and message.name == self.name:
            self.current = message.state
        elif isinstance(message, Synced):
            if (self.current or "STOPPED") in self.states:
                self.reached = self.current or "STOPPED"
                return REACHED
            return SYNCED
        elif isinstance(message, Reconnected):
            self.current = None  # decide again from the new snapshot
        return NOTHING


def wait_for(
    socket_path: str | Callable[[], str],
    name: str,
    states: frozenset[str],
    timeout: float | None,
    start: float | None = None,
) -> int:
    """0 once NAME is in one of `states`, 1 when `timeout` seconds from `start` pass first.

    `start` is a time.monotonic() value, by default now.
    """
    from bus.client import BusClient, BusTimeout
    from bus.protocol import BusError, escape

    if start is None:
        start = time.monotonic()
    deadline = None if timeout is None else start + timeout
    # A bus that keeps refusing (a daemon starting up) is retried for a while; a
    # short timeout shortens that too, though never below a second.
    connect_timeout = 5.0 if timeout is None else min(5.0, max(1.0, timeout))
    client = BusClient(socket_path, connect_timeout=connect_timeout, reconnect_timeout=None)
    try:
        subscription = client.subscribe(escape(name))
    except BusError as err:
        raise LxcError(str(err)) from None
    if deadline is not None:
        subscription.deadline = max(deadline, start + SNAPSHOT_GRACE)
    tracker = Tracker(name, states)
    try:
        for message in subscription:
            found = tracker.feed(message)
            if found == REACHED:
                return 0
            if found == SYNCED:
                subscription.deadline = deadline
                if deadline is not None and time.monotonic() >= deadline:
                    return 1
        raise LxcError("the monitor bus closed the subscription")
    except BusTimeout:
        return 1
    except BusError as err:
        raise LxcError(f"monitor bus: {err}") from None
    finally:
        subscription.close()


async def await_state(
    socket_path: str, name: str, states: frozenset[str], timeout: float | None
) -> str | None:
    """`wait_for` for trio programs: the state once NAME is in one of `states`,
    None when `timeout` seconds pass first (counted once the snapshot is read)."""
    import trio

    from bus.aclient import open_bus
    from bus.protocol import BusError, escape

    tracker = Tracker(name, states)
    scope = trio.CancelScope(deadline=trio.current_time() + SNAPSHOT_GRACE + (timeout or 0))
    if timeout is None:
        scope.deadline = float("inf")
    with scope:
        try:
            async with open_bus(socket_path, reconnect_timeout=None) as bus:
                async for message in bus.subscribe(escape(name)):
                    found = tracker.feed(message)
                    if found == REACHED:
                        return tracker.reached
                    if found == SYNCED and timeout is not None:
                        scope.deadline = trio.current_time() + timeout
        except BusError as err:
            raise LxcError(f"monitor bus: {err}") from None
        raise LxcError("the monitor bus closed the subscription")
    return None
