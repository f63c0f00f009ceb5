"""lxc-cgroup, lxc-freeze, lxc-unfreeze and the resource figures of lxc-info/lxc-ls,
end to end with real containers and real cgroups (as root).

Each test has its own lxcpath, run directory and daemon (the `runtime` fixture
stops it and sweeps processes and cgroups afterwards), and unique container names;
a test that starts a subprocess of its own (lxc-monitor) kills it in `finally`.
"""

from __future__ import annotations

import glob
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import BIN, Cli, kill_daemon

CONF = "lxc.net.0.type = empty\n"
BUSY_LOOP = ["sh", "-c", "while :; do :; done"]


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def make(runtime: Cli, tmp_path: Path, extra: str = "") -> str:
    """A created busybox container (stopped) with `extra` config lines."""
    name = unique("cg")
    conf = tmp_path / f"{name}.conf"
    conf.write_text(CONF + extra)
    result = runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf))
    assert result.returncode == 0, result.stderr
    return name


def start(runtime: Cli, name: str, *command: str) -> int:
    """lxc-start (with `command` as pid 1 if given); returns the init's host pid."""
    result = runtime("lxc-start", "-n", name, *(("--", *command) if command else ()))
    assert result.returncode == 0, result.stderr
    return int(runtime("lxc-info", "-n", name, "-pH").stdout)


def state(runtime: Cli, name: str) -> str:
    return runtime("lxc-info", "-n", name, "-sH").stdout.strip()


def cgroups_of(name: str) -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{name}")


