"""The monitor bus through the real runtime: `lxc-monitor` and `lxc-wait` as processes.

Issue 4's proofs end to end: real containers started by the real commands, the
daemon's bus, and `lxc-monitor`/`lxc-wait` read as subprocesses, line by line as
the lines come (every read has a deadline, so a missing line fails instead of
hanging). The expected lines are LXC 5.0.2's (reference/lxc-5.0.2-behaviour.md,
"lxc-monitor lines"), except where README's "Differences from LXC" says
otherwise (`exited with status [130]` for a halted busybox init, whole-name
regexes).

When is a monitor listening? A JSON monitor says so itself (its `synced` line).
A text monitor prints nothing until an event, so `Monitor.wait_subscribed` waits
until the process holds a connected Unix socket and sleeps in poll() or recv(): it then
has sent its subscribe line, and the daemon registers it within microseconds,
long before the next command (a new Python process) can publish anything.

Each test has its own lxcpath and daemon (the `runtime` fixture stops it and
sweeps cgroups afterwards); every monitor or waiter started here is killed in a
`finally`; daemons that were children of a killed monitor and exited are reaped.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import BIN, Cli, cleanup_runtime

CONF = "lxc.net.0.type = empty\n"


def unique(prefix: str = "m") -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def lines_for(name: str, *items: str | int) -> list[str]:
    """LXC's lines: a str is a state, an int an exit status."""
    return [
        f"'{name}' exited with status [{item}]"
        if isinstance(item, int)
        else f"'{name}' changed state to [{item}]"
        for item in items
    ]


def application_run(name: str, status: int) -> list[str]:
    return lines_for(name, "STARTING", "RUNNING", status, "STOPPING", "STOPPED")


@pytest.fixture(autouse=True)
def reap_exited_children() -> Iterator[None]:
    """After the runtime fixture's clean-up: reap daemons re-parented to us that exited.

    A daemon started by a long-running `lxc-monitor` is that monitor's child; when
    the monitor is killed it comes to pytest (a subreaper), and after it exits it
    would stay a zombie: this VM's pid 1 does not reap.
    """
    yield
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == me:
            try:
                os.waitpid(int(entry), 0)
            except ChildProcessError:
                pass


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = tmp_path / "app.conf"
    path.write_text(CONF)
    return path


@pytest.fixture
def busybox(runtime: Cli, conf: Path) -> str:
    name = unique("bb")
    result = runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf))
    assert result.returncode == 0, result.stderr
    return name


