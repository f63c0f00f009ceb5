"""lxc-attach latency, ours against LXC 5, in one run on one machine.

`lxc-attach -n C -- /bin/true` (whole command, wall time) on a running busybox
container of each (ours under a private lxcpath and run directory, LXC's under
another), the two measured in alternation so that the machine's load hits both
alike; also the bare interpreter (`python -S -c pass`) and `-s UTSNAME` (no
cgroups, no mount or pid namespace), to show where our time goes. Medians and the
ratio.

Where the time goes: an attach is a Python process (interpreter start-up and the
client's imports: the floor, see bench/cli_startup.py), two forks (the helper
that joins the container outside its pid namespace, then the attached process),
two setns calls, and moving the helper into the container's cgroups, whose first
write costs the kernel an RCU grace period (cgroup_threadgroup_rwsem). The helper
(security: nothing of the host is visible in the container) cost nothing
measurable: 27.9 ms before, 25.9 ms after (medians of 80 alternated runs).

Run: `.venv/bin/python bench/attach.py [-n RUNS]` as root (under
`python -m runtime.tools.subreaper --` on machines whose pid 1 does not reap).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from start_latency import shutdown_ours, timed  # bench/ is on sys.path when run as a script

BIN = Path(sys.executable).parent
LXC = Path("/usr/bin")
CONF = "lxc.net.0.type = empty\n"
NAME = "benchat1"


def create_and_start(tools: Path, lxcpath: str, env: dict[str, str]) -> None:
    conf = os.path.join(lxcpath, "bench.conf")
    Path(conf).write_text(CONF)
    quiet = {"env": env, "check": True, "stdout": subprocess.DEVNULL}
    subprocess.run([str(tools / "lxc-create"), "-P", lxcpath, "-n", NAME, "-t", "busybox", "-f", conf], **quiet)
    subprocess.run([str(tools / "lxc-start"), "-P", lxcpath, "-n", NAME, "-d"], **quiet)
    subprocess.run([str(tools / "lxc-wait"), "-P", lxcpath, "-n", NAME, "-s", "RUNNING"], **quiet)


def stop(tools: Path, lxcpath: str, env: dict[str, str]) -> None:
    subprocess.run([str(tools / "lxc-stop"), "-P", lxcpath, "-n", NAME, "-k"], env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=50)
    runs = parser.parse_args().runs
    have_lxc = (LXC / "lxc-attach").exists()
    samples: dict[str, list[float]] = {"python -S -c pass": [], "ours": [], "ours -s UTSNAME": []}
    if have_lxc:
        samples["LXC"] = []
    with tempfile.TemporaryDirectory(prefix="trio-lxc-bench-") as tmp:
        ours_path, lxc_path = os.path.join(tmp, "ours"), os.path.join(tmp, "lxc")
        os.mkdir(ours_path)
        os.mkdir(lxc_path)
        env = dict(os.environ, TRIO_LXC_RUNDIR=os.path.join(tmp, "run"))
        commands = {
            "python -S -c pass": ([sys.executable, "-S", "-c", "pass"], env),
            "ours": ([str(BIN / "lxc-attach"), "-P", ours_path, "-n", NAME, "--", "/bin/true"], env),
            "ours -s UTSNAME": (
                [str(BIN / "lxc-attach"), "-P", ours_path, "-n", NAME, "-s", "UTSNAME", "--", "/bin/true"], env,
            ),
            "LXC": ([str(LXC / "lxc-attach"), "-P", lxc_path, "-n", NAME, "--", "/bin/true"], dict(os.environ)),
        }
        try:
            create_and_start(BIN, ours_path, env)
            if have_lxc:
                create_and_start(LXC, lxc_path, dict(os.environ))
            for label in samples:  # warm-up: page cache, .pyc files
                timed(*commands[label])
            for _ in range(runs):
                for label in samples:
                    samples[label].append(timed(*commands[label]))
        finally:
            stop(BIN, ours_path, env)
            shutdown_ours(ours_path, env)
            if have_lxc:
                stop(LXC, lxc_path, dict(os.environ))
                shutil.rmtree(lxc_path, ignore_errors=True)
    print(f"lxc-attach -- /bin/true, median of {runs} runs (ms)")
    medians = {label: statistics.median(values) for label, values in samples.items()}
    for label, value in medians.items():
        print(f"  {label:20} {value:8.1f}")
    if "LXC" in medians:
        print(f"  {'ratio ours/LXC':20} {medians['ours'] / medians['LXC']:7.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
