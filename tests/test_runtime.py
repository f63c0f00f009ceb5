"""The runtime end to end: daemon, spawner, supervisors, real containers, as root.

Each test has its own lxcpath and run directory (so its own daemon), unique
container names, and the `runtime` fixture stops the daemon and sweeps processes
and cgroups afterwards even when the test fails.
"""

from __future__ import annotations

import contextlib
import glob
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BIN, Cli, kill_daemon

BUSYBOX_CONF = "lxc.net.0.type = empty\n"


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def busybox(runtime: Cli, tmp_path: Path) -> str:
    """A created busybox container (stopped); returns its name."""
    name = unique("bb")
    conf = tmp_path / "bb.conf"
    conf.write_text(BUSYBOX_CONF)
    result = runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf))
    assert result.returncode == 0, result.stderr
    return name


def cgroups_of(name: str) -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{name}")


def state(cli: Cli, name: str) -> str:
    return cli("lxc-info", "-n", name, "-sH").stdout.strip()


# -- lxc-execute ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "status"),
    [("exit 7", 7), ("kill -9 $$", 137), ("kill -TERM $$", 143), ("exit 255", 255), ("true", 0)],
)
def test_execute_exit_status(runtime: Cli, busybox: str, script: str, status: int) -> None:
    result = runtime("lxc-execute", "-n", busybox, "--", "sh", "-c", script)
    assert result.returncode == status, result.stderr
    assert state(runtime, busybox) == "STOPPED"
    assert cgroups_of(busybox) == []


def test_execute_missing_binary_is_255(runtime: Cli, busybox: str) -> None:
    result = runtime("lxc-execute", "-n", busybox, "--", "/nonexistent")
    assert result.returncode == 255


