"""Start-up cost of the commands that only ask, beside the bare interpreter and LXC.

On a running busybox container of each tool (its own lxcpath; 19 stopped ones beside
it for `lxc-ls`), one run measures:
- `lxc-info -n X` (running), target x1.4 of `python -c pass`;
- `lxc-wait -n X -s RUNNING` when it already runs, target x1.4;
- `lxc-freeze -n X` + `lxc-unfreeze -n X`, target x3;
- `lxc-ls -1`;
each as the median wall time of RUNS runs and the median CPU time of the command's
process (user + system, getrusage of the children: less noisy on a loaded machine),
with both ratios to `python -c pass`; LXC's own commands beside when /usr/bin has
them. bench/report.py has the same rows (its "single" part) in the full table.

Run as root under a subreaper (it starts containers):
`.venv/bin/python -m runtime.tools.subreaper -- .venv/bin/python bench/cli_startup.py [-n RUNS]`.
"""

from __future__ import annotations

import argparse
import os
import resource
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
NAME = "cbench0"
STOPPED = 19
TARGETS = {"lxc-info -n X": 1.4, "lxc-wait -s RUNNING (already)": 1.4, "lxc-freeze + lxc-unfreeze": 3.0}


def quiet(argv: list[str], env: dict[str, str], check: bool = True) -> None:
    subprocess.run(argv, env=env, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def sample(argvs: list[list[str]], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU milliseconds of running the commands one after the other."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    for argv in argvs:
        quiet(argv, env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall * 1000, cpu * 1000


def medians(argvs: list[list[str]], env: dict[str, str], runs: int) -> tuple[float, float]:
    samples = [sample(argvs, env) for _ in range(runs)]
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def cases(tools: Path, lxcpath: str) -> dict[str, list[list[str]]]:
    common = ["-P", lxcpath, "-n", NAME]
    return {
        "lxc-info -n X": [[str(tools / "lxc-info"), *common]],
        "lxc-wait -s RUNNING (already)": [[str(tools / "lxc-wait"), *common, "-s", "RUNNING"]],
        "lxc-freeze + lxc-unfreeze": [
            [str(tools / "lxc-freeze"), *common],
            [str(tools / "lxc-unfreeze"), *common],
        ],
        "lxc-ls -1": [[str(tools / "lxc-ls"), "-P", lxcpath, "-1"]],
    }


def measure(tools: Path, lxcpath: str, env: dict[str, str], runs: int) -> dict[str, tuple[float, float]]:
    """Make and start the container, time every case, stop and destroy it all."""
    os.makedirs(lxcpath)
    conf = os.path.join(lxcpath, "bench.conf")
    Path(conf).write_text(CONF)
    common = ["-P", lxcpath, "-n", NAME]
    quiet([str(tools / "lxc-create"), *common, "-t", "busybox", "-f", conf], env)
    for i in range(1, STOPPED + 1):
        quiet([str(tools / "lxc-create"), "-P", lxcpath, "-n", f"cbench{i}", "-t", "none", "-f", conf], env)
    try:
        quiet([str(tools / "lxc-start"), *common, "-d"], env)
        quiet([str(tools / "lxc-wait"), *common, "-s", "RUNNING"], env)
        time.sleep(0.5)  # let busybox init settle
        return {label: medians(argvs, env, runs) for label, argvs in cases(tools, lxcpath).items()}
    finally:
        quiet([str(tools / "lxc-stop"), *common, "-k"], env, check=False)
        for i in range(STOPPED + 1):
            quiet([str(tools / "lxc-destroy"), "-P", lxcpath, "-n", f"cbench{i}"], env, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=30)
    runs = parser.parse_args().runs
    floor = medians([[sys.executable, "-c", "pass"]], dict(os.environ), runs)
    results: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="trio-lxc-bench-") as tmp:
        env = dict(os.environ, TRIO_LXC_RUNDIR=os.path.join(tmp, "run"))
        ours = os.path.join(tmp, "ours")
        try:
            results["ours"] = measure(BIN, ours, env, runs)
        finally:
            shutdown_ours(ours, env)
        if shutil.which("lxc-info", path=str(LXC)):
            results["LXC"] = measure(LXC, os.path.join(tmp, "lxc"), dict(os.environ), runs)
    print(f"median of {runs} runs each: wall ms (ratio to `python -c pass`), CPU ms (ratio)")
    print(f"  {'python -c pass':<34} {floor[0]:7.1f} ms          {floor[1]:7.1f} ms")
    for label in cases(BIN, "").keys():
        for tool, figures in results.items():
            wall, cpu = figures[label]
            target = TARGETS.get(label)
            goal = f"   target x{target}" if target and tool == "ours" else ""
            print(
                f"  {tool + ': ' + label:<34} {wall:7.1f} ms x{wall / floor[0]:4.2f}"
                f"   {cpu:7.1f} ms x{cpu / floor[1]:4.2f}{goal}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