class Monitor:
    """`lxc-monitor -P LXCPATH ARGS...` as a subprocess, its stdout read line by line."""

    def __init__(self, cli: Cli, *args: str, lxcpath: Path | None = None) -> None:
        argv = [str(BIN / "lxc-monitor"), "-P", str(lxcpath or cli.lxcpath), *args]
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, env=cli.env, stdout=subprocess.PIPE, stderr=self.stderr)
        assert self.proc.stdout is not None
        self.fd = self.proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.buffer = b""
        self.pending: list[str] = []
        self.eof = False

    def _fill(self, deadline: float) -> bool:
        """Read what is there (waiting until deadline); False at the deadline or EOF."""
        if self.eof:
            return False
        ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return False
        data = os.read(self.fd, 65536)
        if not data:
            self.eof = True
            return False
        self.buffer += data
        *complete, self.buffer = self.buffer.split(b"\n")
        self.pending.extend(line.decode() for line in complete)
        return True

    def _diagnosis(self, got: list[str]) -> str:
        self.stderr.seek(0)
        return f"got {got!r}; alive={self.proc.poll() is None}; stderr={self.stderr.read()!r}"

    def read(self, count: int, timeout: float = 15.0) -> list[str]:
        """The next `count` lines; fails (saying what came) if they are not there in time."""
        deadline = time.monotonic() + timeout
        while len(self.pending) < count:
            if not self._fill(deadline) and (self.eof or time.monotonic() >= deadline):
                raise AssertionError(f"wanted {count} lines: " + self._diagnosis(self.pending))
        got, self.pending = self.pending[:count], self.pending[count:]
        return got

    def read_until(self, done: Callable[[str], bool], timeout: float = 15.0) -> list[str]:
        """Lines up to and including the first for which `done` is true."""
        deadline = time.monotonic() + timeout
        got: list[str] = []
        while True:
            while self.pending:
                line = self.pending.pop(0)
                got.append(line)
                if done(line):
                    return got
            if not self._fill(deadline) and (self.eof or time.monotonic() >= deadline):
                raise AssertionError("wanted a closing line: " + self._diagnosis(got))

    def quiet(self, seconds: float = 0.3) -> list[str]:
        """Whatever arrives within `seconds` (a test expects [] here)."""
        deadline = time.monotonic() + seconds
        while self._fill(deadline):
            pass
        got, self.pending = self.pending, []
        return got

    def read_json(self, count: int, timeout: float = 15.0) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.read(count, timeout)]

    def wait_synced(self, timeout: float = 15.0) -> list[dict[str, object]]:
        """For `--format json`: the snapshot lines, once the `synced` line came."""
        lines = self.read_until(lambda line: json.loads(line)["type"] == "synced", timeout)
        return [json.loads(line) for line in lines]

    def wait_subscribed(self, timeout: float = 15.0) -> None:
        """For text output: connected to the bus and asleep in poll() or recv() (see the module doc)."""
        deadline = time.monotonic() + timeout
        steady = 0
        while steady < 2:
            if time.monotonic() >= deadline:
                raise AssertionError("the monitor never subscribed: " + self._diagnosis([]))
            steady = steady + 1 if _connected_and_polling(self.proc.pid) else 0
            time.sleep(0.02)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.stderr.close()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _connected_and_polling(pid: int) -> bool:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        wchan = Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return False
    # poll() with several -P; a blocking recv (unix_stream_read_generic) with one.
    if "poll" not in wchan and "unix_stream_read" not in wchan:
        return False
    with open("/proc/net/unix") as handle:
        next(handle)
        for line in handle:
            fields = line.split()
            # Num RefCount Protocol Flags Type St Inode [Path]; St 03 = connected
            if len(fields) >= 7 and fields[6] in inodes and fields[5] == "03":
                return True
    return False


def _is_stopped_event(line: str) -> bool:
    message = json.loads(line)
    return message["type"] == "state" and message["state"] == "STOPPED"


