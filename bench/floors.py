"""The floors under the rows of `make bench` whose targets are not met, measured in the same run.

Issue 15 asks, for a target that is not met, which floor (the interpreter's start,
the kernel) stands between the figure and the target. This module measures those
floors beside the table instead of quoting old figures:

- the interpreter every command starts (`python -S -c pass`: the lean launchers run
  without `site`), its wall time and its CPU;
- the CPU of LXC's `lxc-execute` process tree (getrusage of the waited-for tree:
  the command, its container, `/bin/true`), and the kernel's part of it: the
  kernel work of making and tearing down a container, which any runtime pays (a
  lower bound: the kernel's tick-sampled split gives it ~40-70% here, where
  `perf record -e cpu-clock` finds ~80% of LXC's lxc-execute in the kernel);
- the CPU that LXC's monitors and containers had used by the time N containers
  started at once were all RUNNING (their cgroups' CPU accounting: cgroup v1
  `cpuacct`, or cgroup v2 `cpu.stat`), and the kernel's part of it; ours the same
  for the containers' cgroups (the daemon and spawner are not in them).

`floor_rows` turns them into one line per unmet row: the target, the floor (what a
runtime whose commands are Python programs cannot go below: their interpreters, and
the kernel's work for the containers as LXC's start causes it), what the target
leaves for everything else (the runtime's own work, the containers' processes) and,
where it leaves something, what LXC spends on that same part beyond its kernel CPU:
a target that leaves less than that asks more than matching LXC.
Used by bench/report.py. The floors need the "single" part (`--skip single` drops
them) and LXC.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def tree_cpu(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, float, float]:
    """Medians (ms) of the wall time and the CPU of a command and everything it waited
    for, and the kernel's share of that CPU (0..1).

    The kernel splits a process's exact CPU time into user and system by the share of
    timer ticks that found it in each; a 5 ms process sees one or two ticks, so one
    run's split says little. The share comes from the sums over all runs (each run's
    split is an unbiased sample), not from a median of splits."""
    samples = []
    before_all = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        subprocess.run(
            argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wall = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        samples.append((wall, cpu))
    after_all = resource.getrusage(resource.RUSAGE_CHILDREN)
    system = after_all.ru_stime - before_all.ru_stime
    total = system + after_all.ru_utime - before_all.ru_utime
    wall_ms = statistics.median(s[0] for s in samples) * 1000
    cpu_ms = statistics.median(s[1] for s in samples) * 1000
    return wall_ms, cpu_ms, (system / total if total else 0.0)


def _v1_usage(group: str) -> tuple[int, int] | None:
    """(all, system) nanoseconds of a cgroup v1 cpuacct group, None when it does not exist."""
    base = CGROUP_ROOT / "cpuacct" / group
    try:
        return int((base / "cpuacct.usage").read_text()), int((base / "cpuacct.usage_sys").read_text())
    except (OSError, ValueError):
        return None


def _v2_usage(group: str) -> tuple[int, int] | None:
    try:
        text = (CGROUP_ROOT / group / "cpu.stat").read_text()
    except OSError:
        return None
    stat = dict(line.split() for line in text.splitlines() if line.count(" ") == 1)
    return int(stat.get("usage_usec", 0)) * 1000, int(stat.get("system_usec", 0)) * 1000


def cgroups_cpu(groups: list[str]) -> tuple[float, float, int]:
    """(all ms, system ms, groups found) summed over cgroups named at the hierarchy's top.

    The kernel charges a cgroup for what its processes ran, the kernel's work on their
    behalf included; system time is sampled at the tick, so it is only good summed
    over many groups (as here: one per container)."""
    usage = _v1_usage if (CGROUP_ROOT / "cpuacct").is_dir() else _v2_usage
    total = system = found = 0
    for group in groups:
        got = usage(group)
        if got is not None:
            total, system, found = total + got[0], system + got[1], found + 1
    return total / 1e6, system / 1e6, found


def containers_cpu(names: list[str], lxc: bool) -> dict[str, float]:
    """CPU per container (ms) charged so far to the containers' cgroups (and, for LXC,
    to its monitors' cgroups), with the kernel's part; empty when none was found."""
    result: dict[str, float] = {}
    kinds = ("payload", "monitor") if lxc else ("payload",)
    for kind in kinds:
        total, system, found = cgroups_cpu([f"lxc.{kind}.{name}" for name in names])
        if found:
            result[f"{kind} ms"] = total / found
            result[f"{kind} system ms"] = system / found
    return result


@dataclass
class Floor:
    """One unmet row's floor: `left` is what the target leaves beyond the floor."""

    key: str  # the row's figure in bench/report.py's Results
    what: str
    target: float
    floor: float
    made_of: str
    unit: str
    #: What LXC spends, beyond its kernel CPU (its own code and its waits), on what
    #: the target leaves to everything else, measured in the same run; empty when the
    #: target leaves nothing.
    lxc_same: str = ""

    @property
    def left(self) -> float:
        return self.target - self.floor

    def cells(self) -> tuple[str, str, str, str, str]:
        fmt = (lambda v: f"{v:.1f} ms") if self.unit == "ms" else (lambda v: f"{v:.3f} s")
        left = fmt(self.left) if self.left > 0 else f"nothing ({fmt(abs(self.left))} over)"
        lxc_same = self.lxc_same if self.left > 0 and self.lxc_same else "-"
        return self.what, fmt(self.target), f"{fmt(self.floor)}: {self.made_of}", left, lxc_same


