"""What the blocking and the trio bus clients share: where the bus is, how to retry.

Standard library only, and no `typing` at run time: the client commands import it.
"""

from __future__ import annotations

import errno

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only
    from collections.abc import Callable

    SocketPath = str | Callable[[], str]

#: Reconnect backoff: first retry at once, then doubling from this up to RETRY_MAX.
RETRY_MIN = 0.05
RETRY_MAX = 1.0
#: Errors after which connecting again may work (a daemon starting or restarting).
RETRYABLE = frozenset({errno.ENOENT, errno.ECONNREFUSED, errno.EAGAIN, errno.ECONNRESET})


def next_delay(delay: float) -> float:
    """The backoff after `delay`."""
    return min(delay * 2, RETRY_MAX)


class BusEndpoint:
    """Where the bus is (a path, or a callable asked at every connect) and how long to try."""

    def __init__(
        self,
        socket_path: SocketPath,
        *,
        connect_timeout: float = 5.0,
        reconnect_timeout: float | None = 30.0,
    ) -> None:
        self.socket_path = socket_path
        #: How long the first connection may keep being refused (a daemon starting up).
        self.connect_timeout = connect_timeout
        #: How long to keep trying after losing the connection; None means forever.
        self.reconnect_timeout = reconnect_timeout

    def resolve(self) -> str:
        path = self.socket_path
        return path if isinstance(path, str) else path()
