"""The trio bus server with real Unix sockets: snapshot-then-live, overflow, replay, reconnect.

Every server runs inside the test's own nursery and is closed (socket file removed)
when the test ends, whether it passed or not.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time

import pytest
import trio
from conftest import serving_bus

from bus.aclient import open_bus
from bus.client import BusClient, BusRefused, BusTimeout, Subscription, iter_many
from bus.protocol import (
    MAX_LINE,
    PROTOCOL_VERSION,
    BusError,
    BusOverflow,
    Decoder,
    Error,
    ExitEvent,
    InvalidFilter,
    Overflow,
    Reconnected,
    SnapshotItem,
    StateEvent,
    Subscribe,
    Synced,
    encode,
)
from bus.server import BusAddressInUse, BusServer

CYCLE = ("STARTING", "RUNNING", "STOPPING", "STOPPED")


@pytest.fixture
def bus_path(tmp_path) -> str:
    return str(tmp_path / "bus.sock")


async def raw_subscribe(path: str, request: Subscribe) -> trio.SocketStream:
    stream = await trio.open_unix_socket(path)
    await stream.send_all(encode(request))
    return stream


async def read_all(stream: trio.SocketStream) -> list:
    """Every message until the server closes the connection."""
    decoder = Decoder()
    out = []
    while data := await stream.receive_some(65536):
        out.extend(decoder.feed(data))
    return out


async def until_synced(sub) -> list:
    """Messages up to and including the first Synced: the subscriber is live from here."""
    got = []
    async for message in sub:
        got.append(message)
        if isinstance(message, Synced):
            return got
    raise AssertionError("ended before synced")


async def wait_until(predicate, timeout: float = 5.0) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.002)


# ---------------------------------------------------------------------------- serving basics


async def test_socket_is_private_and_removed_on_close(bus_path) -> None:
    async with serving_bus(bus_path):
        mode = os.stat(bus_path).st_mode
        assert mode & 0o777 == 0o600
    assert not os.path.exists(bus_path)


async def test_stale_socket_is_replaced_and_live_one_refused(bus_path) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(bus_path)
    stale.close()  # the file stays, nobody listens: a crashed daemon's leftover
    async with serving_bus(bus_path) as server:
        assert os.path.exists(bus_path)
        second = BusServer(bus_path)
        with pytest.raises(BusAddressInUse):
            await second.serve()
        assert server.subscriber_count == 0
    assert not os.path.exists(bus_path)


async def test_refuses_to_replace_a_regular_file(bus_path) -> None:
    with open(bus_path, "w") as handle:
        handle.write("not a socket")
    with pytest.raises(BusError, match="not a socket"):
        await BusServer(bus_path).serve()
    assert os.path.isfile(bus_path)


async def test_invalid_state_refused_with_reason(bus_path) -> None:
    async with serving_bus(bus_path):
        for request, reason in [
            (Subscribe(["a"], ["BOGUS"]), "invalid state 'BOGUS'"),
            (Subscribe(None, ["running"]), "invalid state 'running'"),
        ]:
            stream = await raw_subscribe(bus_path, request)
            async with stream:
                messages = await read_all(stream)
            assert len(messages) == 1 and isinstance(messages[0], Error)
            assert reason in messages[0].message


async def test_garbage_instead_of_subscribe_is_refused(bus_path) -> None:
    async with serving_bus(bus_path):
        stream = await trio.open_unix_socket(bus_path)
        async with stream:
            await stream.send_all(b'{"v": %d, "type": "state"}\n' % PROTOCOL_VERSION)
            messages = await read_all(stream)
        assert isinstance(messages[0], Error) and "'state'" in messages[0].message


async def test_client_hangup_is_noticed_without_traffic(bus_path) -> None:
    async with serving_bus(bus_path) as server:
        stream = await raw_subscribe(bus_path, Subscribe())
        await wait_until(lambda: server.subscriber_count == 1)
        await stream.aclose()
        await wait_until(lambda: server.subscriber_count == 0)


async def test_other_uid_is_refused(bus_path) -> None:
    """SO_PEERCRED: only root or the server's uid may subscribe."""
    python = shutil.which("python3", path="/usr/bin")
    if python is None or os.geteuid() != 0:
        pytest.skip("needs root and a system python3 that uid 65534 can run")
    directory = tempfile.mkdtemp(prefix="bus-peercred-")
    try:
        os.chmod(directory, 0o755)
        path = os.path.join(directory, "bus.sock")
        async with serving_bus(path):
            os.chmod(path, 0o666)  # let the other uid reach the credential check
            results = []
            # A valid request, and one that would break a decoder: neither is decoded.
            for request in ('{"v":2,"type":"subscribe"}', "[" * 60_000):
                script = (
                    "import socket,sys\n"
                    "s=socket.socket(socket.AF_UNIX)\n"
                    f"s.connect({path!r})\n"
                    f"s.sendall({request!r}.encode() + b'\\n')\n"
                    "sys.stdout.write(s.recv(4096).decode())\n"
                )
                result = await trio.run_process(
                    [python, "-c", script], user=65534, capture_stdout=True, check=False
                )
                results.append(result.stdout)
            # And the server still serves its own uid.
            stream = await raw_subscribe(path, Subscribe())
            async with stream:
                first = Decoder().feed(await stream.receive_some(65536))
            assert isinstance(first[-1], Synced)
        for stdout in results:
            assert b'"type":"error"' in stdout
            assert b"permission denied: uid 65534" in stdout
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def test_hostile_lines_end_only_their_connection(bus_path) -> None:
    """A line nested 60,000 deep, one too long, or with wrong field types: each gets
    an error (or a closed connection), and the server serves the next subscriber."""
    hostile = [
        (b"[" * 60_000 + b"\n", "nested deeper"),
        (b'{"a":' * 12_000 + b"\n", "nested deeper"),
        (b'{"v":2,"type":"subscribe","names":["a",1]}\n', "'names'"),
        (b'{"v":2,"type":"subscribe","states":["RUNNING",[]]}\n', "'states'"),
        (b'{"v":2,"type":"subscribe","since_time":NaN}\n', "'since_time'"),
        (b" " * (MAX_LINE + 10), "longer than"),
    ]
    async with serving_bus(bus_path) as server:
        for data, reason in hostile:
            stream = await trio.open_unix_socket(bus_path)
            async with stream:
                await stream.send_all(data)
                messages = await read_all(stream)
            assert isinstance(messages[0], Error) and reason in messages[0].message, data[:40]
        stream = await raw_subscribe(bus_path, Subscribe())
        async with stream:
            await wait_until(lambda: server.subscriber_count == 1)
            server.publish_state("c1", "RUNNING")
            decoder = Decoder()
            got: list = []
            while not any(isinstance(m, StateEvent) for m in got):
                got.extend(decoder.feed(await stream.receive_some(65536)))
        assert isinstance(got[0], Synced) and got[1] == StateEvent(1, got[1].time, "c1", "RUNNING")


