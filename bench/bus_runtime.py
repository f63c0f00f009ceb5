"""The monitor bus through the runtime: 100 containers cycling, 50 subscribers; and LXC beside it.

Issue 4's benchmark. bench/bus.py measures the bus alone, with made-up events; here
the events are real transitions of real containers.

Part 1 (ours, the issue's figures). N busybox containers (default 100) each run C
times (default 3) as application containers running /bin/true, all N at once,
started through `runtime.api.Runtime` from one trio program (each start is an
`lxc-execute -d` request; the driver learns each STOPPED from its own bus
subscription and starts the next cycle). S subscriber processes (default 50) use
the blocking bus client as `lxc-monitor` does and check:
- nothing lost or reordered: every container's events are STARTING RUNNING exit
  STOPPING STOPPED, C times, complete and in this order, in every subscriber, and
  the sequence numbers have no gap;
- delay from the transition to the subscriber's receipt: the event carries its own
  timestamp (taken by the daemon when it publishes the transition); the
  subscriber compares it with its clock when the event is decoded;
- events per second: events published over the time from the first start to the
  last STOPPED, and deliveries per second to all subscribers.

Each subscriber runs in its own session (`--shared-session`: all in the bench's),
as monitors started from their own shells or units do. With
kernel.sched_autogroup_enabled = 1 (this machine) every session is one entity to
the CPU scheduler and every container init calls setsid, so 50 subscribers in one
session share a single CPU slot against each starting container: that alone was
most of the 37 ms p99 issue 15 reported (one session: p99 31-55 ms; one each:
6-9 ms, same code, same run conditions). `--subscriber lean` replaces the
blocking client with a bare reader (one recv per wake-up, one json decode per
line), to tell the client's cost from the cost of waking 50 Python processes.

Where the rest goes (2 vCPUs shared with other work, issue 15; measured with
temporary probes: timestamps and RUSAGE_THREAD in BusServer._publish and around
the supervisor's transition, a wake-up timestamp in the subscribers, and `perf
sched timehist`). Before bus.sched: the fan-out of one event cost ~0.3 ms of the
daemon's CPU but took 2 ms of wall time at the median and 5-9 ms at p99, preempted
7-30 times in the middle of its 50 writes (every write wakes a subscriber, which
is pulled towards the writer's CPU and preempts it); and a preemption that delays
one event delays all 50 of its deliveries at once, which is what fills the p99.
Now the writes run as SCHED_FIFO (fan-out wall = its CPU, ~0.3 ms, p99 < 1 ms)
and the subscribers ask for a short slice (back to back with the code before, on
the machine loaded by other work, load average ~20: p99 12-14.5 ms before,
6.5-7.7 ms after; without the slice 9.4-11 ms); what is left is the subscribers'
wait for a CPU after the write: `perf sched` shows their wake-up-to-run delay at
p50 1.2 ms, p99 7 ms, with both CPUs busy (no idle time) with the containers'
start/stop work and, on this shared machine, other programs. A subscriber's own
work per event is ~0.1 ms a wake-up (~0.05 ms of it Python, recv to decoded).
Not in the figure: the event's timestamp is taken when the daemon publishes,
after the transition's record file is written (or removed); with /run on ext4
(this VM) that step took p50 0.2-1.5 ms, p99 5-10 ms of wall time for 0.1-0.4 ms of
CPU; on tmpfs p50 0.03-0.12 ms.

Part 2 (side by side, the same cycle through the commands, for ours and for LXC
5.0.2 in /usr/bin): N containers x C2 cycles of `lxc-execute -n X -- /bin/true`,
K at a time, while M `lxc-monitor -n REGEX` processes print LXC's lines. LXC's
lxc-monitor prints no timestamps, so for both tools the bench timestamps each
line when it arrives on the monitor's stdout pipe, and the delay is the receipt
of a container's STOPPED line minus the moment that cycle's `lxc-execute`
returned (negative when the line came first). It also counts lost and
out-of-order lines per monitor.

Set-up (not measured): one busybox container is made with each tool's
`lxc-create -t busybox`; the N bench containers are config files naming that
container's rootfs (each with its own lxc.uts.name), so the set-up takes no
minute of copying. Names are unique per run (cgroup names are global).

Run as root, under a subreaper (this VM's pid 1 does not reap):
`.venv/bin/python -m runtime.tools.subreaper -- .venv/bin/python bench/bus_runtime.py
[--containers 100] [--cycles 3] [--subscribers 50] [--concurrency N] [--cli-cycles 2]
[--cli-concurrency 10] [--monitors 50] [--no-lxc] [--subscriber client|lean]
[--shared-session] [--no-slice]`. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BIN = Path(sys.executable).parent
LXC = Path("/usr/bin")
CONF = "lxc.net.0.type = empty\n"
SEQUENCE = ("STARTING", "RUNNING", "exit", "STOPPING", "STOPPED")
MS = 1000.0


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


# -- set-up ------------------------------------------------------------------------------


def make_containers(tools: Path, lxcpath: str, base: str, names: list[str], env: dict[str, str]) -> None:
    """One busybox container made by the tool, and N configs sharing its rootfs."""
    os.makedirs(lxcpath, exist_ok=True)
    conf = os.path.join(os.path.dirname(lxcpath), f"{os.path.basename(lxcpath)}.conf")
    Path(conf).write_text(CONF)
    subprocess.run(
        [str(tools / "lxc-create"), "-P", lxcpath, "-n", base, "-t", "busybox", "-f", conf],
        env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    template = Path(lxcpath, base, "config").read_text()
    for name in names:
        os.mkdir(os.path.join(lxcpath, name))
        text = re.sub(r"(?m)^lxc\.uts\.name\s*=.*$", f"lxc.uts.name = {name}", template)
        Path(lxcpath, name, "config").write_text(text)


# -- part 1: the runtime's bus with 50 subscriber processes ----------------------------------


def lean_child(socket_path: str, regex: str, containers: int, cycles: int, timeout: float) -> int:
    """A lean subscriber process: one blocking recv per wake-up, one json decode per line.

    It speaks the same protocol as the blocking client (a `subscribe` line, then JSON
    lines) without its reconnect, filter and deadline bookkeeping, so what it costs
    per event is close to what any Python process costs to wake and read a line: the
    bench's floor for 50 Python subscribers on this machine's CPUs.
    """
    import socket

    from bus.protocol import Filter, Subscribe, encode
    from bus.sched import prefer_short_slice

    if os.environ.get("TRIO_LXC_BENCH_SLICE") != "0":
        prefer_short_slice()  # as lxc-monitor does

    expected = containers * cycles * len(SEQUENCE)
    tokens: dict[str, list[str]] = {}
    delays: list[float] = []
    gaps = backwards = 0
    last: int | None = None
    overflowed = timed_out = False
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(socket_path)
    signal.alarm(max(1, int(timeout)))  # the safety net: a blocking recv per wake-up, no poll
    sock.sendall(encode(Subscribe.for_filter(Filter(regex))))
    loads = json.loads
    now = time.time
    buffer = b""
    try:
        while len(delays) < expected:
            data = sock.recv(65536)
            if not data:
                break
            received = now()
            *lines, buffer = (buffer + data).split(b"\n")
            for line in lines:
                message = loads(line)
                kind = message["type"]
                if kind == "state" or kind == "exit":
                    delays.append(received - message["time"])
                    seq = message["seq"]
                    if last is not None:
                        if seq > last + 1:
                            gaps += seq - last - 1
                        elif seq <= last:
                            backwards += 1
                    last = seq
                    token = message["state"] if kind == "state" else "exit"
                    tokens.setdefault(message["name"], []).append(token)
                elif kind == "synced":
                    last = message["seq"]
                    sys.stdout.write("ready\n")
                    sys.stdout.flush()
                elif kind == "overflow":
                    overflowed = True
    except TimeoutError:
        timed_out = True
    sock.close()
    linger()
    return _report(expected, containers, cycles, tokens, delays, gaps, backwards, overflowed, timed_out)


def child(socket_path: str, regex: str, containers: int, cycles: int, timeout: float) -> int:
    """A subscriber process: the blocking client, as lxc-monitor uses it."""
    from bus.client import BusClient
    from bus.protocol import BusOverflow, BusTimeout, ExitEvent, StateEvent, Synced
    from bus.sched import prefer_short_slice

    if os.environ.get("TRIO_LXC_BENCH_SLICE") != "0":
        prefer_short_slice()  # as lxc-monitor does

    expected = containers * cycles * len(SEQUENCE)
    tokens: dict[str, list[str]] = {}
    delays: list[float] = []
    gaps = backwards = 0
    last: int | None = None
    overflowed = timed_out = False
    # No deadline, as lxc-monitor has none (the client then waits in one blocking recv per
    # wake-up); SIGALRM is the safety net.
    signal.alarm(max(1, int(timeout)))
    try:
        with BusClient(socket_path).subscribe(regex, reconnect=False) as sub:
            for message in sub:
                if isinstance(message, StateEvent | ExitEvent):
                    delays.append(time.time() - message.time)
                    if last is not None:
                        if message.seq > last + 1:
                            gaps += message.seq - last - 1
                        elif message.seq <= last:
                            backwards += 1
                    last = message.seq
                    token = message.state if isinstance(message, StateEvent) else "exit"
                    tokens.setdefault(message.name, []).append(token)
                    if len(delays) >= expected:
                        break
                elif isinstance(message, Synced):
                    last = message.seq
                    sys.stdout.write("ready\n")
                    sys.stdout.flush()
    except BusOverflow:
        overflowed = True
    except BusTimeout:
        timed_out = True
    linger()
    return _report(expected, containers, cycles, tokens, delays, gaps, backwards, overflowed, timed_out)


def linger() -> None:
    """Wait a moment after the last event: this process's exit work (a JSON line of every
    delay, the interpreter's teardown) would otherwise compete for the CPUs with the
    subscribers still due that event, and show as a 100 ms `max` that is the bench's."""
    time.sleep(1.0)


