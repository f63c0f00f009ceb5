"""`--rcfile FILE` of the lxc-* commands that act on an existing container.

LXC's tools load FILE as the container's config and refuse one that does not
load ("Failed to load rcfile", exit 1) before doing anything; lxc-stop then sends
the rcfile's lxc.signal.halt / reboot / stop instead of the started config's.
On real busybox containers whose init is a shell that records which signal it got.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import Cli, create_busybox, unique

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/bin/busybox"), reason="needs root and busybox-static"
)

SIGUSR1, SIGUSR2, SIGPWR = 10, 12, 30
#: The init: writes which of SIGUSR1/SIGUSR2/SIGPWR it got to /got.txt, then exits.
INIT = (
    f"trap 'echo usr1 > /got.txt; exit 3' {SIGUSR1}; "
    f"trap 'echo usr2 > /got.txt; exit 4' {SIGUSR2}; "
    f"trap 'echo pwr > /got.txt; exit 5' {SIGPWR}; "
    "while :; do sleep 0.1; done"
)


def start(runtime: Cli, tmp_path: Path, *defines: str) -> str:
    """A running busybox container whose init is INIT."""
    name = create_busybox(runtime, tmp_path, "lxc.net.0.type = empty\n", "rc")
    args = [arg for define in defines for arg in ("-s", define)]
    result = runtime("lxc-start", "-n", name, *args, "--", "/bin/sh", "-c", INIT)
    assert result.returncode == 0, result.stderr
    wait_state(runtime, name, "RUNNING")
    return name


def wait_state(runtime: Cli, name: str, state: str, timeout: float = 15) -> None:
    result = runtime("lxc-wait", "-n", name, "-s", state, "-t", str(timeout))
    assert result.returncode == 0, f"{name} not {state}: {result.stderr}"


def got(runtime: Cli, name: str) -> str:
    return (runtime.lxcpath / name / "rootfs" / "got.txt").read_text().strip()


def test_a_bad_rcfile_is_refused_and_nothing_changes(runtime: Cli, tmp_path: Path) -> None:
    name = start(runtime, tmp_path)
    bad = tmp_path / "bad.conf"
    bad.write_text("lxc.signal.halt = SIGUSR2\nlxc.bogus = 1\n")
    badsig = tmp_path / "badsig.conf"
    badsig.write_text("lxc.signal.halt = SIGBOGUS\n")
    missing = tmp_path / "missing.conf"
    commands = [
        ("lxc-stop", "-n", name),
        ("lxc-stop", "-n", name, "-k"),
        ("lxc-freeze", "-n", name),
        ("lxc-unfreeze", "-n", name),
        ("lxc-cgroup", "-n", name, "pids.max", "5"),
        ("lxc-wait", "-n", name, "-s", "RUNNING", "-t", "0"),
        ("lxc-monitor", "-n", name),
        ("lxc-destroy", "-n", name, "-f"),
        ("lxc-copy", "-n", name, "-N", unique("copy")),
        ("lxc-device", "-n", name, "add", "/dev/null"),
        ("lxc-console", "-n", name),
        ("lxc-checkpoint", "-n", name, "-D", str(tmp_path / "ck")),
    ]
    cases = [(bad, f"{bad}:2: unknown key 'lxc.bogus'"),
             (badsig, f"{badsig}:1: lxc.signal.halt: 'SIGBOGUS' is not a signal name or number"),
             (missing, f"{missing}: cannot read the config file")]  # fmt: skip
    for command in commands:
        for rcfile, says in cases:
            result = runtime(command[0], "--rcfile", str(rcfile), *command[1:])
            assert result.returncode == 1, (command, rcfile, result.stdout, result.stderr)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1, (command, result.stderr)
            assert says in lines[0] and "Failed to load rcfile" in lines[0], (command, lines[0])
    # Nothing happened: still running, not frozen, no copy, no checkpoint, its init untouched.
    assert runtime("lxc-info", "-n", name, "-sH").stdout.strip() == "RUNNING"
    assert (runtime.lxcpath / name / "config").exists()
    assert sorted(p.name for p in runtime.lxcpath.iterdir() if p.name.startswith("copy")) == []
    assert not (tmp_path / "ck").exists()
    assert not (runtime.lxcpath / name / "rootfs" / "got.txt").exists()
    result = runtime("lxc-stop", "-n", name, "-k")
    assert result.returncode == 0, result.stderr


def test_lxc_stop_sends_the_rcfiles_halt_signal(runtime: Cli, tmp_path: Path) -> None:
    """Started with the default halt signal (SIGPWR); the rcfile says SIGUSR2."""
    name = start(runtime, tmp_path)
    rcfile = tmp_path / "rc.conf"
    rcfile.write_text("lxc.signal.halt = SIGUSR2\n")
    result = runtime("lxc-stop", "-n", name, "-t", "10", "--rcfile", str(rcfile))
    assert result.returncode == 0, result.stderr
    wait_state(runtime, name, "STOPPED")
    assert got(runtime, name) == "usr2"


def test_lxc_stop_without_rcfile_sends_the_started_configs(runtime: Cli, tmp_path: Path) -> None:
    name = start(runtime, tmp_path, "lxc.signal.halt=SIGUSR1")
    result = runtime("lxc-stop", "-n", name, "-t", "10")
    assert result.returncode == 0, result.stderr
    assert got(runtime, name) == "usr1"


def test_an_rcfile_without_the_key_means_lxcs_default(runtime: Cli, tmp_path: Path) -> None:
    """As LXC: the rcfile replaces the config, so its unset halt signal is SIGPWR,
    not the started config's SIGUSR1."""
    name = start(runtime, tmp_path, "lxc.signal.halt=SIGUSR1")
    rcfile = tmp_path / "rc.conf"
    rcfile.write_text("lxc.uts.name = other\n")
    result = runtime("lxc-stop", "-n", name, "-t", "10", "--rcfile", str(rcfile))
    assert result.returncode == 0, result.stderr
    assert got(runtime, name) == "pwr"


def test_lxc_stop_kill_sends_the_rcfiles_stop_signal(runtime: Cli, tmp_path: Path) -> None:
    """-k: the started config's lxc.signal.stop is unset (SIGKILL); the rcfile's is SIGUSR2."""
    name = start(runtime, tmp_path)
    rcfile = tmp_path / "rc.conf"
    rcfile.write_text("lxc.signal.stop = SIGUSR2\n")
    result = runtime("lxc-stop", "-n", name, "-k", "--rcfile", str(rcfile))
    assert result.returncode == 0, result.stderr
    wait_state(runtime, name, "STOPPED")
    assert got(runtime, name) == "usr2"


def test_lxc_stop_reboot_sends_the_rcfiles_reboot_signal(runtime: Cli, tmp_path: Path) -> None:
    """-r: the started config's lxc.signal.reboot is unset (SIGINT); the rcfile's is
    SIGUSR1. The init exits on it and the container comes back (a reboot)."""
    name = start(runtime, tmp_path)
    rcfile = tmp_path / "rc.conf"
    rcfile.write_text("lxc.signal.reboot = SIGUSR1\n")
    try:
        result = runtime("lxc-stop", "-n", name, "-r", "--rcfile", str(rcfile))
        assert result.returncode == 0, result.stderr
        marker = runtime.lxcpath / name / "rootfs" / "got.txt"
        deadline = time.monotonic() + 15
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got(runtime, name) == "usr1"
        wait_state(runtime, name, "RUNNING")
    finally:
        assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
