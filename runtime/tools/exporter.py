"""lxc-exporter's engine: the bus followed for state, cgroups read on scrape, a trio HTTP server.

Why this shape: the state of every container is already broadcast on the monitor
bus, so the exporter keeps it (and each container's exits) from there, live,
without polling; the figures that change all the time (CPU, memory, block I/O,
link counters) are read from the cgroup and /sys files on each scrape, as
lxc-info reads them (runtime.client.container_figures), so a scrape shows the value of
that moment; the daemon's own figures (supervised containers, restarts, bus
subscribers, events published, subscribers dropped) come from its `metrics`
control request (runtime.daemon.metrics), asked on each scrape.

The text is made by the official `prometheus_client` (a custom collector and
`generate_latest`), and served by a small HTTP/1.1 handler on trio's TCP server:
no thread. GET (or HEAD) `/metrics` gives the exposition text; `/` a line that
points there; anything else 404, a method other than GET/HEAD 405. A request is
at most MAX_REQUEST bytes and must arrive within REQUEST_TIMEOUT; every reply
closes the connection.

Metrics (`name` label: the container; counters end in `_total`):

    lxc_container_state{name,state}            1 for the current state, 0 for the others
    lxc_container_pid{name}                    the init's host pid (running ones)
    lxc_container_cpu_seconds_total{name}      CPU time of the container's cgroup
    lxc_container_cpu_mode_seconds_total{name,mode}   the same, user / system
    lxc_container_memory_bytes{name}           memory use of the cgroup
    lxc_container_kmem_bytes{name}, lxc_container_swap_bytes{name}   kernel memory, swap
    lxc_container_blkio_bytes_total{name,direction}   block I/O, read / write
    lxc_container_network_receive_bytes_total{name,link}   per host-side link, seen
    lxc_container_network_transmit_bytes_total{name,link}  from the container's side
    lxc_container_restarts_total{name}         reboots under the current supervisor
    lxc_container_exits_total{name}            exits seen on the bus (the daemon's
                                               ring of recent events included)
    lxc_container_last_exit_status{name}       code, or 128+N for signal N (bus figure)
    lxc_container_last_exit_signal{name}       the killing signal, 0 for an exit
    lxc_daemon_up                              1 when the daemon answered this scrape
    lxc_daemon_containers_supervised
    lxc_daemon_bus_subscribers
    lxc_daemon_bus_events_published_total      since the daemon started
    lxc_daemon_bus_subscribers_dropped_total   dropped for falling behind (overflow)
    lxc_exporter_bus_connected                 1 while following the bus (synced)
    lxc_exporter_bus_reconnects_total

Figures the host does not account (kmem on cgroup2, swap without accounting)
have no sample. A running container is one whose state is not STOPPED.
"""

from __future__ import annotations

import logging

import trio
from prometheus_client.registry import Collector

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from prometheus_client.metrics_core import Metric

    from bus.protocol import Message
    from runtime.client.control_protocol import MetricsReply, SupervisedFigures

log = logging.getLogger("trio-lxc.exporter")

DEFAULT_HOST = "127.0.0.1"
#: lxc-exporter's default port (not in any well-known list; chosen for this project).
DEFAULT_PORT = 9734
MAX_REQUEST = 8192
REQUEST_TIMEOUT = 10.0
#: Connections served at once; more are closed at once (a flood cannot pile up).
MAX_CONNECTIONS = 64


