"""No input takes the daemon down (issue 10, items 7-10 and 15), against a real daemon.

Each test attacks the control socket or the monitor bus of the test's own daemon
(its own lxcpath and run directory, from the fixtures) with what used to end it,
leak its fds or wedge a container in STARTING, then checks that the very same
daemon process is alive and still answers a normal request. The `runtime`
fixture stops the daemon and sweeps processes and cgroups afterwards, even when a
test fails; every process a test starts is killed in a `finally`.
"""

from __future__ import annotations

import array
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from conftest import BIN, Cli

from bus.protocol import PROTOCOL_VERSION
from runtime.client.rundir import run_dir

CONF = "lxc.net.0.type = empty\n"
#: The daemon's wait for a request in these tests (its default is much longer).
REQUEST_TIMEOUT = 1.5


def unique(prefix: str = "i") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def daemon(runtime: Cli, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The runtime CLI with the test's daemon started (short request timeout)."""
    monkeypatch.setenv("TRIO_LXC_REQUEST_TIMEOUT", str(REQUEST_TIMEOUT))
    runtime.env["TRIO_LXC_REQUEST_TIMEOUT"] = str(REQUEST_TIMEOUT)
    from runtime.client.daemon_client import connect

    connect(str(runtime.lxcpath), autostart=True).close()
    return runtime


def control_path(cli: Cli) -> str:
    return os.path.join(run_dir(str(cli.lxcpath)), "control.sock")


def bus_path(cli: Cli) -> str:
    return os.path.join(run_dir(str(cli.lxcpath)), "bus.sock")


def daemon_pid(cli: Cli) -> int:
    return int(Path(run_dir(str(cli.lxcpath)), "daemon.pid").read_text())


def connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(15)
    sock.connect(path)
    return sock


def send(sock: socket.socket, data: bytes, fds: list[int] | tuple[int, ...] = ()) -> None:
    ancillary = []
    if fds:
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
    sent = sock.sendmsg([data], ancillary)
    if sent < len(data):
        sock.sendall(data[sent:])


def line(message: dict[str, object]) -> bytes:
    return json.dumps({"v": 1, **message}).encode() + b"\n"


def replies(sock: socket.socket) -> list[dict[str, object]]:
    """Every reply line until the final one (`ok`) or the connection's end."""
    out: list[dict[str, object]] = []
    buffer = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return out
        if not data:
            return out
        buffer += data
        while b"\n" in buffer:
            raw, buffer = buffer.split(b"\n", 1)
            out.append(json.loads(raw))
            if "ok" in out[-1]:
                return out


def request(cli: Cli, message: dict[str, object], fds: tuple[int, ...] = ()) -> dict[str, object]:
    sock = connect(control_path(cli))
    try:
        send(sock, line(message), fds)
        got = replies(sock)
    finally:
        sock.close()
    assert got, f"no reply to {message}"
    return got[-1]


def assert_serving(cli: Cli, pid: int) -> None:
    """The same daemon process is alive and answers both a request and the bus."""
    reply = request(cli, {"op": "ping"})
    assert reply == {"v": 1, "ok": True, "pid": pid}
    assert daemon_pid(cli) == pid
    result = cli("lxc-wait", "-n", unique("w"), "-s", "STOPPED", "-t", "5")
    assert result.returncode == 0, result.stderr


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_links(pid: int) -> dict[int, str]:
    """The daemon's open fds and what they are (shown when a test finds a leak)."""
    links = {}
    for entry in os.listdir(f"/proc/{pid}/fd"):
        try:
            links[int(entry)] = os.readlink(f"/proc/{pid}/fd/{entry}")
        except OSError:
            pass
    return links


def cgroups_of(name: str) -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{name}")


# -- item 7: sizes, nesting, credentials -------------------------------------------


def test_bus_line_of_brackets_does_not_end_the_daemon(daemon: Cli) -> None:
    pid = daemon_pid(daemon)
    sock = connect(bus_path(daemon))
    try:
        send(sock, b"[" * 60_000 + b"\n")
        answer = sock.recv(65536)
    finally:
        sock.close()
    assert b'"error"' in answer and b"nested" in answer
    assert_serving(daemon, pid)


def test_bus_regex_of_nested_groups_does_not_end_the_daemon(daemon: Cli) -> None:
    """The daemon never compiles a subscriber's regex (5,000 nested groups used to
    raise RecursionError inside it)."""
    pid = daemon_pid(daemon)
    evil = "(" * 5000 + "a" + ")" * 5000
    sock = connect(bus_path(daemon))
    try:
        subscribe = {"v": PROTOCOL_VERSION, "type": "subscribe", "regex": evil}
        send(sock, json.dumps(subscribe).encode() + b"\n")
        sock.recv(65536)
    finally:
        sock.close()
    assert_serving(daemon, pid)
    # The command refuses such a regex itself, in one line.
    result = daemon("lxc-monitor", "-n", evil)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert "invalid regex" in result.stderr


def test_bus_line_too_long_is_refused(daemon: Cli) -> None:
    pid = daemon_pid(daemon)
    sock = connect(bus_path(daemon))
    try:
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            for _ in range(64):  # 4 MiB without a newline: refused well before that
                sock.sendall(b" " * 65536)
    finally:
        sock.close()
    assert_serving(daemon, pid)


@pytest.mark.parametrize(
    "payload",
    [b"[" * 60_000 + b"\n", b'{"a":' * 30_000 + b"\n", b"\xff\xfe garbage\n", b"[1,2]\n", b"\n\n{}\n"],
    ids=["brackets", "objects", "not-utf8", "not-object", "no-op"],
)
def test_control_garbage_gets_an_error_and_the_daemon_lives(daemon: Cli, payload: bytes) -> None:
    pid = daemon_pid(daemon)
    sock = connect(control_path(daemon))
    try:
        send(sock, payload)
        got = replies(sock)
    finally:
        sock.close()
    assert got and got[-1]["ok"] is False and got[-1]["exit_code"] == 1
    assert "\n" not in str(got[-1]["error"])
    assert_serving(daemon, pid)


def test_control_line_too_long_is_refused(daemon: Cli) -> None:
    pid = daemon_pid(daemon)
    sock = connect(control_path(daemon))
    try:
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            for _ in range(256):  # 16 MiB without a newline
                sock.sendall(b" " * 65536)
    finally:
        sock.close()
    assert_serving(daemon, pid)


def test_silent_or_partial_client_is_cut_off(daemon: Cli) -> None:
    """A client that sends nothing, or half a line, and waits, holds nothing for ever."""
    pid = daemon_pid(daemon)
    silent = connect(control_path(daemon))
    partial = connect(control_path(daemon))
    try:
        send(partial, b'{"v":1,"op":"pi')
        began = time.monotonic()
        for sock in (silent, partial):
            got = replies(sock)  # returns when the daemon closes the connection
            assert not got or got[-1]["ok"] is False
        assert time.monotonic() - began < REQUEST_TIMEOUT + 5
    finally:
        silent.close()
        partial.close()
    assert_serving(daemon, pid)


def test_too_many_fds_are_refused_and_closed(daemon: Cli) -> None:
    pid = daemon_pid(daemon)
    before = fd_count(pid)
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        for _ in range(20):
            sock = connect(control_path(daemon))
            try:
                send(sock, line({"op": "ping"}), [null] * 32)
                replies(sock)
            finally:
                sock.close()
    finally:
        os.close(null)
    assert_serving(daemon, pid)
    assert fd_count(pid) <= before + 2


# -- item 9: every request closes the fds it received ------------------------------


@pytest.mark.parametrize(
    "message",
    [
        {"op": "ping"},
        {"op": "state", "name": "nothere"},
        {"op": "no-such-op"},
        {"op": "stop", "name": "nothere"},
        {"op": "state", "name": "../etc"},
        {"op": "console-log", "name": "nothere"},
    ],
    ids=["ping", "state", "unknown", "stop", "bad-name", "console-log"],
)
def test_fds_sent_with_any_request_are_closed(daemon: Cli, message: dict[str, object]) -> None:
    pid = daemon_pid(daemon)
    request(daemon, {"op": "ping"})  # whatever the first request allocates, before counting
    before = fd_count(pid)
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        for _ in range(100):
            request(daemon, message, (null, null, null))
    finally:
        os.close(null)
    deadline = time.monotonic() + 2  # the last request's fds may close just after its reply
    while len(after := fd_links(pid)) > before + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(after) <= before + 2, f"{len(after) - before} fds leaked: {after}"
    assert_serving(daemon, pid)


def test_a_start_with_a_wrong_number_of_fds_is_refused_and_they_are_closed(daemon: Cli) -> None:
    """The op table says a start carries 0 or 3 fds (its stdio): 1 or 2 is refused
    before anything is started, and the fds are closed."""
    pid = daemon_pid(daemon)
    request(daemon, {"op": "ping"})
    before = fd_count(pid)
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        for count in (1, 2, 4) * 20:
            reply = request(daemon, {"op": "start", "name": unique("f"), "argv": ["/bin/true"]}, (null,) * count)
            assert reply["ok"] is False and "file descriptors" in str(reply["error"]), reply
    finally:
        os.close(null)
    deadline = time.monotonic() + 2
    while len(after := fd_links(pid)) > before + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(after) <= before + 2, f"{len(after) - before} fds leaked: {after}"
    assert_serving(daemon, pid)


def test_the_async_client_gets_typed_replies_and_raises_errors(daemon: Cli) -> None:
    """runtime.daemon.control_async.AsyncClient: the trio twin of Connection.call."""
    import trio

    from runtime.client.control_protocol import Ping, Pong, RequestFailed, Stop
    from runtime.daemon.control_async import AsyncClient

    client = AsyncClient(str(daemon.lxcpath))

    async def main() -> tuple[Pong, RequestFailed]:
        pong = await client.call(Ping())
        try:
            await client.call(Stop(name=unique("n")))
        except RequestFailed as err:
            return pong, err
        raise AssertionError("stopping a container that does not run succeeded")

    pong, failed = trio.run(main)
    assert pong.pid == daemon_pid(daemon)
    assert failed.exit_code == 2 and str(failed).endswith("is not running")


def test_replies_echo_the_request_id(daemon: Cli) -> None:
    """The envelope's optional id comes back on every reply to that request, error or
    not; requests with ids on one connection are all answered, each on its id (in
    completion order: runtime.daemon.control_mux)."""
    pid = daemon_pid(daemon)
    assert request(daemon, {"op": "ping", "id": 7}) == {"v": 1, "id": 7, "ok": True, "pid": pid}
    refused = request(daemon, {"op": "state", "id": 8})
    assert (refused["id"], refused["ok"]) == (8, False) and "'name'" in str(refused["error"])
    bad_id = request(daemon, {"op": "ping", "id": "x"})
    assert "id" not in bad_id and bad_id["ok"] is False and "'id'" in str(bad_id["error"])
    sock = connect(control_path(daemon))
    try:
        send(sock, line({"op": "ping", "id": 1}) + line({"op": "state", "name": "nothere", "id": 2}))
        got: list[dict[str, object]] = []
        buffer = b""
        while len(got) < 2:
            data = sock.recv(65536)
            assert data, got
            buffer += data
            while b"\n" in buffer:
                raw, buffer = buffer.split(b"\n", 1)
                got.append(json.loads(raw))
    finally:
        sock.close()
    got.sort(key=lambda reply: int(str(reply["id"])))
    assert [(reply["id"], reply["ok"]) for reply in got] == [(1, True), (2, True)]
    assert got[1]["state"] == "STOPPED"
    assert_serving(daemon, pid)


# -- item 10 and 15: every field is checked before anything is done ----------------


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"op": "state"}, "name"),
        ({"op": "state", "name": 5}, "name"),
        ({"op": "state", "name": "../x"}, "name"),
        ({"op": "state", "name": "."}, "name"),
        ({"op": "state", "name": "a\x00b"}, "name"),
        ({"op": "state", "name": "x" * 300}, "name"),
        ({"op": "stop", "name": "c", "timeout": "soon"}, "timeout"),
        ({"op": "stop", "name": "c", "timeout": float("nan")}, "timeout"),
        ({"op": "stop", "name": "c", "kill": "yes"}, "kill"),
        ({"op": "signal", "name": "c", "signal": 0}, "signal"),
        ({"op": "signal", "name": "c", "signal": 65}, "signal"),
        ({"op": "signal", "name": "c", "signal": True}, "signal"),
        ({"op": "start", "name": "c", "argv": "sh"}, "argv"),
        ({"op": "start", "name": "c", "argv": ["sh", "a\x00b"]}, "argv"),
        ({"op": "start", "name": "c", "argv": ["sh"], "config_path": "rel/config"}, "config_path"),
        ({"op": "start", "name": "c", "argv": ["sh"], "defines": [1]}, "defines"),
        ({"op": "start", "name": "c", "argv": ["sh"], "mode": "weird"}, "mode"),
        ({"op": "start", "name": "c", "argv": ["sh"], "winsize": [70000, 80]}, "winsize"),
        ({"op": "start", "name": "c", "argv": ["sh"], "winsize": [24]}, "winsize"),
        ({"op": "console", "name": "c", "tty": "one"}, "tty"),
        ({"op": "console-resize", "name": "c", "rows": -1, "cols": 80}, "rows"),
        ({"op": "cgroup", "name": "c", "key": 3}, "key"),
        ({"op": "console-log", "name": "c", "clear": 2}, "clear"),
    ],
)
def test_bad_fields_are_refused_with_one_line_naming_them(
    daemon: Cli, message: dict[str, object], field: str
) -> None:
    pid = daemon_pid(daemon)
    reply = request(daemon, message)
    assert reply["ok"] is False and reply["exit_code"] == 1, reply
    error = str(reply["error"])
    assert f"'{field}'" in error and "\n" not in error, error
    assert_serving(daemon, pid)


