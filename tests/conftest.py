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
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


class Cli:
    """Runs the installed `lxc-*` commands against the test's lxcpath."""

    def __init__(self, lxcpath: Path, env: dict[str, str]) -> None:
        self.lxcpath = lxcpath
        self.env = env

    def __call__(
        self, command: str, *args: str, lxcpath: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(BIN / command)]
        if lxcpath:
            argv += ["-P", str(self.lxcpath)]
        argv += list(args)
        return subprocess.run(
            argv, env=self.env, capture_output=True, text=True, input=input, timeout=120
        )


@pytest.fixture
def lxc_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    run_root = tmp_path / "run"
    etc = tmp_path / "etc"
    etc.mkdir()
    values = {
        "TRIO_LXC_RUNDIR": str(run_root),
        "TRIO_LXC_SYSTEM_CONFIG": str(etc / "lxc.conf"),
        "TRIO_LXC_DEFAULT_CONFIG": str(etc / "default.conf"),
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
