"""Many requests over one control connection (runtime.daemon.control_mux, mux_client).

As root, real busybox containers under a daemon of the test's own: concurrent
starts and stops through one Runtime share one connection; replies that complete
out of order reach the request of their id; one request's error leaves the others
alone; a client that goes away with requests in flight leaves no half-made
container; requests without an id and ops that need their own connection behave
as before. Behaviour only: bench/many.py measures.
"""

from __future__ import annotations

import glob
import json
import socket
import time
from pathlib import Path

import pytest
import trio
from conftest import Cli, kill_daemon, unique
from test_many import make_many

from runtime.api import Runtime
from runtime.client.control_protocol import Metrics, Ping, RequestFailed, Start, State, Stop
from runtime.client.daemon_client import connect as connect_daemon
from runtime.client.daemon_client import control_socket_path
from runtime.client.errors import LxcError
from runtime.daemon.control_async import AsyncClient

SLEEP = ["/bin/sleep", "1000"]


def cgroups_of(name: str) -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{name}")


def raw_connection(cli: Cli) -> socket.socket:
    """A plain socket to the test's daemon (started if needed)."""
    connect_daemon(str(cli.lxcpath), autostart=True).close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    sock.connect(control_socket_path(str(cli.lxcpath)))
    return sock


def line(message: dict[str, object]) -> bytes:
    return json.dumps({"v": 1, **message}).encode() + b"\n"


def read_lines(sock: socket.socket, count: int) -> list[dict[str, object]]:
    """The next `count` lines the daemon sends, in the order they came."""
    got: list[dict[str, object]] = []
    buffer = b""
    while len(got) < count:
        data = sock.recv(65536)
        assert data, f"the daemon closed the connection after {got}"
        buffer += data
        while b"\n" in buffer:
            raw, buffer = buffer.split(b"\n", 1)
            got.append(json.loads(raw))
    return got


def start_line(cli: Cli, name: str, request_id: int | None) -> bytes:
    message: dict[str, object] = {
        "op": "start", "name": name, "mode": "system", "argv": SLEEP,
        "config_path": str(cli.lxcpath / name / "config"),
    }  # fmt: skip
    if request_id is not None:
        message["id"] = request_id
    return line(message)


def test_concurrent_starts_and_stops_share_one_connection(runtime: Cli, tmp_path: Path) -> None:
    names = make_many(runtime, tmp_path, 40)
    rt = Runtime(str(runtime.lxcpath))

    async def main() -> int:
        await rt.request(Ping())
        most = 0
        done = trio.Event()

        async def sample() -> None:  # over the same connection, while the starts run
            nonlocal most
            while not done.is_set():
                most = max(most, (await rt.request(Metrics())).control_connections)
                await trio.sleep(0.01)

        pids: dict[str, int] = {}

        async def start(name: str) -> None:
            pids[name] = await rt.start(name, SLEEP)

        async with trio.open_nursery() as outer:
            outer.start_soon(sample)
            async with trio.open_nursery() as nursery:
                for name in names:
                    nursery.start_soon(start, name)
            assert len(set(pids.values())) == len(names)
            assert {await rt.state(name) for name in names} == {"RUNNING"}
            async with trio.open_nursery() as nursery:
                for name in names:
                    nursery.start_soon(lambda n=name: rt.stop(n, kill=True))
            done.set()
        assert {await rt.state(name) for name in names} == {"STOPPED"}
        return most

    most = trio.run(main)
    assert most == 1  # 40 starts, 40 stops and the samples: one connection
    assert [name for name in names if cgroups_of(name)] == []


def test_replies_come_in_completion_order_routed_by_id(runtime: Cli, tmp_path: Path) -> None:
    name = make_many(runtime, tmp_path, 1)[0]
    sock = raw_connection(runtime)
    try:
        # A start takes the spawner's fork and the handshake; the ping answers at once.
        sock.sendall(start_line(runtime, name, 1) + line({"op": "ping", "id": 2}))
        replies = read_lines(sock, 3)
    finally:
        sock.close()
    assert [reply["id"] for reply in replies] == [2, 1, 1]
    assert replies[0]["ok"] is True and replies[0]["pid"]
    assert replies[1]["event"] == "started"
    assert replies[2]["ok"] is True and replies[2]["pid"] == replies[1]["pid"]
    # The same through the API: each caller gets its own container's answer.
    rt = Runtime(str(runtime.lxcpath))

    async def main() -> dict[str, str]:
        states: dict[str, str] = {}

        async def ask(who: str) -> None:
            states[who] = await rt.state(who)

        async with trio.open_nursery() as nursery:
            for who in (name, "nothere1", name, "nothere2"):
                nursery.start_soon(ask, who)
        await rt.stop(name, kill=True)
        return states

    assert trio.run(main) == {name: "RUNNING", "nothere1": "STOPPED", "nothere2": "STOPPED"}