@pytest.fixture
def busybox(daemon: Cli, tmp_path: Path) -> str:
    name = unique("bb")
    conf = tmp_path / "bb.conf"
    conf.write_text(CONF)
    result = daemon("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf))
    assert result.returncode == 0, result.stderr
    return name


def test_start_with_winsize_70000_fails_cleanly(daemon: Cli, busybox: str) -> None:
    """It used to reply ok, leave the container STARTING and leak its cgroups."""
    pid = daemon_pid(daemon)
    config = str(daemon.lxcpath / busybox / "config")
    null = os.open(os.devnull, os.O_RDWR)
    try:
        reply = request(
            daemon,
            {
                "op": "start", "name": busybox, "mode": "system", "argv": ["/bin/sh"],
                "config_path": config, "defines": [], "attach": True,
                "console": "foreground", "winsize": [70000, 80],
            },
            (null, null, null),
        )  # fmt: skip
    finally:
        os.close(null)
    assert reply["ok"] is False and "'winsize'" in str(reply["error"])
    assert cgroups_of(busybox) == []
    assert request(daemon, {"op": "state", "name": busybox})["state"] == "STOPPED"
    assert_serving(daemon, pid)
    # And the container still starts and stops normally afterwards.
    assert daemon("lxc-start", "-n", busybox).returncode == 0
    assert daemon("lxc-stop", "-n", busybox, "-k").returncode == 0
    assert cgroups_of(busybox) == []


# -- item 8: a filter regex never runs in the daemon --------------------------------


def test_backtracking_regex_does_not_delay_other_subscribers(daemon: Cli) -> None:
    """`(a|aa)*b` against a 42-character name takes seconds to fail in a
    backtracking matcher; only the monitor that asked for it may pay for that."""
    victim = "a" * 42
    (daemon.lxcpath / victim).mkdir()
    (daemon.lxcpath / victim / "config").write_text(CONF)
    pid = daemon_pid(daemon)
    argv = [str(BIN / "lxc-monitor"), "-P", str(daemon.lxcpath), "-n", "(a|aa)*b"]
    evil = subprocess.Popen(argv, env=daemon.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # subscribed, and (in the old design) matching in the daemon
        began = time.monotonic()
        result = daemon("lxc-wait", "-n", victim, "-s", "STOPPED", "-t", "20")
        took = time.monotonic() - began
        assert result.returncode == 0, result.stderr
        assert took < 3.0, f"lxc-wait took {took:.1f} s while the evil monitor ran"
        assert request(daemon, {"op": "ping"})["pid"] == pid
    finally:
        evil.kill()
        evil.wait()


# -- item 15: commands as a user other than root ------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["lxc-stop", "-n", "c"],
        ["lxc-info", "-n", "c"],
        ["lxc-ls"],
        ["lxc-monitor", "-n", "c"],
        ["lxc-wait", "-n", "c", "-s", "RUNNING", "-t", "1"],
        ["lxc-start", "-n", "c"],
    ],
    ids=lambda command: command[0],
)
def test_commands_as_nobody_print_one_line(daemon: Cli, command: list[str]) -> None:
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv")
    argv = [setpriv, "--reuid", "65534", "--regid", "65534", "--clear-groups",
            str(BIN / command[0]), "-P", str(daemon.lxcpath), *command[1:]]  # fmt: skip
    result = subprocess.run(argv, env=daemon.env, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) <= 1, result.stderr
    if command[0] != "lxc-ls":
        assert result.returncode == 1, result
        assert re.match(rf"{command[0]}: ", result.stderr), result.stderr


# -- item 15: the log is bounded ------------------------------------------------------


def test_daemon_log_is_rotated(tmp_path: Path) -> None:
    import logging

    from runtime.daemon.__main__ import setup_logging

    logger = logging.getLogger(f"test-rotation-{uuid.uuid4().hex}")
    logger.propagate = False
    path = tmp_path / "daemon.log"
    handler = setup_logging(str(path), "INFO", logger=logger, max_bytes=4096, backups=2)
    try:
        for i in range(1000):
            logger.info("line %d %s", i, "x" * 60)
    finally:
        logger.removeHandler(handler)
        handler.close()
    sizes = [p.stat().st_size for p in tmp_path.glob("daemon.log*")]
    assert len(sizes) == 3 and max(sizes) <= 4096
