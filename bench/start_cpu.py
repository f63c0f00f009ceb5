"""CPU time of one warm start, split by process: what wall time hides on a shared machine.

Runs `lxc-execute -n C -- /bin/true` N times on a busybox container with the
daemon warm, and reads /proc/PID/stat of the lxcpath's daemon and spawner before
and after: per start, the daemon's own CPU, the spawner's own CPU, and the CPU of
the spawner's reaped children (the forked child, the container's init and its
application: the container set-up in Python, the namespaces, the mounts), with
their minor page faults (each a page copied after a fork of the spawner). The
client's CPU is the rest (RUSAGE_CHILDREN of this process). Wall time is the
median.

Run: `.venv/bin/python bench/start_cpu.py [-n RUNS]` as root (under
`python -m runtime.tools.subreaper --` where pid 1 does not reap).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import shutdown_ours  # bench/ is on sys.path when run as a script

BIN = Path(sys.executable).parent
CONF = "lxc.net.0.type = empty\n"
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def stat_fields(pid: int) -> list[int]:
    """minflt, cminflt, utime, stime, cutime, cstime of `pid` (proc(5) fields 10-17)."""
    rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return [int(rest[i]) for i in (7, 8, 11, 12, 13, 14)]


def find(pattern: str) -> int:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
    if len(out) != 1:
        raise SystemExit(f"expected one process matching {pattern!r}, found {out}")
    return int(out[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=30)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="trio-lxc-startcpu-") as tmp:
        lxcpath = os.path.join(tmp, "p")
        rundir = os.path.join(tmp, "run")
        os.mkdir(lxcpath)
        env = dict(os.environ, TRIO_LXC_RUNDIR=rundir)
        conf = os.path.join(lxcpath, "bench.conf")
        Path(conf).write_text(CONF)
        try:
            subprocess.run(
                [str(BIN / "lxc-create"), "-P", lxcpath, "-n", "c1", "-t", "busybox", "-f", conf],
                env=env, check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            execute = [str(BIN / "lxc-execute"), "-P", lxcpath, "-n", "c1", "--", "/bin/true"]
            for _ in range(3):  # the daemon and spawner start, then warm up
                subprocess.run(execute, env=env, check=True)
            daemon = find(f"runtime.daemon --lxcpath {lxcpath}")
            spawner = find(f"runtime.spawn.spawner --socket {rundir}")
            before = stat_fields(daemon), stat_fields(spawner)
            client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            walls = []
            for _ in range(runs):
                start = time.perf_counter()
                subprocess.run(execute, env=env, check=True)
                walls.append((time.perf_counter() - start) * 1000)
            after = stat_fields(daemon), stat_fields(spawner)
            client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        finally:
            shutdown_ours(lxcpath, env)
    (d0, s0), (d1, s1) = before, after
    delta_d = [(b - a) / runs for a, b in zip(d0, d1, strict=True)]
    delta_s = [(b - a) / runs for a, b in zip(s0, s1, strict=True)]
    client = (
        client_after.ru_utime + client_after.ru_stime - client_before.ru_utime - client_before.ru_stime
    ) * 1000 / runs
    print(f"lxc-execute -- /bin/true, {runs} warm runs")
    print(f"  wall median {statistics.median(walls):.1f} ms (min {min(walls):.1f})")
    print("  CPU per start (ms)      self   faults")
    print(f"    daemon             {(delta_d[2] + delta_d[3]) * TICK_MS:6.2f} {delta_d[0]:8.0f}")
    print(f"    spawner            {(delta_s[2] + delta_s[3]) * TICK_MS:6.2f} {delta_s[0]:8.0f}")
    print(f"    spawner's children {(delta_s[4] + delta_s[5]) * TICK_MS:6.2f} {delta_s[1]:8.0f}")
    print(f"    client (lxc-execute) {client:4.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