def test_an_error_does_not_disturb_the_others(runtime: Cli, tmp_path: Path) -> None:
    names = make_many(runtime, tmp_path, 6)
    rt = Runtime(str(runtime.lxcpath))

    async def main() -> tuple[dict[str, object], set[str]]:
        outcome: dict[str, object] = {}

        async def start(name: str) -> None:
            outcome[name] = await rt.start(name, SLEEP)

        async def bad_stop() -> None:
            try:
                await rt.stop(names[-1], kill=True)  # not running: exit code 2
            except RequestFailed as err:
                outcome["bad stop"] = err.exit_code

        async def bad_start() -> None:
            try:  # a config that does not exist: the daemon refuses this one start
                await rt.request(Start(name=unique("ghost"), config_path="/nonexistent/config"))
            except LxcError as err:
                outcome["bad start"] = str(err)

        async with trio.open_nursery() as nursery:
            for name in names[:-1]:
                nursery.start_soon(start, name)
            nursery.start_soon(bad_stop)
            nursery.start_soon(bad_start)
        states = {await rt.state(name) for name in names[:-1]}
        for name in names[:-1]:
            await rt.stop(name, kill=True)
        return outcome, states

    outcome, states = trio.run(main)
    assert states == {"RUNNING"}
    assert all(isinstance(outcome[name], int) for name in names[:-1])
    assert outcome["bad stop"] == 2 and outcome["bad start"]
    # A malformed request between good ones, on a raw connection: its own error only.
    sock = raw_connection(runtime)
    try:
        sock.sendall(line({"op": "ping", "id": 1}) + line({"op": "state", "id": 2}) + line({"op": "ping", "id": 3}))
        replies = {reply["id"]: reply for reply in read_lines(sock, 3)}
    finally:
        sock.close()
    assert replies[1]["ok"] is True and replies[3]["ok"] is True
    assert replies[2]["ok"] is False and "'name'" in str(replies[2]["error"])
    # A name JSON cannot make a file of (a lone surrogate) is refused on its own id
    # too: it used to fail inside the name check, end the connection with an
    # "internal error" and cancel the requests it shared the connection with.
    sock = raw_connection(runtime)
    try:
        sock.sendall(line({"op": "ping", "id": 1}) + line({"op": "state", "name": "\ud800", "id": 2})
                     + line({"op": "ping", "id": 3}))  # fmt: skip
        replies = {reply["id"]: reply for reply in read_lines(sock, 3)}
    finally:
        sock.close()
    assert replies[1]["ok"] is True and replies[3]["ok"] is True
    assert replies[2]["ok"] is False and "lone surrogate" in str(replies[2]["error"])


def test_an_id_already_in_flight_is_refused(runtime: Cli, tmp_path: Path) -> None:
    """Two requests in flight with one id: their lines could not be told apart."""
    name = make_many(runtime, tmp_path, 1)[0]
    sock = raw_connection(runtime)
    try:
        sock.sendall(start_line(runtime, name, 1))
        started, reply = read_lines(sock, 2)
        assert started["event"] == "started" and reply["ok"] is True, (started, reply)
        # A stop whose halt signal (SIGWINCH) the container ignores: in flight for 2 s.
        hold = {"op": "stop", "name": name, "halt_signal": 28, "nokill": True, "timeout": 2, "id": 5}
        sock.sendall(line(hold) + line({"op": "ping", "id": 5}) + line({"op": "ping", "id": 6}))
        early = {reply["id"]: reply for reply in read_lines(sock, 2)}
        assert early[5]["ok"] is False and "already in flight" in str(early[5]["error"]), early
        assert early[6]["ok"] is True
        late = read_lines(sock, 1)[0]
        assert late["id"] == 5 and "did not stop" in str(late["error"]), late
    finally:
        sock.close()
        runtime("lxc-stop", "-n", name, "-k")


