"""A start's config is read by the daemon alone, before STARTING.

lxc-start and lxc-execute no longer parse the config themselves (cli/requests.py):
the daemon resolves the start spec first (runtime/daemon/supervisor.py,
SpecRefused) and only then publishes STARTING. What the commands used to
guarantee still holds, checked here on real containers and a real bus: a config
that does not load fails the command with one line naming file, line and key,
exit code 1, no state event at all and nothing left; what a config only warns
about is printed by the command (the daemon's `Warned` event) before the start
goes on; a missing config file is refused before any daemon starts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Cli
from test_bus_runtime import Monitor, application_run, busybox, conf, reap_exited_children

from runtime.client.daemon_client import daemon_running
from runtime.client.rundir import records_dir
from runtime.config import unsupported

__all__ = ["busybox", "conf", "reap_exited_children"]  # fixtures, used by name


def assert_nothing_left(runtime: Cli, name: str) -> None:
    assert runtime("lxc-info", "-n", name, "-sH").stdout.strip() == "STOPPED"
    assert not Path(records_dir(str(runtime.lxcpath)), f"{name}.json").exists()
    assert not list(Path("/sys/fs/cgroup").glob(f"*lxc.payload.{name}"))
    assert not list(Path("/sys/fs/cgroup").glob(f"*/lxc.payload.{name}"))


@pytest.mark.parametrize("command", ["lxc-start", "lxc-execute"])
def test_a_config_that_does_not_load_publishes_nothing(
    runtime: Cli, busybox: str, tmp_path: Path, command: str
) -> None:
    bad = tmp_path / "bad.conf"
    rootfs = runtime.lxcpath / busybox / "rootfs"
    bad.write_text(f"lxc.rootfs.path = dir:{rootfs}\nlxc.bogus.key = 1\n")
    tail = ["--", "true"] if command == "lxc-execute" else []
    with Monitor(runtime, "-n", busybox) as text:
        text.wait_subscribed()
        result = runtime(command, "-n", busybox, "-f", str(bad), *tail)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.splitlines()
        assert lines == [f"{command}: {busybox}: {bad}:2: unknown key 'lxc.bogus.key'"], lines
        # a define that does not load, the same way
        result = runtime(command, "-n", busybox, "-s", "lxc.tty.max=many", *tail)
        assert result.returncode == 1 and "lxc.tty.max" in result.stderr, result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert text.quiet() == []  # no STARTING, no ABORTING: nothing began
    assert_nothing_left(runtime, busybox)


def test_lxc_execute_without_a_command_is_refused_before_starting(runtime: Cli, busybox: str) -> None:
    with Monitor(runtime, "-n", busybox) as text:
        text.wait_subscribed()
        result = runtime("lxc-execute", "-n", busybox)
        assert result.returncode == 1
        assert result.stderr.splitlines() == [
            f"lxc-execute: {busybox}: no command to execute: give it after --, or set lxc.execute.cmd"
        ]
        assert text.quiet() == []
        # and a good start after it runs as ever
        result = runtime("lxc-execute", "-n", busybox, "--", "/bin/sh", "-c", "exit 4")
        assert result.returncode == 4, result.stderr
        assert text.read(5) == application_run(busybox, 4)
    assert_nothing_left(runtime, busybox)


def test_a_missing_config_starts_no_daemon(runtime: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "missing.conf"
    for command in ("lxc-start", "lxc-execute"):
        result = runtime(command, "-n", "nothere", "-f", str(missing), "--", "true")
        assert result.returncode == 1
        assert result.stderr.splitlines() == [
            f"{command}: nothere: {missing}: cannot read the config file: No such file or directory"
        ]
    assert not daemon_running(str(runtime.lxcpath))


@pytest.mark.skipif("apparmor" in unsupported.enabled_lsms(), reason="this host enforces AppArmor")
def test_lxc_execute_prints_the_daemon_s_warnings_first(runtime: Cli, busybox: str) -> None:
    with Monitor(runtime, "-n", busybox) as text:
        text.wait_subscribed()
        result = runtime(
            "lxc-execute", "-n", busybox, "-s", "lxc.apparmor.profile=generated", "--", "/bin/echo", "ran"
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == "ran\n"
        warnings = result.stderr.splitlines()
        assert len(warnings) == 1 and "lxc.apparmor.profile" in warnings[0], warnings
        assert "AppArmor is not enabled" in warnings[0]
        assert text.read(5) == application_run(busybox, 0)
    assert_nothing_left(runtime, busybox)
