"""Every daemon request the Python API makes, in one place: what it says and how it goes.

The builders (`start`, `stop`, `named`, `cgroup`, `console`) are the only places
the API spells a control message; `send` (blocking, the standard-library client the
commands use) and `asend` (trio) are the only places it talks to the daemon. When
the control protocol becomes typed messages, this module is what changes: the
containers above it only call the builders and the two transports.

A reply that says `ok: false` becomes LxcError with the daemon's message and exit
code; progress lines (`{"event": ...}`) before the final reply are skipped.
"""

from __future__ import annotations

import os
import socket
import threading

from runtime.control import LineReader, encode, fds_from_ancillary
from runtime.daemon_client import DaemonUnavailable, connect, control_socket_path
from runtime.errors import LxcError

TYPE_CHECKING = False
if TYPE_CHECKING:  # trio only for the async half: a blocking script never imports it
    import trio

Message = dict[str, object]
#: File descriptors a reply may carry (a console's terminal is one).
MAX_REPLY_FDS = 4


# -- what the API asks ------------------------------------------------------------------


def start(
    name: str, config_path: str, argv: list[str] | None, defines: list[str] | None = None
) -> Message:
    """A detached system start; pid 1 is `argv`, else lxc.init.cmd (with the `-s`
    style `defines` applied), else /sbin/init.

    The choice of pid 1 is made here, once, as lxc-start makes it today (the
    daemon will make it when it resolves the start itself).
    """
    defines = list(defines or [])
    command = list(argv) if argv else (_init_command(config_path, defines) or ["/sbin/init"])
    return {
        "op": "start", "name": name, "mode": "system", "argv": command,
        "config_path": config_path, "defines": defines,
    }  # fmt: skip


def stop(
    name: str,
    *,
    kill: bool = False,
    timeout: float = 60.0,
    nowait: bool = False,
    nokill: bool = False,
    reboot: bool = False,
) -> Message:
    """lxc-stop's request: graceful then killed after `timeout` (or at once with `kill`)."""
    return {
        "op": "stop", "name": name, "kill": kill, "timeout": timeout,
        "nowait": nowait, "nokill": nokill, "reboot": reboot,
    }  # fmt: skip


def named(op: str, name: str) -> Message:
    """`state`, `freeze`, `unfreeze`, `stats`: an op with nothing but the name."""
    return {"op": op, "name": name}


def ping() -> Message:
    return {"op": "ping"}


def cgroup(name: str, key: str, value: str | None = None) -> Message:
    """Read (`value` None) or write one cgroup file of a running container."""
    message: Message = {"op": "cgroup", "name": name, "key": key}
    if value is not None:
        message["value"] = value
    return message


def console(name: str, tty: int) -> Message:
    """A lease on tty `tty` (-1: the first free one, 0: the console); the reply carries its fd."""
    return {"op": "console", "name": name, "tty": tty}


def _init_command(config_path: str, defines: list[str]) -> list[str]:
    """lxc.init.cmd of the config with the defines applied, split on blanks (as LXC)."""
    from runtime.config.parser import apply_define, parse_file

    raw = parse_file(config_path)
    for define in defines:
        apply_define(raw, define)
    value = raw.get("lxc.init.cmd")
    return value.split() if value else []


# -- how it goes ------------------------------------------------------------------------


def failure(reply: Message) -> LxcError:
    """The LxcError a failed reply stands for (the daemon's message, LXC's exit code)."""
    code = reply.get("exit_code")
    return LxcError(str(reply.get("error")), exit_code=code if isinstance(code, int) and code else 1)


def send(lxcpath: str, message: Message) -> Message:
    """One request on a connection of its own (the daemon is started if needed)."""
    reply, fds = send_for_fds(lxcpath, message, keep=False)
    return reply


class Lease:
    """A connection kept open because what the reply gave lasts as long as it does
    (a console's terminal); `close` ends the lease."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def close(self) -> None:
        self.sock.close()


def send_for_fds(lxcpath: str, message: Message, *, keep: bool = True) -> tuple[Message, list[int]]:
    """A request whose reply carries fds; with `keep` the connection stays open as
    a Lease (the caller closes it), the reply gets it under "lease"."""
    try:
        sock = connect(lxcpath, autostart=False)
    except DaemonUnavailable:
        _start_daemon(lxcpath)
        sock = connect(lxcpath, autostart=False)
    try:
        sock.sendall(encode(message))
        reply, fds = _final_reply(sock)
    except BaseException:
        sock.close()
        raise
    if keep and reply.get("ok"):
        reply = {**reply, "lease": Lease(sock)}
    else:
        sock.close()
    if not reply.get("ok"):
        _close(fds)
        raise failure(reply)
    if not keep:
        _close(fds)
        fds = []
    return reply, fds


def _final_reply(sock: socket.socket) -> tuple[Message, list[int]]:
    reader = LineReader()
    while True:
        try:
            data, ancdata, _, _ = sock.recvmsg(65536, socket.CMSG_SPACE(MAX_REPLY_FDS * 4))
        except ConnectionResetError:
            data, ancdata = b"", []
        fds = fds_from_ancillary(ancdata)
        if not data:
            _close(fds)
            raise DaemonUnavailable("the runtime daemon closed the connection (see its log)")
        for reply, reply_fds in reader.feed(data, fds):
            if "ok" in reply:
                return reply, reply_fds
            _close(reply_fds)


async def asend(lxcpath: str, message: Message) -> Message:
    """`send` for trio programs: the daemon is started (in a worker thread) if needed."""
    stream = await _aconnect(lxcpath)
    reader = LineReader()
    async with stream:
        await stream.send_all(encode(message))
        while True:
            data = await stream.receive_some(65536)
            if not data:
                raise DaemonUnavailable("the runtime daemon closed the connection (see its log)")
            for reply, _ in reader.feed(data):
                if "ok" not in reply:
                    continue
                if not reply["ok"]:
                    raise failure(reply)
                return reply


async def _aconnect(lxcpath: str) -> trio.SocketStream:
    """A trio stream on the control socket, starting the daemon first if none answers."""
    import trio

    path = control_socket_path(lxcpath)
    for attempt in range(2):
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            await sock.connect(path)
            return trio.SocketStream(sock)
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if attempt:
                raise DaemonUnavailable(f"cannot reach the runtime daemon at {path}") from None
            await trio.to_thread.run_sync(_start_daemon, lxcpath)
    raise AssertionError("unreachable")


def bus_path(lxcpath: str) -> str:
    """The lxcpath's bus socket, once its daemon runs (started if none does)."""
    from runtime.daemon_client import bus_socket_path

    _start_daemon(lxcpath)
    return bus_socket_path(lxcpath)


async def abus_path(lxcpath: str) -> str:
    """`bus_path` for trio programs."""
    from runtime.daemon_client import bus_socket_path

    await asend(lxcpath, ping())
    return bus_socket_path(lxcpath)


#: One daemon start at a time from this process (threads of trio programs race
#: otherwise on the run directory's files); the next one then finds it running.
_STARTING = threading.Lock()


def _start_daemon(lxcpath: str) -> None:
    with _STARTING:
        connect(lxcpath, autostart=True).close()


def _close(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)
