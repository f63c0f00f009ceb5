"""Start latency, ours against LXC 5, in one run on one machine.

Two measurements, each on a busybox container created for the run:
- `lxc-execute -n C -- /bin/true` (whole command, wall time);
- a cycle `lxc-start -d` / `lxc-wait -s RUNNING` / `lxc-stop -k`.
Ours runs with the daemon warm (the first start of an lxcpath starts the daemon
and the spawner; that one-off cost is reported separately). Medians and ratios;
targets: execute within x1.5 of LXC, the cycle within x2.

Run: `make bench` or `.venv/bin/python bench/start_latency.py [-n RUNS]` as root.

`--trace`: where the time of a start goes instead. N traced `lxc-execute -l TRACE
-o FILE -- /bin/true` (warm daemon) and a table of the median ms of every step of
the start (daemon, spawner, container child; runtime.kernel.start_trace) and of the
end of the run (exit noticed, clean-up, STOPPED, reply; runtime.daemon.exit_trace)
and the median gap since the previous step, beside the whole command's wall time,
untraced and traced, and LXC's `lxc-execute` in the same run; then the same for N
`lxc-stop -k -l TRACE` of a running container beside LXC's `lxc-stop -k`
(bench/start_trace.py).
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

from _common import shutdown_ours  # bench/ is on sys.path when run as a script

BIN = Path(sys.executable).parent
LXC = Path("/usr/bin")
CONF = "lxc.net.0.type = empty\n"


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def cycle(tools: Path, lxcpath: str, name: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    for argv in (
        [str(tools / "lxc-start"), "-P", lxcpath, "-n", name, "-d"],
        [str(tools / "lxc-wait"), "-P", lxcpath, "-n", name, "-s", "RUNNING"],
        [str(tools / "lxc-stop"), "-P", lxcpath, "-n", name, "-k"],
    ):
        subprocess.run(
            argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    return (time.perf_counter() - start) * 1000


def print_table(title: str, results: dict[str, dict[str, float]]) -> None:
    """Ours and LXC's medians side by side, then the ratios."""
    print(title)
    print(f"  {'':8} {'execute /bin/true':>18} {'start/wait/stop':>16} {'first execute':>14}")
    for label, values in results.items():
        print(
            f"  {label:8} {values['execute']:18.1f} {values['cycle']:16.1f} {values['first']:14.1f}"
        )
    if "LXC" in results:
        ours, lxc = results["ours"], results["LXC"]
        print(f"  {'ratio':8} {ours['execute'] / lxc['execute']:17.2f}x "
              f"{ours['cycle'] / lxc['cycle']:15.2f}x")  # fmt: skip


def measure(
    label: str,
    tools: Path,
    lxcpath: str,
    env: dict[str, str],
    runs: int,
    conf_text: str = CONF,
    name: str = "bench1",
) -> dict[str, float]:
    """First lxc-execute, then the medians of `runs` executes and start/wait/stop
    cycles of a busybox container made from `conf_text` (start_unprivileged.py
    passes one with lxc.idmap)."""
    conf = os.path.join(lxcpath, "bench.conf")
    Path(conf).write_text(conf_text)
    subprocess.run(
        [str(tools / "lxc-create"), "-P", lxcpath, "-n", name, "-t", "busybox", "-f", conf],
        env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    execute = [str(tools / "lxc-execute"), "-P", lxcpath, "-n", name, "--", "/bin/true"]
    first = timed(execute, env)
    executes = [timed(execute, env) for _ in range(runs)]
    cycles = [cycle(tools, lxcpath, name, env) for _ in range(runs)]
    return {
        "first": first,
        "execute": statistics.median(executes),
        "cycle": statistics.median(cycles),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=20)
    parser.add_argument("--trace", action="store_true", help="median ms per step of a start")
    options = parser.parse_args()
    runs = options.runs
    if options.trace:
        return trace_main(runs)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="trio-lxc-bench-") as tmp:
        ours_path = os.path.join(tmp, "ours")
        os.mkdir(ours_path)
        env = dict(os.environ, TRIO_LXC_RUNDIR=os.path.join(tmp, "run"))
        try:
            results["ours"] = measure("ours", BIN, ours_path, env, runs)
        finally:
            shutdown_ours(ours_path, env)
        if (LXC / "lxc-execute").exists():
            lxc_path = os.path.join(tmp, "lxc")
            os.mkdir(lxc_path)
            try:
                results["LXC"] = measure("LXC", LXC, lxc_path, dict(os.environ), runs)
            finally:
                subprocess.run([str(LXC / "lxc-stop"), "-P", lxc_path, "-n", "bench1", "-k"],
                               stderr=subprocess.DEVNULL, check=False)  # fmt: skip
                shutil.rmtree(lxc_path, ignore_errors=True)
    print_table(f"median of {runs} runs (ms)", results)
    print("targets: execute within x1.5 of LXC, start/wait/stop within x2 (daemon warm)")
    print("first execute includes starting the lxcpath's daemon and spawner")
    return 0


