"""A command's control connection to the runtime daemon of an lxcpath: typed
requests and replies (runtime.client.control_protocol) over `<rundir>/control.sock`.

Reaching the daemon, and starting it if nobody answers, is
runtime.client.daemon_start's (its names are re-exported here).

Standard library only: every client command imports this.
"""

from __future__ import annotations

import _socket  # not `socket`, which imports `enum` and `selectors`: start-up time
import time

from runtime.client import lean_os as os  # not `os`: start-up time
from runtime.client.control import LineReader, fds_from_ancillary, scm_rights
from runtime.client.control_protocol import (
    MAX_FDS,
    ErrorReply,
    Event,
    Op,
    Reply,
    ReplyError,
    Request,
    Shutdown,
    decode_reply,
    encode_request,
    op_of,
    result,
)
from runtime.client.daemon_start import (
    START_TIMEOUT,
    DaemonUnavailable,
    bus_socket,
    bus_socket_path,
    connect,
    control_socket_path,
    daemon_log_path,
    daemon_running,
    start_daemon,
)
from runtime.client.daemon_start import try_connect as _try_connect
from runtime.client.errors import LxcError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runtime.client.control_protocol import R

#: Reaching and starting the daemon is runtime.client.daemon_start's; the commands
#: and the API import those names from here too.
__all__ = [
    "START_TIMEOUT",
    "Connection",
    "DaemonUnavailable",
    "bus_socket",
    "bus_socket_path",
    "connect",
    "container_state",
    "control_socket_path",
    "daemon_log_path",
    "daemon_running",
    "open_connection",
    "shutdown_daemon",
    "start_daemon",
]


class Connection:
    """One control connection, blocking: send typed requests (with fds), read typed replies.

    `call` is the common case (one request, its final reply, an error reply raised
    as LxcError); `send`/`receive` serve the commands that follow a request's
    progress (a start's `Started` event, a console lease). Fds that come with a
    reply are handed out by `receive_with_fds`; `receive` closes them.
    """

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self._reader = LineReader()
        self._ready: list[tuple[dict[str, object], list[int]]] = []
        self._op: Op | None = None
        #: CLOCK_MONOTONIC ns when the last bytes were read: a traced start's client
        #: marks (cli.start_trace_log) count from the read, not from the decode after it.
        self.read_at = 0

    def send(self, request: Request[Reply], fds: tuple[int, ...] | list[int] = ()) -> None:
        """Send a request; the replies that follow are decoded as its op's."""
        self._op = op_of(request)
        self._send(encode_request(request), fds)

    def tell(self, request: Request[Reply]) -> None:
        """Send a message within the current request (a forwarded signal, a resize on a
        console lease): it gets no reply of its own."""
        self._send(encode_request(request), ())

    def _send(self, data: bytes, fds: tuple[int, ...] | list[int]) -> None:
        if fds:
            sent = self.sock.sendmsg([data], scm_rights(fds))
            data = data[sent:]
        if data:
            self.sock.sendall(data)

    def receive_with_fds(self) -> tuple[Reply | ErrorReply | Event, list[int]]:
        """The next reply line with its fds; DaemonUnavailable if the daemon went away."""
        while not self._ready:
            try:
                data, ancdata, _, _ = self.sock.recvmsg(65536, _socket.CMSG_SPACE(MAX_FDS * 4))
            except ConnectionResetError:
                data, ancdata = b"", []
            self.read_at = time.monotonic_ns()
            fds = fds_from_ancillary(ancdata)
            if not data:
                _close(fds)
                raise DaemonUnavailable("the runtime daemon closed the connection (see its log)")
            self._ready.extend(self._reader.feed(data, fds))
        raw, fds = self._ready.pop(0)
        if self._op is None:
            _close(fds)
            raise ReplyError("the runtime daemon sent a line before any request")
        if len(fds) > self._op.reply_fds:  # more than the op's replies carry: not kept
            _close(fds[self._op.reply_fds :])
            del fds[self._op.reply_fds :]
        try:
            return decode_reply(self._op, raw), fds
        except ReplyError:
            _close(fds)
            raise

    def receive(self) -> Reply | ErrorReply | Event:
        message, fds = self.receive_with_fds()
        _close(fds)
        return message

    def has_pending(self) -> bool:
        """Whether a reply already read from the socket waits here (select would not say)."""
        return bool(self._ready)

    def result(self, request: Request[R]) -> R:
        """Read until `request`'s final reply and return it; an error reply is raised."""
        while True:
            reply = self.receive()
            if not isinstance(reply, Event):
                return result(request, reply)

    def call(self, request: Request[R], fds: tuple[int, ...] | list[int] = ()) -> R:
        """Send a request and return its final reply (progress events are skipped)."""
        self.send(request, fds)
        return self.result(request)

    def lease_console(self, name: str, tty: int) -> tuple[int, int]:
        """Lease tty `tty` (-1: the first free one, 0: the console) of a running
        container on this connection: (its fd, its number). The lease lasts until
        the connection closes (lxc-console, the API's console_getfd)."""
        # Here, not at the top: the console's messages are made only by those who lease.
        from runtime.client.messages_console import Console, ConsoleReply

        self.send(Console(name=name, tty=tty))
        while True:
            reply, fds = self.receive_with_fds()
            if not isinstance(reply, Event):
                break
            _close(fds)
        if isinstance(reply, ErrorReply) or not fds:
            _close(fds)
            if isinstance(reply, ErrorReply):
                raise reply.failure()
            raise LxcError("Denied access to tty: the runtime daemon sent no terminal")
        _close(fds[1:])
        return fds[0], reply.tty if isinstance(reply, ConsoleReply) else tty

    def close(self) -> None:
        for _, fds in self._ready:
            _close(fds)
        self._ready.clear()
        _close(self._reader.leftover_fds())
        self.sock.close()


def _close(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def open_connection(lxcpath: str, *, autostart: bool = True) -> Connection:
    return Connection(connect(lxcpath, autostart=autostart))


def container_state(lxcpath: str, name: str) -> str | None:
    """The container's state as the lxcpath's daemon knows it; None if no daemon runs.

    The daemon is the authority on what runs (its records are a copy for when it is
    down): destroy, copy and rename ask it before touching a container's files.
    """
    sock = _try_connect(control_socket_path(lxcpath))
    if sock is None:
        return None
    from runtime.client.messages_state import State  # only destroy, copy, rename ask

    connection = Connection(sock)
    try:
        reply = connection.call(State(name=name))
    except (DaemonUnavailable, OSError):
        return None  # it was on its way out: the records answer
    finally:
        connection.close()
    return reply.state or "STOPPED"


def shutdown_daemon(lxcpath: str) -> bool:
    """Ask the lxcpath's daemon to kill its containers and exit; False if none ran."""
    if not daemon_running(lxcpath):
        return False
    connection = open_connection(lxcpath, autostart=False)
    try:
        connection.call(Shutdown())
    finally:
        connection.close()
    return True