#: The targets of the rows that have a floor: ours / LXC's at most (issue 15's table).
TARGETS = {"execute": 1.5, "cycle": 2.0, "rapid": 1.5, "many_cli": 2.0, "many_api": 0.5}


def cpu_count() -> int:
    """The CPUs this process may run on (what the starts share)."""
    return len(os.sched_getaffinity(0))


def floor_rows(ours: dict[str, float], lxc: dict[str, float], *, rapid: int, many: int) -> list[Floor]:
    """The floor of each row whose target depends on what the machine's interpreter and
    kernel cost; only rows measured on both sides.

    The kernel's part of a start is LXC's `lxc-execute`'s less the whole CPU of a bare
    process (`true_cpu`: a fork, exec and exit, which LXC's own command costs and
    ours is already counted in the interpreter's time)."""
    cpus = cpu_count()
    rows: list[Floor] = []
    bare, bare_cpu = ours.get("bare_s"), ours.get("bare_s_cpu")
    if bare is None or bare_cpu is None:
        return rows
    kernel = None
    if "execute_sys" in lxc:
        kernel = max(0.0, lxc["execute_sys"] - lxc.get("true_cpu", 0.0))
    if "execute" in lxc and kernel is not None:
        rows.append(Floor(
            "execute", "`lxc-execute -- /bin/true`", TARGETS["execute"] * lxc["execute"], bare + kernel,
            f"one interpreter ({bare:.1f}) + the kernel's part of LXC's lxc-execute, less a bare "
            f"process's ({kernel:.1f})", "ms",
        ))  # fmt: skip
    if "cycle" in lxc:
        rows.append(Floor(
            "cycle", "`lxc-start -d` + `lxc-wait RUNNING` + `lxc-stop -k`", TARGETS["cycle"] * lxc["cycle"],
            3 * bare, f"three interpreters ({bare:.1f} each)", "ms",
        ))  # fmt: skip
    if "rapid" in lxc and kernel is not None:
        target, floor = TARGETS["rapid"] * lxc["rapid"], rapid * (bare + kernel) / 1000
        # LXC's floor of a cycle is its tree's kernel CPU (the kernel's part, as above,
        # and the bare process its command is); the rest of its cycle is its own code.
        lxc_own = lxc["rapid"] * 1000 / rapid - lxc["execute_sys"]
        rows.append(Floor(
            "rapid", f"{rapid} rapid `lxc-execute` cycles", target, floor,
            f"{rapid} x the floor of one `lxc-execute`", "s",
            f"{lxc_own:.1f} ms of each of its cycles (its cycle, {lxc['rapid'] * 1000 / rapid:.1f} ms, less "
            f"its kernel CPU); the target leaves {(target - floor) * 1000 / rapid:.1f} ms a cycle",
        ))  # fmt: skip
    per = lxc.get("payload ms", 0.0) + lxc.get("monitor ms", 0.0)
    system = lxc.get("payload system ms", 0.0) + lxc.get("monitor system ms", 0.0)
    if "many_cli" in lxc:
        # The starts: N interpreters and the kernel's work for N containers share the
        # CPUs; the waits run one after the other, an interpreter each.
        starts = many * (bare_cpu + system) / cpus / 1000
        waits = many * bare / 1000
        rows.append(Floor(
            "many_cli", f"{many} at once, CLI", TARGETS["many_cli"] * lxc["many_cli"], starts + waits,
            f"{many} interpreters (CPU {bare_cpu:.1f} ms each) and the kernel's work for {many} "
            f"containers ({system:.1f} ms each, as LXC's) on {cpus} CPUs ({starts:.2f}) + {many} "
            f"`lxc-wait` one after the other ({waits:.2f})", "s",
        ))  # fmt: skip
    if "many_cli" in lxc and per:
        floor = many * system / cpus / 1000
        target = TARGETS["many_api"] * lxc["many_cli"]
        left_each = (target - floor) * 1000 * cpus / many
        rows.append(Floor(
            "many_api", f"{many} at once, API", target, floor,
            f"the kernel's work for {many} containers ({system:.1f} ms each: LXC's monitor and container "
            f"cgroups by all RUNNING, of {per:.1f} ms in all) on {cpus} CPUs; what is left is "
            f"{left_each:.1f} ms of CPU per container for the runtime's own "
            f"work and the container's processes", "s",
            f"{per - system:.1f} ms of CPU per container beyond the kernel's (its monitor and container "
            f"cgroups, {per:.1f} less {system:.1f}), without its {many} `lxc-start` processes; the target "
            f"leaves {left_each:.1f}",
        ))  # fmt: skip
    return rows