def _report(
    expected: int, containers: int, cycles: int, tokens: dict[str, list[str]], delays: list[float],
    gaps: int, backwards: int, overflowed: bool, timed_out: bool,
) -> int:  # fmt: skip
    """Print one subscriber's summary (a JSON line) for the bench to collect."""
    want = list(SEQUENCE) * cycles
    summary = {
        "count": len(delays),
        "lost": expected - len(delays) + gaps,
        "gaps": gaps,
        "backwards": backwards,
        "out_of_order": sum(1 for seen in tokens.values() if seen != want[: len(seen)]),
        "incomplete": containers - sum(1 for seen in tokens.values() if seen == want),
        "overflowed": overflowed,
        "timed_out": timed_out,
        "delays": [round(d, 6) for d in delays],
    }
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


async def drive(lxcpath: str, names: list[str], cycles: int, concurrency: int) -> dict[str, float]:
    """Run every container `cycles` times, `concurrency` runs at a time (all: every
    container at once); return when the last one stopped."""
    import trio

    from bus.aclient import open_bus
    from bus.protocol import StateEvent, Synced
    from runtime.client.control_protocol import Start
    from runtime.client.daemon_client import bus_socket_path
    from runtime.client.lxcpath import ContainerPaths
    from runtime.daemon.control_async import AsyncClient

    client = AsyncClient(lxcpath)
    limiter = trio.CapacityLimiter(concurrency)
    stopped = dict.fromkeys(names, 0)
    changed = {name: trio.Event() for name in names}
    synced = trio.Event()
    timings: dict[str, float] = {}

    async def follow() -> None:
        async with open_bus(bus_socket_path(lxcpath)) as bus:
            async for message in bus.subscribe("|".join(map(re.escape, names)), states={"STOPPED"}):
                if isinstance(message, Synced):
                    synced.set()
                elif isinstance(message, StateEvent) and message.state == "STOPPED":
                    stopped[message.name] += 1
                    changed[message.name].set()
                    changed[message.name] = trio.Event()

    async def cycle(name: str) -> None:
        request = Start(
            name=name, mode="application", argv=("/bin/true",),
            config_path=ContainerPaths(lxcpath, name).config,
        )  # fmt: skip
        for done in range(cycles):
            async with limiter:
                await client.call(request)
                while stopped[name] <= done:
                    await changed[name].wait()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(follow)
        await synced.wait()
        began = time.time()
        with trio.fail_after(600):
            async with trio.open_nursery() as cycles_nursery:
                for name in names:
                    cycles_nursery.start_soon(cycle, name)
        timings["began"] = began
        timings["ended"] = time.time()
        nursery.cancel_scope.cancel()
    return timings