async def test_server_never_runs_a_subscribers_regex(bus_path) -> None:
    """`(a|aa)*b` against 44 `a`s backtracks for many seconds. The server ignores a
    `regex` field and sends the events; matching is the subscriber's own cost."""
    evil = {"v": PROTOCOL_VERSION, "type": "subscribe", "regex": "(a|aa)*b"}
    name = "a" * 44
    async with serving_bus(bus_path, snapshot_source=lambda: {name: "STOPPED"}) as server:
        stream = await trio.open_unix_socket(bus_path)
        async with stream:
            await stream.send_all(json.dumps(evil).encode() + b"\n")
            await wait_until(lambda: server.subscriber_count == 1)
            began = time.monotonic()
            server.publish_state(name, "STARTING")
            assert time.monotonic() - began < 2  # not the regex's exponential time
            decoder = Decoder()
            got: list = []
            while not any(isinstance(m, StateEvent) for m in got):
                got.extend(decoder.feed(await stream.receive_some(65536)))
        assert [type(m) for m in got] == [SnapshotItem, Synced, StateEvent]


async def test_plain_names_narrow_on_the_server_and_regexes_in_the_client(bus_path) -> None:
    async with serving_bus(bus_path) as server:
        named = await raw_subscribe(bus_path, Subscribe(["c1"]))
        async with open_bus(bus_path) as bus:
            sub = bus.subscribe("c[13]")
            assert sub.state.request.names is None  # a regex: the server sends all
            await until_synced(sub)
            await wait_until(lambda: server.subscriber_count == 2)
            for name in ("c1", "c2", "c3"):
                server.publish_state(name, "RUNNING")
            seen = []
            async for message in sub:
                seen.append(message.name)
                if message.name == "c3":
                    break
            assert seen == ["c1", "c3"]
        async with named:
            decoder = Decoder()
            got: list = []
            with trio.move_on_after(0.5):
                while True:
                    got.extend(decoder.feed(await named.receive_some(65536)))
        assert [m.name for m in got if isinstance(m, StateEvent)] == ["c1"]
        with pytest.raises(InvalidFilter, match="invalid regex"):
            BusClient(bus_path).subscribe("a(")


