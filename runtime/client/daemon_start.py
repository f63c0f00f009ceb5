"""How a command reaches the runtime daemon of an lxcpath, starting it if needed.

The daemon listens on `<rundir>/control.sock` (requests) and `<rundir>/bus.sock`
(the monitor bus). A command that needs it connects; if nobody answers, it starts
`python -m runtime.daemon --lxcpath P` in a new session and waits for the one
byte the daemon writes on an inherited pipe once it listens, so there is no
polling. The daemon stays this command's child until the command exits; it is
then adopted by the nearest subreaper (or init), which reaps it when it exits. Two commands racing to start it are fine: the daemon takes an flock, the
loser exits at once without writing, and both commands then connect to the winner.

Apart from runtime.client.daemon_client (the typed requests over the connection),
so that a command that needs only the daemon's sockets (lxc-wait, lxc-monitor:
the bus) does not load the control protocol's message table.

Standard library only: every client command imports this.
"""

from __future__ import annotations

import _socket  # not `socket`, which imports `enum` and `selectors`: start-up time
import sys
import time

from runtime.client import lean_os as os  # not `os`: start-up time
from runtime.client.errors import LxcError
from runtime.client.rundir import ensure_run_dir, run_dir

START_TIMEOUT = 10.0
#: The daemon's interpreter flags: -OO drops docstrings (and asserts) from every module it
#: loads, ~2 MiB of the daemon's fixed memory, which every container shares (README,
#: "Speed": memory per container). `make setup` compiles the daemon's modules at -OO too.
DAEMON_FLAGS = ("-OO",)


class DaemonUnavailable(LxcError):
    """The daemon could not be reached or started."""


def control_socket_path(lxcpath: str) -> str:
    return os.path.join(run_dir(lxcpath), "control.sock")


def bus_socket_path(lxcpath: str) -> str:
    return os.path.join(run_dir(lxcpath), "bus.sock")


def daemon_log_path(lxcpath: str) -> str:
    return os.path.join(run_dir(lxcpath), "daemon.log")


def try_connect(path: str) -> _socket.socket | None:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    return sock


def start_daemon(lxcpath: str) -> None:
    """Start the lxcpath's daemon and wait until it listens (or another one won)."""
    import os  # noqa: F811 - the real one: fork, setsid, exec (a rare path)

    ensure_run_dir(lxcpath)
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child: exec at once, no Python work after fork
            try:
                os.close(read_fd)
                os.setsid()
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.set_inheritable(write_fd, True)
                os.execv(
                    sys.executable,
                    [sys.executable, *DAEMON_FLAGS, "-m", "runtime.daemon", "--lxcpath", os.path.abspath(lxcpath),
                     "--ready-fd", str(write_fd)],
                )  # fmt: skip
            finally:
                os._exit(127)
        os.close(write_fd)
        write_fd = -1
        deadline = time.monotonic() + START_TIMEOUT
        import select

        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DaemonUnavailable(
                    f"the runtime daemon did not start within {START_TIMEOUT:.0f} s; "
                    f"see {daemon_log_path(lxcpath)}"
                )
            ready, _, _ = select.select([read_fd], [], [], remaining)
            if ready:
                if not os.read(read_fd, 1):
                    # EOF: it exited (lost the flock race, or failed: see its log).
                    # The winner of a race may still be getting ready: give it time.
                    os.waitpid(pid, 0)
                    wait_listening(control_socket_path(lxcpath), deadline)
                break
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)


def wait_listening(path: str, deadline: float) -> None:
    """Wait until a daemon (another command's) accepts on `path`, or the deadline."""
    while time.monotonic() < deadline:
        sock = try_connect(path)
        if sock is not None:
            sock.close()
            return
        time.sleep(0.01)


def connect(lxcpath: str, *, autostart: bool = True) -> _socket.socket:
    """A connected control socket for the lxcpath's daemon."""
    path = control_socket_path(lxcpath)
    sock = try_connect(path)
    if sock is None and autostart:
        start_daemon(lxcpath)
        sock = try_connect(path)
    if sock is None:
        raise DaemonUnavailable(
            f"cannot reach the runtime daemon at {path}; see {daemon_log_path(lxcpath)}"
        )
    return sock


def bus_socket(lxcpath: str, *, autostart: bool = True) -> str:
    """The bus socket path, after making sure the daemon runs (env override for tests)."""
    override = os.environ.get("TRIO_LXC_BUS_SOCKET")
    if override:
        return override
    path = bus_socket_path(lxcpath)
    if autostart and try_connect(control_socket_path(lxcpath)) is None:
        start_daemon(lxcpath)
    return path


def daemon_running(lxcpath: str) -> bool:
    sock = try_connect(control_socket_path(lxcpath))
    if sock is None:
        return False
    sock.close()
    return True
