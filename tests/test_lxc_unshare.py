"""lxc-unshare with real namespaces, mounts, users and a veth end moved in.

Each test compares /proc/PID/ns links of the command with the test's own, so a
namespace that was not made (or one that leaked) shows. The -M mounts must stay
in the command's mount namespace: the host's mount table is compared before/after.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from conftest import BIN, Cli
from pyroute2 import IPRoute


def ns(name: str) -> str:
    return os.readlink(f"/proc/self/ns/{name}")


def run(cli: Cli, *args: str):  # noqa: ANN201
    return cli("lxc-unshare", *args, lxcpath=False)


def test_refusals_are_lxcs(cli: Cli) -> None:
    cases = {
        (): "A command to execute in the new namespace is required",
        ("--", "/bin/true"): "A namespace to execute command is required",
        ("-s", "NETWORK", "-H", "x", "--", "/bin/true"): "-H <hostname> needs -s UTSNAME option",
        ("-s", "UTSNAME", "-M", "--", "/bin/true"): "-M needs -s MOUNT option",
        ("-s", "UTSNAME", "-i", "lo", "--", "/bin/true"): "-i <interfacename> needs -s NETWORK option",
        ("-s", "network", "--", "/bin/true"): "Unknown namespace 'network'",
        ("-s", "MOUNT", "--", "/nonexistent-command"): "Failed to exec: '/nonexistent-command'",
    }
    for argv, message in cases.items():
        result = run(cli, *argv)
        assert result.returncode == 1, (argv, result)
        assert message in result.stderr, (argv, result.stderr)


def test_namespaces_by_lxc_and_proc_names(cli: Cli) -> None:
    script = "readlink /proc/self/ns/uts /proc/self/ns/ipc /proc/self/ns/net /proc/self/ns/mnt"
    result = run(cli, "-s", "UTSNAME|ipc|", "--", "/bin/sh", "-c", script)
    assert result.returncode == 0, result.stderr
    uts, ipc, net, mnt = result.stdout.split()
    assert uts != ns("uts") and ipc != ns("ipc")
    assert (net, mnt) == (ns("net"), ns("mnt"))


def test_exit_code_and_hostname(cli: Cli) -> None:
    result = run(cli, "-s", "UTSNAME", "-H", "unshared", "--", "/bin/sh", "-c", "hostname; exit 3")
    assert (result.returncode, result.stdout) == (3, "unshared\n")
    assert os.uname().nodename != "unshared"


def test_pid_and_remount_stay_private(cli: Cli) -> None:
    before = Path("/proc/self/mountinfo").read_text().count("\n")
    mqueue_there = Path("/dev/mqueue").exists()  # a fresh host may have none: -M goes on
    script = "echo $$; grep -c ' /proc proc ' /proc/self/mountinfo; ls /proc | grep -c '^[0-9]'"
    result = run(cli, "-s", "PID|MOUNT", "-M", "--", "/bin/sh", "-c", script)
    assert result.returncode == 0, result.stderr
    pid, _, processes = result.stdout.split()
    assert pid == "1" and int(processes) <= 3  # the shell, grep and ls only
    assert Path("/proc/self/mountinfo").read_text().count("\n") == before
    assert Path("/dev/mqueue").exists() == mqueue_there  # nothing made in the host's /dev


def test_user_and_user_namespace(cli: Cli) -> None:
    result = run(cli, "-s", "UTSNAME", "-u", "nobody", "--", "/usr/bin/id", "-u")
    assert (result.returncode, result.stdout) == (0, "65534\n")
    mapped = run(cli, "-s", "USER", "--", "/bin/sh", "-c", "id -u; cat /proc/self/uid_map")
    assert mapped.returncode == 0, mapped.stderr
    assert mapped.stdout.split() == ["0", "0", "0", "1"]
    assert run(cli, "-s", "UTSNAME", "-u", "no-such-user-x", "--", "/bin/true").returncode == 1


def test_daemon_returns_at_once(cli: Cli, tmp_path: Path) -> None:
    marker = tmp_path / "done"
    started = time.monotonic()
    # The daemonized command keeps lxc-unshare's stdio (as LXC's does): no pipes here,
    # or the run would wait for the command to close them.
    argv = [str(BIN / "lxc-unshare"), "-s", "UTSNAME", "-d", "--", "/bin/sh", "-c", f"sleep 2; touch {marker}"]
    result = subprocess.run(argv, env=cli.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    assert result.returncode == 0 and time.monotonic() - started < 1.5
    assert not marker.exists()
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists()



def test_ifname_moves_an_interface_in_and_back(cli: Cli, veth: tuple[str, str]) -> None:
    inside, peer = veth
    result = run(cli, "-s", "NETWORK", "-i", inside, "--", "/bin/sh", "-c", "ls /sys/class/net; ip -o link")
    assert result.returncode == 0, result.stderr
    assert f" {inside}@" in result.stdout
    # The namespace died with the command, the veth pair with it: the kernel tears a
    # network namespace down in a work queue, so the pair goes a moment later.
    deadline = time.monotonic() + 10
    with IPRoute() as ipr:
        while ipr.link_lookup(ifname=inside) or ipr.link_lookup(ifname=peer):
            assert time.monotonic() < deadline, "the veth pair outlived the namespace"
            time.sleep(0.05)
    missing = run(cli, "-s", "NETWORK", "-i", "nonexistent0", "--", "/bin/true")
    assert missing.returncode == 1 and "nonexistent0" in missing.stderr
