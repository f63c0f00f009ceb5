"""Freezer and cgroup-key latency, ours against LXC 5, in one run on one machine.

On a running busybox container made for the run (its own lxcpath for each side):
- a freeze+unfreeze round trip: `lxc-freeze -n C` then `lxc-unfreeze -n C` (both
  commands' wall time; each returns once the container is FROZEN / RUNNING);
- `lxc-cgroup -n C cpu.shares` (a read);
- `lxc-info -n C` of the running container (state, pid and the four figures);
- for ours also the round trip through the Python API (`Runtime.freeze/unfreeze`
  from a trio program), which is the daemon's own cost without a command's
  interpreter start-up, and `python -c pass` (the floor of any of our commands).
Medians and ratios ours/LXC. The daemon is warm (it runs the container).

Run as root: `.venv/bin/python -m runtime.tools.subreaper -- .venv/bin/python bench/freeze.py
[-n RUNS]` (the subreaper reaps the daemons and LXC's monitors when they exit).
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
NAME = "fbench1"


def run(argv: list[str], env: dict[str, str]) -> None:
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def timed(argvs: list[list[str]], env: dict[str, str]) -> float:
    start = time.perf_counter()
    for argv in argvs:
        run(argv, env)
    return (time.perf_counter() - start) * 1000


def measure(tools: Path, lxcpath: str, env: dict[str, str], runs: int) -> dict[str, float]:
    conf = os.path.join(lxcpath, "bench.conf")
    Path(conf).write_text(CONF)
    common = ["-P", lxcpath, "-n", NAME]
    run([str(tools / "lxc-create"), *common, "-t", "busybox", "-f", conf], env)
    run([str(tools / "lxc-start"), *common, "-d"], env)
    run([str(tools / "lxc-wait"), *common, "-s", "RUNNING"], env)
    time.sleep(0.5)  # let busybox init settle
    freeze = [str(tools / "lxc-freeze"), *common]
    unfreeze = [str(tools / "lxc-unfreeze"), *common]
    get = [str(tools / "lxc-cgroup"), *common, "cpu.shares"]
    info = [str(tools / "lxc-info"), *common]
    return {
        "round trip": statistics.median(timed([freeze, unfreeze], env) for _ in range(runs)),
        "cgroup get": statistics.median(timed([get], env) for _ in range(runs)),
        "info": statistics.median(timed([info], env) for _ in range(runs)),
    }


def api_round_trip(lxcpath: str, runs: int) -> float:
    """Median freeze+unfreeze through runtime.api from one trio program (ms)."""
    import trio

    from runtime.api import Runtime

    async def main() -> float:
        rt = Runtime(lxcpath)
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            await rt.freeze(NAME)
            await rt.unfreeze(NAME)
            samples.append((time.perf_counter() - start) * 1000)
        return statistics.median(samples)

    return trio.run(main)


def stop(tools: Path, lxcpath: str, env: dict[str, str]) -> None:
    subprocess.run(
        [str(tools / "lxc-stop"), "-P", lxcpath, "-n", NAME, "-k"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=20)
    runs = parser.parse_args().runs
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="trio-lxc-bench-") as tmp:
        ours_path = os.path.join(tmp, "ours")
        os.mkdir(ours_path)
        # The run directory where it is by default (/run: records are written on
        # every transition), else under the temporary directory.
        run_root = os.path.join(tmp, "run")
        if os.access("/run", os.W_OK):
            run_root = tempfile.mkdtemp(prefix="trio-lxc-bench-", dir="/run")
        env = dict(os.environ, TRIO_LXC_RUNDIR=run_root)
        # As installed: byte-code cached (without it every run compiles what changed).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["TRIO_LXC_RUNDIR"] = run_root  # for the in-process API
        try:
            results["ours"] = measure(BIN, ours_path, env, runs)
            results["ours"]["api"] = api_round_trip(ours_path, runs)
            bare = [sys.executable, "-c", "pass"]
            results["ours"]["bare"] = statistics.median(timed([bare], env) for _ in range(runs))
        finally:
            stop(BIN, ours_path, env)
            shutdown_ours(ours_path, env)
            shutil.rmtree(run_root, ignore_errors=True)
        if (LXC / "lxc-freeze").exists():
            lxc_path = os.path.join(tmp, "lxc")
            os.mkdir(lxc_path)
            try:
                results["LXC"] = measure(LXC, lxc_path, dict(os.environ), runs)
            finally:
                stop(LXC, lxc_path, dict(os.environ))
                shutil.rmtree(lxc_path, ignore_errors=True)
    print(f"median of {runs} runs (ms)")
    print(f"  {'':8} {'freeze+unfreeze':>16} {'lxc-cgroup get':>15} {'lxc-info':>9}")
    for label, values in results.items():
        print(
            f"  {label:8} {values['round trip']:16.1f} {values['cgroup get']:15.1f}"
            f" {values['info']:9.1f}"
        )
    if "LXC" in results:
        ours, lxc = results["ours"], results["LXC"]
        print(
            f"  {'ratio':8} {ours['round trip'] / lxc['round trip']:15.2f}x"
            f" {ours['cgroup get'] / lxc['cgroup get']:14.2f}x {ours['info'] / lxc['info']:8.2f}x"
        )
    print(
        f"ours through the Python API (no command start-up): freeze+unfreeze"
        f" {results['ours']['api']:.1f} ms; `python -c pass` {results['ours']['bare']:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
