"""The daemon survives every input: hostile clients of its control and bus sockets.

Each test starts its own real daemon (its own lxcpath and run directory, from the
fixtures), throws one kind of hostile input at it from real client sockets, then
checks the same daemon process is alive, answers a real request (a ping, a
state, or a busybox container started and stopped) and holds no more file
descriptors than before. The `runtime` fixture stops the daemon and sweeps
processes and cgroups afterwards, even when a test fails.
"""

from __future__ import annotations

import array
import contextlib
import glob
import json
import os
import resource
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Cli, create_busybox, unique
from test_daemon_input import bus_path, control_path, daemon_pid

from bus.protocol import PROTOCOL_VERSION
from runtime.client.rundir import run_dir

CONF = "lxc.net.0.type = empty\nlxc.tty.max = 0\n"
#: The daemon's wait for a complete request (and for a client to read a reply) here.
REQUEST_TIMEOUT = 2.0


@pytest.fixture
def daemon(runtime: Cli, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The runtime CLI with the test's own daemon started (short request timeout)."""
    monkeypatch.setenv("TRIO_LXC_REQUEST_TIMEOUT", str(REQUEST_TIMEOUT))
    runtime.env["TRIO_LXC_REQUEST_TIMEOUT"] = str(REQUEST_TIMEOUT)
    from runtime.client.daemon_client import connect

    connect(str(runtime.lxcpath), autostart=True).close()
    return runtime


# -- client side helpers ------------------------------------------------------------


def connect(path: str, timeout: float = 15) -> socket.socket:
    """A connected client socket; a full listen backlog (EAGAIN) is waited out."""
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            return sock
        except BlockingIOError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def send(sock: socket.socket, data: bytes, fds: list[int] | tuple[int, ...] = ()) -> None:
    ancillary = []
    if fds:
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
    sent = sock.sendmsg([data], ancillary)
    if sent < len(data):
        sock.sendall(data[sent:])


def line(message: object) -> bytes:
    body = {"v": 1, **message} if isinstance(message, dict) else message
    return json.dumps(body).encode() + b"\n"


def replies(sock: socket.socket) -> list[dict[str, object]]:
    """Every line until the final reply (`ok`) or the connection's end."""
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


def exchange(cli: Cli, data: bytes, fds: tuple[int, ...] = ()) -> list[dict[str, object]]:
    """Send raw bytes on a connection of their own; every line the daemon answers."""
    sock = connect(control_path(cli))
    try:
        try:
            send(sock, data, fds)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before we finished: the answer is still there to read
        return replies(sock)
    finally:
        sock.close()


def request(cli: Cli, message: dict[str, object], fds: tuple[int, ...] = ()) -> dict[str, object]:
    got = exchange(cli, line(message), fds)
    assert got, f"no reply to {message}"
    return got[-1]


def refused(reply: dict[str, object], field: str | None = None) -> str:
    """The one-line error of a refused request (naming `field` when given)."""
    assert reply.get("ok") is False and reply.get("exit_code") == 1, reply
    error = str(reply["error"])
    assert "\n" not in error and len(error) < 600, error
    if field is not None:
        assert f"'{field}'" in error, error
    return error


def fd_links(pid: int) -> dict[int, str]:
    links = {}
    for entry in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            links[int(entry)] = os.readlink(f"/proc/{pid}/fd/{entry}")
    return links


def settle_fds(pid: int, before: int, slack: int = 2, wait: float = 5.0) -> None:
    """The daemon's fd count comes back to `before` (+ slack) within `wait` seconds."""
    deadline = time.monotonic() + wait
    while len(now := fd_links(pid)) > before + slack and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(now) <= before + slack, f"{len(now) - before} fds more than before: {now}"


@contextlib.contextmanager
def still_serving(cli: Cli, slack: int = 2) -> Iterator[int]:
    """Around a hostile step: afterwards the same daemon answers and its fds are back."""
    pid = daemon_pid(cli)
    request(cli, {"op": "ping"})  # whatever the first request allocates, before counting
    before = len(fd_links(pid))
    yield pid
    assert daemon_pid(cli) == pid
    assert request(cli, {"op": "ping"}) == {"v": 1, "ok": True, "pid": pid}
    assert request(cli, {"op": "state", "name": unique("s")})["state"] == "STOPPED"
    settle_fds(pid, before, slack)


def cgroups_of(name: str) -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{name}") + glob.glob(
        f"/sys/fs/cgroup/lxc.payload.{name}"
    )


def start_and_stop(cli: Cli, name: str) -> None:
    """A real container still starts and stops through this daemon."""
    result = cli("lxc-start", "-n", name)
    assert result.returncode == 0, result.stderr
    assert request(cli, {"op": "state", "name": name})["state"] == "RUNNING"
    result = cli("lxc-stop", "-n", name, "-k")
    assert result.returncode == 0, result.stderr
    assert request(cli, {"op": "state", "name": name})["state"] == "STOPPED"
    assert cgroups_of(name) == []


