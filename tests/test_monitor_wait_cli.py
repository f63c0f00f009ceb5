"""`lxc-monitor` and `lxc-wait` as real processes, against a BusServer run in the test.

The commands find the bus through `TRIO_LXC_BUS_SOCKET` (no daemon is started).
Every process is killed and reaped, and every server closed, even when a test fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from conftest import serving_bus

from bus.server import BusServer
from runtime.client.rundir import path_digest

BIN = Path(sys.executable).parent


@pytest.fixture
def bus_path(tmp_path: Path) -> str:
    return str(tmp_path / "bus.sock")


@pytest.fixture
def env(lxc_env: dict[str, str], bus_path: str) -> dict[str, str]:
    values = dict(lxc_env, TRIO_LXC_BUS_SOCKET=bus_path)
    values.pop("PYTHONUNBUFFERED", None)  # the commands must flush by themselves
    return values


class Running:
    """A command running in the background, read line by line while it runs."""

    def __init__(self, process: trio.Process, stderr_path: Path) -> None:
        self.process = process
        self.stderr_path = stderr_path
        self._buffer = b""

    async def readline(self, timeout: float = 5.0) -> str:
        assert self.process.stdout is not None
        with trio.fail_after(timeout):
            while b"\n" not in self._buffer:
                chunk = await self.process.stdout.receive_some(65536)
                if not chunk:
                    raise EOFError(f"{self._buffer!r}; stderr: {self.stderr()}")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    async def nothing_more(self, wait: float = 0.2) -> None:
        """Assert no further line arrives within `wait` seconds."""
        with trio.move_on_after(wait):
            line = await self.readline(wait + 1)
            raise AssertionError(f"unexpected line {line!r}")

    def stderr(self) -> str:
        return self.stderr_path.read_text()


@asynccontextmanager
async def background(tmp_path: Path, env: dict[str, str], *argv: str):
    stderr_path = tmp_path / f"stderr-{argv[0]}-{os.urandom(3).hex()}"
    with open(stderr_path, "wb") as stderr:
        process = await trio.lowlevel.open_process(
            [str(BIN / argv[0]), *argv[1:]], stdout=subprocess.PIPE, stderr=stderr, env=env
        )
    try:
        yield Running(process, stderr_path)
    finally:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
            await process.wait()
            assert process.stdout is not None
            await process.stdout.aclose()


async def wait_until(predicate, timeout: float = 5.0) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.005)


async def run(env: dict[str, str], *argv: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run a command to its end; its result and wall time."""
    began = trio.current_time()
    with trio.fail_after(20):
        result = await trio.run_process(
            [str(BIN / argv[0]), *argv[1:]],
            env=env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    return result, trio.current_time() - began


# ---------------------------------------------------------------------------- lxc-monitor


async def test_monitor_prints_lxc_lines_one_at_a_time(tmp_path, env, lxcpath, bus_path) -> None:
    async with (
        serving_bus(bus_path, snapshot_source=lambda: {"c1": "STOPPED", "c2": "STOPPED"}) as server,
        background(tmp_path, env, "lxc-monitor", "-P", str(lxcpath), "-n", "c1|c2") as monitor,
    ):
        await wait_until(lambda: server.subscriber_count == 1)
        # Each line is read while the command keeps running: it flushes every event.
        server.publish_state("c1", "STARTING")
        assert await monitor.readline() == "'c1' changed state to [STARTING]"
        server.publish_state("c1", "RUNNING")
        assert await monitor.readline() == "'c1' changed state to [RUNNING]"
        server.publish_exit("c1", exit_code=7)
        server.publish_state("c1", "STOPPING")
        server.publish_state("c1", "STOPPED")
        assert await monitor.readline() == "'c1' exited with status [7]"
        assert await monitor.readline() == "'c1' changed state to [STOPPING]"
        assert await monitor.readline() == "'c1' changed state to [STOPPED]"
        # The whole name must match: c1x and xc2 are not c1|c2.
        server.publish_state("c1x", "RUNNING")
        server.publish_state("xc2", "RUNNING")
        server.publish_created("c2")
        server.publish_exit("c2", signal=9)  # killed: 128+9, where LXC says 0
        assert await monitor.readline() == "'c2' exited with status [137]"
        await monitor.nothing_more()
        assert monitor.process.returncode is None


async def test_monitor_default_regex_and_no_snapshot_lines(
    tmp_path, env, lxcpath, bus_path
) -> None:
    async with serving_bus(bus_path) as server:
        server.set_known({"old": "RUNNING"})  # a snapshot item: not a change, not printed
        async with background(tmp_path, env, "lxc-monitor", "-P", str(lxcpath)) as monitor:
            await wait_until(lambda: server.subscriber_count == 1)
            for name in ("a", "b-2", "web.1"):
                server.publish_state(name, "FROZEN")
            for name in ("a", "b-2", "web.1"):
                assert await monitor.readline() == f"'{name}' changed state to [FROZEN]"


async def test_monitor_json_format(tmp_path, env, lxcpath, bus_path) -> None:
    async with (
        serving_bus(bus_path, snapshot_source=lambda: {"c1": "STOPPED"}) as server,
        background(
            tmp_path, env, "lxc-monitor", "-P", str(lxcpath), "-n", "c1", "--format", "json"
        ) as monitor,
    ):
        await wait_until(lambda: server.subscriber_count == 1)
        path = os.path.abspath(lxcpath)
        assert json.loads(await monitor.readline()) == {
            "type": "snapshot",
            "lxcpath": path,
            "name": "c1",
            "state": "STOPPED",
        }
        synced = json.loads(await monitor.readline())
        assert synced["type"] == "synced" and synced["seq"] == 0
        event = server.publish_state("c1", "RUNNING")
        line = json.loads(await monitor.readline())
        assert line == {
            "type": "state",
            "seq": 1,
            "time": event.time,
            "lxcpath": path,
            "name": "c1",
            "state": "RUNNING",
        }
        server.publish_exit("c1", signal=15)
        line = json.loads(await monitor.readline())
        assert (line["type"], line["status"], line["exit_code"], line["signal"]) == (
            "exit",
            143,
            None,
            15,
        )


async def test_monitor_since_replays_then_goes_live(tmp_path, env, lxcpath, bus_path) -> None:
    async with serving_bus(bus_path) as server:
        for state in ("STARTING", "RUNNING", "FREEZING", "FROZEN"):
            server.publish_state("c1", state)
        async with background(
            tmp_path, env, "lxc-monitor", "-P", str(lxcpath), "--since", "2"
        ) as monitor:
            assert await monitor.readline() == "'c1' changed state to [FREEZING]"
            assert await monitor.readline() == "'c1' changed state to [FROZEN]"
            await wait_until(lambda: server.subscriber_count == 1)
            server.publish_state("c1", "THAWED")
            assert await monitor.readline() == "'c1' changed state to [THAWED]"


async def test_monitor_keeps_running_across_daemon_restart(
    tmp_path, env, lxcpath, bus_path
) -> None:
    async with trio.open_nursery() as nursery:
        first = BusServer(bus_path)
        first.set_known({"c1": "STOPPED", "c2": "RUNNING"})
        await nursery.start(first.serve)
        second = BusServer(bus_path)
        try:
            async with background(tmp_path, env, "lxc-monitor", "-P", str(lxcpath)) as monitor:
                await wait_until(lambda: first.subscriber_count == 1)
                first.publish_state("c1", "RUNNING")
                assert await monitor.readline() == "'c1' changed state to [RUNNING]"
                await first.aclose()
                # While no daemon runs, c1 stops; the new daemon knows it as STOPPED.
                second.set_known({"c1": "STOPPED", "c2": "RUNNING", "c3": "STOPPED"})
                await nursery.start(second.serve)
                assert await monitor.readline() == "'c1' changed state to [STOPPED]"
                await wait_until(lambda: second.subscriber_count == 1)
                second.publish_state("c3", "STARTING")
                assert await monitor.readline() == "'c3' changed state to [STARTING]"
                await monitor.nothing_more(0.1)
                assert monitor.process.returncode is None
        finally:
            await first.aclose()
            await second.aclose()


async def test_monitor_several_lxcpaths(tmp_path, env, lxc_env) -> None:
    paths = [tmp_path / "lxc-a", tmp_path / "lxc-b"]
    for path in paths:
        path.mkdir()
    template = str(tmp_path / "bus-{digest}.sock")
    env = dict(env, TRIO_LXC_BUS_SOCKET=template)
    sockets = [template.replace("{digest}", path_digest(str(p))) for p in paths]
    async with (
        serving_bus(sockets[0]) as a,
        serving_bus(sockets[1]) as b,
        background(
            tmp_path, env, "lxc-monitor", "-P", str(paths[0]), "-P", str(paths[1]), "-n", "c.*"
        ) as monitor,
    ):
        await wait_until(lambda: a.subscriber_count == 1 and b.subscriber_count == 1)
        a.publish_state("ca", "RUNNING")
        assert await monitor.readline() == "'ca' changed state to [RUNNING]"
        b.publish_state("cb", "STOPPING")
        assert await monitor.readline() == "'cb' changed state to [STOPPING]"
        a.publish_state("ca", "STOPPED")
        assert await monitor.readline() == "'ca' changed state to [STOPPED]"


def test_monitor_invalid_regex_and_options(env, lxcpath) -> None:
    base = [str(BIN / "lxc-monitor"), "-P", str(lxcpath)]
    result = subprocess.run(
        base + ["-n", "a("], env=env, capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 1
    assert result.stderr.startswith("lxc-monitor: a(: invalid regex 'a(': ")
    result = subprocess.run(
        base + ["--format", "xml"], env=env, capture_output=True, text=True, timeout=20
    )
    assert (result.returncode, result.stderr) == (
        1,
        "lxc-monitor: invalid --format 'xml': text or json\n",
    )
    result = subprocess.run(base + ["-Q"], env=env, capture_output=True, text=True, timeout=20)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


async def test_monitor_exits_quietly_on_closed_pipe(env, lxcpath, bus_path) -> None:
    """`lxc-monitor | head -1`: when the reader goes, the monitor goes, without a traceback."""
    async with serving_bus(bus_path) as server:
        read_end, write_end = os.pipe()
        reader = trio.lowlevel.FdStream(read_end)  # owns read_end from here
        try:
            process = await trio.lowlevel.open_process(
                [str(BIN / "lxc-monitor"), "-P", str(lxcpath)],
                stdout=write_end,
                stderr=subprocess.PIPE,
                env=env,
            )
        finally:
            os.close(write_end)
        try:
            await wait_until(lambda: server.subscriber_count == 1)
            server.publish_state("c1", "RUNNING")
            with trio.fail_after(5):
                assert await reader.receive_some(100) == b"'c1' changed state to [RUNNING]\n"
            await reader.aclose()
            server.publish_state("c1", "STOPPED")
            with trio.fail_after(5):
                await process.wait()
            assert process.stderr is not None
            assert process.returncode == 141
            assert await process.stderr.receive_some(65536) == b""
        finally:
            await reader.aclose()
            with trio.CancelScope(shield=True):
                if process.returncode is None:
                    process.kill()
                await process.wait()
                assert process.stderr is not None
                await process.stderr.aclose()


# ---------------------------------------------------------------------------- lxc-wait


async def test_wait_returns_at_once_when_already_in_state(env, lxcpath, bus_path) -> None:
    async with serving_bus(bus_path, snapshot_source=lambda: {"c2": "STOPPED"}) as server:
        server.publish_state("c1", "RUNNING")
        for name, states in [
            ("c1", "RUNNING"),
            ("c1", "RUNNING|STOPPED"),
            ("c2", "STOPPED"),
            ("nope", "STOPPED"),  # unknown counts as STOPPED, as in LXC
        ]:
            result, elapsed = await run(
                env, "lxc-wait", "-P", str(lxcpath), "-n", name, "-s", states
            )
            assert (result.returncode, result.stdout, result.stderr) == (0, b"", b""), name
            assert elapsed < 2


async def test_wait_notices_a_live_change_at_once(env, lxcpath, bus_path) -> None:
    async with serving_bus(bus_path, snapshot_source=lambda: {"c1": "STOPPED"}) as server:
        outcome = {}

        async def waiter() -> None:
            outcome["result"], _ = await run(
                env, "lxc-wait", "-P", str(lxcpath), "-n", "c1", "-s", "RUNNING", "-t", "10"
            )
            outcome["done"] = trio.current_time()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            await wait_until(lambda: server.subscriber_count == 1)
            await trio.sleep(0.1)
            assert "done" not in outcome
            server.publish_state("c1", "STARTING")
            await trio.sleep(0.1)
            assert "done" not in outcome
            published = trio.current_time()
            server.publish_state("c1", "RUNNING")
        assert outcome["result"].returncode == 0
        assert outcome["done"] - published < 0.5


async def test_wait_regex_characters_in_name_are_literal(env, lxcpath, bus_path) -> None:
    async with serving_bus(bus_path) as server:
        server.publish_state("axb", "RUNNING")
        result, _ = await run(
            env, "lxc-wait", "-P", str(lxcpath), "-n", "a.b", "-s", "RUNNING", "-t", "0"
        )
        assert result.returncode == 1


@pytest.mark.parametrize("timeout", ["0.3", "0.05"])
async def test_wait_timeout_is_precise(env, lxcpath, bus_path, timeout: str) -> None:
    """-t is honoured to the millisecond: not rounded to seconds, not cut a second short."""
    async with serving_bus(bus_path, snapshot_source=lambda: {"c1": "STOPPED"}) as server:
        outcome = {}

        async def waiter() -> None:
            outcome["result"], outcome["elapsed"] = await run(
                env, "lxc-wait", "-P", str(lxcpath), "-n", "c1", "-s", "RUNNING", "-t", timeout
            )
            outcome["done"] = trio.current_time()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            await wait_until(lambda: server.subscriber_count == 1 or "done" in outcome)
            registered = trio.current_time()
    result, elapsed = outcome["result"], outcome["elapsed"]
    assert (result.returncode, result.stderr) == (1, b"")
    # The clock starts when the command starts, before it connects: at least the
    # timeout in all, and it ends within a little of the timeout once subscribed
    # (start-up time is left out: it depends on the machine's load).
    assert elapsed >= float(timeout)
    assert outcome["done"] - registered < float(timeout) + 0.15


async def test_wait_t0_checks_once(env, lxcpath, bus_path) -> None:
    async with serving_bus(bus_path, snapshot_source=lambda: {"c1": "STOPPED"}):
        result, elapsed = await run(
            env, "lxc-wait", "-P", str(lxcpath), "-n", "c1", "-s", "RUNNING", "-t", "0"
        )
        assert result.returncode == 1 and elapsed < 2
        result, _ = await run(
            env, "lxc-wait", "-P", str(lxcpath), "-n", "c1", "-s", "STOPPED", "-t", "0"
        )
        assert result.returncode == 0


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (["-n", "c1", "-s", "FOO", "-t", "1"], "lxc-wait: c1: invalid state 'FOO'\n"),
        (["-n", "c1", "-s", "RUNNING|BAR"], "lxc-wait: c1: invalid state 'BAR'\n"),
        (["-n", "c1"], "lxc-wait: could not parse command line\n"),
        (["-n", "c1", "-s", "RUNNING", "-t", "soon"], "lxc-wait: could not parse command line\n"),
        (["-s", "RUNNING"], "lxc-wait: No container name specified\n"),
    ],
)
def test_wait_usage_errors(env, lxcpath, args: list[str], stderr: str) -> None:
    # No server at all: these are refused before any connection.
    result = subprocess.run(
        [str(BIN / "lxc-wait"), "-P", str(lxcpath), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert (result.returncode, result.stdout, result.stderr) == (1, "", stderr)


def test_wait_without_a_bus_fails_clearly(env, lxcpath) -> None:
    result = subprocess.run(
        [str(BIN / "lxc-wait"), "-P", str(lxcpath), "-n", "c1", "-s", "RUNNING", "-t", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("lxc-wait: c1: cannot connect to the monitor bus")
