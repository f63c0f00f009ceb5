"""The daemon's open-file limit (runtime.daemon.fd_limit), on a real daemon and container.

The command that starts the daemon runs with a soft RLIMIT_NOFILE of 1024 under a
higher hard limit: the daemon raises its own soft limit to the hard one (it holds
descriptors for every container), while its spawner, and so every container, keeps
the 1024 it was started with, as LXC's containers keep their starter's.
"""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

import pytest
from conftest import BIN, Cli, create_busybox

from runtime.client.rundir import run_dir

CONF = "lxc.net.0.type = empty\n"
LOW = 1024


def open_files(pid: int) -> tuple[int, int]:
    """(soft, hard) 'Max open files' of a process, from /proc/PID/limits."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError(f"no open-file limit for {pid}")


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def test_daemon_takes_the_hard_limit_and_containers_keep_the_inherited_one(
    runtime: Cli, tmp_path: Path
) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= LOW:
        pytest.skip(f"the hard limit ({hard}) leaves nothing to raise")
    name = create_busybox(runtime, tmp_path, CONF, "fd")
    pid_file = Path(run_dir(str(runtime.lxcpath)), "daemon.pid")
    assert not pid_file.exists(), "a daemon already serves this lxcpath"

    def low() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (LOW, hard))

    result = subprocess.run(
        [str(BIN / "lxc-execute"), "-P", str(runtime.lxcpath), "-n", name, "--",
         "sh", "-c", "ulimit -n"],
        env=runtime.env, capture_output=True, text=True, timeout=120, preexec_fn=low,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(LOW)  # the container: the starter's limit
    daemon = int(pid_file.read_text())
    assert open_files(daemon) == (hard, hard)
    spawners = [
        pid
        for pid in children(daemon)
        if b"runtime.spawn.spawner" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert spawners, "no spawner under the daemon"
    assert [open_files(pid) for pid in spawners] == [(LOW, hard)] * len(spawners)