def part1(args: argparse.Namespace, lxcpath: str, names: list[str], regex: str) -> dict[str, object]:
    import trio

    from runtime.client.daemon_client import bus_socket_path, connect

    connect(lxcpath).close()  # start the daemon (and the spawner) before anything is timed
    expected = len(names) * args.cycles * len(SEQUENCE)
    # Each subscriber in its own session, as monitors started from their own shells or
    # units are: with kernel.sched_autogroup_enabled (1 here) every session is one
    # entity to the CPU scheduler, and container inits call setsid, so 50 subscribers
    # sharing the bench's session would share one CPU slot against every starting
    # container (p99 31 ms instead of 6.5 ms under churn, measured). report.py's
    # args have neither option: the defaults hold.
    shared = getattr(args, "shared_session", False)
    lean = getattr(args, "subscriber", "client") == "lean"
    env = dict(os.environ, TRIO_LXC_BENCH_LEAN="1" if lean else "0")
    if getattr(args, "no_slice", False):
        env["TRIO_LXC_BENCH_SLICE"] = "0"
    children = []
    for _ in range(args.subscribers):
        children.append(
            subprocess.Popen(
                [sys.executable, __file__, "--child", bus_socket_path(lxcpath), regex,
                 str(len(names)), str(args.cycles), "600"],
                stdout=subprocess.PIPE, text=True, start_new_session=not shared, env=env,
            )  # fmt: skip
        )
    for process in children:
        assert process.stdout is not None
        line = process.stdout.readline()
        if line != "ready\n":
            raise SystemExit(f"a subscriber did not start: {line!r}")
    cpu_before = host_cpu()
    timings = trio.run(drive, lxcpath, names, args.cycles, args.concurrency or len(names))
    cpu_after = host_cpu()
    results = []
    for process in children:
        out, _ = process.communicate(timeout=120)
        results.append(json.loads(out.splitlines()[-1]))
    delays = [d for r in results for d in r["delays"]]
    duration = timings["ended"] - timings["began"]
    return {
        "events": expected,
        "duration": duration,
        "events_per_s": expected / duration,
        "deliveries_per_s": len(delays) / duration,
        "deliveries": len(delays),
        "lost": sum(r["lost"] for r in results),
        "gaps": sum(r["gaps"] for r in results),
        "reordered": sum(r["backwards"] + r["out_of_order"] for r in results),
        "incomplete": sum(r["incomplete"] for r in results),
        "overflowed": sum(1 for r in results if r["overflowed"]),
        "timed_out": sum(1 for r in results if r["timed_out"]),
        "p50": statistics.median(delays) if delays else float("nan"),
        "p99": percentile(delays, 0.99),
        "max": max(delays) if delays else float("nan"),
        "busy": busy_fraction(cpu_before, cpu_after),
    }