def test_disconnect_with_requests_in_flight_leaves_no_half_made_container(runtime: Cli, tmp_path: Path) -> None:
    names = make_many(runtime, tmp_path, 8)
    sock = raw_connection(runtime)
    sock.sendall(b"".join(start_line(runtime, name, i + 1) for i, name in enumerate(names)))
    read_lines(sock, 1)  # something is under way...
    sock.close()  # ...and the client goes away with the rest in flight
    client = AsyncClient(str(runtime.lxcpath))

    async def settled() -> dict[str, str]:
        with trio.fail_after(60):
            while True:
                states = {name: (await client.call(State(name=name))).state for name in names}
                if set(states.values()) <= {"RUNNING", "STOPPED"}:
                    return states
                await trio.sleep(0.1)

    states = trio.run(settled)
    for name, state in states.items():
        # Whole either way: running with its cgroups, or stopped without any.
        assert bool(cgroups_of(name)) == (state == "RUNNING"), (name, state)
    assert "RUNNING" in states.values()  # the starts already handed over went on
    for name in names:
        if states[name] == "RUNNING":
            result = runtime("lxc-stop", "-n", name, "-k")
            assert result.returncode == 0, result.stderr
    assert [name for name in names if cgroups_of(name)] == []


def test_requests_without_id_work_as_before(runtime: Cli, tmp_path: Path) -> None:
    name = make_many(runtime, tmp_path, 1)[0]
    sock = raw_connection(runtime)
    try:
        # Pipelined, no ids: answered in turn, no id on the lines.
        sock.sendall(line({"op": "ping"}) + line({"op": "state", "name": name}))
        first, second = read_lines(sock, 2)
        assert "id" not in first and first["ok"] is True and first["pid"]
        assert "id" not in second and second["state"] == "STOPPED"
        # A start without an id on the same connection: served whole, then the next.
        sock.sendall(start_line(runtime, name, None) + line({"op": "state", "name": name}))
        started, reply, state = read_lines(sock, 3)
        assert started["event"] == "started" and reply["pid"] == started["pid"]
        assert state["state"] == "RUNNING" and "id" not in state
    finally:
        sock.close()
    # The commands (one request per connection) are unchanged.
    assert runtime("lxc-info", "-n", name, "-sH").stdout.strip() == "RUNNING"
    result = runtime("lxc-stop", "-n", name, "-k")
    assert result.returncode == 0, result.stderr
    assert cgroups_of(name) == []


def test_own_connection_ops_and_no_id_are_refused_while_requests_are_in_flight(
    runtime: Cli, tmp_path: Path
) -> None:
    name = make_many(runtime, tmp_path, 1)[0]
    sock = raw_connection(runtime)
    try:
        sock.sendall(
            start_line(runtime, name, 1)
            + line({"op": "console", "name": name, "tty": 0, "id": 2})
            + line({"op": "ping"})
        )
        lines = read_lines(sock, 4)
    finally:
        sock.close()
    by_id: dict[object, list[dict[str, object]]] = {}
    for reply in lines:
        by_id.setdefault(reply.get("id"), []).append(reply)
    assert by_id[1][-1]["ok"] is True
    console = by_id[2][0]
    assert console["ok"] is False and "needs a connection of its own" in str(console["error"])
    ping = by_id[None][0]
    assert ping["ok"] is False and "has no id" in str(ping["error"])
    result = runtime("lxc-stop", "-n", name, "-k")
    assert result.returncode == 0, result.stderr


def test_runtime_reconnects_after_the_daemon_restarts(runtime: Cli) -> None:
    rt = Runtime(str(runtime.lxcpath))

    async def main() -> tuple[int, int]:
        first = (await rt.request(Ping())).pid
        kill_daemon(runtime)
        await trio.sleep(0.1)  # the reader sees the end of the connection
        second = (await rt.request(Ping())).pid
        return first, second

    first, second = trio.run(main)
    assert first != second