def trace_main(runs: int) -> int:
    """--trace: the steps of our start (medians), the totals beside LXC's."""
    import start_trace

    totals: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="trio-lxc-bench-") as tmp:
        ours_path = os.path.join(tmp, "ours")
        os.mkdir(ours_path)
        env = dict(os.environ, TRIO_LXC_RUNDIR=os.path.join(tmp, "run"))
        try:
            conf = os.path.join(ours_path, "bench.conf")
            Path(conf).write_text(CONF)
            subprocess.run(
                [str(BIN / "lxc-create"), "-P", ours_path, "-n", "bench1", "-t", "busybox", "-f", conf],
                env=env, check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            execute = [str(BIN / "lxc-execute"), "-P", ours_path, "-n", "bench1", "--", "/bin/true"]
            timed(execute, env)  # the daemon and spawner start: not measured
            untraced = [timed(execute, env) for _ in range(runs)]
            traces, walls = start_trace.traced_runs(BIN, ours_path, "bench1", env, runs, tmp)
            _, stops = start_trace.stop_runs(BIN, ours_path, "bench1", env, runs, None)
            stop_traces, traced_stops = start_trace.stop_runs(BIN, ours_path, "bench1", env, runs, tmp)
        finally:
            shutdown_ours(ours_path, env)
        totals["ours: lxc-execute, untraced (whole command)"] = statistics.median(untraced)
        totals["ours: lxc-execute -l TRACE (whole command)"] = statistics.median(walls)
        stop_totals = {
            "ours: lxc-stop -k, untraced (whole command)": statistics.median(stops),
            "ours: lxc-stop -k -l TRACE (whole command)": statistics.median(traced_stops),
        }
        if (LXC / "lxc-execute").exists():
            lxc_path = os.path.join(tmp, "lxc")
            os.mkdir(lxc_path)
            try:
                totals["LXC: lxc-execute (whole command)"] = measure(
                    "LXC", LXC, lxc_path, dict(os.environ), runs
                )["execute"]
                _, lxc_stops = start_trace.stop_runs(LXC, lxc_path, "bench1", dict(os.environ), runs, None)
                stop_totals["LXC: lxc-stop -k (whole command)"] = statistics.median(lxc_stops)
            finally:
                subprocess.run([str(LXC / "lxc-stop"), "-P", lxc_path, "-n", "bench1", "-k"],
                               stderr=subprocess.DEVNULL, check=False)  # fmt: skip
                subprocess.run([str(LXC / "lxc-destroy"), "-P", lxc_path, "-n", "bench1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)  # fmt: skip
                shutil.rmtree(lxc_path, ignore_errors=True)
    start_trace.print_table(start_trace.summarise(traces), runs, totals)
    print()
    start_trace.print_table(start_trace.summarise(stop_traces), runs, stop_totals,
                            "`lxc-stop -k` of a running container")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
