"""How many connections the bus server holds at once, and which one goes to make room.

Why: every bus connection costs the daemon a file descriptor (and a task) until it
subscribes or its handshake times out (server.HANDSHAKE_TIMEOUT), and a subscriber
holds one for as long as it stays. Reproduced: 2000 bus connections against a daemon
with 1024 fds filled its fd table, and the daemon served no control request (nor
started a container) until the handshakes timed out, ten seconds later.

So the server holds at most `connection_limit()`: a quarter of the open-file limit
(read at every admission, so a lowered limit counts at once), at most MAX_CONNECTIONS.
At the bound the oldest connection goes: one that has not subscribed yet first (it
is told why in an `error` line), else the oldest subscriber, which gets an
`overflow` line as one that fell behind does, so a real client (bus.client,
bus.aclient) resubscribes with `since` and loses nothing. A newcomer is never
refused: an `lxc-wait` gets in however many idle connections a client opened.

Standard library only.
"""

from __future__ import annotations

import resource
from collections.abc import Callable

#: The share of RLIMIT_NOFILE the bus may take (the rest: containers, control requests).
FD_SHARE = 4
MIN_CONNECTIONS = 16
MAX_CONNECTIONS = 4096


def connection_limit() -> int:
    """The most bus connections held at once, from the open-file limit now."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = MAX_CONNECTIONS * FD_SHARE
    return max(MIN_CONNECTIONS, min(MAX_CONNECTIONS, soft // FD_SHARE))


def listen_backlog() -> int:
    """The kernel's largest listen backlog (a burst of lxc-wait connects is not
    refused with EAGAIN while the server is busy)."""
    try:
        with open("/proc/sys/net/core/somaxconn") as handle:
            return max(int(handle.read().strip()), 128)
    except (OSError, ValueError):
        return 128


#: Ends one held connection (with its line saying why); called at most once.
Evict = Callable[[str], None]


class Admission:
    """The held connections, oldest first, each with how to evict it."""

    def __init__(self, limit: Callable[[], int] = connection_limit) -> None:
        self._limit = limit
        #: key -> (subscribed, evict); dicts keep insertion order: oldest first.
        self._held: dict[object, tuple[bool, Evict]] = {}
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._held)

    def admit(self, key: object, evict: Evict) -> None:
        """Hold a new connection, making room first if at the bound."""
        bound = self._limit()
        while len(self._held) >= bound:
            victim = next((k for k, (subscribed, _) in self._held.items() if not subscribed), None)
            if victim is None:
                victim = next(iter(self._held))
            _, ending = self._held.pop(victim)
            self.evicted += 1
            ending(f"too many bus connections ({bound}): the oldest is closed; resubscribe")
        self._held[key] = (False, evict)

    def subscribed(self, key: object, evict: Evict) -> None:
        """The connection subscribed: from now on `evict` ends it (a subscriber's way)."""
        if key in self._held:
            self._held[key] = (True, evict)

    def leave(self, key: object) -> None:
        self._held.pop(key, None)