@pytest.fixture
def busybox(daemon: Cli, tmp_path: Path) -> str:
    return create_busybox(daemon, tmp_path, CONF, "hb")


# -- 1. frames -------------------------------------------------------------------------


FRAMES = {
    "not-json": b"hello there\n",
    "not-utf8": b"\xff\xfe\xfd\n",
    "null": b"null\n",
    "list": b'[{"v":1,"op":"ping"}]\n',
    "string": b'"ping"\n',
    "number": b"12\n",
    "huge-int": b"9" * 100_000 + b"\n",
    "huge-float": b'{"v":1,"op":"stop","name":"c","timeout":1e999999}\n',
    "deep-lists": b"[" * 100_000 + b"]" * 100_000 + b"\n",
    "deep-objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"\n",
    "deep-in-field": b'{"v":1,"op":"state","name":' + b"[" * 100_000 + b"\n",
    "nan": b'{"v":1,"op":"stop","name":"c","timeout":NaN}\n',
    "infinity": b'{"v":1,"op":"stop","name":"c","timeout":-Infinity}\n',
    "dup-keys": b'{"v":1,"op":"ping","op":"nope"}\n',
    "lone-surrogate": b'{"v":1,"op":"state","name":"\\ud800"}\n',
}


@pytest.mark.parametrize("payload", list(FRAMES.values()), ids=list(FRAMES))
def test_garbage_frames_get_one_line_and_nothing_else(daemon: Cli, payload: bytes) -> None:
    with still_serving(daemon):
        got = exchange(daemon, payload)
        assert got, "no answer"
        refused(got[-1])


WRONG_SHAPES: list[tuple[dict[str, object], str]] = [
    ({"op": None}, "unknown request"),
    ({"op": ["ping"]}, "unknown request"),
    ({"op": {"ping": 1}}, "unknown request"),
    ({"op": "x" * 100_000}, "unknown request"),
    ({"op": "ping\n"}, "unknown request"),
    ({"op": "PING"}, "unknown request"),
    ({"op": "op_ping"}, "unknown request"),
    ({"op": "__init__"}, "unknown request"),
    ({"op": "ping", "v": 2}, "version"),
    ({"op": "ping", "v": 10**1000}, "version"),
    ({"op": "ping", "v": None}, "version"),
    ({"op": "ping", "v": True}, "version"),
    ({"op": "ping", "v": 1.0}, "version"),
    ({"op": "ping", "v": "1"}, "'1' (a string)"),
    ({"op": "state", "name": "\ud800"}, "lone surrogate"),
    ({"op": "state", "name": "a\udcff"}, "control characters"),
    ({"op": "start", "name": "c", "argv": ["\ud800"]}, "lone surrogate"),
    ({"op": "cgroup", "name": "c", "key": "pids.max", "value": "\udfff"}, "lone surrogate"),
    ({"op": "device", "name": "c", "action": "add", "device": "/dev/\ud800"}, "lone surrogate"),
    ({"op": "ping", "id": -1}, "'id'"),
    ({"op": "ping", "id": 2**64}, "'id'"),
    ({"op": "ping", "id": 1.5}, "'id'"),
    ({"op": "state"}, "'name'"),
    ({"op": "state", "name": None}, "'name'"),
    ({"op": "state", "name": ["a"]}, "'name'"),
    ({"op": "state", "name": {"a": 1}}, "'name'"),
    ({"op": "state", "name": 10**1000}, "'name'"),
    ({"op": "state", "name": 1.5}, "'name'"),
    ({"op": "signal", "name": "c", "signal": 15.0}, "'signal'"),
    ({"op": "signal", "name": "c", "signal": 10**1000}, "'signal'"),
    ({"op": "signal", "name": "c", "signal": -(10**1000)}, "'signal'"),
    ({"op": "stop", "name": "c", "timeout": 10**1000}, "'timeout'"),
    ({"op": "stop", "name": "c", "timeout": [1]}, "'timeout'"),
    ({"op": "start", "name": "c", "argv": [["sh"]]}, "'argv'"),
    ({"op": "start", "name": "c", "argv": ["x"] * 100_000}, "'argv'"),
    ({"op": "start", "name": "c", "defines": {"a": "b"}}, "'defines'"),
    ({"op": "start", "name": "c", "config_text": ["x"]}, "'config_text'"),
    ({"op": "start", "name": "c", "winsize": [1, 2, 3]}, "'winsize'"),
    ({"op": "start", "name": "c", "winsize": {"rows": 1}}, "'winsize'"),
    ({"op": "start", "name": "c", "console": "background"}, "'console'"),
    ({"op": "start-many", "batches": None}, "'batches'"),
    ({"op": "start-many", "batches": [None]}, "'batches'"),
    ({"op": "start-many", "batches": [{"names": "abc"}]}, "'names'"),
    ({"op": "start-many", "batches": [{"names": ["a"], "delay": 10**30}]}, "'delay'"),
    ({"op": "stop-many", "action": "explode", "batches": []}, "'action'"),
    ({"op": "cgroup", "name": "c", "key": "a\nb"}, "'key'"),
    ({"op": "cgroup", "name": "c", "key": ""}, "'key'"),
    ({"op": "device", "name": "c", "action": "add", "device": ""}, "'device'"),
    ({"op": "checkpoint", "name": "c", "dir": "relative"}, "'dir'"),
    ({"op": "console", "name": "c", "tty": 10**6}, "'tty'"),
    ({"op": "console-resize", "name": "c", "rows": 1}, "'cols'"),
]


