"""lxc-exporter scraped by a real HTTP client while real busybox containers start,
freeze, reboot and stop; the text checked by prometheus_client's parser, and by
`promtool check metrics` where promtool is installed.

Each test has its own lxcpath and daemon (the `runtime` fixture stops it and sweeps
processes and cgroups afterwards); the exporter process is killed in `finally`.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import BIN, Cli

CONF = "lxc.net.0.type = empty\n"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def exporter(runtime: Cli) -> Iterator[str]:
    """A running lxc-exporter on a free loopback port; yields its /metrics URL."""
    proc = subprocess.Popen(
        [str(BIN / "lxc-exporter"), "-P", str(runtime.lxcpath), "--listen", "127.0.0.1:0"],
        env=runtime.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on http://"), (line, proc.stderr.read() if proc.poll() is not None else "")
        yield line.split()[-1]
    finally:
        proc.terminate()
        try:
            assert proc.wait(10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()


def scrape(url: str) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """(text, {(sample name, sorted labels): value})."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=10) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = reply.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return text, samples


def value(samples: dict, metric: str, **labels: str) -> float | None:
    return samples.get((metric, tuple(sorted(labels.items()))))


def eventually(url: str, check: Callable[[dict], bool], timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        _text, samples = scrape(url)
        if check(samples):
            return samples
        assert time.monotonic() < deadline, "the scrape never showed the expected figures"
        time.sleep(0.2)


def test_exporter_follows_containers(runtime: Cli, tmp_path: Path, exporter: str) -> None:
    name = unique("ex")
    conf = tmp_path / "ex.conf"
    conf.write_text(CONF)
    assert runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf)).returncode == 0
    samples = eventually(exporter, lambda s: value(s, "lxc_container_state", name=name, state="STOPPED") == 1)
    assert value(samples, "lxc_daemon_up") == 1
    assert value(samples, "lxc_exporter_bus_connected") == 1

    assert runtime("lxc-start", "-n", name).returncode == 0
    samples = eventually(exporter, lambda s: value(s, "lxc_container_state", name=name, state="RUNNING") == 1)
    assert value(samples, "lxc_container_state", name=name, state="STOPPED") == 0
    pid = int(runtime("lxc-info", "-n", name, "-pH").stdout)
    assert value(samples, "lxc_container_pid", name=name) == pid
    assert value(samples, "lxc_container_cpu_seconds_total", name=name) > 0
    assert value(samples, "lxc_container_memory_bytes", name=name) > 0
    assert value(samples, "lxc_container_cpu_mode_seconds_total", name=name, mode="user") is not None
    assert value(samples, "lxc_daemon_containers_supervised") == 1
    assert value(samples, "lxc_daemon_bus_subscribers") >= 1
    assert value(samples, "lxc_daemon_bus_events_published_total") >= 2
    assert value(samples, "lxc_daemon_bus_subscribers_dropped_total") == 0
    assert value(samples, "lxc_container_restarts_total", name=name) == 0

    assert runtime("lxc-freeze", "-n", name).returncode == 0
    eventually(exporter, lambda s: value(s, "lxc_container_state", name=name, state="FROZEN") == 1)
    assert runtime("lxc-unfreeze", "-n", name).returncode == 0

    assert runtime("lxc-stop", "-n", name, "-r").returncode == 0
    eventually(
        exporter,
        lambda s: value(s, "lxc_container_restarts_total", name=name) == 1
        and value(s, "lxc_container_state", name=name, state="RUNNING") == 1,
    )

    assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
    text, samples = scrape(exporter)
    samples = eventually(exporter, lambda s: value(s, "lxc_container_state", name=name, state="STOPPED") == 1)
    assert value(samples, "lxc_container_exits_total", name=name) == 2  # the reboot and the kill
    assert value(samples, "lxc_container_last_exit_signal", name=name) == 9
    assert value(samples, "lxc_container_last_exit_status", name=name) == 128 + 9
    assert value(samples, "lxc_container_pid", name=name) is None
    assert value(samples, "lxc_container_memory_bytes", name=name) is None