def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        time.sleep(0.02)


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks."""
    with open(f"/proc/{pid}/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def v1_file(controller: str, name: str, key: str) -> Path:
    return Path(f"/sys/fs/cgroup/{controller}/lxc.payload.{name}/{key}")


needs_v1_memory = pytest.mark.skipif(
    not os.path.isdir("/sys/fs/cgroup/memory"), reason="no cgroup v1 memory hierarchy"
)


# -- lxc-cgroup --------------------------------------------------------------------------


@needs_v1_memory
def test_config_limits_read_back_and_cpu_shares_set(runtime: Cli, tmp_path: Path) -> None:
    name = make(runtime, tmp_path, "lxc.cgroup.memory.limit_in_bytes = 128M\n")
    start(runtime, name)
    limit = runtime("lxc-cgroup", "-n", name, "memory.limit_in_bytes")
    assert (limit.returncode, limit.stdout, limit.stderr) == (0, "134217728\n\n", "")
    assert v1_file("memory", name, "memory.limit_in_bytes").read_text() == "134217728\n"

    assert runtime("lxc-cgroup", "-n", name, "cpu.shares").stdout == "1024\n\n"
    assert runtime("lxc-cgroup", "-n", name, "cpu.shares", "512").returncode == 0
    read = runtime("lxc-cgroup", "-n", name, "cpu.shares")
    assert (read.returncode, read.stdout) == (0, "512\n\n")
    assert v1_file("cpu", name, "cpu.shares").read_text() == "512\n"
    # The name may also be the first plain argument, as LXC's tools allow.
    assert runtime("lxc-cgroup", name, "cpu.shares").stdout == "512\n\n"


def test_cgroup_errors(runtime: Cli, tmp_path: Path) -> None:
    name = make(runtime, tmp_path)
    path = runtime.lxcpath
    stopped = runtime("lxc-cgroup", "-n", name, "cpu.shares")
    assert stopped.returncode == 1
    assert stopped.stderr == f"lxc-cgroup: {name}: '{path}:{name}' is not running\n"
    missing = runtime("lxc-cgroup", "-n", unique("nope"), "cpu.shares")
    assert missing.returncode == 1 and "is not running" in missing.stderr

    start(runtime, name)
    unknown = runtime("lxc-cgroup", "-n", name, "foo.bar")
    assert unknown.returncode == 1
    assert unknown.stderr == (
        f"lxc-cgroup: {name}: Failed to retrieve value of 'foo.bar' for '{path}:{name}'\n"
    )
    bad_value = runtime("lxc-cgroup", "-n", name, "cpu.shares", "abc")
    assert bad_value.returncode == 1
    assert bad_value.stderr.startswith(
        f"lxc-cgroup: {name}: Failed to assign 'abc' value to 'cpu.shares' for '{name}': "
    )
    assert "Invalid argument" in bad_value.stderr
    escape = runtime("lxc-cgroup", "-n", name, "../../cgroup.procs")
    assert escape.returncode == 1
    assert escape.stderr == (
        f"lxc-cgroup: {name}: state object '../../cgroup.procs' is not a cgroup file name"
        " (CONTROLLER.FILE, like memory.max)\n"
    )
    no_key = runtime("lxc-cgroup", "-n", name)
    assert (no_key.returncode, no_key.stderr) == (1, "lxc-cgroup: could not parse command line\n")


def _cgroup_of(pid: int) -> str:
    return Path(f"/proc/{pid}/cgroup").read_text()


def _container_pids(name: str) -> set[int]:
    return {int(p) for path in cgroups_of(name) for p in Path(path, "cgroup.procs").read_text().split()}


def test_cgroup_keys_that_leave_the_cgroup_or_move_a_host_process_are_refused(
    runtime: Cli, tmp_path: Path
) -> None:
    """10.6: the key of lxc-cgroup, the Python API and the daemon's `cgroup` request
    is a plain cgroup file name, and never a file that moves processes: a host process
    written to the container's cgroup.procs would be frozen, limited and killed by the
    container (which owns its cgroup), so the attack is tried for real and checked."""
    from runtime.api import Runtime
    from runtime.client.control_protocol import Cgroup, RequestFailed
    from runtime.client.daemon_client import open_connection
    from runtime.client.errors import LxcError

    name = make(runtime, tmp_path)
    init = start(runtime, name)
    host = subprocess.Popen(["sleep", "60"])
    try:
        before = _cgroup_of(host.pid)
        attempts = [
            (["cgroup.procs", str(host.pid)], "state object 'cgroup.procs' may not be written"),
            (["cgroup.threads", str(host.pid)], "'cgroup.threads' may not be written"),
            (["cgroup.subtree_control", "+memory"], "may not be written"),
            (["../x"], "'../x' is not a cgroup file name"),
            (["../x", "1"], "'../x' is not a cgroup file name"),
            (["memory.x/../../../release_agent", "/bin/sh"], "is not a cgroup file name"),
            (["release_agent", "/bin/sh"], "'release_agent' is not a cgroup file name"),
            (["tasks", str(host.pid)], "'tasks' is not a cgroup file name"),
            (["cpu.\u3000shares"], "'cpu.\\u3000shares' is not a cgroup file name"),
        ]
        for args, reason in attempts:
            result = runtime("lxc-cgroup", "-n", name, *args)
            assert result.returncode == 1, args
            assert result.stderr.count("\n") == 1 and reason in result.stderr, result.stderr
            assert result.stdout == ""

        rt = Runtime(str(runtime.lxcpath))

        async def through_the_api() -> None:
            with pytest.raises(LxcError, match="'cgroup.procs' may not be written"):
                await rt.cgroup_set(name, "cgroup.procs", str(host.pid))
            with pytest.raises(LxcError, match="is not a cgroup file name"):
                await rt.cgroup_get(name, "../../cgroup.procs")

        import trio

        trio.run(through_the_api)
        # The daemon checks too: a raw request from any local root process.
        connection = open_connection(str(runtime.lxcpath), autostart=False)
        try:
            with pytest.raises(RequestFailed) as write:
                connection.call(Cgroup(name=name, key="cgroup.procs", value=str(host.pid)))
            with pytest.raises(RequestFailed) as escape:
                connection.call(Cgroup(name=name, key="../cgroup.procs"))
        finally:
            connection.close()
        assert write.value.kind == "unknown-key"
        assert "'cgroup.procs' may not be written" in str(write.value)
        assert escape.value.kind == "unknown-key"

        # The host process never moved; the container still holds only its own.
        assert _cgroup_of(host.pid) == before
        assert host.pid not in _container_pids(name)
        # Reading cgroup.procs stays allowed (it moves nothing).
        read = runtime("lxc-cgroup", "-n", name, "cgroup.procs")
        assert read.returncode == 0 and str(init) in read.stdout.split()
    finally:
        host.kill()
        host.wait()


def _release_agents() -> dict[str, str]:
    return {path: Path(path).read_text() for path in glob.glob("/sys/fs/cgroup/*/release_agent")}


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("lxc.cgroup.memory.x/../../../release_agent", "is not a cgroup file name"),
        ("lxc.cgroup2.cgroup.procs", "'cgroup.procs' may not be written"),
        ("lxc.cgroup.pids.x/../../cgroup.procs", "is not a cgroup file name"),
        ("lxc.sysctl.kernel/../../../../TARGET", "is not a sysctl name"),
        ("lxc.proc.../../../../TARGET", "is not a /proc/PID file name"),
    ],
)
def test_config_keys_that_escape_are_refused_by_create_and_execute(
    runtime: Cli, tmp_path: Path, key: str, reason: str
) -> None:
    """10.6 through the real commands: lxc-create -f and lxc-execute -s refuse the key
    in one line naming it, exit non-zero, and nothing is created or written."""
    target = tmp_path / "target"
    target.write_text("untouched\n")
    key = key.replace("TARGET", str(target).lstrip("/"))
    agents = _release_agents()
    value = "1" if "procs" in key else str(tmp_path / "agent")

    name = unique("esc")
    conf = tmp_path / "bad.conf"
    conf.write_text(f"{CONF}{key} = {value}\n")
    created = runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf))
    assert created.returncode != 0
    assert created.stderr.count("\n") == 1, created.stderr
    assert f"{conf}:2: {key}: " in created.stderr and reason in created.stderr
    assert not (runtime.lxcpath / name).exists()

    good = tmp_path / "good.conf"
    good.write_text(CONF)
    executed = runtime("lxc-execute", "-n", name, "-f", str(good), "-s", f"{key}={value}", "--", "true")
    assert executed.returncode != 0
    assert executed.stderr.count("\n") == 1, executed.stderr
    assert f"{key}: " in executed.stderr and reason in executed.stderr
    assert not (runtime.lxcpath / name).exists()
    assert cgroups_of(name) == []
    assert _release_agents() == agents
    assert target.read_text() == "untouched\n"
    assert "lxc.payload" not in Path("/proc/1/cgroup").read_text()


# -- lxc-freeze / lxc-unfreeze -------------------------------------------------------------


def test_freeze_stops_a_busy_loop(runtime: Cli, tmp_path: Path) -> None:
    name = make(runtime, tmp_path)
    pid = start(runtime, name, *BUSY_LOOP)
    time.sleep(0.2)
    assert runtime("lxc-freeze", "-n", name).returncode == 0
    assert state(runtime, name) == "FROZEN"
    frozen_at = cpu_ticks(pid)
    time.sleep(0.6)
    assert cpu_ticks(pid) - frozen_at <= 1  # at most a tick of accounting in flight
    figures = runtime("lxc-info", "-n", name, "-SH").stdout
    time.sleep(0.3)
    assert runtime("lxc-info", "-n", name, "-SH").stdout.splitlines()[0] == figures.splitlines()[0]

    assert runtime("lxc-unfreeze", "-n", name).returncode == 0
    assert state(runtime, name) == "RUNNING"
    thawed_at = cpu_ticks(pid)
    time.sleep(0.6)
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    assert cpu_ticks(pid) - thawed_at >= 0.2 * ticks_per_second


def test_freeze_unfreeze_bus_sequence(runtime: Cli, tmp_path: Path) -> None:
    name = make(runtime, tmp_path)
    start(runtime, name)
    out = tmp_path / "monitor.out"
    # --since 0 replays the daemon's events from its first, then goes live: the
    # monitor cannot miss a change however late it subscribes.
    argv = [str(BIN / "lxc-monitor"), "-P", str(runtime.lxcpath), "-n", name, "--since", "0"]
    with out.open("w") as sink:
        monitor = subprocess.Popen(argv, env=runtime.env, stdout=sink, stderr=subprocess.STDOUT)
    try:

        def lines() -> list[str]:
            return out.read_text().splitlines()

        wait_for(lambda: f"'{name}' changed state to [RUNNING]" in lines())
        for command in ("lxc-freeze", "lxc-freeze", "lxc-unfreeze", "lxc-unfreeze"):
            result = runtime(command, "-n", name)
            assert result.returncode == 0, (command, result.stderr)
        assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
        wait_for(lambda: f"'{name}' changed state to [STOPPED]" in lines())
        states = re.findall(r"changed state to \[(\w+)\]", out.read_text())
        assert states == [
            "STARTING", "RUNNING", "FREEZING", "FROZEN", "THAWED", "RUNNING", "STOPPING",
            "STOPPED",
        ]  # fmt: skip
    finally:
        monitor.send_signal(signal.SIGTERM)
        try:
            monitor.wait(timeout=5)
        except subprocess.TimeoutExpired:
            monitor.kill()
            monitor.wait()


def test_frozen_state_shown_by_info_and_ls(runtime: Cli, tmp_path: Path) -> None:
    frozen = make(runtime, tmp_path)
    running = make(runtime, tmp_path)
    stopped = make(runtime, tmp_path)
    start(runtime, frozen)
    start(runtime, running)
    assert runtime("lxc-freeze", frozen).returncode == 0  # the name as a plain argument
    assert state(runtime, frozen) == "FROZEN"
    info = runtime("lxc-info", "-n", frozen).stdout.splitlines()
    assert info[1] == "State:          FROZEN"
    assert info[3].startswith("CPU use:")
    assert runtime("lxc-ls", "--frozen", "-1").stdout.split() == [frozen]
    assert sorted(runtime("lxc-ls", "--running", "-1").stdout.split()) == sorted([frozen, running])
    assert runtime("lxc-ls", "--stopped", "-1").stdout.split() == [stopped]
    fancy = runtime("lxc-ls", "-f", "-F", "NAME,STATE", frozen).stdout.splitlines()
    assert fancy[1].split() == [frozen, "FROZEN"]


def test_freeze_and_unfreeze_errors(runtime: Cli, tmp_path: Path) -> None:
    name = make(runtime, tmp_path)
    path = runtime.lxcpath
    freeze = runtime("lxc-freeze", "-n", name)
    assert (freeze.returncode, freeze.stderr) == (
        1,
        f"lxc-freeze: {name}: Failed to freeze {path}:{name}\n",
    )
    # LXC returns 0 here although nothing was thawed; we say so (README differences).
    unfreeze = runtime("lxc-unfreeze", "-n", name)
    assert (unfreeze.returncode, unfreeze.stderr) == (
        1,
        f"lxc-unfreeze: {name}: Failed to unfreeze {path}:{name}\n",
    )
    none = runtime("lxc-freeze")
    assert (none.returncode, none.stderr) == (1, "lxc-freeze: No container name specified\n")
    start(runtime, name)
    assert runtime("lxc-unfreeze", "-n", name).returncode == 0  # running: nothing to do
    assert state(runtime, name) == "RUNNING"


@pytest.mark.parametrize("how", [["-t", "10"], ["-k"]], ids=["graceful", "kill"])
def test_stop_a_frozen_container(runtime: Cli, tmp_path: Path, how: list[str]) -> None:
    name = make(runtime, tmp_path)
    pid = start(runtime, name)
    assert runtime("lxc-freeze", "-n", name).returncode == 0
    started = time.monotonic()
    result = runtime("lxc-stop", "-n", name, *how)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 8  # the graceful stop did not need the kill
    assert state(runtime, name) == "STOPPED"
    assert not Path(f"/proc/{pid}").exists()
    assert cgroups_of(name) == []


def test_kill_of_a_v1_frozen_container(runtime: Cli, tmp_path: Path) -> None:
    """Frozen behind the runtime's back through the v1 freezer: -k still works."""
    if not os.path.isdir("/sys/fs/cgroup/freezer"):
        pytest.skip("no cgroup v1 freezer")
    name = make(runtime, tmp_path)
    pid = start(runtime, name, *BUSY_LOOP)
    assert runtime("lxc-cgroup", "-n", name, "freezer.state", "FROZEN").returncode == 0
    wait_for(lambda: v1_file("freezer", name, "freezer.state").read_text().strip() == "FROZEN")
    result = runtime("lxc-stop", "-n", name, "-k")
    assert result.returncode == 0, result.stderr
    assert state(runtime, name) == "STOPPED"
    assert not Path(f"/proc/{pid}").exists()
    assert cgroups_of(name) == []