def test_wrong_shapes_and_types_are_refused_naming_the_field(daemon: Cli) -> None:
    with still_serving(daemon):
        for message, expected in WRONG_SHAPES:
            error = refused(request(daemon, message))
            assert expected in error, (message if len(str(message)) < 200 else "(long)", error)


def test_extra_fields_are_ignored_and_the_request_served(daemon: Cli) -> None:
    with still_serving(daemon) as pid:
        reply = request(daemon, {"op": "ping", "extra": [1, 2, {"x": None}], "name": "../../etc"})
        assert reply == {"v": 1, "ok": True, "pid": pid}


def test_oversized_frames_are_cut_off(daemon: Cli) -> None:
    """A 100 MB line (or one that says it is one) is refused after the first MiB."""
    with still_serving(daemon):
        for head in (b"", b'{"v":1,"op":"start","name":"c","config_text":"'):
            sock = connect(control_path(daemon))
            sent = 0
            try:
                chunk = head + b"x" * (1 << 20)
                with pytest.raises((BrokenPipeError, ConnectionResetError)):
                    while sent < 100 << 20:
                        sock.sendall(chunk)
                        sent += len(chunk)
                        chunk = b"x" * (1 << 20)
            finally:
                sock.close()
            assert sent < 16 << 20


def test_many_almost_full_lines_stay_within_the_budget(daemon: Cli) -> None:
    """100 connections each holding just under a line (1 MiB) unfinished: past 64 MiB
    in all the daemon closes the idle ones holding the most, saying why."""
    with still_serving(daemon) as pid:
        held = []
        try:
            for _ in range(100):
                sock = connect(control_path(daemon))
                held.append(sock)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    sock.sendall(b'{"v":1,"op":"ping","x":"' + b"x" * ((1 << 20) - 100))
            deadline = time.monotonic() + REQUEST_TIMEOUT / 2
            while (told := sum(incomplete_refused(sock) for sock in held)) < 30:
                assert time.monotonic() < deadline, f"only {told} closed"
                time.sleep(0.05)
            assert rss_kib(pid) < 200 << 10
            assert request(daemon, {"op": "ping"})["pid"] == pid
        finally:
            for sock in held:
                sock.close()


def incomplete_refused(sock: socket.socket) -> bool:
    return b"incomplete requests" in peek(sock)


def rss_kib(pid: int) -> int:
    for status in Path(f"/proc/{pid}/status").read_text().splitlines():
        if status.startswith("VmRSS:"):
            return int(status.split()[1])
    raise AssertionError("no VmRSS")


def test_truncated_frames_leave_nothing(daemon: Cli) -> None:
    with still_serving(daemon):
        for partial in (
            b'{"v":1,"op":"pi',
            b'{"v":1,"op":"start","name":"t","argv":["/bin/sh"',
            b"\n\n\n{",
        ):
            sock = connect(control_path(daemon))
            send(sock, partial)
            sock.close()


# -- 2. names and paths ---------------------------------------------------------------

BAD_NAMES = [
    "a/b",
    "..",
    ".",
    "../../etc",
    "a\x00b",
    "a\nb",
    "x" * 10_000,
    "",
    "/",
    "-n",
    " ",
    "a\tb",
]
NAMED_OPS: list[dict[str, object]] = [
    {"op": "state"},
    {"op": "start", "argv": ["/bin/true"]},
    {"op": "stop", "kill": True},
    {"op": "signal", "signal": 9},
    {"op": "freeze"},
    {"op": "unfreeze"},
    {"op": "stats"},
    {"op": "console", "tty": 0},
    {"op": "console-resize", "rows": 1, "cols": 1},
    {"op": "console-log"},
    {"op": "cgroup", "key": "memory.max"},
    {"op": "device", "action": "add", "device": "/dev/null"},
    {"op": "checkpoint", "dir": "/tmp/x"},
    {"op": "restore", "dir": "/tmp/x"},
]


