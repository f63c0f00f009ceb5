"""Many containers under one daemon, started concurrently, ours against LXC 5.

For N busybox containers (default N = 50, 200, 1000; LXC for 50 and 200): time
until all are RUNNING (ours: concurrent requests from one trio program through
runtime.api; LXC: one `lxc-start -d` per container, run concurrently), host
memory per running container (PSS of our daemon + spawner + container inits, or
of LXC's monitors + inits, divided by N), and the time to stop them all.
Targets: all RUNNING in at most half of LXC's time; less memory per container.

Ours also: the CPU time the start phase cost the daemon (with its spawner and
every process under it: utime + stime of the tree, the new inits' set-up included;
steadier than wall time on a shared machine) and the client (this process's
`time.process_time()`); then `--queries Q` (500) concurrent `Runtime.state` calls
with the N running: the cost of many small requests from one program (wall, daemon
and client CPU). With `--runs K` ours runs K times on the same containers and
prints medians.

Run as root: `.venv/bin/python -m bench.many [--sizes 50,200] [--lxc-sizes 50,200]
[--runs K] [--queries Q]` (as a module: run as a script, bench/bus.py would shadow the bus package).
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
from functools import partial
from pathlib import Path

import trio

from runtime.api import Runtime
from runtime.client.control_protocol import Ping, Shutdown
from runtime.daemon.control_async import AsyncClient

BIN = Path(sys.executable).parent
#: No getty per tty (both sides alike): the busybox template's 5 ttys + console + pty
#: per container exhaust kernel.pty.max (4096) before 1000 containers.
CONF = "lxc.net.0.type = empty\nlxc.tty.max = 0\n"


def pss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def descendants(root_pids: list[int]) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], list(root_pids)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def create_all(tools: Path, lxcpath: str, n: int, env: dict[str, str]) -> list[str]:
    conf = os.path.join(lxcpath, "bench.conf")
    Path(conf).write_text(CONF)
    names = [f"m{os.getpid()}x{i:04d}" for i in range(n)]  # cgroup names are host-wide
    first = names[0]
    subprocess.run([str(tools / "lxc-create"), "-P", lxcpath, "-n", first, "-t", "busybox", "-f", conf],
                   env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    for name in names[1:]:
        subprocess.run([str(tools / "lxc-copy"), "-P", lxcpath, "-n", first, "-N", name],
                       env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return names


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of `pids` and of their reaped children (cutime + cstime), in s."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def ours(n: int, tmp: str, runs: int = 1, queries: int = 500) -> dict[str, float]:
    """Medians of `runs` runs on the same N containers (made once)."""
    lxcpath = os.path.join(tmp, f"ours{n}")
    os.mkdir(lxcpath)
    env = dict(os.environ, TRIO_LXC_RUNDIR=os.path.join(tmp, "run"))
    os.environ["TRIO_LXC_RUNDIR"] = env["TRIO_LXC_RUNDIR"]
    names = create_all(BIN, lxcpath, n, env)
    results = [ours_once(lxcpath, names, queries) for _ in range(runs)]
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


def ours_once(lxcpath: str, names: list[str], queries: int = 500) -> dict[str, float]:
    n = len(names)
    rt = Runtime(lxcpath)
    client = AsyncClient(lxcpath)

    async def run() -> dict[str, float]:
        await client.call(Ping())  # warm: daemon and spawner up
        daemon_pid = int(Path(os.path.join(_rundir(lxcpath), "daemon.pid")).read_text())
        daemon_cpu = cpu_seconds(descendants([daemon_pid]))
        client_cpu = time.process_time()
        start = time.perf_counter()
        pids: list[int] = []
        try:
            async with trio.open_nursery() as nursery:

                async def one(name: str) -> None:  # all at once: no limiter
                    pids.append(await rt.start(name))

                for name in names:
                    nursery.start_soon(one, name)
        except BaseException:
            with trio.CancelScope(shield=True):  # leave nothing running
                await rt.stop_many(names, kill=True)
                await client.call(Shutdown())
            raise
        running = time.perf_counter() - start
        client_cpu = time.process_time() - client_cpu
        daemon_cpu = cpu_seconds(descendants([daemon_pid])) - daemon_cpu  # with the new inits
        memory = pss_kib(descendants([daemon_pid])) / n
        query_daemon_cpu = cpu_seconds([daemon_pid])
        query_client_cpu = time.process_time()
        start = time.perf_counter()
        async with trio.open_nursery() as nursery:  # small requests, all at once
            for i in range(queries):
                nursery.start_soon(rt.state, names[i % n])
        query = time.perf_counter() - start
        query_client_cpu = time.process_time() - query_client_cpu
        query_daemon_cpu = cpu_seconds([daemon_pid]) - query_daemon_cpu
        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(partial(rt.stop, name, kill=True))
        stopped = time.perf_counter() - start
        await client.call(Shutdown())
        await wait_gone(daemon_pid)  # the next run's Ping must not reach this daemon
        return {"running": running, "memory": memory, "stop": stopped,
                "daemon_cpu": daemon_cpu, "client_cpu": client_cpu, "query": query,
                "query_daemon_cpu": query_daemon_cpu, "query_client_cpu": query_client_cpu}  # fmt: skip

    return trio.run(run)


async def wait_gone(pid: int) -> None:
    """Wait until the daemon has exited (reaped here when it is our child)."""
    with trio.move_on_after(30):
        while True:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            except ChildProcessError:
                if not Path(f"/proc/{pid}").exists():
                    return
            await trio.sleep(0.02)


def _rundir(lxcpath: str) -> str:
    from runtime.client.rundir import run_dir

    return run_dir(lxcpath)


def lxc(n: int, tmp: str) -> dict[str, float]:
    lxcpath = os.path.join(tmp, f"lxc{n}")
    os.mkdir(lxcpath)
    env = dict(os.environ)
    names = create_all(Path("/usr/bin"), lxcpath, n, env)
    try:
        start = time.perf_counter()
        procs = [subprocess.Popen(["lxc-start", "-P", lxcpath, "-n", name, "-d"]) for name in names]
        for proc in procs:
            proc.wait()
        for name in names:
            subprocess.run(["lxc-wait", "-P", lxcpath, "-n", name, "-s", "RUNNING"], check=False)
        running = time.perf_counter() - start
        monitors = [int(p) for p in subprocess.run(["pgrep", "-f", f"lxc monitor] {lxcpath} "],
                                                   capture_output=True, text=True).stdout.split()]  # fmt: skip
        memory = pss_kib(descendants(monitors)) / n
        start = time.perf_counter()
        procs = [subprocess.Popen(["lxc-stop", "-P", lxcpath, "-n", name, "-k"]) for name in names]
        for proc in procs:
            proc.wait()
        stopped = time.perf_counter() - start
    finally:
        for name in names:
            subprocess.run(["lxc-stop", "-P", lxcpath, "-n", name, "-k"], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        shutil.rmtree(lxcpath, ignore_errors=True)
    return {"running": running, "memory": memory, "stop": stopped}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,200,1000")
    parser.add_argument("--lxc-sizes", default="50,200")
    parser.add_argument("--runs", type=int, default=1, help="ours: runs per size (medians)")
    parser.add_argument("--queries", type=int, default=500, help="ours: concurrent `state` requests")
    args = parser.parse_args()
    print(f"{'':10} {'N':>5} {'all RUNNING s':>14} {'PSS/container KiB':>18} {'stop all s':>11}"
          f" {'daemon CPU s':>13} {'client CPU s':>13}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="trio-lxc-many-") as tmp:
        for n in [int(x) for x in args.sizes.split(",") if x]:
            r = ours(n, tmp, args.runs, args.queries)
            print(f"{'ours':10} {n:5} {r['running']:14.2f} {r['memory']:18.0f} {r['stop']:11.2f}"
                  f" {r['daemon_cpu']:13.2f} {r['client_cpu']:13.2f}")  # fmt: skip
            print(f"{'':10} {args.queries} concurrent `state` requests: {r['query']:.3f} s,"
                  f" daemon CPU {r['query_daemon_cpu']:.3f} s, client CPU {r['query_client_cpu']:.3f} s")  # fmt: skip
            if str(n) in args.lxc_sizes.split(",") and Path("/usr/bin/lxc-start").exists():
                r = lxc(n, tmp)
                print(f"{'LXC':10} {n:5} {r['running']:14.2f} {r['memory']:18.0f} {r['stop']:11.2f}")
    print("targets: all RUNNING in at most half LXC's time; less memory per container")
    return 0


if __name__ == "__main__":
    sys.exit(main())