def test_fork_bomb_is_fully_killed(runtime: Cli, tmp_path: Path) -> None:
    pids_dir = "/sys/fs/cgroup/pids"
    if not os.path.isdir(pids_dir):
        pytest.skip("no cgroup v1 pids hierarchy")
    name = make(runtime, tmp_path, "lxc.cgroup.pids.max = 64\n")
    # Every process forks for ever: at the limit the forks fail and are retried, so
    # new processes keep appearing while the stop runs.
    start(runtime, name, "sh", "-c", "b() { while :; do b & done; }; b & exec sleep 1000")
    current = v1_file("pids", name, "pids.current")
    wait_for(lambda: int(current.read_text()) >= 60)
    seen = {int(p) for path in cgroups_of(name) for p in Path(path, "cgroup.procs").read_text().split()}
    result = runtime("lxc-stop", "-n", name, "-k")
    assert result.returncode == 0, result.stderr
    assert cgroups_of(name) == []
    survivors = [p for p in seen if Path(f"/proc/{p}").exists() and _in_cgroup_of(p, name)]
    assert survivors == []


def _in_cgroup_of(pid: int, name: str) -> bool:
    try:
        return f"lxc.payload.{name}" in Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False


# -- figures -------------------------------------------------------------------------------


def test_info_stats_lines(runtime: Cli, tmp_path: Path) -> None:
    name = make(runtime, tmp_path)
    pid = start(runtime, name)
    lines = runtime("lxc-info", "-n", name).stdout.splitlines()
    assert lines[:3] == [f"Name:           {name}", "State:          RUNNING", f"PID:            {pid}"]
    labels = [line[:16] for line in lines[3:]]
    assert labels[:3] == ["CPU use:        ", "BlkIO use:      ", "Memory use:     "]
    assert re.fullmatch(r"CPU use: +\d+\.\d\d seconds", lines[3])
    assert re.fullmatch(r"BlkIO use: +\d+(\.\d\d [KMG]iB| bytes)", lines[4])
    assert re.fullmatch(r"Memory use: +\d+\.\d\d [KMG]iB", lines[5])

    raw = runtime("lxc-info", "-n", name, "-SH").stdout.splitlines()
    assert [line[:16] for line in raw] == labels
    values = {line[:16].strip(): int(line[16:]) for line in raw}
    assert values["CPU use:"] > 0
    assert 64 * 1024 < values["Memory use:"] < 512 * 1024 * 1024
    assert all(value >= 0 for value in values.values())
    only = runtime("lxc-info", "-n", name, "-S").stdout.splitlines()
    assert [line[:16] for line in only] == labels
    # -H with everything keeps the labels (LXC drops them for one item only).
    assert runtime("lxc-info", "-n", name, "-H").stdout.splitlines()[1] == "State:          RUNNING"
    assert runtime("lxc-info", "-n", name, "-sH").stdout == "RUNNING\n"

    fancy = runtime("lxc-ls", "-f", "-F", "NAME,PID,RAM,SWAP").stdout.splitlines()
    row = fancy[1].split()
    assert row[:2] == [name, str(pid)]
    assert re.fullmatch(r"\d+\.\d\dMB", row[2]) and float(row[2][:-2]) > 0
    assert re.fullmatch(r"\d+\.\d\dMB|-", row[3])


