"""lxc-execute on a terminal: the application gets a pty of its own, proxied to ours.

Why: the application is the container's, and a terminal is shared input. Given the
caller's terminal as stdin (the old way), container root could `ioctl(TIOCSTI)` a
command line into it (container root keeps CAP_SYS_ADMIN, which TIOCSTI on a
terminal that is not one's controlling terminal asks for), and the caller's shell
ran it once lxc-execute returned. As lxc-attach does it, each of 0, 1, 2 that is a
terminal is replaced by the slave of a new host pty (the others are passed as
they are: `lxc-execute -- cmd > file` writes the file directly); the application
makes that slave its controlling terminal (runtime.spawn.process.new_session), so
an injection lands on its own terminal, job control works, and ^C typed by the
user is the pty's own SIGINT. We proxy the pty (our terminal in raw mode only when
stdin is the terminal; window size copied at once and on SIGWINCH) until the
daemon's final reply. The slave starts with the caller's terminal modes.

With -d nobody is left to proxy: the terminals are replaced by /dev/null.

lxc-start -F uses the same when the console is not proxied to the caller (stdin is
not a terminal while stdout or stderr is, or lxc.console.path is set): pid 1 would
otherwise get the caller's terminal as its stdio, open to the same injection. A
system init does not make the pty its controlling terminal (it is not /dev/console).

Standard library only.
"""

from __future__ import annotations

import os
import termios

from runtime.client.errors import LxcError
from runtime.kernel import ptys

TYPE_CHECKING = False
if TYPE_CHECKING:  # the plain paths (-d, no terminal) need neither these nor cli.terminal
    from collections.abc import Callable  # (~1.5 ms at start-up)

    from runtime.client.control_protocol import ErrorReply, Event, Reply, Start, StartReply
    from runtime.client.daemon_client import Connection


def open_pty(terminals: list[int]) -> tuple[int, int]:
    """A host pty for the application: (master, slave), the slave with the modes and
    size of the caller's terminal."""
    try:
        master, slave = ptys.open_pair("/dev/ptmx")
    except OSError as err:
        raise LxcError(f"Failed to allocate a pseudo terminal: {err.strerror}") from None
    try:
        termios.tcsetattr(slave, termios.TCSANOW, termios.tcgetattr(terminals[0]))
    except termios.error:
        pass  # the pty's own defaults will do
    size = ptys.get_winsize(terminals[0])
    if size is not None and size[0] > 0 and size[1] > 0:
        ptys.set_winsize(master, *size)
    return master, slave


def replaced_stdio(terminals: list[int], replacement: int) -> tuple[int, int, int]:
    """0, 1, 2 with each terminal among them replaced."""
    stdin, stdout, stderr = (replacement if fd in terminals else fd for fd in (0, 1, 2))
    return stdin, stdout, stderr


def detached_stdio(terminals: list[int]) -> tuple[tuple[int, int, int], int]:
    """For -d: the stdio to pass (terminals -> /dev/null) and the /dev/null fd to close."""
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    return replaced_stdio(terminals, null), null


def proxy_until_done(
    connection: Connection,
    master: int,
    terminals: list[int],
    on_event: Callable[[Event], None] | None = None,
) -> StartReply:
    """Proxy the application's pty to our terminal until the daemon's final reply;
    `on_event` sees the events before it (`Started`, with pid 1's pid)."""
    from cli.console_session import final_reply_watcher, started_result
    from cli.terminal import Proxy, RawTerminal

    final: list[Reply | ErrorReply] = []

    on_watch = final_reply_watcher(connection, final, on_event)
    term_in = 0 if 0 in terminals else None
    term_out = next(fd for fd in (1, 2, 0) if fd in terminals)
    proxy = Proxy(
        term_in=term_in, term_out=term_out, remote=master, watch=(connection.sock.fileno(),),
        on_watch=on_watch, on_resize=lambda rows, cols: ptys.set_winsize(master, rows, cols),
    )  # fmt: skip
    with RawTerminal(term_in):
        proxy.run()
        proxy.drain_remote(idle=0.05)
    return started_result(final)


def run_attached(
    lxcpath: str,
    name: str,
    request: Start,
    terminals: list[int],
    on_event: Callable[[Event], None] | None = None,
) -> StartReply:
    """Send an attached start request with a pty of the container's own in place of our
    terminals, proxy it until the daemon's final reply and return that reply."""
    from cli.requests import forward_signals
    from runtime.client.daemon_client import open_connection

    master, slave = open_pty(terminals)
    try:
        connection = open_connection(lxcpath)
        try:
            forward_signals(connection, name)
            try:
                connection.send(request, replaced_stdio(terminals, slave))
            finally:
                os.close(slave)
                slave = -1
            return proxy_until_done(connection, master, terminals, on_event)
        finally:
            connection.close()
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
