"""`lxc-wait` answers from the daemon's record when the container is there already.

Why: the record is written before each transition is published, so a container
whose record already shows a wanted state needs no bus subscription (no bus
modules to import, no connection for the daemon to serve) and, for STOPPED, no
daemon at all. Anything else still goes through the bus (tests/test_bus_runtime.py,
tests/test_monitor_wait_cli.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from conftest import Cli
from test_bus_runtime import busybox, conf, reap_exited_children

from bus.protocol import VALID_STATES
from cli.lxc_wait import STATES
from runtime.client.daemon_client import bus_socket_path, daemon_running

__all__ = ["busybox", "conf", "reap_exited_children"]  # fixtures, used by name


def test_the_state_names_are_the_bus_s() -> None:
    assert frozenset(VALID_STATES) == STATES


def test_stopped_without_a_daemon_starts_none(runtime: Cli) -> None:
    result = runtime("lxc-wait", "-n", "never-made", "-s", "STOPPED", "-t", "0")
    assert result.returncode == 0, result.stderr
    assert not daemon_running(str(runtime.lxcpath))


def test_a_running_container_is_answered_without_the_bus(runtime: Cli, busybox: str) -> None:
    started = runtime("lxc-start", "-n", busybox, "-d")
    assert started.returncode == 0, started.stderr
    bus = Path(bus_socket_path(str(runtime.lxcpath)))
    aside = bus.with_name("bus.sock.aside")
    os.rename(bus, aside)  # a bus subscription would fail now
    try:
        result = runtime("lxc-wait", "-n", busybox, "-s", "STOPPED|RUNNING", "-t", "0")
        assert result.returncode == 0, result.stderr
        # not there yet: the bus is asked, and without it the command says so
        result = runtime("lxc-wait", "-n", busybox, "-s", "FROZEN", "-t", "0")
        assert result.returncode == 1 and "monitor bus" in result.stderr, result.stderr
        # an invalid state is still refused, in LXC's words
        result = runtime("lxc-wait", "-n", busybox, "-s", "RUNNING|FOO")
        assert (result.returncode, result.stderr) == (1, f"lxc-wait: {busybox}: invalid state 'FOO'\n")
    finally:
        os.rename(aside, bus)
        runtime("lxc-stop", "-n", busybox, "-k")
    result = runtime("lxc-wait", "-n", busybox, "-s", "STOPPED", "-t", "0")
    assert result.returncode == 0, result.stderr