def test_stopped_container_has_no_stats(runtime: Cli, tmp_path: Path) -> None:
    name = make(runtime, tmp_path)
    assert runtime("lxc-info", "-n", name, "-S").stdout == ""
    assert runtime("lxc-info", "-n", name).stdout.splitlines() == [
        f"Name:           {name}",
        "State:          STOPPED",
    ]
    row = runtime("lxc-ls", "-f", "-F", "NAME,PID,RAM,SWAP").stdout.splitlines()[1].split()
    assert row == [name, "-", "-", "-"]


def test_daemon_stats_request(runtime: Cli, tmp_path: Path) -> None:
    from runtime.client.control_protocol import RequestFailed, Stats
    from runtime.client.daemon_client import open_connection

    name = make(runtime, tmp_path)
    pid = start(runtime, name)
    connection = open_connection(str(runtime.lxcpath), autostart=False)
    try:
        reply = connection.call(Stats(name=name))
        with pytest.raises(RequestFailed) as missing:
            connection.call(Stats(name=unique("nope")))
    finally:
        connection.close()
    assert reply.state == "RUNNING" and reply.pid == pid
    stats = reply.stats
    assert (stats["cpu_ns"] or 0) > 0 and (stats["memory_bytes"] or 0) > 0
    assert missing.value.kind == "not-running"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0 bytes"),
        (1024, "1024 bytes"),
        (577536, "564.00 KiB"),
        (356352, "348.00 KiB"),
        (1025, "1.00 KiB"),
        (3 * 1024 * 1024 + 1, "3.00 MiB"),
        # LXC cuts GiB hundredths with a divisor a little above 2^30/100: 2.5 GiB
        # shows as 2.49.
        (int(2.5 * 2**30), "2.49 GiB"),
        (int(2.5 * 2**30) + 2**20, "2.50 GiB"),
    ],
)
def test_humanize_like_lxc(value: int, text: str) -> None:
    from cli.lxc_info import humanize

    assert humanize(value) == text