def test_bad_container_names_are_refused_by_every_op(daemon: Cli) -> None:
    lxcpath_before = sorted(os.listdir(daemon.lxcpath))
    rundir = run_dir(str(daemon.lxcpath))
    rundir_before = sorted(os.listdir(rundir))
    with still_serving(daemon):
        for name in BAD_NAMES:
            for message in NAMED_OPS:
                refused(request(daemon, {**message, "name": name}), "name")
            for op in ("start-many", "stop-many"):
                extra = {"action": "kill"} if op == "stop-many" else {}
                refused(
                    request(daemon, {"op": op, "batches": [{"names": ["ok", name]}], **extra}),
                    "names",
                )
    assert sorted(os.listdir(daemon.lxcpath)) == lxcpath_before
    assert sorted(os.listdir(rundir)) == rundir_before


def test_config_paths_outside_the_lxcpath(daemon: Cli, tmp_path: Path) -> None:
    """A start's config_path may name any file the caller could read itself (the socket
    serves root or the daemon's uid only, and LXC's -f takes any file): what is not a
    bounded regular config is refused in one line, and nothing is left started."""
    link = tmp_path / "link.conf"
    link.symlink_to("/etc/shadow")
    loop = tmp_path / "loop.conf"
    loop.symlink_to(loop)
    fifo = tmp_path / "fifo.conf"
    os.mkfifo(fifo)
    including = tmp_path / "include.conf"
    including.write_text(f"lxc.include = {including}\n")
    shadow_include = tmp_path / "shadow-include.conf"
    shadow_include.write_text("lxc.include = /dev/zero\n")
    sparse = tmp_path / "sparse.conf"
    with open(sparse, "wb") as handle:
        handle.truncate(64 << 20)  # read whole, it used to block the daemon and fill its memory
    no_rootfs = "lxc.rootfs.path = dir:/nonexistent-rootfs-for-hostile-test"
    cases = {
        "/etc/shadow": "rootfs",  # read as LXC reads it: no line starts with lxc.
        str(link): "rootfs",
        str(loop): "symbolic links",
        "/nonexistent/config": "No such file",
        "/": "not a regular file",
        "/dev/zero": "not a regular file",
        str(fifo): "not a regular file",
        str(including): "nest too deep",
        str(shadow_include): "not a regular file",
        "/proc/self/mem": "error",
        str(sparse): "MiB of config text",
    }
    with still_serving(daemon):
        for path, expected in cases.items():
            name = unique("p")
            message = {"op": "start", "name": name, "argv": ["/bin/true"], "config_path": path,
                       "defines": [no_rootfs]}  # fmt: skip
            error = refused(request(daemon, message))
            assert expected in error and ":$" not in error, (path, error)
            assert request(daemon, {"op": "state", "name": name})["state"] == "STOPPED"
            assert cgroups_of(name) == []


# -- 3. batches ------------------------------------------------------------------------


def many(op: str, batches: list[dict[str, object]]) -> dict[str, object]:
    return {"op": op, "batches": batches, **({"action": "kill"} if op == "stop-many" else {})}


@pytest.mark.parametrize("op", ["start-many", "stop-many"])
def test_hostile_batches_are_refused_whole_before_anything_starts(
    daemon: Cli, busybox: str, op: str
) -> None:
    names_100k = [f"n{i:05d}" for i in range(100_000)]
    with still_serving(daemon):
        # 100000 names in one batch, and spread over 25 batches of 4000
        refused(request(daemon, many(op, [{"names": names_100k}])), "names")
        spread = [{"names": names_100k[i : i + 4000]} for i in range(0, 100_000, 4000)]
        refused(request(daemon, many(op, spread)), "batches")
        # 5000 batches (more than the protocol takes)
        refused(request(daemon, many(op, [{"names": ["a"]}] * 5000)), "batches")
        # duplicates, within a batch and across batches
        refused(request(daemon, many(op, [{"names": [busybox, busybox]}])), "batches")
        refused(request(daemon, many(op, [{"names": [busybox]}, {"names": [busybox]}])), "batches")
        # a bad name among good ones: nothing is done at all
        refused(
            request(daemon, many(op, [{"names": [busybox]}, {"names": ["ok", "../etc"]}])), "names"
        )
        refused(request(daemon, many(op, [{"names": [busybox, None]}])), "names")
        # an empty batch, a negative or fractional delay
        refused(request(daemon, many(op, [{"names": []}])), "batches")
        refused(request(daemon, many(op, [{"names": [busybox], "delay": -1}])), "delay")
        refused(request(daemon, many(op, [{"names": [busybox], "delay": 0.5}])), "delay")
        assert request(daemon, {"op": "state", "name": busybox})["state"] == "STOPPED"
        assert cgroups_of(busybox) == []
        start_and_stop(daemon, busybox)