class ContainerBook:
    """What the bus has said: each container's state and its exits (sans IO)."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.exits: dict[str, int] = {}
        self.last_exit: dict[str, tuple[int, int]] = {}
        self.synced = False
        self.reconnects = 0

    def apply(self, message: Message) -> None:
        from bus.protocol import (
            CreatedEvent,
            DestroyedEvent,
            ExitEvent,
            Reconnected,
            SnapshotItem,
            StateEvent,
            Synced,
        )

        if isinstance(message, (StateEvent, SnapshotItem)):
            self.states[message.name] = message.state
        elif isinstance(message, ExitEvent):
            self.exits[message.name] = self.exits.get(message.name, 0) + 1
            self.last_exit[message.name] = (message.status, message.signal or 0)
        elif isinstance(message, CreatedEvent):
            self.states.setdefault(message.name, "STOPPED")
        elif isinstance(message, DestroyedEvent):
            for table in (self.states, self.exits, self.last_exit):
                table.pop(message.name, None)
        elif isinstance(message, Synced):
            self.synced = True
        elif isinstance(message, Reconnected):
            self.synced = False
            self.reconnects += 1


class Scrape(Collector):
    """One scrape's worth of figures, as a prometheus_client collector."""

    def __init__(self, lxcpath: str, book: ContainerBook, daemon: MetricsReply | None) -> None:
        self.lxcpath = lxcpath
        self.book = book
        self.daemon = daemon

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        from bus.protocol import VALID_STATES
        from runtime.client.container_figures import cgroup_figures, link_figures
        from runtime.client.status import container_status
        from runtime.net.info import read_record

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ("name",)) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=list(labels))

        def counter(name: str, doc: str, labels: tuple[str, ...] = ("name",)) -> CounterMetricFamily:
            return CounterMetricFamily(name, doc, labels=list(labels))

        state = gauge("lxc_container_state", "Container state (1: current).", ("name", "state"))
        pid = gauge("lxc_container_pid", "Host pid of the container's init.")
        cpu = counter("lxc_container_cpu_seconds", "CPU time of the container's cgroup.")
        cpu_mode = counter(
            "lxc_container_cpu_mode_seconds", "CPU time by mode.", ("name", "mode")
        )
        memory = gauge("lxc_container_memory_bytes", "Memory use of the container's cgroup.")
        kmem = gauge("lxc_container_kmem_bytes", "Kernel memory use (cgroup v1 only).")
        swap = gauge("lxc_container_swap_bytes", "Swap use of the container's cgroup.")
        blkio = counter(
            "lxc_container_blkio_bytes", "Block I/O bytes by direction.", ("name", "direction")
        )
        rx = counter(
            "lxc_container_network_receive_bytes",
            "Bytes received by the container on a link.",
            ("name", "link"),
        )
        tx = counter(
            "lxc_container_network_transmit_bytes",
            "Bytes sent by the container on a link.",
            ("name", "link"),
        )
        restarts = counter("lxc_container_restarts", "Reboots under the current supervisor.")
        exits = counter("lxc_container_exits", "Exits of the container's init seen on the bus.")
        last_status = gauge(
            "lxc_container_last_exit_status", "Last exit: the code, or 128+N for signal N."
        )
        last_signal = gauge("lxc_container_last_exit_signal", "Signal of the last exit (0: none).")

        supervised: dict[str, SupervisedFigures] = {}
        if self.daemon is not None:
            supervised = {item.name: item for item in self.daemon.containers}
        book = self.book
        for name in sorted(set(book.states) | set(supervised)):
            current = book.states.get(name) or supervised[name].state
            for value in VALID_STATES:
                state.add_metric([name, value], 1.0 if value == current else 0.0)
            if name in supervised:
                restarts.add_metric([name], float(supervised[name].restarts))
            if name in book.exits:
                exits.add_metric([name], float(book.exits[name]))
                status, signal = book.last_exit[name]
                last_status.add_metric([name], float(status))
                last_signal.add_metric([name], float(signal))
            if current == "STOPPED":
                continue
            status_now = container_status(self.lxcpath, name)
            if not status_now.pid:
                continue
            pid.add_metric([name], float(status_now.pid))
            values = cgroup_figures(status_now.cgroups)
            if values["cpu_ns"] is not None:
                cpu.add_metric([name], values["cpu_ns"] / 1e9)
            for mode in ("user", "system"):
                ns = values[f"cpu_{mode}_ns"]
                if ns is not None:
                    cpu_mode.add_metric([name, mode], ns / 1e9)
            for family, key in ((memory, "memory_bytes"), (kmem, "kmem_bytes"), (swap, "swap_bytes")):
                figure = values[key]
                if figure is not None:
                    family.add_metric([name], float(figure))
            for direction in ("read", "write"):
                count = values[f"blkio_{direction}_bytes"]
                if count is not None:
                    blkio.add_metric([name, direction], float(count))
            for link in link_figures(read_record(self.lxcpath, name)):
                received, sent = link["rx_bytes"], link["tx_bytes"]
                if isinstance(received, int) and isinstance(sent, int):
                    rx.add_metric([name, str(link["link"])], float(received))
                    tx.add_metric([name, str(link["link"])], float(sent))
        yield from (state, pid, cpu, cpu_mode, memory, kmem, swap, blkio, rx, tx)
        yield from (restarts, exits, last_status, last_signal)

        up = GaugeMetricFamily("lxc_daemon_up", "1 when the runtime daemon answered.")
        up.add_metric([], 1.0 if self.daemon is not None else 0.0)
        yield up
        if self.daemon is not None:
            daemon = self.daemon
            supervised_count = GaugeMetricFamily(
                "lxc_daemon_containers_supervised", "Containers the daemon supervises."
            )
            supervised_count.add_metric([], float(len(supervised)))
            subscribers = GaugeMetricFamily("lxc_daemon_bus_subscribers", "Bus subscribers now.")
            subscribers.add_metric([], float(daemon.bus_subscribers))
            published = CounterMetricFamily(
                "lxc_daemon_bus_events_published", "Events published since the daemon started."
            )
            published.add_metric([], float(daemon.events_published))
            dropped = CounterMetricFamily(
                "lxc_daemon_bus_subscribers_dropped", "Subscribers dropped for falling behind."
            )
            dropped.add_metric([], float(daemon.bus_dropped))
            yield from (supervised_count, subscribers, published, dropped)
        connected = GaugeMetricFamily("lxc_exporter_bus_connected", "1 while following the bus.")
        connected.add_metric([], 1.0 if book.synced else 0.0)
        reconnects = CounterMetricFamily("lxc_exporter_bus_reconnects", "Bus reconnections.")
        reconnects.add_metric([], float(book.reconnects))
        yield from (connected, reconnects)


