"""Containers that real LXC runs in our lxcpath: seen as running, left alone.

Uses the real `/usr/bin/lxc-*` (installed by `make setup`; the tests skip only if
it is missing) on the test's private lxcpath, with a unique container name (LXC's
cgroups, `lxc.payload.NAME` and `lxc.monitor.NAME`, are host-wide). The container is
stopped and destroyed with LXC's own commands and its monitor reaped (pytest is the
session's subreaper), and no cgroup of that name may remain, even on failure.
"""

from __future__ import annotations

import glob
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.client import lxc_native

LXC_BIN = Path("/usr/bin")
needs_lxc = pytest.mark.skipif(
    not (LXC_BIN / "lxc-start").exists() or os.geteuid() != 0,
    reason="needs real LXC (/usr/bin/lxc-start) and root",
)


def lxc(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """One of real LXC's commands."""
    result = subprocess.run(
        [str(LXC_BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=60
    )
    if check:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def lxc_cgroups(name: str) -> list[str]:
    return sorted(
        glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{name}")
        + glob.glob(f"/sys/fs/cgroup/*/lxc.monitor.{name}")
    )


def reap(pid: int) -> None:
    """Collect an exited process re-parented to this test process (the subreaper)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return  # not ours to reap (or already reaped)
        if done:
            return
        time.sleep(0.02)


@pytest.fixture
def lxc_container(lxcpath: Path, empty_net_config: Path) -> Iterator[str]:
    """A busybox container started by real LXC in the test's lxcpath."""
    name = f"tlxcnat-{uuid.uuid4().hex[:8]}"
    path = str(lxcpath)
    pivots = set(glob.glob("/sys/fs/cgroup/*/lxc.pivot"))  # LXC's monitors exit through it
    lxc("lxc-create", "-P", path, "-n", name, "-t", "busybox", "-f", str(empty_net_config))
    monitor: int | None = None
    try:
        lxc("lxc-start", "-P", path, "-n", name)
        lxc("lxc-wait", "-P", path, "-n", name, "-s", "RUNNING", "-t", "10")
        run = lxc_native.find(path, name)
        monitor = run.monitor if run is not None else None
        yield name
    finally:
        lxc("lxc-stop", "-P", path, "-n", name, "-k", check=False)
        if monitor is not None:
            reap(monitor)
        lxc("lxc-destroy", "-P", path, "-n", name, "-f", check=False)
        left = lxc_cgroups(name)
        for directory in sorted(left, reverse=True):  # pragma: no cover - LXC removes them
            try:
                os.rmdir(directory)
            except OSError:
                pass
        for directory in set(glob.glob("/sys/fs/cgroup/*/lxc.pivot")) - pivots:
            try:
                os.rmdir(directory)  # made for our container; EBUSY if another LXC uses it
            except OSError:
                pass
        assert not left, left


@needs_lxc
def test_lxc_run_container_is_running_and_left_alone(
    cli, lxcpath: Path, lxc_container: str
) -> None:
    name = lxc_container
    theirs = lxc("lxc-info", "-P", str(lxcpath), "-n", name, "-p", "-H").stdout.strip()
    listed = cli("lxc-ls", "--running", "-1")
    assert listed.stdout == f"{name}\n", listed.stderr
    info = cli("lxc-info", "-n", name)
    assert info.returncode == 0, info.stderr
    assert f"State:          RUNNING\nPID:            {theirs}\n" in info.stdout
    assert "Memory use:" in info.stdout  # figures from LXC's cgroups
    fancy = cli("lxc-ls", "-f", "-F", "NAME,STATE,PID")
    assert fancy.stdout.splitlines()[1].split() == [name, "RUNNING", theirs]

    for command in (("lxc-start", "-n", name), ("lxc-destroy", "-n", name),
                    ("lxc-destroy", "-n", name, "-f"), ("lxc-copy", "-n", name, "-N", "other")):  # fmt: skip
        refused = cli(*command)
        assert refused.returncode == 1, command
        assert refused.stderr.count("\n") == 1, refused.stderr
        assert "started by LXC itself" in refused.stderr and f"init pid {theirs}" in refused.stderr
    assert lxc("lxc-info", "-P", str(lxcpath), "-n", name, "-s", "-H").stdout == "RUNNING\n"
    assert sorted(os.listdir(lxcpath)) == [name]

    lxc("lxc-freeze", "-P", str(lxcpath), "-n", name)
    assert "State:          FROZEN\n" in cli("lxc-info", "-n", name).stdout
    lxc("lxc-unfreeze", "-P", str(lxcpath), "-n", name)
    assert cli("lxc-info", "-n", name, "-s", "-H").stdout == "RUNNING\n"

    run = lxc_native.find(str(lxcpath), name)
    assert run is not None
    lxc("lxc-stop", "-P", str(lxcpath), "-n", name, "-k")
    reap(run.monitor)
    assert cli("lxc-info", "-n", name, "-s", "-H").stdout == "STOPPED\n"
    assert lxc_native.find(str(lxcpath), name) is None


@needs_lxc
def test_a_socket_from_another_pid_namespace_is_not_lxc(lxcpath: Path) -> None:
    """A container's process (own pid namespace) that binds the command socket name
    in the host's network namespace does not make a name look run by LXC."""
    name = f"tlxcnat-{uuid.uuid4().hex[:8]}"
    address = "\0" + lxc_native.socket_name(str(lxcpath), name)[1:]
    code = (
        "import socket, sys, time\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        f"s.bind({address!r}); s.listen()\n"
        "print('ready', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--kill-child", sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        probe = socket.socket(socket.AF_UNIX)
        probe.connect(address)  # it is there and listening
        probe.close()
        assert lxc_native.find(str(lxcpath), name) is None
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