def test_an_idle_connection_is_closed_by_the_client(
    runtime: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIO_LXC_REQUEST_TIMEOUT", "3")  # the client lingers 1 s
    rt = Runtime(str(runtime.lxcpath))
    own = AsyncClient(str(runtime.lxcpath))

    async def main() -> tuple[int, int, int]:
        await rt.request(Ping())
        during = (await own.call(Metrics())).control_connections  # ours and this one
        await trio.sleep(2.5)
        after = (await own.call(Metrics())).control_connections  # this one only
        await rt.request(Ping())  # opened again
        again = (await own.call(Metrics())).control_connections
        return during, after, again

    assert trio.run(main) == (2, 1, 2)


def test_an_abandoned_call_ends_with_the_idle_connection(
    runtime: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call cancelled by its caller leaves its request running in the daemon; when
    the client closes its idle connection the request goes with it (the client's
    close is a hang-up, not a half-close the daemon would keep answering)."""
    monkeypatch.setenv("TRIO_LXC_REQUEST_TIMEOUT", "3")  # the client lingers 1 s
    name = make_many(runtime, tmp_path, 1)[0]
    rt = Runtime(str(runtime.lxcpath))
    own = AsyncClient(str(runtime.lxcpath))

    async def main() -> tuple[int, int]:
        await rt.start(name, SLEEP)
        with trio.move_on_after(0.5):  # a stop whose halt signal (SIGWINCH) is ignored
            await rt.request(Stop(name=name, halt_signal=28, nokill=True, timeout=-1))
        during = (await own.call(Metrics())).control_connections  # ours and this one
        await trio.sleep(2.5)
        after = (await own.call(Metrics())).control_connections  # this one only
        return during, after

    try:
        assert trio.run(main) == (2, 1)
    finally:
        runtime("lxc-stop", "-n", name, "-k")


def test_the_daemon_goes_idle_with_a_runtime_connected(runtime: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A program that holds a Runtime but asks nothing does not keep the daemon alive."""
    monkeypatch.setenv("TRIO_LXC_REQUEST_TIMEOUT", "3")
    rt = Runtime(str(runtime.lxcpath))

    async def main() -> bool:
        pid = (await rt.request(Ping())).pid
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not _alive(pid):
                return True
            await trio.sleep(0.2)
        return False

    assert trio.run(main)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_which_requests_share_a_connection() -> None:
    """Pure: fds either way, or a connection that becomes a stream, keep their own."""
    from runtime.client.control_protocol import (
        Batch,
        Console,
        ConsoleResize,
        Freeze,
        Signal,
        StartMany,
        Stop,
        StopMany,
        shares_connection,
    )

    detached = Start(name="a", config_path="/x/config")
    attached = Start(name="a", config_path="/x/config", attach=True)
    assert shares_connection(detached) and shares_connection(Stop(name="a")) and shares_connection(Ping())
    assert shares_connection(Freeze(name="a")) and shares_connection(Signal(name="a", signal=15))
    assert shares_connection(ConsoleResize(name="a", tty=0, rows=24, cols=80))
    assert not shares_connection(detached, 3)  # the caller's stdio travels with it
    assert not shares_connection(attached)
    assert not shares_connection(Console(name="a", tty=0))
    batches = (Batch(names=("a",)),)
    assert not shares_connection(StartMany(batches=batches))
    assert not shares_connection(StopMany(action="kill", batches=batches))


@pytest.mark.parametrize("request_id", [None, 7], ids=["inline", "shared"])
def test_a_client_that_shuts_its_writing_half_still_gets_its_reply(
    runtime: Cli, tmp_path: Path, request_id: int | None
) -> None:
    """`shutdown(SHUT_WR)` after the request (socat, `nc -N`) is not a hang-up: the
    reply of the request in flight still comes (it was cancelled, nothing sent)."""
    name = make_many(runtime, tmp_path, 1)[0]
    sock = raw_connection(runtime)
    try:
        sock.sendall(start_line(runtime, name, None))
        assert [reply.get("ok") for reply in read_lines(sock, 2)] == [None, True]
    finally:
        sock.close()
    sock = raw_connection(runtime)
    try:
        hold: dict[str, object] = {"op": "stop", "name": name, "halt_signal": 28, "nokill": True, "timeout": 1}
        if request_id is not None:
            hold["id"] = request_id
        sock.sendall(line(hold))
        sock.shutdown(socket.SHUT_WR)
        reply = read_lines(sock, 1)[0]
        assert reply.get("id") == request_id and "did not stop within 1 s" in str(reply.get("error")), reply
    finally:
        sock.close()
        runtime("lxc-stop", "-n", name, "-k")
