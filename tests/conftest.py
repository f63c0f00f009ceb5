"""Shared fixtures: a private lxcpath and run directory per test, and a CLI runner.

Every test gets its own lxcpath and run directory under pytest's tmp_path, so tests
never see each other's containers and nothing is left in /var/lib/lxc or
/run/trio-lxc. The system-wide config files are pointed at paths that do not exist
unless a test writes them, so the machine's /etc/lxc does not change results.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Set
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


class Cli:
    """Runs the installed `lxc-*` commands against the test's lxcpath."""

    def __init__(self, lxcpath: Path, env: dict[str, str]) -> None:
        self.lxcpath = lxcpath
        self.env = env
        #: Every container name a command was given (for the clean-up sweep).
        self.names: set[str] = set()

    def __call__(
        self, command: str, *args: str, lxcpath: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(BIN / command)]
        if lxcpath:
            argv += ["-P", str(self.lxcpath)]
        argv += list(args)
        for flag, value in zip(args, args[1:], strict=False):
            if flag == "-n":
                self.names.add(value)
        return subprocess.run(
            argv, env=self.env, capture_output=True, text=True, input=input, timeout=120
        )



def unique(prefix: str) -> str:
    """A container name no other test (nor an earlier run) uses."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def create_busybox(cli: Cli, tmp_path: Path, config: str, prefix: str) -> str:
    """`lxc-create -t busybox` a fresh container with `config` as its config; its name."""
    name = unique(prefix)
    conf = tmp_path / f"{name}.conf"
    conf.write_text(config)
    result = cli("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf))
    assert result.returncode == 0, result.stderr
    return name


@pytest.fixture
def veth() -> Iterator[tuple[str, str]]:
    """A fresh host veth pair (`<tag>a`, `<tag>b`), deleted afterwards even on failure,
    with `<tag>r`: the name a test may give an end it moved back (lxc-device)."""
    from pyroute2 import IPRoute

    tag = "vt" + uuid.uuid4().hex[:6]
    a, b = tag + "a", tag + "b"
    with IPRoute() as ipr:
        ipr.link("add", ifname=a, kind="veth", peer={"ifname": b})
    try:
        yield a, b
    finally:
        with IPRoute() as ipr:
            for link in (a, b, tag + "r"):
                for index in ipr.link_lookup(ifname=link):
                    ipr.link("del", index=index)

@pytest.fixture
def lxc_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    run_root = tmp_path / "run"
    etc = tmp_path / "etc"
    etc.mkdir()
    values = {
        "TRIO_LXC_RUNDIR": str(run_root),
        "TRIO_LXC_SYSTEM_CONFIG": str(etc / "lxc.conf"),
        "TRIO_LXC_DEFAULT_CONFIG": str(etc / "default.conf"),
        # A daemon a test started goes away soon after the test, even if the test
        # did not ask it to (the `runtime` fixture does ask).
        "TRIO_LXC_DAEMON_IDLE": "2",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    yield dict(os.environ)


@pytest.fixture
def lxcpath(tmp_path: Path, lxc_env: dict[str, str]) -> Path:
    path = tmp_path / "lxc"
    path.mkdir()
    return path


@pytest.fixture
def cli(lxcpath: Path, lxc_env: dict[str, str]) -> Cli:
    return Cli(lxcpath, lxc_env)


@pytest.fixture
def empty_net_config(tmp_path: Path) -> Path:
    conf = tmp_path / "empty-net.conf"
    conf.write_text("lxc.net.0.type = empty\n")
    return conf


# -- the runtime: daemons, spawners and containers made by a test ---------------


def _pids_mentioning(text: str) -> list[int]:
    """Processes whose command line mentions `text` (a test's private run directory)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read()
        except OSError:
            continue
        if text.encode() in cmdline:
            found.append(int(entry))
    return found


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return int(handle.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _reap(pid: int) -> None:
    """Collect a process that was re-parented to this test process (a subreaper)."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


@pytest.fixture(scope="session", autouse=True)
def subreaper() -> Iterator[None]:
    """Daemons outlive the command that started them; make pytest their reaper.

    On these VMs pid 1 does not reap orphans: without this, every daemon a test
    started would stay a zombie after it exits.
    """
    from runtime.kernel import linux

    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    yield
    # Whatever daemon or spawner of this run is still alive (a test that started
    # one without the `runtime` fixture) is stopped and reaped here, not left to
    # become a zombie under a pid 1 that does not reap.
    import signal
    import tempfile

    base = os.path.join(tempfile.gettempdir(), "pytest-of-")
    for pid in _pids_mentioning(base):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read()
        except OSError:
            continue
        if (b"runtime.daemon" in cmdline or b"runtime.spawn" in cmdline) and _ppid(pid) == os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _reap(pid)
    # And the ones that already exited (zombies have no cmdline to be found by above):
    # left unreaped, they would pass to pid 1 when pytest exits, and stay.
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break


@pytest.fixture(scope="session", autouse=True)
def no_stale_run_dirs(subreaper: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """An idle daemon removes its run directory (runtime.client.rundir): at the end of the
    session, no test's run root may keep one that no daemon holds and no container
    record needs. A daemon killed on its way out (the clean-up kills what is slow
    to go) leaves its daemon.pid: that is a crash's leftover, for a successor."""
    yield
    import time

    base = str(tmp_path_factory.getbasetemp())
    deadline = time.monotonic() + 15  # daemons (and their spawners) of the last tests go idle first
    while time.monotonic() < deadline and any(
        b"runtime.daemon" in _cmdline(pid) or b"runtime.spawn" in _cmdline(pid)
        for pid in _pids_mentioning(base)
    ):
        time.sleep(0.1)
    # A daemon on its way out removes its directory last: give that a moment.
    stale = _stale_run_dirs(base)
    grace = time.monotonic() + 5
    while stale and time.monotonic() < grace:
        time.sleep(0.1)
        stale = _stale_run_dirs(base)
    assert not stale, f"run directories left behind: {stale}"


def _stale_run_dirs(base: str) -> list[str]:
    """Run directories under `base` that no daemon holds and no record needs."""
    import fcntl
    import glob

    stale = []
    for directory in glob.glob(os.path.join(base, "*", "run", "*")):
        records = os.path.join(directory, "containers")
        holds = os.path.isdir(records) and any(e.endswith(".json") for e in os.listdir(records))
        if holds or os.path.exists(os.path.join(directory, "daemon.pid")):
            continue
        try:
            fd = os.open(os.path.join(directory, "daemon.lock"), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            stale.append(directory)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            stale.append(directory)
        except BlockingIOError:
            pass  # a daemon still serves it
        finally:
            os.close(fd)
    return stale


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def sweep_cgroups(names: set[str]) -> None:
    """Kill and remove any lxc.payload.<name> cgroup a failed test left behind."""
    import glob
    import signal
    import time

    for name in names:
        for path in sorted(glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{name}"), reverse=True):
            for _ in range(100):
                try:
                    with open(os.path.join(path, "cgroup.procs")) as handle:
                        pids = [int(p) for p in handle.read().split()]
                except OSError:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                try:
                    for sub in sorted(glob.glob(os.path.join(path, "**/"), recursive=True), reverse=True):
                        os.rmdir(sub)
                    break
                except OSError:
                    time.sleep(0.02)


def cleanup_runtime(lxcpath: Path, run_root: Path, names: Set[str] = frozenset()) -> None:
    """Stop the test's daemon (which kills its containers), then anything left."""
    import signal
    import time

    from runtime.client.control_protocol import Shutdown
    from runtime.client.daemon_client import daemon_running, open_connection

    if daemon_running(str(lxcpath)):
        try:
            connection = open_connection(str(lxcpath), autostart=False)
            connection.sock.settimeout(30)
            connection.call(Shutdown())
            connection.close()
        except Exception:  # noqa: BLE001 - fall through to the kill below
            pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _pids_mentioning(str(run_root)):
        time.sleep(0.05)
    for pid in _pids_mentioning(str(run_root)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _reap(pid)
    for pid in _pids_mentioning(str(lxcpath)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _reap(pid)
    sweep_cgroups(set(names) | set(os.listdir(lxcpath) if lxcpath.is_dir() else ()))


@pytest.fixture
def runtime(cli: Cli, lxcpath: Path, lxc_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """The CLI runner for tests that start containers; cleans up the runtime after."""
    monkeypatch.setenv("TRIO_LXC_DAEMON_IDLE", "3")
    cli.env["TRIO_LXC_DAEMON_IDLE"] = "3"
    try:
        yield cli
    finally:
        cleanup_runtime(lxcpath, Path(lxc_env["TRIO_LXC_RUNDIR"]), cli.names)


def kill_daemon(cli: Cli) -> None:
    """SIGKILL the test's daemon (a crash, as far as its containers can tell) and reap it."""
    import signal

    from runtime.client.rundir import run_dir

    daemon_pid = int(Path(run_dir(str(cli.lxcpath)), "daemon.pid").read_text())
    os.kill(daemon_pid, signal.SIGKILL)
    _reap(daemon_pid)


@asynccontextmanager
async def serving_bus(path: str, **options: object) -> AsyncIterator[object]:
    """A real BusServer on `path` for the duration of the block (trio tests)."""
    import trio

    from bus.server import BusServer

    server = BusServer(path, **options)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        try:
            yield server
        finally:
            await server.aclose()
