"""Every daemon request the Python API makes, in one place: what it says and how it goes.

The builders (`start`, `stop`) and the protocol's own messages
(runtime.client.control_protocol) are what the API asks; `send` (blocking, the
standard-library client the commands use, runtime.client.daemon_client) and `asend` (trio,
runtime.daemon.mux_client: one connection per lxcpath carries the program's
concurrent requests) are the only places it talks to the daemon. An error reply
is raised as the LxcError the protocol makes of it (`RequestFailed`, with the
daemon's message and exit code); progress events before the final reply are
skipped.
"""

from __future__ import annotations

import os
import threading

from runtime.client.control_protocol import Ping, Start, Stop
from runtime.client.daemon_client import Connection, DaemonUnavailable, open_connection

TYPE_CHECKING = False
if TYPE_CHECKING:  # trio only for the async half: a blocking script never imports it
    from collections.abc import Callable

    from runtime.client.control_protocol import Event, R, Request
    from runtime.daemon.mux_client import MuxClient


# -- what the API asks ------------------------------------------------------------------


def start(name: str, config_path: str, argv: list[str] | None, defines: list[str] | None = None) -> Start:
    """A detached system start of the container's config with `-s`-style `defines`;
    pid 1 is `argv` when given, else the daemon chooses (lxc.init.cmd, else
    /sbin/init: runtime.spawn.start_spec.pid1_argv), as for lxc-start."""
    return Start(
        name=name, mode="system", argv=tuple(argv or ()), config_path=config_path,
        defines=tuple(defines or ()),
    )  # fmt: skip


def stop(
    name: str,
    *,
    kill: bool = False,
    timeout: float = 60.0,
    nowait: bool = False,
    nokill: bool = False,
    reboot: bool = False,
) -> Stop:
    """lxc-stop's request: graceful then killed after `timeout` (or at once with `kill`)."""
    return Stop(name=name, kill=kill, timeout=timeout, nowait=nowait, nokill=nokill, reboot=reboot)


# -- how it goes ------------------------------------------------------------------------


def send(lxcpath: str, request: Request[R]) -> R:
    """One request on a connection of its own (the daemon is started if needed)."""
    connection = _connect(lxcpath)
    try:
        return connection.call(request)
    finally:
        connection.close()


class Lease:
    """A connection kept open because what the reply gave lasts as long as it does
    (a console's terminal); `close` ends the lease."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def close(self) -> None:
        self.connection.close()


def lease_console(lxcpath: str, name: str, tty: int) -> tuple[Lease, int]:
    """A lease on tty `tty` (-1: the first free one, 0: the console) and its fd; the
    terminal stays leased until the Lease is closed."""
    connection = _connect(lxcpath)
    try:
        fd, _ = connection.lease_console(name, tty)
    except BaseException:
        connection.close()
        raise
    return Lease(connection), fd


#: One daemon start at a time from this process (threads of a program race
#: otherwise on the run directory's files); the next one then finds it running.
_STARTING = threading.Lock()


def _connect(lxcpath: str) -> Connection:
    try:
        return open_connection(lxcpath, autostart=False)
    except DaemonUnavailable:
        with _STARTING:
            return open_connection(lxcpath, autostart=True)


async def asend(
    lxcpath: str, request: Request[R], on_event: Callable[[Event], None] | None = None
) -> R:
    """`send` for trio programs: every request of the program to one lxcpath shares one
    connection (runtime.daemon.mux_client; those that need their own get it); the
    daemon is started in a worker thread if none answers. `on_event` sees the events
    before the final reply (start-many's ContainerDone)."""
    return await _shared_client(lxcpath).call(request, on_event=on_event)


#: The program's one client per lxcpath (its connection is per trio run).
_SHARED: dict[str, MuxClient] = {}


def _shared_client(lxcpath: str) -> MuxClient:
    from runtime.daemon.mux_client import MuxClient

    key = os.path.abspath(lxcpath)
    client = _SHARED.get(key)
    if client is None:
        client = _SHARED[key] = MuxClient(key)
    return client


def bus_path(lxcpath: str) -> str:
    """The lxcpath's bus socket, once its daemon runs (started if none does)."""
    from runtime.client.daemon_client import bus_socket_path

    _connect(lxcpath).close()
    return bus_socket_path(lxcpath)


async def abus_path(lxcpath: str) -> str:
    """`bus_path` for trio programs."""
    from runtime.client.daemon_client import bus_socket_path

    await asend(lxcpath, Ping())
    return bus_socket_path(lxcpath)