def test_start_many_of_undefined_names_fails_each_and_makes_nothing(daemon: Cli) -> None:
    names = [unique("u") for _ in range(300)]
    before = sorted(os.listdir(daemon.lxcpath))
    with still_serving(daemon):
        got = exchange(daemon, line(many("start-many", [{"names": names}])))
        assert got[-1] == {"v": 1, "ok": True, "attempted": 300, "failed": 300}
        assert {str(item.get("result")) for item in got[:-1]} == {"failed"}
    assert sorted(os.listdir(daemon.lxcpath)) == before


# -- 4. stray file descriptors --------------------------------------------------------


def test_stray_fds_are_all_closed(daemon: Cli, tmp_path: Path) -> None:
    """Fds on requests that take none, too many fds, fds on garbage, on half a line,
    on an empty line, on the bus: after the connections close the daemon holds none."""
    r, w = os.pipe()
    extra = [os.open(os.devnull, os.O_RDONLY) for _ in range(250)]
    try:
        with still_serving(daemon):
            for fds in ((r,), (r, w, r), tuple(extra[:64]), tuple(extra)):
                for payload in (
                    line({"op": "ping"}),
                    line({"op": "state", "name": "x"}),
                    line({"op": "nope"}),
                    b"garbage\n",
                    b'{"v":1,"op":"pi',
                    b"\n",
                    line({"op": "start", "name": "../x", "argv": ["/bin/true"]}),
                    line({"op": "stop-many", "action": "kill", "batches": [{"names": ["x"]}]}),
                ):
                    sock = connect(control_path(daemon))
                    try:
                        send(sock, payload, fds)
                        if payload.endswith(b"\n"):
                            replies(sock)
                    finally:
                        sock.close()
                bus = connect(bus_path(daemon))
                try:
                    send(bus, b'{"v":%d,"type":"subscribe"}\n' % PROTOCOL_VERSION, fds)
                    send(bus, b"more\n", fds)
                finally:
                    bus.close()
            # fds sent after the request, while it runs (a start-many's connection)
            sock = connect(control_path(daemon))
            try:
                send(sock, line(many("start-many", [{"names": ["x"], "delay": 2}])))
                for _ in range(5):
                    send(sock, line({"op": "ping"}), (r, w, r))
                replies(sock)
            finally:
                sock.close()
        # nobody in the daemon holds the pipe's write end: its read end sees EOF
        os.close(w)
        w = -1
        os.set_blocking(r, False)
        assert os.read(r, 1) == b""
    finally:
        for fd in (r, w, *extra):
            if fd >= 0:
                os.close(fd)


# -- 5. clients that go away, never read, or crowd in ----------------------------------


def wait_state(cli: Cli, name: str, state: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (now := request(cli, {"op": "state", "name": name})["state"]) != state:
        assert time.monotonic() < deadline, f"{name} is {now}, not {state}"
        time.sleep(0.05)


def test_disconnect_after_a_detached_start_before_its_reply(daemon: Cli, busybox: str) -> None:
    """The start goes on without its command (as lxc-start -d's would): RUNNING, and
    it stops normally later."""
    config = str(daemon.lxcpath / busybox / "config")
    with still_serving(daemon):
        sock = connect(control_path(daemon))
        send(sock, line({"op": "start", "name": busybox, "config_path": config}))
        sock.close()
        wait_state(daemon, busybox, "RUNNING")
        assert daemon("lxc-stop", "-n", busybox, "-k").returncode == 0
        assert cgroups_of(busybox) == []
        start_and_stop(daemon, busybox)


def test_disconnect_after_an_attached_start_before_its_reply(daemon: Cli, busybox: str) -> None:
    """lxc-execute's connection gone before `started`: the container it would have
    followed is killed, its stdio closed, nothing is left."""
    config = str(daemon.lxcpath / busybox / "config")
    r, w = os.pipe()
    try:
        with still_serving(daemon):
            sock = connect(control_path(daemon))
            message = {"op": "start", "name": busybox, "mode": "application", "attach": True,
                       "argv": ["/bin/sleep", "1000"], "config_path": config}  # fmt: skip
            send(sock, line(message), (r, w, w))
            sock.close()
            time.sleep(1.0)
            wait_state(daemon, busybox, "STOPPED")
            assert cgroups_of(busybox) == []
            os.close(w)
            w = -1
            os.set_blocking(r, False)
            assert os.read(r, 1) == b""  # the daemon and the container let go of its stdio
            start_and_stop(daemon, busybox)
    finally:
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)


