"""Unix stream sockets under load: the kernel's largest listen backlog, and a connect
that waits out a full one.

Why: a listening AF_UNIX stream socket whose backlog is full makes a non-blocking
connect fail with EAGAIN. trio's `connect` reads EAGAIN as "in progress", waits for
writability (immediate on an unconnected unix socket) and returns as if connected,
so the first send fails with ENOTCONN: 300 concurrent API calls against a backlog of
128 lost 70 that way. The daemon listens with the kernel's maximum backlog
(net.core.somaxconn), and clients retry a refused-for-now connect with a short
back-off instead of failing.
"""

from __future__ import annotations

import errno
import socket

import trio

#: How long a client keeps retrying a connect the backlog refused (seconds).
CONNECT_PATIENCE = 30.0


def max_backlog() -> int:
    """The largest backlog listen() accepts here (the kernel caps larger values)."""
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            return max(int(f.read().strip()), socket.SOMAXCONN)
    except (OSError, ValueError):
        return socket.SOMAXCONN


async def connect_stream(path: str, patience: float = CONNECT_PATIENCE) -> trio.socket.SocketType:
    """A connected AF_UNIX stream socket to `path`; FileNotFoundError and
    ConnectionRefusedError (nobody listens) pass through at once, a full backlog
    (EAGAIN) is retried for up to `patience` seconds."""
    delay = 0.001
    deadline = trio.current_time() + patience
    while True:
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        raw.setblocking(False)
        try:
            raw.connect(path)
        except BlockingIOError as err:
            raw.close()
            if err.errno != errno.EAGAIN or trio.current_time() >= deadline:
                raise
            await trio.sleep(delay)
            delay = min(delay * 2, 0.05)
            continue
        except BaseException:
            raw.close()
            raise
        return trio.socket.from_stdlib_socket(raw)
