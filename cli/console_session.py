"""The client side of the daemon's terminals: `lxc-console`, and `lxc-start -F` on a tty.

`lxc-console` asks the daemon for a terminal (`console` request), receives its fd
with the reply (a tty's master, or a socket the daemon joins to the console), prints
LXC's banner, and proxies the user's terminal to it in raw mode until the escape
sequence (Ctrl-a q), the end of the container, or the end of the daemon. The lease
on the terminal is the control connection itself: it ends when this process does.

`lxc-start -F` with a terminal on stdin gets the console's socket with its
`started` reply and proxies it (no escape: every key goes to the container, as in
LXC) until the container stops.

Standard library only.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable

from cli.terminal import Proxy, RawTerminal, escape_letter
from runtime.control import fds_from_ancillary
from runtime.daemon_client import Connection, DaemonUnavailable, connect
from runtime.errors import LxcError

MAX_FDS = 4


class FdConnection(Connection):
    """A control connection that keeps the fds sent with replies."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self._pending: list[tuple[dict[str, object], list[int]]] = []

    def receive_with_fds(self) -> tuple[dict[str, object], list[int]]:
        while not self._pending:
            try:
                data, ancdata, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(MAX_FDS * 4))
            except ConnectionResetError:
                data, ancdata = b"", []
            fds = fds_from_ancillary(ancdata)
            if not data:
                for fd in fds:
                    os.close(fd)
                raise DaemonUnavailable("the runtime daemon closed the connection (see its log)")
            self._pending.extend(self._reader.feed(data, fds))
        return self._pending.pop(0)

    def has_pending(self) -> bool:
        """Whether a reply already read from the socket waits here (select would not say)."""
        return bool(self._pending)

    def receive(self) -> dict[str, object]:
        message, fds = self.receive_with_fds()
        for fd in fds:
            os.close(fd)
        return message


def open_fd_connection(lxcpath: str) -> FdConnection:
    return FdConnection(connect(lxcpath))


def final_reply_watcher(
    connection: FdConnection,
    final: dict[str, object],
    on_event: Callable[[dict[str, object]], None] | None = None,
) -> Callable[[int], bool]:
    """A Proxy `on_watch` for the daemon's connection: True once the final reply
    (or the daemon's loss) is in `final`. Every message already buffered is taken,
    so one that arrived with the previous one is not left waiting for readability;
    `on_event` sees those before the final reply."""

    def on_watch(_fd: int) -> bool:
        while True:
            try:
                message = connection.receive()
            except DaemonUnavailable as err:
                final.update({"ok": False, "error": str(err), "exit_code": 1})
                return True
            if "ok" in message:
                final.update(message)
                return True
            if on_event is not None:
                on_event(message)
            if not connection.has_pending():
                return False

    return on_watch


def _failed(reply: dict[str, object]) -> LxcError:
    code = reply.get("exit_code")
    return LxcError(str(reply.get("error")), exit_code=code if isinstance(code, int) and code else 1)


# -- lxc-console ----------------------------------------------------------------------------


def console(lxcpath: str, name: str, tty: int, escape: int, quiet: bool) -> int:
    """Connect the user's terminal to tty `tty` (-1: the first free one, 0: the console)."""
    from runtime.status import container_status

    if not container_status(lxcpath, name).running:
        raise LxcError(f"{name} is not running")
    if not os.isatty(0):
        raise LxcError("Failed to add stdin handler: stdin is not a terminal")
    connection = open_fd_connection(lxcpath)
    try:
        connection.send({"op": "console", "name": name, "tty": tty})
        while True:
            reply, fds = connection.receive_with_fds()
            if "ok" in reply:
                break
            for fd in fds:
                os.close(fd)
        if not reply["ok"] or not fds:
            for fd in fds:
                os.close(fd)
            raise _failed(reply)
        remote = fds[0]
        for fd in fds[1:]:
            os.close(fd)
        number = reply.get("tty", tty)
        number = number if isinstance(number, int) else tty
        try:
            _session(connection, remote, name, number, escape, quiet)
        finally:
            os.close(remote)
    finally:
        connection.close()
    return 0


def _session(connection: FdConnection, remote: int, name: str, number: int, escape: int, quiet: bool) -> None:
    if not quiet:
        letter = escape_letter(escape)
        sys.stderr.write(
            f"\nConnected to tty {number}\n"
            f"Type <Ctrl+{letter} q> to exit the console, "
            f"<Ctrl+{letter} Ctrl+{letter}> to enter Ctrl+{letter} itself\n"
        )
        sys.stderr.flush()
    is_socket = number == 0

    def on_resize(rows: int, cols: int) -> None:
        if is_socket:
            try:
                connection.send({"op": "console-resize", "rows": rows, "cols": cols})
            except OSError:
                pass
        else:
            from runtime.ptys import set_winsize

            set_winsize(remote, rows, cols)

    def on_watch(_fd: int) -> bool:
        try:
            message = connection.receive()
        except DaemonUnavailable:
            return True
        return message.get("event") == "closed"

    with RawTerminal(0):
        Proxy(
            term_in=0, term_out=1, remote=remote, escape=escape,
            watch=(connection.sock.fileno(),), on_watch=on_watch, on_resize=on_resize,
        ).run()  # fmt: skip


# -- lxc-start -F ---------------------------------------------------------------------------


def console_on_terminal(console_path: str | None) -> bool:
    """lxc-start -F proxies the console to the caller when stdin is a terminal and the
    console is neither disabled nor given to a device (lxc.console.path)."""
    return os.isatty(0) and not console_path


def foreground_request(request: dict[str, object]) -> None:
    """Mark a start request as 'the console is on my terminal', with its size."""
    from runtime.ptys import get_winsize

    request["console"] = "foreground"
    size = get_winsize(0)
    if size is not None and size[0] > 0:
        request["winsize"] = list(size)


def foreground(connection: FdConnection, lxcpath: str, name: str, remote: int) -> dict[str, object]:
    """Proxy the container's console until the daemon's final reply; return it."""
    final: dict[str, object] = {}
    sizes_sent = [0]

    def on_resize(rows: int, cols: int) -> None:
        sizes_sent[0] += 1
        if sizes_sent[0] == 1:
            return  # the start request carried the first size
        # The start connection carries signals and the final reply: a short one of its own.
        from runtime.daemon_client import open_connection

        try:
            extra = open_connection(lxcpath, autostart=False)
            try:
                extra.request({"op": "console-resize", "name": name, "tty": 0, "rows": rows, "cols": cols})
            finally:
                extra.close()
        except (OSError, DaemonUnavailable):
            pass

    on_watch = final_reply_watcher(connection, final)
    proxy = Proxy(
        term_in=0, term_out=1, remote=remote, watch=(connection.sock.fileno(),),
        on_watch=on_watch, on_resize=on_resize,
    )  # fmt: skip
    with RawTerminal(0):
        proxy.run()
        proxy.drain_remote(idle=0.05)
    if not final.get("ok", False):
        raise _failed(final)
    return final