def test_disconnect_during_a_long_stop_wait(daemon: Cli, busybox: str) -> None:
    """A stop that waits for ever on an init that ignores its halt signal: the command
    goes away, the daemon lets go of the connection (the container keeps running, as
    when lxc-stop is killed), and a later stop still works."""
    config = str(daemon.lxcpath / busybox / "config")
    with still_serving(daemon) as pid:
        reply = request(
            daemon,
            {"op": "start", "name": busybox, "argv": ["/bin/sleep", "1000"], "config_path": config},
        )
        assert reply["ok"] is True, reply
        before = len(fd_links(pid))
        for _ in range(20):
            sock = connect(control_path(daemon))
            send(sock, line({"op": "stop", "name": busybox, "timeout": -1}))
            time.sleep(0.05)
            sock.close()
        settle_fds(pid, before)
        assert request(daemon, {"op": "state", "name": busybox})["state"] == "RUNNING"
        assert daemon("lxc-stop", "-n", busybox, "-k").returncode == 0
        assert cgroups_of(busybox) == []


def test_a_client_that_never_reads_blocks_nobody(daemon: Cli) -> None:
    """Pipelined requests whose replies are never read: other clients are served at
    once, and the daemon lets go of the reader-less connection."""
    with still_serving(daemon) as pid:
        greedy = connect(control_path(daemon))
        try:
            greedy.setblocking(False)
            data = line({"op": "state", "name": "x"}) * 50_000
            sent = 0
            deadline = time.monotonic() + REQUEST_TIMEOUT / 2  # both ways full by then
            while sent < len(data) and time.monotonic() < deadline:
                try:
                    sent += greedy.send(data[sent : sent + 65536])
                except BlockingIOError:
                    time.sleep(0.01)
            assert sent > 1 << 17  # more than the replies the socket buffers take
            for _ in range(20):
                assert request(daemon, {"op": "ping"})["pid"] == pid
            # the daemon gives up on it: its connection ends without us reading
            deadline = time.monotonic() + REQUEST_TIMEOUT + 10
            closed = False
            while time.monotonic() < deadline and not closed:
                closed = request(daemon, {"op": "metrics"})["control_connections"] == 1  # this one
                time.sleep(0.2)
            assert closed, "the daemon still holds a connection whose replies nobody reads"
        finally:
            greedy.close()


def peek(sock: socket.socket) -> bytes:
    """What the daemon sent and we have not read, without reading it."""
    try:
        return sock.recv(1 << 20, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return b""


def was_told_to_go(sock: socket.socket) -> bool:
    return b"too many connections" in peek(sock)


@pytest.mark.parametrize("nofile", [None, 1024], ids=["own-limit", "limit-1024"])
def test_2000_idle_connections(daemon: Cli, busybox: str, nofile: int | None) -> None:
    """2000 connections opened at once and left idle: other clients are still served at
    once (with 1024 fds the daemon keeps a quarter for connections and closes the
    oldest idle ones to make room), and every fd comes back once they close."""
    pid = daemon_pid(daemon)
    if nofile is not None:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (nofile, nofile))
    with still_serving(daemon, slack=4):
        idle = []
        try:
            for _ in range(2000):
                idle.append(connect(control_path(daemon)))
            deadline = time.monotonic() + REQUEST_TIMEOUT / 2
            if nofile is None:  # all of them held
                while (held := request(daemon, {"op": "metrics"})["control_connections"]) < 2000:
                    assert time.monotonic() < deadline, f"the daemon took only {held} of them"
                    time.sleep(0.05)
            else:  # the oldest ones closed to make room, with a line saying why
                while (told := sum(map(was_told_to_go, idle))) < 2000 - nofile // 4:
                    assert time.monotonic() < deadline, f"only {told} closed"
                    time.sleep(0.05)
                assert len(fd_links(pid)) < nofile // 2
            began = time.monotonic()
            assert request(daemon, {"op": "ping"})["pid"] == pid
            assert time.monotonic() - began < REQUEST_TIMEOUT  # not after the idle ones time out
            result = daemon("lxc-ls", "-1")
            assert result.returncode == 0 and busybox in result.stdout, result.stderr
            start_and_stop(daemon, busybox)
        finally:
            for sock in idle:
                sock.close()


# -- 6. the bus ------------------------------------------------------------------------


def subscribe(cli: Cli) -> socket.socket:
    sock = connect(bus_path(cli))
    send(sock, b'{"v":%d,"type":"subscribe"}\n' % PROTOCOL_VERSION)
    return sock


def create_many(cli: Cli, count: int, prefix: str = "churn") -> list[Path]:
    """`count` containers defined (created events), made as the store makes them."""
    made = []
    for i in range(count):
        name = cli.lxcpath / f"{prefix}{i}"
        name.mkdir()
        (name / "config").write_text(CONF)
        made.append(name)
    return made


def destroy_all(made: list[Path]) -> None:
    """Destroyed events, one for each."""
    for name in made:
        hidden = name.with_name(f".{name.name}")
        os.rename(name, hidden)
        (hidden / "config").unlink()
        hidden.rmdir()