# ---------------------------------------------------------------------------- snapshot, then live


def expected_states(count: int, names: int) -> dict[str, str]:
    """The state of each name after the publisher below has published `count` events."""
    states = {f"c{i}": "STOPPED" for i in range(names)}
    for i in range(count):
        states[f"c{i % names}"] = CYCLE[(i // names) % len(CYCLE)]
    return states


async def test_snapshot_then_live_with_no_gap_under_concurrent_publishing(bus_path) -> None:
    names, total, subscribers = 10, 1500, 12
    source = {f"c{i}": "STOPPED" for i in range(names)}
    results: list[tuple[dict[str, str], int, list[StateEvent]]] = []

    async def publisher(server: BusServer) -> None:
        for i in range(total):
            server.publish_state(f"c{i % names}", CYCLE[(i // names) % len(CYCLE)])
            await trio.sleep(0)  # a checkpoint, as a real supervisor would have
            if i % 100 == 99:
                await trio.sleep(0.005)

    async def subscriber(delay: float) -> None:
        await trio.sleep(delay)
        async with open_bus(bus_path) as bus:
            snapshot: dict[str, str] = {}
            live: list[StateEvent] = []
            synced_at = None
            async for message in bus.subscribe(".*", reconnect=False):
                if isinstance(message, SnapshotItem):
                    assert synced_at is None
                    snapshot[message.name] = message.state
                elif isinstance(message, Synced):
                    synced_at = message.seq
                    if synced_at == total:
                        break
                else:
                    assert synced_at is not None, "a live event before synced"
                    live.append(message)
                    if message.seq == total:
                        break
            results.append((snapshot, synced_at, live))

    async with serving_bus(bus_path, snapshot_source=lambda: dict(source)) as server:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(publisher, server)
            for j in range(subscribers):
                nursery.start_soon(subscriber, j * 0.01)
    assert len(results) == subscribers
    mid_stream = 0
    for snapshot, synced_at, live in results:
        # The snapshot is exactly the state after `synced_at` events ...
        assert snapshot == expected_states(synced_at, names)
        # ... and every later event arrives live, in order, none missing, none twice.
        assert [e.seq for e in live] == list(range(synced_at + 1, total + 1))
        for event in live:
            i = event.seq - 1
            assert (event.name, event.state) == (f"c{i % names}", CYCLE[(i // names) % 4])
        mid_stream += 0 < synced_at < total
    assert mid_stream >= subscribers // 2, "subscribers should join while events flow"


async def test_snapshot_merges_source_with_published_and_filters(bus_path) -> None:
    source = {"web1": "STOPPED", "web2": "STOPPED", "db": "STOPPED"}
    async with serving_bus(bus_path, snapshot_source=lambda: source, lxcpath="/lxc") as server:
        server.publish_state("web1", "RUNNING")
        server.publish_state("volatile", "RUNNING")  # lxc-execute -f: not in the store
        server.publish_destroyed("db")
        source.pop("db")
        async with open_bus(bus_path) as bus:
            got = []
            async for message in bus.subscribe("web.*|volatile", states=["RUNNING"]):
                got.append(message)
                if isinstance(message, Synced):
                    break
        assert got[:-1] == [
            SnapshotItem("volatile", "RUNNING", "/lxc"),
            SnapshotItem("web1", "RUNNING", "/lxc"),
        ]
        assert got[-1].seq == 3 and got[-1].epoch == server.epoch


async def test_set_known_replaces_states(bus_path) -> None:
    async with serving_bus(bus_path) as server:
        server.set_known({"a": "RUNNING", "b": "FROZEN"})
        assert server.snapshot() == {"a": "RUNNING", "b": "FROZEN"}
        with pytest.raises(ValueError, match="invalid state"):
            server.set_known({"a": "UP"})
        with pytest.raises(ValueError, match="invalid state"):
            server.publish_state("a", "UP")


async def test_exit_event_carries_code_and_signal_apart(bus_path) -> None:
    async with serving_bus(bus_path) as server, open_bus(bus_path) as bus:
        sub = bus.subscribe("c1")
        await until_synced(sub)
        server.publish_exit("c1", signal=9)
        server.publish_exit("c1", exit_code=7)
        server.publish_exit("other", exit_code=1)
        server.publish_created("c1")
        got = []
        async for message in sub:
            got.append(message)
            if len(got) == 3:
                break
        assert [(e.TYPE, getattr(e, "status", None)) for e in got] == [
            ("exit", 137),
            ("exit", 7),
            ("created", None),
        ]
        assert (got[0].exit_code, got[0].signal) == (None, 9)
        assert (got[1].exit_code, got[1].signal) == (7, None)
        assert got[0].line() == "'c1' exited with status [137]"


# ---------------------------------------------------------------------------- slow subscribers


async def test_slow_subscriber_overflows_and_others_get_everything(bus_path) -> None:
    total, fast_count, chunk = 3000, 10, 16
    long = "x" * 150  # bigger events fill the slow one's socket buffer sooner
    names = [f"{long}{i}" for i in range(5)]
    progress = [0] * fast_count
    received: list[list[int]] = [[] for _ in range(fast_count)]

    async def fast(j: int, ready: trio.Event) -> None:
        async with open_bus(bus_path) as bus:
            sub = bus.subscribe(".*", reconnect=False)
            await sub.connect()
            ready.set()
            async for message in sub:
                if isinstance(message, StateEvent):
                    received[j].append(message.seq)
                    progress[j] = message.seq
                    if message.seq == total:
                        return

    async with serving_bus(bus_path, queue_size=64, overflow_grace=10) as server:
        slow = await raw_subscribe(bus_path, Subscribe())  # never reads until the end
        async with trio.open_nursery() as nursery:
            for j in range(fast_count):
                ready = trio.Event()
                nursery.start_soon(fast, j, ready)
                await ready.wait()
            await wait_until(lambda: server.subscriber_count == fast_count + 1)
            for i in range(total):
                # Synchronous: a publish never waits for any subscriber, the slow
                # one included (no timing is asserted: the suite runs on loaded CI).
                server.publish_state(names[i % len(names)], CYCLE[i % 4])
                if i % chunk == chunk - 1:
                    # Readers that keep up: never more than two chunks behind.
                    while min(progress) < i + 1 - chunk:
                        await trio.sleep(0.0005)
        assert server.overflows == 1
        # The fast ones hang up, the slow one was dropped at once.
        await wait_until(lambda: server.subscriber_count == 0)
        async with slow:
            messages = await read_all(slow)
    for seqs in received:
        assert seqs == list(range(1, total + 1))
    assert isinstance(messages[-1], Overflow), messages[-3:]
    seqs = [m.seq for m in messages if isinstance(m, StateEvent)]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) < total


async def test_overflow_with_reconnect_is_lossless_through_the_ring(bus_path) -> None:
    """A subscriber dropped for overflow resubscribes `since` its last seq: nothing lost."""
    total = 2000
    async with serving_bus(bus_path, queue_size=8, ring_size=4096) as server, open_bus(bus_path) as bus:
        sub = bus.subscribe(".*")
        await sub.connect()
        seqs: list[int] = []
        markers: list[Reconnected] = []
        replay_flags = []
        async for message in sub:
            if isinstance(message, Synced):
                replay_flags.append(message.replay_complete)
                if len(replay_flags) == 1:
                    for i in range(total):  # no checkpoint: this reader cannot keep up
                        server.publish_state(f"c{i % 7}", CYCLE[i % 4])
            elif isinstance(message, Reconnected):
                markers.append(message)
            elif isinstance(message, StateEvent):
                seqs.append(message.seq)
                if message.seq == total:
                    break
    assert seqs == list(range(1, total + 1))
    assert markers and all(m.reason == "overflow" for m in markers)
    assert replay_flags[0] is None and all(replay_flags[1:])


async def test_overflow_without_reconnect_raises(bus_path) -> None:
    async with serving_bus(bus_path, queue_size=2) as server, open_bus(bus_path) as bus:
        sub = bus.subscribe(".*", reconnect=False)
        await until_synced(sub)
        for i in range(500):
            server.publish_state("c", CYCLE[i % 4])
        with pytest.raises(BusOverflow):
            async for _message in sub:
                pass


# ---------------------------------------------------------------------------- replay


async def test_since_replays_from_the_ring(bus_path) -> None:
    async with serving_bus(bus_path, ring_size=50) as server:
        for i in range(30):
            server.publish_state(f"c{i % 3}", CYCLE[i % 4])

        async def collect(request: Subscribe) -> tuple[list, Synced]:
            stream = await raw_subscribe(bus_path, request)
            decoder = Decoder()
            got = []
            async with stream:
                while True:
                    got.extend(decoder.feed(await stream.receive_some(65536)))
                    if got and isinstance(got[-1], Synced):
                        return got[:-1], got[-1]

        replayed, synced = await collect(Subscribe(None, None, 20))
        events = [m for m in replayed if isinstance(m, StateEvent)]
        assert [e.seq for e in events] == list(range(21, 31))
        assert synced.replay_complete is True and synced.seq == 30
        # The replay comes first, then the snapshot of the state after it.
        assert isinstance(replayed[-1], SnapshotItem)

        replayed, synced = await collect(Subscribe(["c1"], None, 0))
        assert [e.seq for e in replayed if isinstance(e, StateEvent)] == list(range(2, 31, 3))
        assert synced.replay_complete is True

        for i in range(40):  # 70 in all: the ring (50) now starts at 21
            server.publish_state("c0", CYCLE[i % 4])
        replayed, synced = await collect(Subscribe(None, None, 10))
        assert [e.seq for e in replayed if isinstance(e, StateEvent)] == list(range(21, 71))
        assert synced.replay_complete is False

        cutoff = server._ring[-11][0].time
        replayed, synced = await collect(Subscribe(None, None, None, cutoff))
        seqs = [e.seq for e in replayed if isinstance(e, StateEvent)]
        assert seqs[-1] == 70 and seqs[0] <= 60 and synced.replay_complete is True

        # Another server's epoch (a client back after a daemon restart): it has seen
        # none of ours, so the whole ring; incomplete, since 1..20 are gone.
        replayed, synced = await collect(Subscribe(None, None, 65, None, "another-epoch"))
        assert [e.seq for e in replayed if isinstance(e, StateEvent)] == list(range(21, 71))
        assert synced.replay_complete is False


async def test_restarted_server_replays_all_it_published_to_a_returning_client(bus_path) -> None:
    async with serving_bus(bus_path, ring_size=50) as server:
        server.publish_state("c1", "STARTING")
        server.publish_state("c1", "RUNNING")
        server.publish_exit("c1", exit_code=0)
        server.publish_state("c2", "STARTING")
        stream = await raw_subscribe(bus_path, Subscribe(["c1"], None, 99, None, "the-old-daemon"))
        decoder = Decoder()
        got: list = []
        async with stream:
            while not (got and isinstance(got[-1], Synced)):
                got.extend(decoder.feed(await stream.receive_some(65536)))
        replayed, synced = got[:-1], got[-1]
        assert [(type(e).__name__, e.seq) for e in replayed if not isinstance(e, SnapshotItem)] == [
            ("StateEvent", 1),
            ("StateEvent", 2),
            ("ExitEvent", 3),
        ]
        assert synced.replay_complete is True and synced.seq == 4


# ---------------------------------------------------------------------------- blocking client


async def test_blocking_client_in_a_thread(bus_path) -> None:
    async with serving_bus(bus_path, snapshot_source=lambda: {"c1": "STOPPED"}) as server:
        server.publish_state("c2", "RUNNING")
        started = trio.Event()
        token = trio.lowlevel.current_trio_token()

        def blocking() -> list:
            got = []
            with BusClient(bus_path).subscribe("c1|c2", timeout=10) as sub:
                for message in sub:
                    got.append(message)
                    if isinstance(message, Synced):
                        trio.from_thread.run_sync(started.set, trio_token=token)
                    if isinstance(message, ExitEvent):
                        return got
            return got

        async def drive() -> None:
            await started.wait()
            server.publish_state("c3", "RUNNING")  # filtered out
            server.publish_state("c1", "STARTING")
            server.publish_exit("c1", exit_code=0)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(drive)
            got = await trio.to_thread.run_sync(blocking)
    assert got == [
        SnapshotItem("c1", "STOPPED"),
        SnapshotItem("c2", "RUNNING"),
        Synced(1, server.epoch),
        StateEvent(3, got[3].time, "c1", "STARTING"),
        ExitEvent(4, got[4].time, "c1", 0, 0, None),
    ]


async def test_blocking_client_timeout_is_precise(bus_path) -> None:
    async with serving_bus(bus_path):

        def blocking() -> tuple[int, float]:
            begun = time.monotonic()
            count = 0
            with BusClient(bus_path).subscribe("c1", timeout=0.25) as sub:
                try:
                    for _message in sub:
                        count += 1
                except BusTimeout:
                    return count, time.monotonic() - begun
            return count, -1.0

        count, elapsed = await trio.to_thread.run_sync(blocking)
    assert count == 1  # just Synced
    assert 0.25 <= elapsed < 0.25 + 1.5  # generous: CI machines are loaded


async def test_blocking_client_refused_and_unreachable(bus_path, tmp_path) -> None:
    async with serving_bus(bus_path):

        def refused() -> str:
            # Built by hand: BusClient.subscribe would refuse the state before any IO.
            broken = Subscription(BusClient(bus_path), Subscribe(["a"], ["BOGUS"]))
            try:
                list(broken)
            except BusRefused as err:
                return str(err)
            finally:
                broken.close()
            return ""

        assert "invalid state" in await trio.to_thread.run_sync(refused)

    def unreachable() -> str:
        try:
            BusClient(str(tmp_path / "nothing.sock"), connect_timeout=0.2).subscribe()
        except BusError as err:
            return str(err)
        return ""

    assert "cannot connect" in await trio.to_thread.run_sync(unreachable)


# ---------------------------------------------------------------------------- daemon restarts


async def test_blocking_client_reconnects_and_resyncs_after_restart(bus_path) -> None:
    send, receive = trio.open_memory_channel[object](100)
    token = trio.lowlevel.current_trio_token()

    def blocking() -> None:
        with BusClient(bus_path, reconnect_timeout=10).subscribe(".*", timeout=15) as sub:
            seen_reconnect = False
            for message in sub:
                trio.from_thread.run(send.send, message, trio_token=token)
                seen_reconnect |= isinstance(message, Reconnected)
                if seen_reconnect and isinstance(message, Synced):
                    return

    async with trio.open_nursery() as nursery:
        first = BusServer(bus_path, snapshot_source=lambda: {"c1": "STOPPED"})
        await nursery.start(first.serve)
        first.publish_state("c1", "RUNNING")
        nursery.start_soon(trio.to_thread.run_sync, blocking)
        got = [await receive.receive(), await receive.receive()]
        assert got == [SnapshotItem("c1", "RUNNING"), Synced(1, first.epoch)]
        await first.aclose()  # the daemon goes away ...
        await trio.sleep(0.2)
        second = BusServer(bus_path)  # ... and a new one comes up on the same path
        second.set_known({"c1": "STOPPED", "c2": "RUNNING"})
        await nursery.start(second.serve)
        with trio.fail_after(10):
            rest = [await receive.receive() for _ in range(4)]
        await second.aclose()
    assert rest == [
        Reconnected("disconnected"),
        SnapshotItem("c1", "STOPPED"),
        SnapshotItem("c2", "RUNNING"),
        Synced(0, second.epoch, True),  # another epoch: all of its (no) events, then the snapshot
    ]


async def test_async_client_reconnects_and_resyncs_after_restart(bus_path) -> None:
    got = []
    async with trio.open_nursery() as nursery:
        first = BusServer(bus_path)
        await nursery.start(first.serve)
        first.publish_state("c1", "RUNNING")
        second = BusServer(bus_path)
        second.set_known({"c1": "FROZEN"})
        async with open_bus(bus_path, reconnect_timeout=10) as bus:
            with trio.fail_after(10):
                async for message in bus.subscribe("c1"):
                    got.append(message)
                    if isinstance(message, Synced) and message.epoch == first.epoch:
                        await first.aclose()
                        await nursery.start(second.serve)
                    elif isinstance(message, Synced):
                        second.publish_state("c1", "THAWED")
                    elif isinstance(message, StateEvent):
                        break
        await second.aclose()
    assert got == [
        SnapshotItem("c1", "RUNNING"),
        Synced(1, first.epoch),
        Reconnected("disconnected"),
        SnapshotItem("c1", "FROZEN"),
        Synced(0, second.epoch, True),
        StateEvent(1, got[-1].time, "c1", "THAWED"),
    ]


async def test_iter_many_multiplexes_two_servers(tmp_path) -> None:
    paths = [str(tmp_path / "a.sock"), str(tmp_path / "b.sock")]
    async with serving_bus(paths[0]) as a, serving_bus(paths[1]) as b:
        started = trio.Event()
        token = trio.lowlevel.current_trio_token()

        def blocking() -> list[tuple[int, str]]:
            subs = [BusClient(p).subscribe() for p in paths]
            index = {sub: i for i, sub in enumerate(subs)}
            got = []
            synced = 0
            try:
                for sub, message in iter_many(subs, time.monotonic() + 10):
                    if isinstance(message, Synced):
                        synced += 1
                        if synced == 2:
                            trio.from_thread.run_sync(started.set, trio_token=token)
                    elif isinstance(message, StateEvent):
                        got.append((index[sub], message.name))
                        if len(got) == 4:
                            return got
            finally:
                for sub in subs:
                    sub.close()
            return got

        async def drive() -> None:
            await started.wait()
            a.publish_state("a1", "RUNNING")
            b.publish_state("b1", "RUNNING")
            await trio.sleep(0.01)
            b.publish_state("b2", "RUNNING")
            a.publish_state("a2", "RUNNING")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(drive)
            got = await trio.to_thread.run_sync(blocking)
    assert sorted(got) == [(0, "a1"), (0, "a2"), (1, "b1"), (1, "b2")]


async def test_async_subscription_as_context_and_bus_closing(bus_path) -> None:
    async with serving_bus(bus_path) as server:
        async with open_bus(bus_path) as bus:
            async with bus.subscribe("a|b", states=["RUNNING"]) as sub:
                await until_synced(sub)
                server.publish_state("a", "STOPPED")  # not a wanted state
                server.publish_state("b", "RUNNING")
                event = await sub.__anext__()
                assert (event.name, event.state) == ("b", "RUNNING")
            left_open = bus.subscribe()
            await until_synced(left_open)
            await wait_until(lambda: server.subscriber_count == 1)
        # Leaving open_bus closed the subscription it still had.
        await wait_until(lambda: server.subscriber_count == 0)
        with pytest.raises(StopAsyncIteration):
            await left_open.__anext__()
