"""How a command reaches the runtime daemon of an lxcpath, starting it if needed.

The daemon listens on `<rundir>/control.sock` (requests) and `<rundir>/bus.sock`
(the monitor bus). A command that needs it connects; if nobody answers, it starts
`python -m runtime.daemon --lxcpath P` in a new session and waits for the one
byte the daemon writes on an inherited pipe once it listens, so there is no
polling. The daemon stays this command's child until the command exits; it is
then adopted by the nearest subreaper (or init), which reaps it when it exits. Two commands racing to start it are fine: the daemon takes an flock, the
loser exits at once without writing, and both commands then connect to the winner.

Standard library only: every client command imports this.
"""

from __future__ import annotations

import array
import os
import socket
import sys
import time

from runtime.control import LineReader, encode
from runtime.errors import LxcError
from runtime.rundir import ensure_run_dir, run_dir

START_TIMEOUT = 10.0


class DaemonUnavailable(LxcError):
    """The daemon could not be reached or started."""


def control_socket_path(lxcpath: str) -> str:
    return os.path.join(run_dir(lxcpath), "control.sock")


def bus_socket_path(lxcpath: str) -> str:
    return os.path.join(run_dir(lxcpath), "bus.sock")


def daemon_log_path(lxcpath: str) -> str:
    return os.path.join(run_dir(lxcpath), "daemon.log")


def _try_connect(path: str) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    return sock


def start_daemon(lxcpath: str) -> None:
    """Start the lxcpath's daemon and wait until it listens (or another one won)."""
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
                    [sys.executable, "-m", "runtime.daemon", "--lxcpath", os.path.abspath(lxcpath),
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
                    _wait_listening(control_socket_path(lxcpath), deadline)
                break
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)


def _wait_listening(path: str, deadline: float) -> None:
    """Wait until a daemon (another command's) accepts on `path`, or the deadline."""
    while time.monotonic() < deadline:
        sock = _try_connect(path)
        if sock is not None:
            sock.close()
            return
        time.sleep(0.01)


def connect(lxcpath: str, *, autostart: bool = True) -> socket.socket:
    """A connected control socket for the lxcpath's daemon."""
    path = control_socket_path(lxcpath)
    sock = _try_connect(path)
    if sock is None and autostart:
        start_daemon(lxcpath)
        sock = _try_connect(path)
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
    if autostart and _try_connect(control_socket_path(lxcpath)) is None:
        start_daemon(lxcpath)
    return path


class Connection:
    """One control connection: send a request (with fds), read reply lines."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = LineReader()
        self._ready: list[dict[str, object]] = []

    def send(self, message: dict[str, object], fds: tuple[int, ...] | list[int] = ()) -> None:
        data = encode(message)
        if fds:
            ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
            sent = self.sock.sendmsg([data], ancillary)
            data = data[sent:]
        if data:
            self.sock.sendall(data)

    def receive(self) -> dict[str, object]:
        """The next reply line; DaemonUnavailable if the daemon went away."""
        while not self._ready:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise DaemonUnavailable("the runtime daemon closed the connection (see its log)")
            self._ready.extend(msg for msg, _ in self._reader.feed(chunk))
        return self._ready.pop(0)

    def request(self, message: dict[str, object], fds: tuple[int, ...] | list[int] = ()) -> dict[str, object]:
        """Send a request and return its final reply (progress lines are skipped)."""
        self.send(message, fds)
        while True:
            reply = self.receive()
            if "ok" in reply:
                return reply

    def close(self) -> None:
        self.sock.close()


def open_connection(lxcpath: str, *, autostart: bool = True) -> Connection:
    return Connection(connect(lxcpath, autostart=autostart))


def daemon_running(lxcpath: str) -> bool:
    sock = _try_connect(control_socket_path(lxcpath))
    if sock is None:
        return False
    sock.close()
    return True


def container_state(lxcpath: str, name: str) -> str | None:
    """The container's state as the lxcpath's daemon knows it; None if no daemon runs.

    The daemon is the authority on what runs (its records are a copy for when it is
    down): destroy, copy and rename ask it before touching a container's files.
    """
    sock = _try_connect(control_socket_path(lxcpath))
    if sock is None:
        return None
    connection = Connection(sock)
    try:
        reply = connection.request({"op": "state", "name": name})
    except (DaemonUnavailable, OSError):
        return None  # it was on its way out: the records answer
    finally:
        connection.close()
    return str(reply.get("state") or "STOPPED")


def shutdown_daemon(lxcpath: str) -> bool:
    """Ask the lxcpath's daemon to kill its containers and exit; False if none ran."""
    if not daemon_running(lxcpath):
        return False
    connection = open_connection(lxcpath, autostart=False)
    try:
        connection.request({"op": "shutdown"})
    finally:
        connection.close()
    return True