def read_until(sock: socket.socket, marker: bytes, timeout: float = 10) -> None:
    """Read the subscriber's lines until one holds `marker` (kept only at the end)."""
    sock.settimeout(timeout)
    tail = b""
    while marker not in tail:
        data = sock.recv(1 << 20)
        assert data, "the subscriber was dropped"
        tail = tail[-len(marker) :] + data


def metrics(cli: Cli) -> dict[str, object]:
    return request(cli, {"op": "metrics"})


def test_a_subscriber_that_never_reads_is_dropped(daemon: Cli) -> None:
    """It costs a bounded backlog, then it is dropped; a subscriber that reads gets
    every event, and requests are served all along."""
    with still_serving(daemon) as pid:
        rss = rss_kib(pid)
        slow = [subscribe(daemon) for _ in range(5)]
        reader = subscribe(daemon)
        made: list[Path] = []
        try:
            for chunk in range(30):
                made += create_many(daemon, 100, f"churn{chunk}-")
                read_until(reader, b'"churn%d-99"' % chunk)
            assert metrics(daemon)["bus_dropped"] == len(slow)
            assert metrics(daemon)["bus_subscribers"] == 1  # the reader
            assert rss_kib(pid) < rss + (64 << 10)
            assert request(daemon, {"op": "ping"})["pid"] == pid
            result = daemon("lxc-wait", "-n", unique("w"), "-s", "STOPPED", "-t", "5")
            assert result.returncode == 0, result.stderr
        finally:
            destroy_all(made)
            for sock in [*slow, reader]:
                sock.close()


def test_garbage_from_a_subscriber_is_ignored(daemon: Cli) -> None:
    with still_serving(daemon):
        sock = subscribe(daemon)
        made: list[Path] = []
        try:
            read_until(sock, b'"synced"')
            for junk in (b"\xff" * 65536, b"[" * 65536, b"\n" * 65536, b"{}\n" * 20000):
                for _ in range(40):
                    sock.sendall(junk)
            made = create_many(daemon, 1, unique("g"))
            read_until(sock, b'"created"')
        finally:
            destroy_all(made)
            sock.close()


@pytest.mark.parametrize("nofile", [None, 1024], ids=["own-limit", "limit-1024"])
def test_2000_idle_bus_connections(daemon: Cli, busybox: str, nofile: int | None) -> None:
    """2000 bus connections that never subscribe, and 2000 that subscribe and never
    read: requests, lxc-wait and container starts are still served at once."""
    pid = daemon_pid(daemon)
    if nofile is not None:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (nofile, nofile))
    with still_serving(daemon, slack=4):
        crowd = []
        try:
            for i in range(2000):
                crowd.append(subscribe(daemon) if i % 2 else connect(bus_path(daemon)))
            time.sleep(0.5)
            began = time.monotonic()
            assert request(daemon, {"op": "ping"})["pid"] == pid
            assert time.monotonic() - began < REQUEST_TIMEOUT
            if nofile is not None:  # the oldest closed to make room, with a line saying why
                assert len(fd_links(pid)) < nofile // 2
                told = [sock for sock in crowd[:1000] if b"too many bus connections" in peek(sock)]
                assert len(told) > 900
            start_and_stop(daemon, busybox)
            result = daemon("lxc-wait", "-n", busybox, "-s", "STOPPED", "-t", "5")
            assert result.returncode == 0, result.stderr
        finally:
            for sock in crowd:
                sock.close()


# -- hostile lines within a running request ----------------------------------------------


@pytest.mark.parametrize(
    "within",
    [
        b"garbage\n",
        b"[" * 100_000 + b"\n",
        b"x" * (2 << 20),
        b'{"v":1,"op":"signal","signal":"KILL"}\n',
        b"reset",
    ],
    ids=["not-json", "deep", "oversized", "bad-signal", "reset"],
)
def test_hostile_lines_on_an_attached_start(daemon: Cli, busybox: str, within: bytes) -> None:
    """What an attached start's command sends meanwhile may be refused, but the container
    it follows never runs on without it."""
    config = str(daemon.lxcpath / busybox / "config")
    r, w = os.pipe()
    try:
        with still_serving(daemon):
            sock = connect(control_path(daemon))
            message = {"op": "start", "name": busybox, "mode": "application", "attach": True,
                       "argv": ["/bin/sleep", "1000"], "config_path": config}  # fmt: skip
            send(sock, line(message), (r, w, w))
            sock.settimeout(15)
            first = sock.recv(65536)
            assert b'"started"' in first, first
            if within == b"reset":  # unread data at close: the daemon's recv sees ECONNRESET
                send(sock, b'{"v":1,"op":"signal","signal":28}\n')
                time.sleep(0.2)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            else:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    sock.sendall(within)
                    time.sleep(0.5)
                if within.startswith(b'{"v":1,"op":"signal"'):
                    assert request(daemon, {"op": "state", "name": busybox})["state"] == "RUNNING"
                sock.close()
            wait_state(daemon, busybox, "STOPPED")
            assert cgroups_of(busybox) == []
            os.close(w)
            w = -1
            os.set_blocking(r, False)
            assert os.read(r, 1) == b""
    finally:
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)