def exposition(lxcpath: str, book: ContainerBook, daemon: MetricsReply | None) -> bytes:
    """The Prometheus text of one scrape."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Scrape(lxcpath, book, daemon))
    return generate_latest(registry)


class Exporter:
    """Follows one lxcpath's bus and serves scrapes of it."""

    def __init__(self, lxcpath: str, bus_socket: Callable[[], str]) -> None:
        self.lxcpath = lxcpath
        self.bus_socket = bus_socket
        self.book = ContainerBook()
        self.connections = trio.CapacityLimiter(MAX_CONNECTIONS)
        self.scraping = trio.Lock()  # one scrape at a time asks the daemon

    async def follow_bus(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep `book` up to date; started() once the first snapshot is in."""
        from bus.aclient import open_bus
        from bus.protocol import Synced

        started = False
        async with open_bus(self.bus_socket, reconnect_timeout=None) as bus:
            async for message in bus.subscribe(".*", since=0):
                self.book.apply(message)
                if not started and isinstance(message, Synced):
                    started = True
                    task_status.started()

    async def daemon_figures(self) -> MetricsReply | None:
        """The daemon's `metrics` reply, or None when it does not answer."""
        from runtime.client.control_protocol import Metrics
        from runtime.client.errors import LxcError
        from runtime.daemon.control_async import AsyncClient

        try:
            with trio.fail_after(5):
                return await AsyncClient(self.lxcpath).call(Metrics())
        except (LxcError, OSError, trio.TooSlowError) as err:
            log.warning("the runtime daemon did not answer: %s", err)
            return None

    async def scrape(self) -> bytes:
        async with self.scraping:
            return exposition(self.lxcpath, self.book, await self.daemon_figures())

    async def handle(self, stream: trio.abc.Stream) -> None:
        """One HTTP connection: one request, one reply, then close. A failure while
        answering is a 500 for this client, never the end of the exporter."""
        try:
            self.connections.acquire_nowait()
        except trio.WouldBlock:
            await trio.aclose_forcefully(stream)
            return
        try:
            with trio.move_on_after(REQUEST_TIMEOUT):
                request = await _read_head(stream)
                if request is None:
                    return
                method, target = request
                try:
                    reply = await self.respond(method, target)
                except Exception:  # noqa: BLE001 - logged; the client gets a 500
                    log.exception("answering %s %s failed", method, target)
                    reply = _reply(500, "text/plain", b"internal error\n", method)
                await stream.send_all(reply)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            self.connections.release()
            await trio.aclose_forcefully(stream)

    async def respond(self, method: str, target: str) -> bytes:
        import prometheus_client.exposition as exposition_module

        # The text format every Prometheus reads (version 0.0.4), which is what
        # generate_latest writes; newer libraries call a 1.0.0 header "latest".
        content_type = getattr(
            exposition_module, "CONTENT_TYPE_PLAIN_0_0_4", exposition_module.CONTENT_TYPE_LATEST
        )
        path = target.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return _reply(405, "text/plain", b"method not allowed\n", method, ("Allow: GET, HEAD",))
        if path == "/metrics":
            return _reply(200, content_type, await self.scrape(), method)
        if path == "/":
            return _reply(200, "text/plain", b"lxc-exporter: metrics at /metrics\n", method)
        return _reply(404, "text/plain", b"not found\n", method)

    async def serve(
        self,
        listeners: list[trio.SocketListener],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Follow the bus, then serve on `listeners` (trio.open_tcp_listeners) until cancelled."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.follow_bus)
            await nursery.start(trio.serve_listeners, self.handle, listeners)
            task_status.started()


_REASONS = {
    200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
    500: "Internal Server Error",
}  # fmt: skip


def _reply(
    code: int, content_type: str, body: bytes, method: str, extra: tuple[str, ...] = ()
) -> bytes:
    head = [
        f"HTTP/1.1 {code} {_REASONS[code]}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + (b"" if method == "HEAD" else body)


async def _read_head(stream: trio.abc.Stream) -> tuple[str, str] | None:
    """(method, target) of the request, or None (closed, too long or malformed:
    a 400 has been sent for the last two)."""
    data = b""
    while b"\r\n\r\n" not in data and b"\n\n" not in data:
        if len(data) > MAX_REQUEST:
            await stream.send_all(_reply(400, "text/plain", b"request too long\n", "GET"))
            return None
        chunk = await stream.receive_some(4096)
        if not chunk:
            return None
        data += chunk
    words = data.split(b"\n", 1)[0].decode("latin-1").split()
    if len(words) != 3 or not words[2].startswith("HTTP/"):
        await stream.send_all(_reply(400, "text/plain", b"bad request\n", "GET"))
        return None
    return words[0], words[1]