def test_execute_pid1_is_init_and_app_is_pid2(runtime: Cli, busybox: str) -> None:
    script = 'echo "$$"; cat /proc/1/comm; tr "\\0" " " </proc/1/cmdline; echo; hostname; env'
    result = runtime("lxc-execute", "-n", busybox, "--", "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "2"
    assert lines[1] == "init"
    assert lines[2].strip() == "init"
    assert lines[3] == busybox
    env = set(lines[4:])
    assert "container=lxc" in env
    assert not any(line.startswith(("TRIO_LXC", "PATH=/work")) for line in env)


def test_execute_passes_stdio(runtime: Cli, busybox: str) -> None:
    result = runtime("lxc-execute", "-n", busybox, "--", "sh", "-c", "cat; echo err >&2", input="hello\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, "hello\n", "err\n")


def test_execute_waits_for_every_process(runtime: Cli, busybox: str) -> None:
    started = time.monotonic()
    result = runtime("lxc-execute", "-n", busybox, "--", "sh", "-c", "sleep 1 & exit 0")
    assert result.returncode == 0
    assert time.monotonic() - started >= 1.0


def test_execute_forwards_signals(runtime: Cli, busybox: str) -> None:
    argv = [str(BIN / "lxc-execute"), "-P", str(runtime.lxcpath), "-n", busybox, "--", "sleep", "30"]
    process = subprocess.Popen(
        argv, env=runtime.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while state(runtime, busybox) != "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 143
    finally:
        process.kill()
        process.wait()


def test_execute_volatile_container(runtime: Cli, tmp_path: Path) -> None:
    conf = tmp_path / "volatile.conf"
    conf.write_text("lxc.net.0.type = empty\n")
    name = unique("vol")
    result = runtime("lxc-execute", "-n", name, "-f", str(conf), "--", "sh", "-c", "echo $$; hostname")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["2", name]
    assert not (runtime.lxcpath / name).exists()


def test_execute_isolates_namespaces(runtime: Cli, busybox: str) -> None:
    script = "ls /proc | grep -c '^[0-9]'; ls /proc/self/fd | wc -l; cat /proc/self/mountinfo"
    result = runtime("lxc-execute", "-n", busybox, "--", "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert int(lines[0]) <= 5  # init, sh, ls, grep: nothing of the host
    assert int(lines[1]) == 4  # 0 1 2 and ls's own directory fd
    mount_points = [line.split()[4] for line in lines[2:]]
    assert "/" in mount_points and "/proc" in mount_points
    assert not [m for m in mount_points if m.startswith(("/work", "/tmp/pytest", "/root"))]


def test_execute_without_config_is_refused(runtime: Cli) -> None:
    result = runtime("lxc-execute", "-n", unique(), "--", "true")
    assert result.returncode == 1
    assert "no configuration file" in result.stderr


def test_bad_config_fails_before_starting(runtime: Cli, tmp_path: Path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text("lxc.net.0.type = empty\nlxc.tty.max = abc\n")
    result = runtime("lxc-execute", "-n", unique(), "-f", str(conf), "--", "true")
    assert result.returncode == 1
    assert f"{conf}:2: lxc.tty.max: 'abc' is not a number" in result.stderr


# -- lxc-start / lxc-stop ------------------------------------------------------------


def test_start_stop_system_container(runtime: Cli, busybox: str) -> None:
    started = runtime("lxc-start", "-n", busybox)
    assert started.returncode == 0, started.stderr
    assert state(runtime, busybox) == "RUNNING"
    pid = int(runtime("lxc-info", "-n", busybox, "-pH").stdout)
    busybox_binary = runtime.lxcpath / busybox / "rootfs/bin/busybox"
    assert os.stat(f"/proc/{pid}/exe").st_ino == busybox_binary.stat().st_ino
    assert cgroups_of(busybox)

    again = runtime("lxc-start", "-n", busybox)
    assert again.returncode == 1
    assert "already running" in again.stderr

    stopped = runtime("lxc-stop", "-n", busybox, "-t", "10")
    assert stopped.returncode == 0, stopped.stderr
    assert state(runtime, busybox) == "STOPPED"
    assert not Path(f"/proc/{pid}").exists()
    assert cgroups_of(busybox) == []

    not_running = runtime("lxc-stop", "-n", busybox)
    assert not_running.returncode == 2
    assert f"{busybox} is not running" in not_running.stderr


def test_stop_kill_takes_every_process(runtime: Cli, busybox: str) -> None:
    command = ["sh", "-c", "for i in $(seq 50); do sleep 300 & done; wait"]
    assert runtime("lxc-start", "-n", busybox, "--", *command).returncode == 0
    deadline = time.monotonic() + 5
    procs: list[str] = []
    while time.monotonic() < deadline:
        procs = [p for path in cgroups_of(busybox) for p in Path(path, "cgroup.procs").read_text().split()]
        if len(set(procs)) >= 51:
            break
        time.sleep(0.05)
    assert len(set(procs)) >= 51
    result = runtime("lxc-stop", "-n", busybox, "-k")
    assert result.returncode == 0, result.stderr
    assert cgroups_of(busybox) == []
    assert not any(Path(f"/proc/{p}").exists() for p in set(procs))


def test_graceful_stop_times_out_then_kills(runtime: Cli, busybox: str) -> None:
    assert runtime("lxc-start", "-n", busybox, "-s", "lxc.signal.halt=SIGWINCH").returncode == 0
    started = time.monotonic()
    result = runtime("lxc-stop", "-n", busybox, "-t", "1")
    assert result.returncode == 0, result.stderr
    assert 0.9 <= time.monotonic() - started < 8
    assert state(runtime, busybox) == "STOPPED"


def test_start_abort_reports_reason_and_leaves_nothing(runtime: Cli, busybox: str) -> None:
    result = runtime("lxc-start", "-n", busybox, "-s", "lxc.rootfs.path=/nonexistent/rootfs")
    assert result.returncode == 1
    assert "/nonexistent/rootfs" in result.stderr
    assert state(runtime, busybox) == "STOPPED"
    assert cgroups_of(busybox) == []


def test_start_unknown_container(runtime: Cli) -> None:
    result = runtime("lxc-start", "-n", unique())
    assert result.returncode == 1
    assert "No container config specified" in result.stderr


def test_daemon_killed_and_restarted_readopts(runtime: Cli, busybox: str, lxc_env: dict[str, str]) -> None:
    assert runtime("lxc-start", "-n", busybox).returncode == 0
    pid = int(runtime("lxc-info", "-n", busybox, "-pH").stdout)
    kill_daemon(runtime)
    assert Path(f"/proc/{pid}").exists()
    assert state(runtime, busybox) == "RUNNING"
    result = runtime("lxc-stop", "-n", busybox, "-k")
    assert result.returncode == 0, result.stderr
    assert state(runtime, busybox) == "STOPPED"
    assert not Path(f"/proc/{pid}").exists()
    assert cgroups_of(busybox) == []


def test_host_init_is_never_booted_without_a_rootfs(runtime: Cli, tmp_path: Path) -> None:
    conf = tmp_path / "norootfs.conf"
    conf.write_text("lxc.net.0.type = empty\n")
    name = unique("nr")
    assert runtime("lxc-create", "-n", name, "-t", "none", "-f", str(conf)).returncode == 0
    result = runtime("lxc-start", "-n", name)
    assert result.returncode == 1
    assert "host's own init" in result.stderr
    assert cgroups_of(name) == []
    ok = runtime("lxc-start", "-n", name, "-F", "--", "/bin/sh", "-c", "hostname")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == name


def test_reboot_restarts_the_container(runtime: Cli, busybox: str) -> None:
    assert runtime("lxc-start", "-n", busybox).returncode == 0
    first = int(runtime("lxc-info", "-n", busybox, "-pH").stdout)
    result = runtime("lxc-stop", "-n", busybox, "-r")
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 15
    second = first
    while time.monotonic() < deadline:
        out = runtime("lxc-info", "-n", busybox, "-pH").stdout.strip()
        if out and int(out) != first and state(runtime, busybox) == "RUNNING":
            second = int(out)
            break
        time.sleep(0.1)
    assert second != first
    assert not Path(f"/proc/{first}").exists()
    assert runtime("lxc-stop", "-n", busybox, "-k").returncode == 0


def run_with_timeout(runtime: Cli, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """A command that must return within `timeout` seconds (a hang fails the test)."""
    argv = [str(BIN / args[0]), "-P", str(runtime.lxcpath), *args[1:]]
    try:
        return subprocess.run(argv, env=runtime.env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(args)} did not return within {timeout} s")


def test_a_kill_after_an_ignored_reboot_stops_the_container(runtime: Cli, busybox: str) -> None:
    """`lxc-stop -r -W` whose signal the init ignores leaves the container running; a
    later `lxc-stop -k` must stop it. It used to restart it (the reboot stayed pending)
    and the kill's own command then waited forever."""
    result = runtime("lxc-start", "-n", busybox, "-s", "lxc.signal.reboot=SIGWINCH")
    assert result.returncode == 0, result.stderr
    first = int(runtime("lxc-info", "-n", busybox, "-pH").stdout)
    result = runtime("lxc-stop", "-n", busybox, "-r", "-W")
    assert result.returncode == 0, result.stderr
    time.sleep(0.3)
    assert state(runtime, busybox) == "RUNNING"  # the init ignored SIGWINCH
    assert int(runtime("lxc-info", "-n", busybox, "-pH").stdout) == first
    killed = run_with_timeout(runtime, "lxc-stop", "-n", busybox, "-k")
    assert killed.returncode == 0, killed.stderr
    time.sleep(0.3)
    assert state(runtime, busybox) == "STOPPED"  # not started again
    assert cgroups_of(busybox) == []


def test_a_reboot_that_does_not_come_fails_and_is_called_off(runtime: Cli, busybox: str) -> None:
    """As LXC's: `lxc-stop -r -t T` waits for the container to run again and fails
    (exit 1) when it did not within T; the reboot is then off: the init's own exit
    later stops the container (it used to start it again, whenever that came)."""
    result = runtime("lxc-start", "-n", busybox, "-s", "lxc.signal.reboot=SIGWINCH")
    assert result.returncode == 0, result.stderr
    first = int(runtime("lxc-info", "-n", busybox, "-pH").stdout)
    began = time.monotonic()
    result = run_with_timeout(runtime, "lxc-stop", "-n", busybox, "-r", "-t", "1")
    assert result.returncode == 1
    assert time.monotonic() - began >= 1
    assert f"{busybox} did not reboot within 1 s" in result.stderr
    assert state(runtime, busybox) == "RUNNING"
    os.kill(first, signal.SIGKILL)  # the init dies, not by lxc-stop
    wait_stopped(runtime, busybox)
    time.sleep(0.3)
    assert state(runtime, busybox) == "STOPPED", "started again after a reboot that was called off"


def test_a_reboot_whose_command_went_away_stays_asked_for(runtime: Cli, busybox: str) -> None:
    """An `lxc-stop -r` killed while it waits does not call its reboot off when its
    wait would have ended: the init's exit after that still restarts the container."""
    result = runtime("lxc-start", "-n", busybox, "-s", "lxc.signal.reboot=SIGWINCH")
    assert result.returncode == 0, result.stderr
    first = int(runtime("lxc-info", "-n", busybox, "-pH").stdout)
    argv = [str(BIN / "lxc-stop"), "-P", str(runtime.lxcpath), "-n", busybox, "-r", "-t", "1"]
    with subprocess.Popen(argv, env=runtime.env, stderr=subprocess.DEVNULL) as waiting:
        time.sleep(0.3)
        waiting.kill()
    time.sleep(1.5)  # past the timeout the command asked for
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 15
    second = first
    while second == first and time.monotonic() < deadline:
        out = runtime("lxc-info", "-n", busybox, "-pH").stdout.strip()
        second = int(out) if out and state(runtime, busybox) == "RUNNING" else first
        time.sleep(0.05)
    assert second != first, "the reboot was called off by a command that went away"
    assert run_with_timeout(runtime, "lxc-stop", "-n", busybox, "-k").returncode == 0


def test_a_reboot_whose_new_start_fails_says_why(runtime: Cli, busybox: str) -> None:
    """A reboot reads the config again; when the new start fails, `lxc-stop -r` fails
    with the reason (exit 1) and the container is STOPPED."""
    assert runtime("lxc-start", "-n", busybox).returncode == 0
    config = runtime.lxcpath / busybox / "config"
    config.write_text(config.read_text() + "lxc.rootfs.path = dir:/nonexistent-rootfs\n")
    result = run_with_timeout(runtime, "lxc-stop", "-n", busybox, "-r", timeout=30)
    assert result.returncode == 1
    assert f"{busybox} did not start again: " in result.stderr and "nonexistent-rootfs" in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert state(runtime, busybox) == "STOPPED"
    assert cgroups_of(busybox) == []


def test_a_stop_with_no_timeout_asks_and_does_not_wait(runtime: Cli, busybox: str) -> None:
    """`lxc-stop -t 0` sends the halt signal and returns (LXC 5); it used to kill."""
    result = runtime("lxc-start", "-n", busybox, "-s", "lxc.signal.halt=SIGWINCH")
    assert result.returncode == 0, result.stderr
    result = run_with_timeout(runtime, "lxc-stop", "-n", busybox, "-t", "0")
    assert result.returncode == 0, result.stderr
    time.sleep(0.3)
    assert state(runtime, busybox) == "RUNNING"  # SIGWINCH: the init goes on
    assert run_with_timeout(runtime, "lxc-stop", "-n", busybox, "-k").returncode == 0
    # With the halt signal the init obeys, it was asked: it stops by itself.
    assert runtime("lxc-start", "-n", busybox).returncode == 0
    result = run_with_timeout(runtime, "lxc-stop", "-n", busybox, "-t", "0")
    assert result.returncode == 0, result.stderr
    result = runtime("lxc-wait", "-n", busybox, "-s", "STOPPED", "-t", "15")
    assert result.returncode == 0, result.stderr


@contextlib.contextmanager
def attached_shell(runtime: Cli, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """`lxc-execute` of a shell that ends on SIGINT (lxc.signal.reboot), RUNNING; killed
    at the end if it is still there."""
    script = 'trap "exit 0" INT; while :; do sleep 0.05; done'
    argv = [str(BIN / "lxc-execute"), "-P", str(runtime.lxcpath), "-n", name, "--", "/bin/sh", "-c", script]
    with subprocess.Popen(argv, env=runtime.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as attached:
        try:
            result = runtime("lxc-wait", "-n", name, "-s", "RUNNING", "-t", "30")
            assert result.returncode == 0, result.stderr
            yield attached
        finally:
            if attached.poll() is None:
                attached.kill()
            run_with_timeout(runtime, "lxc-stop", "-n", name, "-k")


def wait_stopped(runtime: Cli, name: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while state(runtime, name) != "STOPPED" and time.monotonic() < deadline:
        time.sleep(0.05)


def test_an_attached_command_killed_during_a_reboot_takes_the_container(
    runtime: Cli, tmp_path: Path
) -> None:
    """The attached command goes while its container restarts (the new run is still in
    its pre-start hook: no process of it yet): the container must not come up
    again. The kill used to find nothing to kill, and the container ran on, alone."""
    hook = tmp_path / "slow-hook"
    hook.write_text("#!/bin/sh\nsleep 0.5\n")
    hook.chmod(0o755)
    conf = tmp_path / "hook.conf"
    conf.write_text(f"{BUSYBOX_CONF}lxc.hook.pre-start = {hook}\n")
    name = unique("rk")
    assert runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf)).returncode == 0
    with attached_shell(runtime, name) as attached:
        assert runtime("lxc-stop", "-n", name, "-r", "-W").returncode == 0
        result = runtime("lxc-wait", "-n", name, "-s", "STARTING", "-t", "10")
        assert result.returncode == 0, result.stderr
        attached.kill()  # in the new run's pre-start hook
        attached.wait(timeout=10)
        wait_stopped(runtime, name)
        time.sleep(1)  # past the hook: a start that went on would be RUNNING by now
        assert state(runtime, name) == "STOPPED"
        assert cgroups_of(name) == []


def test_an_attached_command_follows_its_container_through_a_reboot(runtime: Cli, busybox: str) -> None:
    """`lxc-execute` stays attached while its container reboots (as LXC's lxc-start
    -F does) and returns when the container finally stops: it used to wait on the
    first run's end, which a reboot never signalled, and hung."""
    with attached_shell(runtime, busybox) as attached:
        first = int(runtime("lxc-info", "-n", busybox, "-pH").stdout)
        result = run_with_timeout(runtime, "lxc-stop", "-n", busybox, "-r")  # back when it runs again
        assert result.returncode == 0, result.stderr
        assert state(runtime, busybox) == "RUNNING"
        assert int(runtime("lxc-info", "-n", busybox, "-pH").stdout) != first
        assert attached.poll() is None, "the command left at the reboot"
        result = runtime("lxc-stop", "-n", busybox, "-k")
        assert result.returncode == 0, result.stderr
        try:
            assert attached.wait(timeout=20) == 128 + signal.SIGKILL
        except subprocess.TimeoutExpired:
            pytest.fail("lxc-execute never returned after its rebooted container was killed")


def test_python_api_runs_containers_concurrently(runtime: Cli, tmp_path: Path) -> None:
    import trio

    from runtime.api import Runtime

    conf = tmp_path / "api.conf"
    conf.write_text(BUSYBOX_CONF)
    names = [unique("api") for _ in range(3)]
    for name in names:
        assert runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf)).returncode == 0
    rt = Runtime(str(runtime.lxcpath))

    async def scenario() -> list[str]:
        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(rt.start, name)
        states = [await rt.wait(name, {"RUNNING"}, timeout=10) for name in names]
        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(lambda n=name: rt.stop(n, kill=True))
        return states + [await rt.state(name) for name in names]

    assert trio.run(scenario) == ["RUNNING"] * 3 + ["STOPPED"] * 3
    assert all(cgroups_of(name) == [] for name in names)
