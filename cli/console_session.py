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
import sys
from collections.abc import Callable

from cli.terminal import Proxy, RawTerminal, escape_letter
from runtime.client.control_protocol import (
    Closed,
    ConsoleResize,
    ErrorReply,
    Event,
    Reply,
    StartReply,
)
from runtime.client.daemon_client import Connection, DaemonUnavailable, open_connection
from runtime.client.errors import LxcError


def final_reply_watcher(
    connection: Connection,
    final: list[Reply | ErrorReply],
    on_event: Callable[[Event], None] | None = None,
) -> Callable[[int], bool]:
    """A Proxy `on_watch` for the daemon's connection: True once the final reply
    (or the daemon's loss, as an ErrorReply) is in `final`. Every message already
    buffered is taken, so one that arrived with the previous one is not left waiting
    for readability; `on_event` sees those before the final reply."""

    def on_watch(_fd: int) -> bool:
        while True:
            try:
                message = connection.receive()
            except DaemonUnavailable as err:
                final.append(ErrorReply(error=str(err), exit_code=1))
                return True
            if not isinstance(message, Event):
                final.append(message)
                return True
            if on_event is not None:
                on_event(message)
            if not connection.has_pending():
                return False

    return on_watch


def started_result(final: list[Reply | ErrorReply]) -> StartReply:
    """The final reply `final_reply_watcher` collected for a start, or its error raised."""
    from runtime.client.control_protocol import ReplyError

    if not final:
        raise ReplyError("the runtime daemon sent no final reply")
    reply = final[0]
    if isinstance(reply, ErrorReply):
        raise reply.failure()
    if not isinstance(reply, StartReply):
        raise ReplyError(f"the runtime daemon answered a start with {type(reply).__name__}")
    return reply


# -- lxc-console ----------------------------------------------------------------------------


def console(lxcpath: str, name: str, tty: int, escape: int, quiet: bool) -> int:
    """Connect the user's terminal to tty `tty` (-1: the first free one, 0: the console)."""
    from runtime.client.status import container_status

    if not container_status(lxcpath, name).running:
        raise LxcError(f"{name} is not running")
    if not os.isatty(0):
        raise LxcError("Failed to add stdin handler: stdin is not a terminal")
    connection = open_connection(lxcpath)
    try:
        remote, number = connection.lease_console(name, tty)
        try:
            _session(connection, remote, name, number, escape, quiet)
        finally:
            os.close(remote)
    finally:
        connection.close()
    return 0


def _close(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def _session(connection: Connection, remote: int, name: str, number: int, escape: int, quiet: bool) -> None:
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
                connection.tell(ConsoleResize(rows=rows, cols=cols))
            except OSError:
                pass
        else:
            from runtime.kernel.ptys import set_winsize

            set_winsize(remote, rows, cols)

    def on_watch(_fd: int) -> bool:
        try:
            message = connection.receive()
        except DaemonUnavailable:
            return True
        return isinstance(message, Closed)

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


def foreground_winsize() -> tuple[int, int] | None:
    """The size of our terminal for a start whose console is on it (`console="foreground"`)."""
    from runtime.kernel.ptys import get_winsize

    size = get_winsize(0)
    return (size[0], size[1]) if size is not None and size[0] > 0 else None


def foreground(connection: Connection, lxcpath: str, name: str, remote: int) -> StartReply:
    """Proxy the container's console until the daemon's final reply; return it."""
    final: list[Reply | ErrorReply] = []
    sizes_sent = [0]

    def on_resize(rows: int, cols: int) -> None:
        sizes_sent[0] += 1
        if sizes_sent[0] == 1:
            return  # the start request carried the first size
        # The start connection carries signals and the final reply: a short one of its own.
        try:
            extra = open_connection(lxcpath, autostart=False)
            try:
                extra.call(ConsoleResize(name=name, tty=0, rows=rows, cols=cols))
            finally:
                extra.close()
        except (OSError, LxcError):
            pass

    on_watch = final_reply_watcher(connection, final)
    proxy = Proxy(
        term_in=0, term_out=1, remote=remote, watch=(connection.sock.fileno(),),
        on_watch=on_watch, on_resize=on_resize,
    )  # fmt: skip
    with RawTerminal(0):
        proxy.run()
        proxy.drain_remote(idle=0.05)
    return started_result(final)
