"""N containers started through the commands at once: where the time goes.

The row "N containers at once to all RUNNING, CLI" of bench/report.py is N
concurrent `lxc-start -d`, then one `lxc-wait -s RUNNING` per container. This
bench runs the same and splits it: the wall time of the start phase and of the
wait phase, the CPU the commands used (utime + stime of the reaped children of
this process: every interpreter), and the CPU of the daemon alone and of its
whole tree (daemon, spawner, the container inits' set-up), each a median of
`--runs` runs; LXC's commands beside when /usr/bin has them. With 2 cores, the
start phase cannot take less than (commands' CPU + tree CPU) / 2, and the wait
phase, one command after another, not less than N bare interpreters.

`--trace` adds one traced storm (`lxc-start -d -l TRACE -o FILE` each) and the
median, p90 and max offset of every step from each command's request: how long a
request waits for the daemon ("request decoded") and a command for its CPU
("Started built" to "Started received").

Run as root under a subreaper:
`.venv/bin/python -m runtime.tools.subreaper -- .venv/bin/python bench/many_cli.py [-n 100] [--runs 3] [--trace]`.
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

import bus_runtime  # bench/ is on sys.path when run as a script
from _common import shutdown_ours
from many import cpu_seconds, descendants

from runtime.client.rundir import run_dir
from runtime.kernel.start_trace import parse_line

BIN = Path(sys.executable).parent
LXC = Path("/usr/bin")
COLUMNS = ("total", "starts", "waits", "commands' CPU", "daemon CPU", "daemon tree CPU")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu(pid: int) -> float:
    """utime + stime of one process (not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quiet(argv: list[str], env: dict[str, str]) -> None:
    subprocess.run(argv, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def all_at_once(argvs: list[list[str]], env: dict[str, str]) -> None:
    procs = [subprocess.Popen(a, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for a in argvs]
    for proc in procs:
        proc.wait()


def storm(tools: Path, lxcpath: str, names: list[str], env: dict[str, str], ours: bool) -> dict[str, float]:
    """One run: the N starts at once, then the N waits; then everything stopped."""
    daemon = 0
    if ours:  # warm: the daemon and its spawner up before the clock starts
        code = "import sys; from runtime.client.daemon_client import connect; connect(sys.argv[1]).close()"
        subprocess.run([sys.executable, "-c", code, lxcpath], env=env, check=True)
        daemon = int(Path(run_dir(lxcpath), "daemon.pid").read_text())
    tree = cpu_seconds(descendants([daemon])) if ours else 0.0
    alone = own_cpu(daemon) if ours else 0.0
    cpu = children_cpu()
    began = time.perf_counter()
    all_at_once([[str(tools / "lxc-start"), "-P", lxcpath, "-n", n, "-d"] for n in names], env)
    started = time.perf_counter()
    for name in names:
        quiet([str(tools / "lxc-wait"), "-P", lxcpath, "-n", name, "-s", "RUNNING", "-t", "60"], env)
    waited = time.perf_counter()
    result = {
        "total": waited - began,
        "starts": started - began,
        "waits": waited - started,
        "commands' CPU": children_cpu() - cpu,
        "daemon CPU": own_cpu(daemon) - alone if ours else 0.0,
        "daemon tree CPU": cpu_seconds(descendants([daemon])) - tree if ours else 0.0,
    }
    all_at_once([[str(tools / "lxc-stop"), "-P", lxcpath, "-n", n, "-k"] for n in names], env)
    return result


def traced_storm(lxcpath: str, names: list[str], env: dict[str, str], logs: str) -> None:
    """One storm of traced starts: the median, p90 and max of every step's offset."""
    all_at_once([[str(BIN / "lxc-start"), "-P", lxcpath, "-n", n, "-d", "-l", "TRACE", "-o",
                  os.path.join(logs, f"{n}.log")] for n in names], env)  # fmt: skip
    steps: dict[str, list[float]] = {}
    for name in names:
        try:
            lines = Path(logs, f"{name}.log").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            parsed = parse_line(line)
            if parsed is not None:
                steps.setdefault(parsed[0], []).append(parsed[1])
    all_at_once([[str(BIN / "lxc-stop"), "-P", lxcpath, "-n", n, "-k"] for n in names], env)
    print(f"one traced storm of {len(names)} `lxc-start -d` (ms since each command's request)")
    print(f"  {'step':48} {'median':>8} {'p90':>8} {'max':>8}")
    for label, values in sorted(steps.items(), key=lambda kv: statistics.median(kv[1])):
        values.sort()
        p90 = values[max(0, int(len(values) * 0.9) - 1)]
        print(f"  {label:48} {statistics.median(values):8.1f} {p90:8.1f} {values[-1]:8.1f}")


def measure(tools: Path, lxcpath: str, n: int, runs: int, env: dict[str, str]) -> dict[str, float]:
    names = [f"mc{os.getpid()}x{i:04d}" for i in range(n)]  # cgroup names are host-wide
    bus_runtime.make_containers(tools, lxcpath, f"mc{os.getpid()}base", names, env)
    results = [storm(tools, lxcpath, names, env, tools == BIN) for _ in range(runs)]
    return {key: statistics.median(r[key] for r in results) for key in COLUMNS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100, help="containers")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--trace", action="store_true", help="one traced storm: median step offsets")
    parser.add_argument("--no-lxc", action="store_true")
    args = parser.parse_args()
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="trio-lxc-many-cli-") as tmp:
        ours = os.path.join(tmp, "ours")
        env = dict(os.environ, TRIO_LXC_RUNDIR=os.path.join(tmp, "run"))
        os.environ["TRIO_LXC_RUNDIR"] = env["TRIO_LXC_RUNDIR"]
        try:
            rows["ours"] = measure(BIN, ours, args.n, args.runs, env)
            if args.trace:
                logs = os.path.join(tmp, "logs")
                os.mkdir(logs)
                names = sorted(p for p in os.listdir(ours) if not p.endswith("base") and p.startswith("mc"))
                traced_storm(ours, names, env, logs)
        finally:
            shutdown_ours(ours, env)
        if not args.no_lxc and (LXC / "lxc-start").exists():
            lxc = os.path.join(tmp, "lxc")
            try:
                rows["LXC"] = measure(LXC, lxc, args.n, args.runs, dict(os.environ))
            finally:
                for name in os.listdir(lxc) if os.path.isdir(lxc) else []:
                    quiet([str(LXC / "lxc-stop"), "-P", lxc, "-n", name, "-k"], dict(os.environ))
                shutil.rmtree(lxc, ignore_errors=True)
    print(f"{args.n} containers at once through the commands (s, median of {args.runs} runs)")
    print(f"  {'':6}" + "".join(f"{c:>17}" for c in COLUMNS))
    for label, row in rows.items():
        print(f"  {label:6}" + "".join(f"{row[c]:17.3f}" for c in COLUMNS))
    if "LXC" in rows:
        print(f"  ratio {rows['ours']['total'] / rows['LXC']['total']:16.2f}x (target x2)")
    print("floor of ours: (commands' CPU + daemon tree CPU) / 2 cores for the starts, N interpreters for the waits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
