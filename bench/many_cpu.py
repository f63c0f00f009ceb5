"""CPU per start, by process, while N containers start at once through the API.

What bounds `bench/many.py`'s "all RUNNING" on 2 CPUs is the CPU each start costs
(the daemon's share is serial: one trio thread for every container). For each of
R rounds this starts N busybox containers concurrently from one trio program
(runtime.api, as bench/many.py), then kills them all, and prints per start: the
daemon's CPU (and its system part, and its main thread's), the spawner's, the
spawner's reaped children's (the forked child that sets the container up, when it
is not the init itself), every container's whole life (set-up, its init, the
stop: reaped by the spawner), this client's, the daemon's CPU per stop, and how
busy all CPUs were (from /proc/stat) while the N started: near 100% means the
starts overlap and the machine is the bound, not a serial hand-off. Medians over the rounds. Names are unique
(`mc<hex>NNN`): the payload cgroups are global, another run must not meet them.

CPU comes from /proc/PID/stat (clock ticks: 10 ms / N per start of resolution) and
`perf stat -e task-clock` on the daemon when perf is installed. The figures include
kernel work on the daemon's behalf (cgroup mkdirs and attaches, record files).

Run as root, as a module (run as a script, bench/bus.py would shadow the bus
package): `.venv/bin/python -m runtime.tools.subreaper -- .venv/bin/python -m
bench.many_cpu [-n 100] [-r 5] [--sequential]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from runtime.api import Runtime
from runtime.client.control_protocol import Ping, Shutdown
from runtime.client.rundir import run_dir
from runtime.daemon.control_async import AsyncClient

BIN = Path(sys.executable).parent
CONF = "lxc.net.0.type = empty\nlxc.tty.max = 0\n"  # as bench/many.py
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int, task: int | None = None) -> tuple[int, int, int, int]:
    """utime, stime, cutime, cstime of a process (or of one of its threads)."""
    path = f"/proc/{pid}/stat" if task is None else f"/proc/{pid}/task/{task}/stat"
    rest = Path(path).read_text().rsplit(")", 1)[1].split()
    return int(rest[11]), int(rest[12]), int(rest[13]), int(rest[14])


def machine() -> tuple[int, int]:
    """(all jiffies, idle + iowait jiffies) of every CPU."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values), values[3] + values[4]


def create(lxcpath: str, names: list[str], env: dict[str, str]) -> None:
    conf = os.path.join(lxcpath, "bench.conf")
    Path(conf).write_text(CONF)
    subprocess.run([str(BIN / "lxc-create"), "-P", lxcpath, "-n", names[0], "-t", "busybox", "-f", conf],
                   env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    for name in names[1:]:
        subprocess.run([str(BIN / "lxc-copy"), "-P", lxcpath, "-n", names[0], "-N", name],
                       env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip


def perf_task_clock(pid: int, out: str) -> subprocess.Popen[bytes] | None:
    if shutil.which("perf") is None:
        return None
    proc = subprocess.Popen(["perf", "stat", "-x", ",", "-e", "task-clock", "-p", str(pid), "-o", out],
                            stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(0.3)  # attached before the round starts
    return proc


def perf_ms(proc: subprocess.Popen[bytes] | None, out: str) -> float | None:
    if proc is None:
        return None
    proc.send_signal(2)
    proc.wait()
    for line in Path(out).read_text().splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2].startswith("task-clock"):
            try:
                return float(fields[0])
            except ValueError:
                return None
    return None


async def rounds(rt: Runtime, lxcpath: str, names: list[str], count: int, sequential: bool) -> list[dict[str, float]]:
    client = AsyncClient(lxcpath)
    await client.call(Ping())  # daemon and spawner up
    rundir = run_dir(lxcpath)
    daemon = int(Path(rundir, "daemon.pid").read_text())
    spawner = int(subprocess.run(["pgrep", "-f", f"runtime.spawn.spawner --socket {rundir}/"],
                                 capture_output=True, text=True).stdout.split()[0])  # fmt: skip
    n = len(names)
    results = []
    try:
        for _ in range(count):
            perf = perf_task_clock(daemon, os.path.join(rundir, "perf.out"))
            d0, s0, m0 = cpu_ticks(daemon), cpu_ticks(spawner), cpu_ticks(daemon, daemon)
            machine0, me0 = machine(), time.process_time()
            wall = time.perf_counter()
            if sequential:
                for name in names:
                    await rt.start(name)
            else:
                async with trio.open_nursery() as nursery:
                    for name in names:
                        nursery.start_soon(rt.start, name)
            wall = time.perf_counter() - wall
            d1, s1, m1 = cpu_ticks(daemon), cpu_ticks(spawner), cpu_ticks(daemon, daemon)
            machine1, me1 = machine(), time.process_time()
            clock = perf_ms(perf, os.path.join(rundir, "perf.out"))
            await rt.stop_many(names, kill=True)
            d2, s2 = cpu_ticks(daemon), cpu_ticks(spawner)
            total, idle = machine1[0] - machine0[0], machine1[1] - machine0[1]
            row = {
                "all RUNNING s": wall,
                "daemon ms": (d1[0] + d1[1] - d0[0] - d0[1]) * TICK_MS / n,
                "  of it system": (d1[1] - d0[1]) * TICK_MS / n,
                "  of it main thread": (m1[0] + m1[1] - m0[0] - m0[1]) * TICK_MS / n,
                "spawner ms": (s1[0] + s1[1] - s0[0] - s0[1]) * TICK_MS / n,
                "spawner's children ms": (s1[2] + s1[3] - s0[2] - s0[3]) * TICK_MS / n,
                # Reaped by the spawner once they exit: with the init cloned straight
                # into its pid namespace (no intermediate child) the set-up's CPU is
                # only counted here, after the stop.
                "container life ms": (s2[2] + s2[3] - s0[2] - s0[3]) * TICK_MS / n,
                "client ms": (me1 - me0) * 1000 / n,
                "daemon per stop ms": (d2[0] + d2[1] - d1[0] - d1[1]) * TICK_MS / n,
                "CPUs busy %": 100 * (1 - idle / total) if total else 0.0,
            }
            if clock is not None:
                row["daemon task-clock ms"] = clock / n
            results.append(row)
    finally:
        with trio.CancelScope(shield=True):
            await rt.stop_many(names, kill=True)
            await client.call(Shutdown())
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--containers", type=int, default=100)
    parser.add_argument("-r", "--rounds", type=int, default=5)
    parser.add_argument("--sequential", action="store_true", help="one start after the other")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="trio-lxc-manycpu-")
    try:
        lxcpath = os.path.join(tmp, "p")
        os.mkdir(lxcpath)
        os.environ["TRIO_LXC_RUNDIR"] = os.path.join(tmp, "run")
        tag = "mc" + os.urandom(3).hex()
        names = [f"{tag}{i:03d}" for i in range(args.containers)]
        create(lxcpath, names, dict(os.environ))
        results = trio.run(rounds, Runtime(lxcpath), lxcpath, names, args.rounds, args.sequential)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    how = "one after the other" if args.sequential else "at once"
    print(f"{args.containers} containers started {how} through the API, median of {args.rounds} rounds, per start:")
    for key in results[0]:
        print(f"  {key:24} {statistics.median(r[key] for r in results):8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