def host_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_fraction(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else float("nan")


# -- part 2: lxc-monitor processes and lxc-execute, ours and LXC's ----------------------------------


class MonitorReader:
    """M `lxc-monitor` processes; a thread timestamps every line as it arrives."""

    LINE = re.compile(r"^'(.*)' (?:changed state to \[(\w+)\]|exited with status \[(\d+)\])$")

    def __init__(self, tools: Path, lxcpath: str, regex: str, count: int, env: dict[str, str]) -> None:
        self.processes = [
            subprocess.Popen(
                [str(tools / "lxc-monitor"), "-P", lxcpath, "-n", regex],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            for _ in range(count)
        ]
        #: Per monitor: (receipt time, name, token) in order of arrival.
        self.lines: list[list[tuple[float, str, str]]] = [[] for _ in self.processes]
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        selector = selectors.DefaultSelector()
        partial = {}
        for index, process in enumerate(self.processes):
            assert process.stdout is not None
            fd = process.stdout.fileno()
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ, index)
            partial[index] = b""
        while not self._stop and selector.get_map():
            for key, _ in selector.select(0.1):
                now = time.time()
                index = key.data
                try:
                    data = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if not data:
                    selector.unregister(key.fd)
                    continue
                *complete, partial[index] = (partial[index] + data).split(b"\n")
                for raw in complete:
                    match = self.LINE.match(raw.decode())
                    if match:
                        name, state, status = match.groups()
                        self.lines[index].append((now, name, state or "exit"))

    def count(self, name: str, token: str) -> int:
        return min(sum(1 for _, n, t in lines if n == name and t == token) for lines in self.lines)

    def wait_for(self, name: str, token: str, times: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count(name, token) >= times:
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            process.wait()
        self._stop = True
        self._thread.join(5)
        for process in self.processes:
            if process.stdout is not None:
                process.stdout.close()


STATES = ("STARTING", "RUNNING", "STOPPING", "STOPPED")
LXC_TRACE = re.compile(r'^\S+ \S+ (\d{14}\.\d{3}) TRACE .*Set container state to "?([A-Z]+)"?\s*$')


def lxc_transitions(log: str) -> dict[str, float]:
    """When LXC set each state, from `lxc-execute -l TRACE -o LOG` (UTC, milliseconds)."""
    import calendar

    found: dict[str, float] = {}
    try:
        text = Path(log).read_text(errors="replace")
    except OSError:
        return found
    for line in text.splitlines():
        match = LXC_TRACE.match(line)
        if match and match.group(2) not in found:
            stamp = match.group(1)
            moment = time.strptime(stamp[:14], "%Y%m%d%H%M%S")
            found[match.group(2)] = calendar.timegm(moment) + int(stamp[15:]) / 1000
    return found


def our_transitions(json_log: str) -> dict[tuple[str, int, str], float]:
    """When our daemon published each state, from a `lxc-monitor --format json` log."""
    found: dict[tuple[str, int, str], float] = {}
    counts: dict[tuple[str, str], int] = {}
    for line in Path(json_log).read_text().splitlines():
        message = json.loads(line)
        if message.get("type") == "state":
            key = (message["name"], message["state"])
            cycle = counts.get(key, 0)
            counts[key] = cycle + 1
            found[(message["name"], cycle, message["state"])] = message["time"]
    return found


def part2(
    tools: Path, lxcpath: str, names: list[str], warm: str, regex: str,
    args: argparse.Namespace, env: dict[str, str], workdir: str,
) -> dict[str, object]:  # fmt: skip
    """M lxc-monitors of one tool while its lxc-execute cycles the containers."""
    ours = tools == BIN
    execute = [str(tools / "lxc-execute"), "-P", lxcpath]
    logs = os.path.join(workdir, "logs")
    os.makedirs(logs, exist_ok=True)
    json_log = os.path.join(workdir, "events.json")
    recorder = None
    if ours:  # the publication times, from the bus itself
        with open(json_log, "w") as out:
            recorder = subprocess.Popen(
                [str(tools / "lxc-monitor"), "-P", lxcpath, "-n", regex, "--format", "json"],
                env=env, stdout=out, stderr=subprocess.DEVNULL,
            )  # fmt: skip
    monitors = MonitorReader(tools, lxcpath, regex, args.monitors, env)
    returned: dict[tuple[str, int], float] = {}
    transitions: dict[tuple[str, int, str], float] = {}
    failures = 0
    reasons: list[str] = []
    try:
        # Warm up until every monitor prints: then all of them are subscribed.
        for _attempt in range(30):
            subprocess.run([*execute, "-n", warm, "--", "/bin/true"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            if monitors.wait_for(warm, "STOPPED", 1, 1.0) and (
                not ours or '"STOPPED"' in Path(json_log).read_text()
            ):
                break
        else:
            raise SystemExit(f"{tools}/lxc-monitor never printed anything")
        jobs = [(name, c) for c in range(args.cli_cycles) for name in names]
        lock = threading.Lock()
        busy = {name: threading.Lock() for name in names}

        def worker() -> None:
            nonlocal failures
            while True:
                with lock:
                    if not jobs:
                        return
                    name, c = jobs.pop(0)
                # LXC says when it set each state only in its TRACE log.
                trace = [] if ours else ["-l", "TRACE", "-o", os.path.join(logs, f"{name}.{c}")]
                with busy[name]:
                    result = subprocess.run(
                        [*execute, "-n", name, *trace, "--", "/bin/true"], env=env,
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                    )  # fmt: skip
                    returned[(name, c)] = time.time()
                    if result.returncode != 0:
                        with lock:
                            failures += 1
                            reasons.append(f"{name}: exit {result.returncode}: {result.stderr.strip()}")

        began = time.time()
        threads = [threading.Thread(target=worker) for _ in range(args.cli_concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        duration = time.time() - began
        deadline = time.monotonic() + 30
        for name in names:
            monitors.wait_for(name, "STOPPED", args.cli_cycles, max(0.0, deadline - time.monotonic()))
        time.sleep(0.3)
    finally:
        monitors.close()
        if recorder is not None:
            recorder.kill()
            recorder.wait()
    if ours:
        transitions = our_transitions(json_log)
    else:
        for name in names:
            for c in range(args.cli_cycles):
                for state, at in lxc_transitions(os.path.join(logs, f"{name}.{c}")).items():
                    transitions[(name, c, state)] = at
    want = list(SEQUENCE) * args.cli_cycles
    delays, after_return, lost, reordered, unmatched = [], [], 0, 0, 0
    for lines in monitors.lines:
        for name in names:
            seen = [token for _, n, token in lines if n == name]
            lost += max(0, len(want) - len(seen))
            if seen != want[: len(seen)]:
                reordered += 1
            counts: dict[str, int] = {}
            for at, n, token in lines:
                if n != name or token not in STATES:
                    continue
                c = counts.get(token, 0)
                counts[token] = c + 1
                published = transitions.get((name, c, token))
                if published is None:
                    unmatched += 1
                else:
                    delays.append(at - published)
                if token == "STOPPED" and (name, c) in returned:
                    after_return.append(at - returned[(name, c)])
    return {
        "runs": len(names) * args.cli_cycles,
        "failures": failures,
        "reasons": reasons,
        "runs_per_s": len(names) * args.cli_cycles / duration,
        "lost": lost,
        "reordered": reordered,
        "unmatched": unmatched,
        "lines": len(delays),
        "p50": statistics.median(delays) if delays else float("nan"),
        "p99": percentile(delays, 0.99),
        "max": max(delays) if delays else float("nan"),
        "ret_p50": statistics.median(after_return) if after_return else float("nan"),
        "ret_p99": percentile(after_return, 0.99),
    }


# -- clean-up ----------------------------------------------------------------------------------------


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if text.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


def shutdown_ours(lxcpath: str, run_root: str) -> None:
    from runtime.client.control_protocol import Shutdown
    from runtime.client.daemon_client import daemon_running, open_connection

    if daemon_running(lxcpath):
        try:
            connection = open_connection(lxcpath, autostart=False)
            connection.call(Shutdown())
            connection.close()
        except Exception:  # noqa: BLE001 - the kill below
            pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and processes_mentioning(run_root):
        reap()
        time.sleep(0.05)
    for pid in processes_mentioning(run_root):
        os.kill(pid, signal.SIGKILL)


def stop_lxc_monitord(lxcpath: str) -> None:
    """LXC's lxc-monitor started an lxc-monitord for the lxcpath; it is ours to stop."""
    for pid in processes_mentioning(lxcpath):
        try:
            if b"lxc-monitord" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGTERM)
        except OSError:
            pass


def reap() -> None:
    """Collect every exited child (daemons, lxc-monitord: we are their subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def leftover_cgroups(tag: str) -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/*/lxc.*{tag}*")


# -- main ------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument(
        "--concurrency", type=int, default=0, help="part 1: runs at a time (default: all)"
    )
    parser.add_argument("--cli-cycles", type=int, default=2, help="0: skip part 2")
    parser.add_argument("--cli-concurrency", type=int, default=10)
    parser.add_argument("--monitors", type=int, default=50)
    parser.add_argument("--no-lxc", action="store_true", help="skip LXC's side")
    parser.add_argument(
        "--subscriber", choices=("client", "lean"), default="client",
        help="part 1's subscribers: the blocking client (as lxc-monitor), or a lean reader",
    )  # fmt: skip
    parser.add_argument(
        "--shared-session", action="store_true",
        help="part 1: all subscribers in the bench's session (one autogroup), not one each",
    )  # fmt: skip
    parser.add_argument(
        "--no-slice", action="store_true",
        help="part 1: subscribers keep the default scheduler slice (lxc-monitor asks for a short one)",
    )  # fmt: skip
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        socket_path, regex, containers, cycles, timeout = args.child
        run = lean_child if os.environ.get("TRIO_LXC_BENCH_LEAN") == "1" else child
        return run(socket_path, regex, int(containers), int(cycles), float(timeout))

    from runtime.kernel import linux

    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    tag = "bus" + os.urandom(3).hex()
    names = [f"{tag}n{i:03d}" for i in range(args.containers)]
    warm, base = f"{tag}warm", f"{tag}base"
    regex = f"{tag}n.*|{warm}"
    report: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="trio-lxc-bus-runtime-") as tmp:
        ours = os.path.join(tmp, "ours")
        run_root = os.path.join(tmp, "run")
        os.environ["TRIO_LXC_RUNDIR"] = run_root
        os.environ["TRIO_LXC_DAEMON_IDLE"] = "30"
        env = dict(os.environ)
        try:
            make_containers(BIN, ours, base, [*names, warm], env)
            report["part1"] = part1(args, ours, names, regex)
            if args.cli_cycles:
                report["ours"] = part2(BIN, ours, names, warm, regex, args, env, os.path.join(tmp, "w1"))
        finally:
            shutdown_ours(ours, run_root)
            reap()
        if args.cli_cycles and not args.no_lxc and (LXC / "lxc-execute").exists():
            theirs = os.path.join(tmp, "lxc")
            lxc_env = {k: v for k, v in os.environ.items() if not k.startswith("TRIO_LXC")}
            try:
                make_containers(LXC, theirs, base, [*names, warm], lxc_env)
                report["LXC"] = part2(
                    LXC, theirs, names, warm, regex, args, lxc_env, os.path.join(tmp, "w2")
                )
            finally:
                stop_lxc_monitord(theirs)
                time.sleep(0.5)
                reap()
                shutil.rmtree(theirs, ignore_errors=True)
    for path in sorted(leftover_cgroups(tag), key=len, reverse=True):
        try:
            os.rmdir(path)
        except OSError:
            pass

    one = report["part1"]
    print(
        f"part 1 - ours: {args.containers} containers x {args.cycles} cycles "
        "(application containers running /bin/true, through runtime.api, "
        + (f"{args.concurrency} at a time), " if args.concurrency else "all at once), ")
        + f"{args.subscribers} subscriber processes ("
        + ("the blocking bus client, as lxc-monitor" if args.subscriber == "client" else "lean readers")
        + (", all in one session)" if args.shared_session else ", each in its own session)")
    )
    print(
        f"  {one['events']} events in {one['duration']:.2f} s: {one['events_per_s']:.0f} events/s "
        f"published, {one['deliveries_per_s']:.0f} deliveries/s ({one['deliveries']} in all)"
    )
    print(
        f"  lost {one['lost']} (sequence gaps {one['gaps']}), reordered {one['reordered']}, "
        f"containers incomplete {one['incomplete']}, overflows {one['overflowed']}, "
        f"timed out {one['timed_out']}"
    )
    print(
        "  delay transition -> receipt (the event's timestamp -> the subscriber's clock): "
        f"p50 {one['p50'] * MS:.2f} ms, p99 {one['p99'] * MS:.2f} ms, max {one['max'] * MS:.2f} ms"
    )
    print(f"  host CPUs busy during the run: {one['busy'] * 100:.0f}% of {os.cpu_count()}")
    ok = one["lost"] == 0 and one["reordered"] == 0 and one["p99"] < 0.005
    print("  target (p99 < 5 ms, zero loss): " + ("met" if ok else "NOT met"))
    if not args.cli_cycles:
        return 0 if ok else 1
    print()
    print(
        f"part 2 - the same cycle through the commands: {args.containers} containers x "
        f"{args.cli_cycles} cycles of `lxc-execute -n C -- /bin/true`, {args.cli_concurrency} "
        f"at a time, {args.monitors} `lxc-monitor` processes"
    )
    print(
        "  delay = when a state line (STARTING, RUNNING, STOPPING, STOPPED) reached an lxc-monitor's\n"
        "          stdout pipe (timestamped by this bench on receipt) minus when the state was set:\n"
        "          ours: the bus event's own timestamp (read from one extra `--format json` monitor);\n"
        "          LXC: its `lxc-execute -l TRACE` log line 'Set container state to X' (milliseconds,\n"
        "          truncated, so LXC's figures read up to 1 ms high).\n"
        "  after return = the STOPPED line's receipt minus when that cycle's lxc-execute returned\n"
        "          (negative: the line came first; ours includes the exit of a Python process)"
    )
    print(
        f"  {'':6} {'runs/s':>7} {'failed':>6} {'lost':>5} {'reord':>5} {'lines':>7} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}   {'after return p50/p99 ms':>24}"
    )
    for label in ("ours", "LXC"):
        if label not in report:
            continue
        r = report[label]
        print(
            f"  {label:6} {r['runs_per_s']:7.1f} {r['failures']:6d} {r['lost']:5d} "
            f"{r['reordered']:5d} {r['lines']:7d} {r['p50'] * MS:7.2f} {r['p99'] * MS:7.2f} "
            f"{r['max'] * MS:7.2f}   {r['ret_p50'] * MS:11.2f} / {r['ret_p99'] * MS:8.2f}"
        )
        for reason in r["reasons"][:3]:
            print(f"         failed: {reason}")
        if r["unmatched"]:
            print(f"         ({r['unmatched']} lines without a known transition time)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
