"""How many control connections the daemon holds, and how much half-received text.

Why: every accepted connection costs the daemon a file descriptor until it sends a
request or times out (REQUEST_TIMEOUT), and up to a line (1 MiB) of memory while
its request is incomplete. Reproduced: with its fd table filled by idle connections
the daemon served nobody else (a ping timed out, an lxc-start waited until the idle
ones timed out) and everything it opens itself (pidfds, cgroup files, terminals)
would fail. The gate bounds both:

- at most `limit()` connections, a quarter of the daemon's open-file limit (read at
  each admission, so a lowered limit counts at once), leaving the rest to the
  containers; at the bound, the oldest connection with no request running is
  closed to make room (an idle client loses its place to a new one, not the other
  way round), and only when every connection runs a request is the newcomer
  refused;
- at most BUFFER_BUDGET bytes of incomplete request lines over all connections;
  past it, the idle connection holding the most is closed.

Closing is by shutdown(2) after a best-effort one-line error: the connection's
own task then sees the end of its stream and finishes as for any client that left,
releasing its fd and buffer; the gate never closes an fd itself.
"""

from __future__ import annotations

import logging
import os
import resource
import socket

from runtime.client import control_protocol as cp
from runtime.client.control import MAX_LINE
from runtime.daemon.peer_watch import GuardedStream

log = logging.getLogger("trio-lxc.daemon")

#: The share of RLIMIT_NOFILE control connections may take (the rest: containers, bus).
FD_SHARE = 4
#: Fewest connections allowed whatever the fd limit (lxc-* commands of one user).
MIN_CONNECTIONS = 16
#: Bytes of incomplete request lines held over all connections (64 full-size lines).
BUFFER_BUDGET = 64 * MAX_LINE


def limit() -> int:
    """The most control connections held at once, from the open-file limit now."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(MIN_CONNECTIONS, soft // FD_SHARE)


class ConnectionGate:
    """Admits control connections up to `limit()`, evicting idle ones to make room."""

    def __init__(self) -> None:
        #: Held connections, oldest first (dicts keep insertion order); an evicted one
        #: leaves at once, its task finishes on its own.
        self._held: dict[GuardedStream, int] = {}
        #: Incomplete request bytes over the held connections (the values of _held).
        self._buffered = 0
        self.evicted = 0
        self.refused = 0

    def __len__(self) -> int:
        return len(self._held)

    def admit(self, stream: GuardedStream) -> bool:
        """Hold `stream`, evicting the oldest idle one if at the bound; False: refuse it."""
        bound = limit()
        while len(self._held) >= bound:
            victim = next((held for held in self._held if held.requests == 0), None)
            if victim is None:
                self.refused += 1
                return False
            self._evict(victim, f"too many connections ({bound}): the oldest idle one is closed")
        self._held[stream] = 0
        stream.gate = self
        return True

    def leave(self, stream: GuardedStream) -> None:
        self._buffered -= self._held.pop(stream, 0)
        stream.gate = None

    def buffered(self, stream: GuardedStream) -> None:
        """After a read on `stream`: past the budget, close the idle connections
        holding the most incomplete text."""
        if stream not in self._held:
            return
        pending = stream.reader.pending
        self._buffered += pending - self._held[stream]
        self._held[stream] = pending
        while self._buffered > BUFFER_BUDGET:
            idle = [held for held, size in self._held.items() if size and held.requests == 0]
            if not idle:
                return
            victim = max(idle, key=self._held.__getitem__)
            self._evict(
                victim,
                f"more than {BUFFER_BUDGET >> 20} MiB of incomplete requests: the largest is closed",
            )

    def _evict(self, stream: GuardedStream, reason: str) -> None:
        """Tell it why (best effort, never blocking), then end it; its task cleans up."""
        self.leave(stream)
        self.evicted += 1
        log.warning("control connection closed: %s", reason)
        stream.broken = True
        sock = stream.stream.socket
        try:
            os.write(sock.fileno(), cp.encode_reply(cp.ErrorReply(error=reason, exit_code=1)))
        except OSError:
            pass
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
