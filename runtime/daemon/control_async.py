"""The control protocol over trio: one stream adapter for the daemon and for trio clients.

Why here: the daemon's side of a control connection and a trio program's client
side (runtime.api, the exporter) both read JSON lines with the fds that came
with them and send lines with fds on their first byte; `ControlStream` does
that once, over runtime.client.control's framing. The messages are runtime.client.control_protocol's.

`AsyncClient(lxcpath).call(request)` is the trio twin of runtime.client.daemon_client's
`Connection.call`: one request on a connection of its own (the daemon started
on first use, as the commands do), its typed final reply back, an error reply
raised as RequestFailed (an LxcError with the daemon's line and exit code).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Sequence

import trio

from runtime.client.control import LineReader, ProtocolError, fds_from_ancillary, scm_rights
from runtime.client.control_protocol import (
    MAX_FDS,
    ErrorReply,
    Event,
    Reply,
    Request,
    decode_reply,
    encode_request,
    op_of,
    result,
)
from runtime.client.daemon_client import DaemonUnavailable, connect, control_socket_path
from runtime.daemon.unix_connect import connect_stream

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runtime.client.control_protocol import R


class ControlStream:
    """A control connection's bytes and fds, both ways, over a trio socket stream.

    Received lines wait in a queue with their fds; whatever is still queued or
    half-received when the connection ends is closed by `close_fds`. More fds on
    one message than `max_fds`, or a truncated control message, is a ProtocolError.
    """

    def __init__(self, stream: trio.SocketStream, max_fds: int = MAX_FDS) -> None:
        self.stream = stream
        self.max_fds = max_fds
        self.reader = LineReader(max_fds=max_fds)
        self.queue: list[tuple[dict[str, object], list[int]]] = []
        self.eof = False

    async def send(self, data: bytes, fds: Sequence[int] = ()) -> None:
        """One line (or several), with `fds` on its first byte."""
        if fds:
            sent = await self.stream.socket.sendmsg([data], scm_rights(list(fds)))
            data = data[sent:]
        if data:
            await self.stream.send_all(data)

    async def receive(self) -> tuple[dict[str, object], list[int]] | None:
        """The next line as a JSON object with its fds; None at the end of the stream."""
        while not self.queue:
            if self.eof or not await self._read_more():
                return None
        return self.queue.pop(0)

    async def _read_more(self) -> bool:
        sock = self.stream.socket
        data, ancdata, flags, _ = await sock.recvmsg(65536, socket.CMSG_SPACE(self.max_fds * 4))
        fds = fds_from_ancillary(ancdata)
        if flags & socket.MSG_CTRUNC:
            close_all(fds)  # the kernel dropped the rest: this message is incomplete
            raise ProtocolError(f"more than {self.max_fds} file descriptors with one message")
        if not data:
            close_all(fds)
            self.eof = True
            return False
        self.queue.extend(self.reader.feed(data, fds))
        return True

    def close_fds(self) -> None:
        for _, fds in self.queue:
            close_all(fds)
        self.queue.clear()
        close_all(self.reader.leftover_fds())


def close_all(fds: Sequence[int]) -> None:
    for fd in fds:
        os.close(fd)


class AsyncClient:
    """Typed requests to one lxcpath's daemon from a trio program, each on its own
    connection, so any number may run at once."""

    def __init__(self, lxcpath: str) -> None:
        self.lxcpath = os.path.abspath(lxcpath)
        self._starting = trio.Lock()  # one daemon start at a time from this program

    async def connect(self) -> ControlStream:
        path = control_socket_path(self.lxcpath)
        for attempt in range(2):
            try:
                return ControlStream(trio.SocketStream(await connect_stream(path)))
            except (FileNotFoundError, ConnectionRefusedError):
                if attempt:
                    raise
                async with self._starting:
                    # Connects if another task started it meanwhile, else starts it.
                    await trio.to_thread.run_sync(_ensure_daemon, self.lxcpath)
        raise AssertionError("unreachable")

    async def call(
        self,
        request: Request[R],
        fds: Sequence[int] = (),
        on_event: Callable[[Event], None] | None = None,
    ) -> R:
        """Send one request and return its final reply; RequestFailed if it failed.
        `on_event` sees the events that come before it (start-many's ContainerDone)."""
        op = op_of(request)
        stream = await self.connect()
        try:
            await stream.send(encode_request(request), fds)
            while True:
                item = await stream.receive()
                if item is None:
                    raise DaemonUnavailable("the runtime daemon closed the connection (see its log)")
                raw, received = item
                close_all(received)
                reply: Reply | ErrorReply | Event = decode_reply(op, raw)
                if not isinstance(reply, Event):
                    return result(request, reply)
                if on_event is not None:
                    on_event(reply)
        finally:
            stream.close_fds()
            await stream.stream.aclose()


#: One daemon start at a time from this process, whatever the number of clients
#: (their worker threads race otherwise on the run directory's files).
_STARTING = threading.Lock()


def _ensure_daemon(lxcpath: str) -> None:
    with _STARTING:
        connect(lxcpath, autostart=True).close()