def test_paths_and_keys_in_requests_on_a_running_container(
    daemon: Cli, busybox: str, tmp_path: Path
) -> None:
    """cgroup keys that climb out of the container's cgroup, device paths that are not
    device nodes, checkpoint dirs that do not exist: refused in one line, the
    container untouched."""
    config = str(daemon.lxcpath / busybox / "config")
    secret = tmp_path / "secret"
    secret.write_text("do not read\n")
    link = tmp_path / "link-to-secret"
    link.symlink_to(secret)
    with still_serving(daemon):
        reply = request(
            daemon,
            {"op": "start", "name": busybox, "argv": ["/bin/sleep", "1000"], "config_path": config},
        )
        assert reply["ok"] is True, reply
        try:
            for key in ("../cgroup.procs", "../../memory.max", "memory.max/../../x", "cgroup.procs",
                        "/etc/shadow", ".", "..", "memory.max\x00", f"memory.{'x' * 300}"):  # fmt: skip
                for value in (None, "1"):
                    message = {"op": "cgroup", "name": busybox, "key": key}
                    if value is not None:
                        message["value"] = value
                    got = request(daemon, message)
                    if key == "cgroup.procs" and value is None:
                        continue  # reading the container's own list of pids is allowed
                    error = refused(got)
                    assert "do not read" not in error
            for device in (
                "/etc/shadow",
                str(secret),
                str(link),
                "/nonexistent",
                "../../dev/null",
                "/proc/self/fd/0",
            ):
                error = refused(
                    request(
                        daemon, {"op": "device", "name": busybox, "action": "add", "device": device}
                    )
                )
                assert "do not read" not in error
            for target in ("../../../etc/evil", "/../../etc/evil"):
                got = request(
                    daemon,
                    {
                        "op": "device",
                        "name": busybox,
                        "action": "add",
                        "device": "/dev/null",
                        "target": target,
                    },
                )
                assert not Path("/etc/evil").exists(), got
            refused(
                request(daemon, {"op": "checkpoint", "name": busybox, "dir": "/nonexistent/dir/x"})
            )
            # A value with an undecodable byte goes to the kernel as given, which refuses it.
            error = refused(request(daemon, {"op": "cgroup", "name": busybox, "key": "pids.max", "value": "\udcff"}))
            assert "internal error" not in error and "pids.max" in error, error
            # A resize of a terminal it does not have is refused (it answered ok).
            error = refused(request(daemon, {"op": "console-resize", "name": busybox, "tty": 1024, "rows": 9, "cols": 9}))
            assert "No tty 1024 to resize" in error, error
            assert request(daemon, {"op": "console-resize", "name": busybox, "tty": 0, "rows": 9, "cols": 9})["ok"]
            assert request(daemon, {"op": "state", "name": busybox})["state"] == "RUNNING"
        finally:
            assert daemon("lxc-stop", "-n", busybox, "-k").returncode == 0
        assert cgroups_of(busybox) == []


def bus_snapshot(cli: Cli) -> bytes:
    """What a new subscriber is sent before its "synced" line."""
    sock = subscribe(cli)
    try:
        sock.settimeout(10)
        data = b""
        while b'"synced"' not in data:
            chunk = sock.recv(1 << 20)
            assert chunk, "the subscriber was dropped"
            data += chunk
        return data
    finally:
        sock.close()


def test_starts_of_undefined_names_leave_no_trace(daemon: Cli, tmp_path: Path) -> None:
    """Each refused or finished start of a name no config defines left two record
    spares in the run directory and its name in every new subscriber's snapshot,
    for the daemon's whole life."""
    records = Path(run_dir(str(daemon.lxcpath)), "containers")
    with still_serving(daemon):
        request(daemon, {"op": "ping"})
        before = sorted(os.listdir(records)) if records.is_dir() else []
        refused_names = [unique("gh") for _ in range(20)]
        for name in refused_names:  # refused before anything runs
            refused(request(daemon, {"op": "start", "name": name, "config_text": "lxc.rootfs.path = /nonexistent\n"}))
        ran = unique("gr")  # a volatile container that runs and ends
        got = exchange(daemon, line({
            "op": "start", "name": ran, "mode": "application", "argv": ["/bin/true"], "attach": True,
            "config_text": "lxc.net.0.type = empty\n",
        }))  # fmt: skip
        assert got[-1].get("ok") is True, got
        assert sorted(os.listdir(records)) == before
        snapshot = bus_snapshot(daemon)
        for name in [*refused_names, ran]:
            assert name.encode() not in snapshot