def test_commands_on_a_running_container_import_nothing_heavy(runtime: Cli, tmp_path: Path) -> None:
    """The running paths (figures from the record's cgroup paths, daemon requests)
    stay light too: no trio, pyroute2, pyinotify, attrs (see test_import_rules)."""
    from test_import_rules import HEAVY, imported_modules

    name = make(runtime, tmp_path)
    start(runtime, name)
    path = str(runtime.lxcpath)
    for args in (
        ["lxc-info", "-n", name],
        ["lxc-ls", "-f", "-F", "NAME,RAM,SWAP"],
        ["lxc-cgroup", "-n", name, "cpu.shares"],
        ["lxc-freeze", "-n", name],
        ["lxc-unfreeze", "-n", name],
    ):
        modules = imported_modules([str(BIN / args[0]), "-P", path, *args[1:]], runtime.env)
        assert "cli.common" in modules, args
        assert sorted(m for m in modules if m.split(".")[0] in HEAVY) == [], args
    assert state(runtime, name) == "RUNNING"


async def test_python_api_freezer_and_keys(runtime: Cli, tmp_path: Path) -> None:
    """The daemon's requests behind Runtime.freeze/unfreeze/cgroup_get/cgroup_set/stats."""
    from runtime.api import Runtime
    from runtime.client.errors import LxcError

    name = make(runtime, tmp_path)
    start(runtime, name)
    rt = Runtime(str(runtime.lxcpath))
    assert await rt.freeze(name) is True
    assert await rt.freeze(name) is False
    assert await rt.state(name) == "FROZEN"
    assert (await rt.stats(name))["memory_bytes"] > 0
    assert await rt.unfreeze(name) is True
    assert await rt.unfreeze(name) is False
    assert await rt.state(name) == "RUNNING"
    await rt.cgroup_set(name, "cpu.shares", "256")
    assert await rt.cgroup_get(name, "cpu.shares") == "256\n"
    with pytest.raises(LxcError, match="unknown cgroup key 'foo.bar'"):
        await rt.cgroup_get(name, "foo.bar")
    with pytest.raises(LxcError, match="Invalid argument"):
        await rt.cgroup_set(name, "cpu.shares", "abc")
    with pytest.raises(LxcError, match="is not running"):
        await rt.freeze(unique("nope"))


def test_frozen_container_survives_a_daemon_restart(runtime: Cli, tmp_path: Path) -> None:
    """The record says FROZEN; a new daemon re-adopts it frozen and can thaw it."""

    name = make(runtime, tmp_path)
    pid = start(runtime, name, *BUSY_LOOP)
    assert runtime("lxc-freeze", "-n", name).returncode == 0
    kill_daemon(runtime)
    assert state(runtime, name) == "FROZEN"  # from the record, no daemon needed
    before = cpu_ticks(pid)
    time.sleep(0.3)
    assert cpu_ticks(pid) - before <= 1
    assert runtime("lxc-freeze", "-n", name).returncode == 0  # a new daemon: still frozen
    assert runtime("lxc-unfreeze", "-n", name).returncode == 0
    assert state(runtime, name) == "RUNNING"
    before = cpu_ticks(pid)
    time.sleep(0.3)
    assert cpu_ticks(pid) > before
    assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
    assert cgroups_of(name) == []