def execute(cli: Cli, name: str, conf: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return cli("lxc-execute", "-n", name, "-f", str(conf), "--", *command)


def start_daemon(cli: Cli) -> None:
    """Start the lxcpath's daemon from a short-lived command (so it is not a monitor's child)."""
    result = cli("lxc-wait", "-n", "nobody", "-s", "STOPPED", "-t", "5")
    assert result.returncode == 0, result.stderr


def daemon_pid(cli: Cli) -> int:
    from runtime.client.rundir import run_dir

    return int(Path(run_dir(str(cli.lxcpath)), "daemon.pid").read_text())


# -- the sequences of LXC's reference ----------------------------------------------


def test_execute_exit_7_then_sigkill(runtime: Cli, busybox: str) -> None:
    with (
        Monitor(runtime, "-n", busybox) as text,
        Monitor(runtime, "-n", busybox, "--format", "json") as js,
    ):
        snapshot = js.wait_synced()
        assert [(m["type"], m.get("state")) for m in snapshot] == [
            ("snapshot", "STOPPED"),
            ("synced", None),
        ]
        text.wait_subscribed()

        result = runtime("lxc-execute", "-n", busybox, "--", "sh", "-c", "exit 7")
        assert result.returncode == 7, result.stderr
        assert text.read(5) == application_run(busybox, 7)

        result = runtime("lxc-execute", "-n", busybox, "--", "sh", "-c", "kill -9 $$")
        assert result.returncode == 137, result.stderr
        assert text.read(5) == application_run(busybox, 137)
        assert text.quiet() == []

        # The same events as JSON: in order, numbered without gaps, the exit code and
        # the signal apart.
        events = js.read_json(10)
        assert [e["seq"] for e in events] == list(range(events[0]["seq"], events[0]["seq"] + 10))
        assert all(e["name"] == busybox and e["lxcpath"] == str(runtime.lxcpath) for e in events)
        assert all(isinstance(e["time"], float) for e in events)
        exits = [e for e in events if e["type"] == "exit"]
        assert [(e["status"], e["exit_code"], e["signal"]) for e in exits] == [
            (7, 7, None),
            (137, None, 9),
        ]
        assert [e.get("state") for e in events if e["type"] == "state"] == [
            "STARTING", "RUNNING", "STOPPING", "STOPPED",
        ] * 2  # fmt: skip
        assert js.quiet() == []


def test_system_container_start_stop(runtime: Cli, busybox: str) -> None:
    with Monitor(runtime, "-n", busybox) as text:
        text.wait_subscribed()
        started = runtime("lxc-start", "-n", busybox)
        assert started.returncode == 0, started.stderr
        assert text.read(2) == lines_for(busybox, "STARTING", "RUNNING")
        already = runtime("lxc-wait", "-n", busybox, "-s", "RUNNING", "-t", "0")
        assert already.returncode == 0, already.stderr

        stopped = runtime("lxc-stop", "-n", busybox, "-t", "10")
        assert stopped.returncode == 0, stopped.stderr
        # busybox halts with reboot(HALT): the kernel ends the init with SIGINT (130).
        assert text.read(3) == lines_for(busybox, 130, "STOPPING", "STOPPED")
        assert text.quiet() == []


def test_start_abort_with_a_bad_rootfs(runtime: Cli, busybox: str) -> None:
    with Monitor(runtime, "-n", busybox) as text:
        text.wait_subscribed()
        result = runtime("lxc-start", "-n", busybox, "-s", "lxc.rootfs.path=/nonexistent")
        assert result.returncode == 1
        assert "lxc.rootfs.path" in result.stderr and "/nonexistent" in result.stderr
        assert text.read(4) == lines_for(busybox, "STARTING", "ABORTING", "STOPPING", "STOPPED")
        assert text.quiet() == []
    assert runtime("lxc-info", "-n", busybox, "-sH").stdout.strip() == "STOPPED"


# -- regex filters ---------------------------------------------------------------------


def test_regex_matches_the_whole_name(runtime: Cli, conf: Path) -> None:
    prefix = unique("rx")
    foo, bar, foobaz = f"{prefix}foo", f"{prefix}bar", f"{prefix}foobaz"
    with (
        Monitor(runtime, "-n", f"{foo}|{bar}") as either,
        Monitor(runtime, "-n", foo) as exact,
        Monitor(runtime, "-n", f"{prefix}nomatch") as none,
        Monitor(runtime, "-n", f"{prefix}fo") as partial,
    ):
        for monitor in (either, exact, none, partial):
            monitor.wait_subscribed()
        for name in (foobaz, foo, bar):  # foobaz first: a wrong match would come first
            assert execute(runtime, name, conf, "true").returncode == 0
        assert either.read(10) == application_run(foo, 0) + application_run(bar, 0)
        assert exact.read(5) == application_run(foo, 0)
        assert either.quiet() == [] and exact.quiet(0) == []
        assert none.quiet(0) == [] and partial.quiet(0) == []


# -- snapshot, then live -------------------------------------------------------------------


def test_no_gap_between_snapshot_and_live_under_concurrent_starts(runtime: Cli, conf: Path) -> None:
    prefix = unique("cc")
    names = [f"{prefix}{i}" for i in range(10)]
    start_daemon(runtime)
    processes: list[subprocess.Popen[bytes]] = []

    def spawn(*argv: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [str(BIN / argv[0]), "-P", str(runtime.lxcpath), *argv[1:]],
            env=runtime.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        processes.append(process)
        return process

    def finish(process: subprocess.Popen[bytes], deadline: float) -> int:
        try:
            return process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{process.args} hangs") from None

    runtime.names.update(names)
    try:
        began = time.monotonic()
        executes, running_waits = [], []
        for name in names:
            executes.append(spawn("lxc-execute", "-n", name, "-f", str(conf), "--", "sleep", "3"))
            # Issued while the container is starting: RUNNING is still to come.
            running_waits.append(spawn("lxc-wait", "-n", name, "-s", "RUNNING", "-t", "30"))
        deadline = time.monotonic() + 40
        assert [finish(p, deadline) for p in running_waits] == [0] * len(names)
        # Now every container runs (or just stopped): wait for STOPPED from RUNNING,
        # and issue more waits around the moment they stop, when a snapshot that
        # says RUNNING and the STOPPED that follows it are closest.
        stopped_waits = [spawn("lxc-wait", "-n", n, "-s", "STOPPED", "-t", "30") for n in names]
        wave_at = began + 2.6
        for i in range(20):
            time.sleep(max(0.0, wave_at + i * 0.06 - time.monotonic()))
            stopped_waits.append(
                spawn("lxc-wait", "-n", names[i % len(names)], "-s", "STOPPING|STOPPED", "-t", "30")
            )
        codes = [finish(p, deadline) for p in stopped_waits]
        failed = [p.stderr.read() for p in stopped_waits if p.returncode and p.stderr]
        assert codes == [0] * len(stopped_waits), failed
        assert [finish(p, deadline) for p in executes] == [0] * len(names)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
            if process.stderr is not None:
                process.stderr.close()


def test_many_monitors_get_every_event_in_order_while_containers_cycle(
    runtime: Cli, conf: Path
) -> None:
    """The bus under load: 12 `lxc-monitor --format json` processes while 6 containers
    each run 3 times, all at once. Every monitor gets every container's STARTING,
    RUNNING, exit, STOPPING, STOPPED three times, complete and in that order, and the
    sequence numbers it sees have no gap and never step back (only these containers
    live in the test's lxcpath, and the regex covers them all)."""
    import threading

    prefix = unique("ld")
    names = [f"{prefix}x{i}" for i in range(6)]
    cycles = 3
    start_daemon(runtime)
    runtime.names.update(names)
    monitors: list[Monitor] = []
    failures: list[str] = []

    def cycle(name: str) -> None:
        for _ in range(cycles):
            result = execute(runtime, name, conf, "true")
            if result.returncode != 0:
                failures.append(f"{name}: {result.returncode} {result.stderr}")

    try:
        for _ in range(12):
            monitors.append(Monitor(runtime, "-n", f"{prefix}x.*", "--format", "json"))
        for monitor in monitors:
            monitor.wait_synced()
        threads = [threading.Thread(target=cycle, args=(name,)) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not failures, failures
        want = ["STARTING", "RUNNING", "exit", "STOPPING", "STOPPED"] * cycles
        for monitor in monitors:
            stopped = 0
            seen: dict[str, list[str]] = {name: [] for name in names}
            seqs: list[int] = []
            while stopped < len(names) * cycles:
                (line,) = monitor.read(1, timeout=30)
                message = json.loads(line)
                if "seq" in message:
                    seqs.append(message["seq"])
                if message["type"] == "state":
                    seen[message["name"]].append(message["state"])
                    stopped += message["state"] == "STOPPED"
                elif message["type"] == "exit":
                    seen[message["name"]].append("exit")
            assert seen == {name: want for name in names}
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    finally:
        for monitor in monitors:
            monitor.close()


def test_wait_timeout_is_honoured_to_the_millisecond(runtime: Cli, busybox: str) -> None:
    start_daemon(runtime)

    def timed(*args: str) -> tuple[int, float]:
        began = time.monotonic()
        result = runtime("lxc-wait", "-n", busybox, *args)
        return result.returncode, time.monotonic() - began

    # The cost of the command itself: interpreter start-up and one snapshot.
    overheads = [timed("-s", "STOPPED", "-t", "0.5") for _ in range(3)]
    assert all(code == 0 for code, _ in overheads)
    overhead = min(elapsed for _, elapsed in overheads)
    for timeout in (0.5, 0.25):
        code, elapsed = timed("-s", "RUNNING", "-t", str(timeout))
        assert code == 1
        assert elapsed >= timeout
        assert elapsed - overhead < timeout + 1.5, (elapsed, overhead)  # loaded CI
    code, elapsed = timed("-s", "RUNNING|FROZEN", "-t", "0")
    assert code == 1 and elapsed - overhead < 1.5


# -- the daemon going away -------------------------------------------------------------------


def test_monitor_survives_a_killed_daemon(runtime: Cli, conf: Path) -> None:
    prefix = unique("dk")
    first, second = f"{prefix}a", f"{prefix}b"
    start_daemon(runtime)
    with (
        Monitor(runtime, "-n", f"{prefix}.*") as text,
        Monitor(runtime, "-n", f"{prefix}.*", "--format", "json") as js,
    ):
        js.wait_synced()
        text.wait_subscribed()
        assert execute(runtime, first, conf, "true").returncode == 0
        assert text.read(5) == application_run(first, 0)
        assert [e["type"] for e in js.read_json(5)] == ["state"] * 2 + ["exit"] + ["state"] * 2

        pid = daemon_pid(runtime)
        os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)  # ours: start_daemon's command exited, we are the subreaper
        except ChildProcessError:
            pass

        # The next command starts a new daemon (or the monitors already did, reconnecting).
        result = execute(runtime, second, conf, "sh", "-c", "exit 3")
        assert result.returncode == 3, result.stderr
        assert text.read(5) == application_run(second, 3)
        assert text.proc.poll() is None and text.quiet() == []

        after = js.read_until(_is_stopped_event)
        messages = [json.loads(line) for line in after]
        assert messages[0] == {
            "type": "reconnected",
            "reason": "disconnected",
            "lxcpath": str(runtime.lxcpath),
        }
        events = [
            (m["type"], m.get("state") or m.get("status"))
            for m in messages
            if "seq" in m and m["type"] != "synced"
        ]
        assert events == [
            ("state", "STARTING"), ("state", "RUNNING"), ("exit", 3),
            ("state", "STOPPING"), ("state", "STOPPED"),
        ]  # fmt: skip
        assert daemon_pid(runtime) != pid


def test_slow_subscriber_delays_nobody(runtime: Cli, conf: Path) -> None:
    """A subscriber that never reads: its socket fills, then its backlog; it is dropped.

    The flood of events comes from the lxcpath watch (container directories made and
    removed by hand, 2 events each), so it is quick. About 280 events fill the
    stuck socket (each small write takes ~770 bytes of the 208 KiB send buffer) and
    its backlog of 1024 more overflows near 1300: a container started after 400
    events, with the socket full, must start, run and be seen as usual, and after
    2000 the server has hung up on it.
    """
    from bus.protocol import Subscribe, encode
    from runtime.client.rundir import run_dir

    name = unique("sl")
    start_daemon(runtime)
    # A baseline for the container's run, without the stuck subscriber.
    began = time.monotonic()
    assert execute(runtime, name, conf, "true").returncode == 0
    baseline = time.monotonic() - began

    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lxcpath = runtime.lxcpath
    flood = 0
    try:
        stuck.connect(os.path.join(run_dir(str(lxcpath)), "bus.sock"))
        stuck.sendall(encode(Subscribe()))
        with (
            Monitor(runtime, "-n", name) as text,
            Monitor(runtime, "-n", "flood.*", "--format", "json") as js,
        ):
            deadline = time.monotonic() + 10
            while b'"synced"' not in stuck.recv(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                assert time.monotonic() < deadline, "the stuck subscriber never got synced"
                time.sleep(0.02)
            js.wait_synced()
            text.wait_subscribed()

            def make(count: int) -> None:
                nonlocal flood
                for _ in range(count):
                    staging = lxcpath / f".flood{flood}.creating"
                    staging.mkdir()
                    (staging / "config").write_text(CONF)
                    os.rename(staging, lxcpath / f"flood{flood}")
                    flood += 1

            def remove(first: int, last: int) -> None:
                for i in range(first, last):
                    os.rename(lxcpath / f"flood{i}", lxcpath / f".flood{i}.gone")
                    shutil.rmtree(lxcpath / f".flood{i}.gone")

            # Enough to fill the stuck subscriber's socket, not its backlog (1024).
            make(400)
            assert len(js.read(400)) == 400  # the daemon has published them all
            began = time.monotonic()
            assert execute(runtime, name, conf, "true").returncode == 0
            with_stuck = time.monotonic() - began
            assert text.read(5, timeout=2) == application_run(name, 0)
            assert with_stuck < baseline + 1.0, (with_stuck, baseline)

            # Now past its backlog: it is dropped, and still nobody waits for it. In
            # chunks the json monitor keeps up with, even on a loaded machine (a
            # subscriber that falls 1300 events behind is dropped too, by design).
            make(600)
            got = js.read_json(600)
            for first in range(0, 1000, 200):
                remove(first, first + 200)
                got += js.read_json(200)
            created = [e["name"] for e in got if e["type"] == "created"]
            destroyed = [e["name"] for e in got if e["type"] == "destroyed"]
            assert created == [f"flood{i}" for i in range(400, 1000)]
            assert destroyed == [f"flood{i}" for i in range(1000)]
            assert execute(runtime, name, conf, "true").returncode == 0
            assert text.read(5, timeout=2) == application_run(name, 0)

        # The server hung up on the stuck subscriber: what it holds ends in EOF, far
        # short of the 2010 events published since it subscribed (what its socket
        # held, then its backlog; the overflow notice too if it fitted in time).
        stuck.settimeout(10)
        received = b""
        while chunk := stuck.recv(1 << 20):
            received += chunk
        kinds = [json.loads(line)["type"] for line in received.split(b"\n")[:-1]]
        events = [kind for kind in kinds if kind in ("state", "exit", "created", "destroyed")]
        assert 0 < len(events) < 1800, len(events)
        assert set(kinds) <= {
            "snapshot",
            "synced",
            "state",
            "exit",
            "created",
            "destroyed",
            "overflow",
        }
    finally:
        stuck.close()


# -- created and destroyed ----------------------------------------------------------------------


def test_created_and_destroyed_events(runtime: Cli, conf: Path) -> None:
    prefix = unique("cd")
    one, two, three = f"{prefix}1", f"{prefix}2", f"{prefix}3"
    with (
        Monitor(runtime, "-n", f"{prefix}.*", "--format", "json") as js,
        Monitor(runtime, "-n", f"{prefix}.*") as text,
    ):
        assert js.wait_synced()[0]["type"] == "synced"  # nothing defined yet
        text.wait_subscribed()
        assert runtime("lxc-create", "-n", one, "-t", "busybox", "-f", str(conf)).returncode == 0
        assert runtime("lxc-copy", "-n", one, "-N", two).returncode == 0
        assert runtime("lxc-copy", "-n", two, "-N", three, "-R").returncode == 0
        assert runtime("lxc-destroy", "-n", one).returncode == 0
        assert runtime("lxc-destroy", "-n", three).returncode == 0
        events = js.read_json(6)
        assert [(e["type"], e["name"]) for e in events] == [
            ("created", one),
            ("created", two),
            ("destroyed", two),
            ("created", three),
            ("destroyed", one),
            ("destroyed", three),
        ]
        assert all(isinstance(e["seq"], int) and isinstance(e["time"], float) for e in events)
        assert js.quiet() == []
        assert text.quiet(0) == []  # LXC has no line for these: text shows none


def test_created_in_an_lxcpath_that_did_not_exist(runtime: Cli, conf: Path, tmp_path: Path) -> None:
    later = tmp_path / "later" / "lxc"
    name = unique("lp")
    try:
        with Monitor(runtime, "--format", "json", lxcpath=later) as js:
            assert js.wait_synced()[0]["type"] == "synced"
            result = Cli(later, runtime.env)(
                "lxc-create", "-n", name, "-t", "busybox", "-f", str(conf)
            )
            assert result.returncode == 0, result.stderr
            assert [(e["type"], e["name"]) for e in js.read_json(1)] == [("created", name)]
    finally:
        from runtime.client.rundir import run_root

        cleanup_runtime(later, Path(run_root()), {name})