def test_exporter_http_edges_and_promtool(runtime: Cli, tmp_path: Path, exporter: str) -> None:
    name = unique("ex")
    conf = tmp_path / "ex.conf"
    conf.write_text(CONF)
    assert runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf)).returncode == 0
    assert runtime("lxc-start", "-n", name).returncode == 0
    eventually(exporter, lambda s: value(s, "lxc_container_state", name=name, state="RUNNING") == 1)
    base = exporter.removesuffix("/metrics")
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(base + "/nothing", timeout=10)
    assert missing.value.code == 404
    missing.value.close()
    with pytest.raises(urllib.error.HTTPError) as post:
        urllib.request.urlopen(urllib.request.Request(exporter, data=b"x", method="POST"), timeout=10)
    assert post.value.code == 405
    post.value.close()
    with urllib.request.urlopen(urllib.request.Request(exporter, method="HEAD"), timeout=10) as head:
        assert head.status == 200 and head.read() == b""
    text, _samples = scrape(exporter)
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed: the text was checked by prometheus_client's parser only")
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_exporter_bad_listen_is_refused(runtime: Cli) -> None:
    for listen in ("nonsense", "127.0.0.1:99999", "::1:80"):
        result = runtime("lxc-exporter", "--listen", listen)
        assert result.returncode != 0
        assert "--listen" in result.stderr


def test_state_event_reason_on_the_wire() -> None:
    """The optional `reason` of a state event (ABORTING) goes over the wire only when set."""
    from bus.protocol import StateEvent, decode_line, encode

    plain = StateEvent(1, 1.0, "c", "RUNNING")
    assert b"reason" not in encode(plain)
    assert decode_line(encode(plain).rstrip(b"\n")) == plain
    failed = StateEvent(2, 2.0, "c", "ABORTING", reason="no rootfs")
    back = decode_line(encode(failed).rstrip(b"\n"))
    assert isinstance(back, StateEvent) and back == failed and back.reason == "no rootfs"


def test_container_book_follows_messages() -> None:
    from bus.protocol import (
        CreatedEvent,
        DestroyedEvent,
        ExitEvent,
        SnapshotItem,
        StateEvent,
        Synced,
    )
    from runtime.tools.exporter import ContainerBook

    book = ContainerBook()
    for message in (
        SnapshotItem("a", "STOPPED"),
        Synced(0, "e"),
        CreatedEvent(1, 1.0, "b"),
        StateEvent(2, 1.0, "a", "RUNNING"),
        ExitEvent(3, 2.0, "a", 137, None, 9),
        StateEvent(4, 2.0, "a", "STOPPED"),
        DestroyedEvent(5, 3.0, "b"),
    ):
        book.apply(message)
    assert book.synced and book.states == {"a": "STOPPED"}
    assert book.exits == {"a": 1} and book.last_exit == {"a": (137, 9)}


def test_a_failing_scrape_is_a_500_and_connections_are_capped() -> None:
    """A scrape that raises answers 500 and the exporter serves on; beyond the
    connection cap a new connection is closed at once (real TCP on 127.0.0.1)."""
    import trio

    from runtime.tools.exporter import Exporter

    class Failing(Exporter):
        async def scrape(self) -> bytes:
            raise ValueError("a collector broke")

    async def exchange(port: int, request: bytes) -> bytes:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            if request:
                await stream.send_all(request)
            data = b""
            while chunk := await stream.receive_some(4096):
                data += chunk
            return data

    async def main() -> None:
        exporter = Failing("/nonexistent", lambda: "/nonexistent")
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                await nursery.start(trio.serve_listeners, exporter.handle, listeners)
                for _ in range(2):
                    reply = await exchange(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                    assert reply.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
                assert (await exchange(port, b"GET / HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 200")
                exporter.connections = trio.CapacityLimiter(1)
                idle = await trio.open_tcp_stream("127.0.0.1", port)
                async with idle:
                    while exporter.connections.borrowed_tokens == 0:
                        await trio.sleep(0.01)
                    assert await exchange(port, b"") == b""  # over the cap: closed at once
                nursery.cancel_scope.cancel()

    trio.run(main)
