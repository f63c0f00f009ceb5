"""The end of a run, seen by the commands: when `lxc-execute` or `lxc-stop` returns,
the container is STOPPED and cleaned up, and its name is free at once.

The daemon cleans up (cgroups, terminals, record, STOPPED) before it replies, as
LXC does (runtime.daemon.exit_trace shows the order); these tests hold that order:
an execute followed at once by another of the same name, a kill followed at once by
a start, and nothing of the container left when the command is back. Real busybox
containers, each test with its own lxcpath and daemon (the `runtime` fixture).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from conftest import BIN, Cli, create_busybox
from test_daemon_input import daemon_pid, fd_links

from runtime.cgroups import discover
from runtime.client.records import record_path

CONFIG = "lxc.net.0.type = empty\n"


def container_cgroups(name: str) -> list[str]:
    """The container's cgroup directories that exist, in every hierarchy of the host."""
    return [
        os.path.join(h.mountpoint, f"lxc.payload.{name}")
        for h in discover().hierarchies
        if os.path.isdir(os.path.join(h.mountpoint, f"lxc.payload.{name}"))
    ]


def state(runtime: Cli, name: str) -> str:
    return runtime("lxc-info", "-n", name, "-s").stdout.split()[-1]


def test_execute_again_at_once_under_the_same_name(runtime: Cli, tmp_path: Path) -> None:
    name = create_busybox(runtime, tmp_path, CONFIG, "ex")
    for status in (0, 7, 0, 3, 0):
        result = runtime("lxc-execute", "-n", name, "--", "/bin/sh", "-c", f"exit {status}")
        assert result.returncode == status, result.stderr
        # back: STOPPED, nothing of it left (the clean-up came before the reply)
        assert container_cgroups(name) == []
        assert not os.path.exists(record_path(str(runtime.lxcpath), name))
    assert state(runtime, name) == "STOPPED"


def test_start_at_once_after_a_kill(runtime: Cli, tmp_path: Path) -> None:
    name = create_busybox(runtime, tmp_path, CONFIG, "kl")
    try:
        for _ in range(3):
            result = runtime("lxc-start", "-n", name, "-d")
            assert result.returncode == 0, result.stderr
            assert state(runtime, name) == "RUNNING"
            result = runtime("lxc-stop", "-n", name, "-k")
            assert result.returncode == 0, result.stderr
            assert container_cgroups(name) == []
            assert state(runtime, name) == "STOPPED"
    finally:
        runtime("lxc-stop", "-n", name, "-k")


def test_execute_after_a_kill_of_an_execute(runtime: Cli, tmp_path: Path) -> None:
    """An attached run killed by lxc-stop -k: both commands see the end, the name is
    free for the next execute at once."""
    name = create_busybox(runtime, tmp_path, CONFIG, "ek")
    argv = [str(BIN / "lxc-execute"), "-P", str(runtime.lxcpath), "-n", name, "--", "/bin/sleep", "60"]
    with subprocess.Popen(argv, env=runtime.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as attached:
        try:
            result = runtime("lxc-wait", "-n", name, "-s", "RUNNING", "-t", "30")
            assert result.returncode == 0, result.stderr
            result = runtime("lxc-stop", "-n", name, "-k")
            assert result.returncode == 0, result.stderr
            assert attached.wait(timeout=30) == 128 + 9  # killed: 128 + SIGKILL, as LXC says
        finally:
            if attached.poll() is None:
                attached.kill()
    result = runtime("lxc-execute", "-n", name, "--", "/bin/true")
    assert result.returncode == 0, result.stderr
    assert container_cgroups(name) == []


def test_runs_leave_no_fd_in_the_daemon(runtime: Cli, tmp_path: Path) -> None:
    """Each `lxc-execute` of a container with a console used to leave the daemon three
    fds of that console's pty (made for the init's stdio, unused when the command
    brings its own): a daemon serving many runs ran out of fds."""
    name = create_busybox(runtime, tmp_path, CONFIG, "fd")
    assert runtime("lxc-execute", "-n", name, "--", "/bin/true").returncode == 0  # daemon warm
    daemon = daemon_pid(runtime)
    before = fd_links(daemon)
    for _ in range(4):
        result = runtime("lxc-execute", "-n", name, "--", "/bin/true")
        assert result.returncode == 0, result.stderr
        result = runtime("lxc-start", "-n", name, "-d")
        assert result.returncode == 0, result.stderr
        result = runtime("lxc-stop", "-n", name, "-k")
        assert result.returncode == 0, result.stderr
    assert daemon_pid(runtime) == daemon  # the same process, read twice
    # The last command's connection may still be closing on the daemon's side: what
    # leaked stays, a connection goes within moments.
    deadline = time.monotonic() + 5
    while len(after := fd_links(daemon)) > len(before) and time.monotonic() < deadline:
        time.sleep(0.05)
    with open(f"/proc/{daemon}/stat", "rb") as handle:
        assert handle.read().rsplit(b")", 1)[1].split()[0] != b"Z", "the daemon died"
    grown = {fd: what for fd, what in after.items() if before.get(fd) != what}
    assert after and len(after) <= len(before), grown
