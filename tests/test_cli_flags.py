"""Flags LXC 5 has that used to fail or do nothing, each checked as LXC behaves here.

lxc-start --share-NS (a pid; a container NAME is resolved by the daemon), lxc-ls -F
without -f, lxc-stop --nolock without -k, lxc-info -c of a list key, and
lxc-checkconfig --help. Containers are real busybox containers.
"""

from __future__ import annotations

import os
from pathlib import Path

from conftest import Cli, create_busybox


def create(cli: Cli, tmp_path: Path, config: str = "lxc.net.0.type = empty\n") -> str:
    return create_busybox(cli, tmp_path, config, "fl")


def init_pid(cli: Cli, name: str) -> int:
    result = cli("lxc-info", "-n", name, "-pH")
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip())


def ns_of(pid: int, ns: str) -> int:
    return os.stat(f"/proc/{pid}/ns/{ns}").st_ino


def test_start_share_uts_and_ipc_with_a_pid(runtime: Cli, tmp_path: Path) -> None:
    first = create(runtime, tmp_path)
    second = create(runtime, tmp_path)
    assert runtime("lxc-start", "-n", first).returncode == 0
    pid = init_pid(runtime, first)
    started = runtime("lxc-start", "-n", second, "--share-uts", str(pid), f"--share-ipc={pid}")
    assert started.returncode == 0, started.stderr
    other = init_pid(runtime, second)
    assert ns_of(other, "uts") == ns_of(pid, "uts")
    assert ns_of(other, "ipc") == ns_of(pid, "ipc")
    assert ns_of(other, "mnt") != ns_of(pid, "mnt")
    for name in (second, first):
        assert runtime("lxc-stop", "-n", name, "-k").returncode == 0


def test_start_share_of_a_dead_pid_refuses(runtime: Cli, tmp_path: Path) -> None:
    name = create(runtime, tmp_path)
    result = runtime("lxc-start", "-n", name, "--share-net", "999999999")
    assert result.returncode != 0
    assert "lxc.namespace.share.net" in result.stderr
    assert runtime("lxc-info", "-n", name, "-sH").stdout.strip() == "STOPPED"


def test_ls_fancy_format_without_fancy_prints_names(cli: Cli, tmp_path: Path) -> None:
    name = create(cli, tmp_path)
    assert cli("lxc-ls", "-F", "NAME,STATE").stdout.split() == [name]
    assert cli("lxc-ls", "-F", "BOGUS").stdout.split() == [name]  # not checked without -f
    assert cli("lxc-ls", "--defined").stdout.split() == [name]


def test_stop_nolock_needs_kill(cli: Cli, tmp_path: Path) -> None:
    name = create(cli, tmp_path)
    refused = cli("lxc-stop", "-n", name, "--nolock")
    assert refused.returncode == 1
    assert "--nolock may only be used with -k" in refused.stderr
    killed = cli("lxc-stop", "-n", name, "--nolock", "-k")
    assert killed.returncode == 2 and "is not running" in killed.stderr


def test_info_list_keys_one_item_a_line(cli: Cli, tmp_path: Path) -> None:
    name = create(cli, tmp_path)
    config = cli.lxcpath / name / "config"
    with open(config, "a", encoding="utf-8") as handle:
        handle.write("lxc.cap.drop = sys_module mknod\nlxc.cap.drop = net_raw\n")
        handle.write("lxc.environment = A=1\nlxc.environment = B=2\n")
    result = cli("lxc-info", "-n", name, "-c", "lxc.cap.drop", "-c", "lxc.environment")
    caps, environment = result.stdout.split("\n\n")[:2]
    assert caps.startswith("lxc.cap.drop = ") and caps.endswith("\nsys_module\nmknod\nnet_raw")
    assert " " not in caps.removeprefix("lxc.cap.drop = ")
    assert environment == "lxc.environment = A=1\nB=2"


def test_checkconfig_help_runs_the_check(cli: Cli) -> None:
    for flag in ("--help", "-h", "--usage"):
        result = cli("lxc-checkconfig", flag, lxcpath=False)
        assert result.returncode == 0
        assert result.stdout.startswith("LXC version") and "Namespaces" in result.stdout


def _nest(cli: Cli, outer: str, inner: str) -> None:
    """A container `inner` defined in the lxcpath as `outer` sees it (under its rootfs)."""
    nested = cli.lxcpath / outer / "rootfs" / str(cli.lxcpath).lstrip("/") / inner
    nested.mkdir(parents=True)
    (nested / "config").write_text("lxc.uts.name = inner\n")


def test_ls_nesting_stopped_and_running(runtime: Cli, tmp_path: Path) -> None:
    outer = create(runtime, tmp_path)
    _nest(runtime, outer, "inner1")
    assert runtime("lxc-ls").stdout.split() == [outer]
    assert runtime("lxc-ls", "--nesting").stdout.split() == [outer, f"{outer}/inner1"]
    assert runtime("lxc-ls", "--nesting=0").stdout.split() == [outer]
    assert runtime("lxc-ls", "--nesting", "-f", "-F", "NAME,STATE").stdout.splitlines()[1:] == [
        f"{outer.ljust(len(outer))} STOPPED ",
        f"\\inner1{' ' * (len(outer) - 7)} STOPPED ",
    ]
    assert runtime("lxc-start", "-n", outer).returncode == 0
    # running: listed from inside its mount namespace (same files, seen from within)
    assert runtime("lxc-ls", "--nesting", "-1").stdout.split() == [outer, f"{outer}/inner1"]
    assert runtime("lxc-ls", "--nesting", "--running").stdout.split() == [outer]
    assert runtime("lxc-stop", "-n", outer, "-k").returncode == 0


def test_start_never_hands_the_callers_fds_to_the_container(runtime: Cli, tmp_path: Path) -> None:
    """LXC closes inherited fds with -C (and when daemonized); ours never reach the
    container at all, -C or not, since the daemon starts it."""
    import subprocess

    from conftest import BIN

    marker = tmp_path / "inherited"
    marker.write_text("")
    for flags in ([], ["-C"]):
        name = create(runtime, tmp_path)
        with open(marker) as handle:
            argv = [str(BIN / "lxc-start"), "-P", str(runtime.lxcpath), "-n", name, *flags]
            started = subprocess.run(argv, env=runtime.env, pass_fds=(handle.fileno(),), capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, started.stderr
        pid = init_pid(runtime, name)
        targets = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        assert str(marker) not in targets
        assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
