"""Client commands must start fast: they never import trio, pyroute2, pyinotify,
attrs or cattrs (each costs tens of milliseconds at start-up)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("trio", "pyroute2", "pyinotify", "attr", "attrs", "cattrs")
BIN = Path(sys.executable).parent


def imported_modules(argv: list[str], env: dict[str, str]) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], env=env, capture_output=True, text=True
    )
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


@pytest.mark.parametrize(
    "args",
    [
        ["lxc-ls", "-1"],
        ["lxc-ls", "--fancy"],
        ["lxc-ls", "--format", "json"],
        ["lxc-info", "-n", "c1", "--format", "json"],
        ["lxc-top", "-b", "-d", "0"],
        ["lxc-info", "-n", "c1"],
        ["lxc-info", "-n", "c1", "-c", "lxc.net.0.ipv4.address"],
        # The paths below end before any daemon is started: a config that does not
        # load, a container that is not running, an invalid state or regex.
        ["lxc-start", "-n", "c1", "-f", "/nonexistent/trio-lxc.conf"],
        ["lxc-execute", "-n", "c1", "-f", "/nonexistent/trio-lxc.conf", "--", "true"],
        ["lxc-stop", "-n", "c1"],
        ["lxc-wait", "-n", "c1", "-s", "FOO"],
        ["lxc-monitor", "-n", "c1["],
        ["lxc-attach", "-n", "c1", "--", "true"],
        ["lxc-console", "-n", "c1", "-t", "0"],
        ["lxc-freeze", "-n", "c1"],
        ["lxc-unfreeze", "-n", "c1"],
        ["lxc-cgroup", "-n", "c1", "cpu.shares"],
        ["lxc-cgroup", "-n", "c1", "cpu.shares", "512"],
        ["lxc-autostart", "-L", "-a", "-A"],
    ],
)
def test_client_commands_import_nothing_heavy(args, cli, tmp_path: Path, lxc_env) -> None:
    conf = tmp_path / "c.conf"
    conf.write_text("lxc.net.0.type = veth\nlxc.net.0.ipv4.address = 10.0.0.2/24\n")
    assert cli("lxc-create", "-n", "c1", "-t", "none", "-f", str(conf)).returncode == 0
    argv = [str(BIN / args[0]), "-P", str(cli.lxcpath), *args[1:]]
    modules = imported_modules(argv, lxc_env)
    assert "cli.common" in modules
    if args[0] in ("lxc-start", "lxc-execute", "lxc-stop"):
        assert "runtime.daemon_client" in modules
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == []
