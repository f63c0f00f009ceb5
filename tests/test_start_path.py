"""The start path's shortcuts keep their promises (issue 15, single-start latency).

- The cgroup attach prime (runtime.cgroups.prime) is a no-op migration: the process
  stays in exactly the cgroups it was in, in every hierarchy.
- The init joins its v1 cgroups itself and is cloned into its cgroup2 one
  (runtime.spawn.cgroup_join, CLONE_INTO_CGROUP); when its forked child is not the
  init (a time namespace) or it is not cloned (the host's pid namespace) the daemon
  moves what is left: the container's processes are in the container's cgroup of
  every hierarchy whichever way it was forked.
- The container child resets only the signals that are not SIG_DFL already
  (runtime.spawn.process.reset_signals): whatever was ignored or handled before,
  through Python or inherited across exec, ends at SIG_DFL with an empty mask, as
  the kernel reports it in /proc/self/status.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.cgroups import prime
from runtime.cgroups.mounts import discover
from tests.conftest import Cli, unique


def test_prime_moves_nothing() -> None:
    before = Path("/proc/self/cgroup").read_text()
    path = prime.own_procs_file(discover())
    assert path is not None and os.path.exists(path)
    assert str(os.getpid()) in Path(path).read_text().split()
    prime.prime()
    prime.prime()  # the second one uses the path found by the first
    assert Path("/proc/self/cgroup").read_text() == before


def _masks(status: str) -> dict[str, int]:
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    return {key: int(fields[key], 16) for key in ("SigIgn", "SigCgt", "SigBlk")}


CHILD = r"""
import signal, sys
from runtime.spawn import process
signal.signal(signal.SIGUSR1, lambda *_: None)   # handled through Python
signal.signal(signal.SIGTERM, signal.SIG_IGN)    # ignored through Python
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
before = open("/proc/self/status").read()
process.reset_signals()
sys.stdout.write(before + "\n----\n" + open("/proc/self/status").read())
"""


def test_reset_signals_leaves_every_signal_default() -> None:
    # SIGHUP and a real-time signal are ignored across the exec: Python reads them
    # at start-up, and they must be reset although no Python code touched them.
    rt = signal.SIGRTMIN + 6

    def ignore() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(rt, signal.SIG_IGN)

    out = subprocess.run(
        [sys.executable, "-c", CHILD],
        preexec_fn=ignore,
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout
    before_text, after_text = out.split("\n----\n")
    before, after = _masks(before_text), _masks(after_text)
    for number in (signal.SIGHUP, rt, signal.SIGTERM):
        assert before["SigIgn"] & (1 << (number - 1)), number
    assert before["SigCgt"] & (1 << (signal.SIGUSR1 - 1))
    assert before["SigBlk"] & (1 << (signal.SIGUSR2 - 1))
    # Signals 32 and 33 are glibc's own (thread cancellation, set*id): its sigaction
    # refuses them, so whatever the test's environment gave them is left as it was.
    reserved = (1 << 31) | (1 << 32)
    after = {key: value & ~reserved for key, value in after.items()}
    assert after == {"SigIgn": 0, "SigCgt": 0, "SigBlk": 0}, after


@pytest.mark.parametrize(
    "extra",
    [
        "",  # cloned into its pid namespace and its cgroup2 directory, joins v1 itself
        "lxc.time.offset.boot = 90m\n",  # the forked child forks the init: the daemon moves it
        "lxc.namespace.keep = pid\n",  # the forked child is the init, not cloned: v2 by the daemon
    ],
    ids=["cloned", "time-namespace", "host-pid-namespace"],
)
def test_the_container_is_in_its_cgroup_of_every_hierarchy(
    runtime: Cli, tmp_path: Path, extra: str
) -> None:
    name = unique("cgin")
    conf = tmp_path / "c.conf"
    # The host's cgroup namespace: /proc/self/cgroup shows the whole paths.
    conf.write_text("lxc.net.0.type = empty\nlxc.namespace.keep = cgroup\n" + extra)
    result = runtime("lxc-execute", "-n", name, "-f", str(conf), "--", "cat", "/proc/self/cgroup")
    assert result.returncode == 0, result.stderr
    mine = Path("/proc/self/cgroup").read_text().splitlines()
    theirs = result.stdout.splitlines()
    assert len(theirs) == len(mine) > 0, result.stdout
    for line in theirs:
        assert line.endswith(f"/lxc.payload.{name}"), result.stdout
