"""Every row of the performance table, ours beside LXC 5 in the same run: `make bench`.

Issue 15's table in one run on one machine, medians; ratios are ours / LXC (or
ours / `python -c pass` where the target is the interpreter's floor):
- `lxc-execute -- /bin/true`; `lxc-start -d` + `lxc-wait RUNNING` + `lxc-stop -k`;
  R rapid `lxc-execute` cycles (one after the other, total);
- `lxc-info -n X` of a running container; `lxc-wait -s RUNNING` when it already
  is; `lxc-freeze` + `lxc-unfreeze`; `python -c pass` as the floor;
- N containers started at once through the commands (N `lxc-start -d`, then
  `lxc-wait -s RUNNING` each), and the same N through runtime.api.Runtime from
  one trio program (ours; compared with LXC's commands);
- host memory per running container with the N of the command run (PSS of every
  host process that exists for them / N, broken down: bench/memory.py), both
  rootfs given the same inittab;
- M containers started at once through the API (do all start?);
- the bus: p99 from transition to delivery with S subscriber processes while
  containers cycle, no loss or reordering (bench/bus_runtime.py's part 1);
- after the table, the start trace of ours: median ms per step of a traced
  `lxc-execute` (bench/start_trace.py; part "trace", with "single").

Containers are busybox, made once per tool (`lxc-create -t busybox`); the many
others are configs sharing that rootfs (bench/bus_runtime.py's set-up), so the
set-up takes seconds. Each part reuses the single-purpose benchmarks as modules
(start_latency, freeze, many, bus_runtime); each of those still runs alone.

Run as root under a subreaper (`make bench` does):
`.venv/bin/python -m runtime.tools.subreaper -- .venv/bin/python bench/report.py
[-n RUNS] [--rapid 50] [--many 100] [--api-many 300] [--bus-containers 100]
[--bus-cycles 2] [--subscribers 50] [--skip PART,...] [--markdown FILE]`.
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import bus_runtime
import floors
import memory
import start_trace
import trio
from _common import shutdown_ours
from freeze import timed as timed_all
from many import pss_kib
from start_latency import cycle, timed

from runtime.api import Runtime
from runtime.client.daemon_client import connect
from runtime.client.errors import LxcError
from runtime.client.rundir import run_dir

BIN = Path(sys.executable).parent
LXC = Path("/usr/bin")
PARTS = ("single", "trace", "many", "api", "bus")


@dataclass
class Row:
    """One line of the table; `met` None when there is nothing to meet."""

    what: str
    lxc: str
    ours: str
    ratio: str
    target: str
    met: bool | None
    #: The figure's name in Results (bench/floors.py names its floors by it).
    key: str = ""


def ms(value: float) -> str:
    return f"{value:.1f} ms"


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def quiet(argv: list[str], env: dict[str, str], check: bool = True) -> None:
    subprocess.run(argv, env=env, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def median_of(runs: int, sample: Callable[[], float]) -> float:
    return statistics.median(sample() for _ in range(runs))


# -- one container: execute, cycle, rapid executes, info, wait, freeze ----------------------------


def single(
    tools: Path, lxcpath: str, name: str, env: dict[str, str], runs: int, rapid: int
) -> dict[str, float]:
    """Medians (ms) of the one-container rows, and the total of `rapid` executes (s)."""
    bus_runtime.make_containers(tools, lxcpath, name, [], env)
    memory.same_inittab(os.path.join(lxcpath, name, "rootfs"))
    common = ["-P", lxcpath, "-n", name]
    execute = [str(tools / "lxc-execute"), *common, "--", "/bin/true"]
    timed(execute, env)  # warm: ours starts the lxcpath's daemon here
    result = {
        "execute": median_of(runs, lambda: timed(execute, env)),
        "cycle": median_of(runs, lambda: cycle(tools, lxcpath, name, env)),
    }
    began = time.perf_counter()
    for _ in range(rapid):
        quiet(execute, env)
    result["rapid"] = time.perf_counter() - began
    quiet([str(tools / "lxc-start"), *common, "-d"], env)
    try:
        quiet([str(tools / "lxc-wait"), *common, "-s", "RUNNING"], env)
        time.sleep(0.5)  # let busybox init settle
        info = [str(tools / "lxc-info"), *common]
        wait = [str(tools / "lxc-wait"), *common, "-s", "RUNNING"]
        freeze = [str(tools / "lxc-freeze"), *common]
        unfreeze = [str(tools / "lxc-unfreeze"), *common]
        result["info"] = median_of(runs, lambda: timed_all([info], env))
        result["wait"] = median_of(runs, lambda: timed_all([wait], env))
        result["freeze"] = median_of(runs, lambda: timed_all([freeze, unfreeze], env))
    finally:
        quiet([str(tools / "lxc-stop"), *common, "-k"], env, check=False)
    return result


# -- many at once: the commands, the API, memory ---------------------------------------------------


def _all_at_once(argvs: list[list[str]], env: dict[str, str]) -> None:
    """Run the commands concurrently, quietly, and wait for every one."""
    procs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for argv in argvs
    ]
    for proc in procs:
        proc.wait()


def start_all_cli(tools: Path, lxcpath: str, names: list[str], env: dict[str, str]) -> float:
    """Seconds until N concurrent `lxc-start -d` and then `lxc-wait RUNNING` each returned."""
    began = time.perf_counter()
    _all_at_once([[str(tools / "lxc-start"), "-P", lxcpath, "-n", name, "-d"] for name in names], env)
    for name in names:
        quiet(
            [str(tools / "lxc-wait"), "-P", lxcpath, "-n", name, "-s", "RUNNING", "-t", "60"],
            env,
            check=False,
        )
    return time.perf_counter() - began


def stop_all_cli(tools: Path, lxcpath: str, names: list[str], env: dict[str, str]) -> None:
    _all_at_once([[str(tools / "lxc-stop"), "-P", lxcpath, "-n", name, "-k"] for name in names], env)


def daemon_pid(lxcpath: str) -> int:
    return int(Path(run_dir(lxcpath), "daemon.pid").read_text())


def idle_daemon_pss(lxcpath: str, env: dict[str, str]) -> int:
    """The warm daemon's PSS (KiB) with no container running."""
    connect(lxcpath).close()  # starts it (and the spawner)
    return pss_kib([daemon_pid(lxcpath)])


def many_cli(
    tools: Path, lxcpath: str, names: list[str], env: dict[str, str]
) -> tuple[float, dict[str, float], dict[str, float]]:
    """Time to all RUNNING through the commands, the memory breakdown while they run,
    and the CPU per container their cgroups had used by all RUNNING (bench/floors.py)."""
    ours = tools == BIN
    idle = idle_daemon_pss(lxcpath, env) if ours else 0
    try:
        elapsed = start_all_cli(tools, lxcpath, names, env)
        cpu = floors.containers_cpu(names, lxc=not ours)
        time.sleep(1.0)  # every init has started its getty
        if ours:
            breakdown = memory.ours_breakdown(daemon_pid(lxcpath), idle, len(names))
        else:
            breakdown = memory.lxc_breakdown(lxc_monitors(lxcpath), len(names))
    finally:
        stop_all_cli(tools, lxcpath, names, env)
    return elapsed, breakdown, cpu


def lxc_monitors(lxcpath: str) -> list[int]:
    found = subprocess.run(
        ["pgrep", "-f", f"lxc monitor] {lxcpath} "], capture_output=True, text=True
    )
    return [int(pid) for pid in found.stdout.split()]


def many_api(lxcpath: str, names: list[str]) -> tuple[float, int, str, dict[str, float]]:
    """Seconds until every `Runtime.start` returned, how many succeeded, the first
    error, and the memory per container while they run (bench/memory.py)."""
    rt = Runtime(lxcpath)
    started: list[str] = []
    errors: list[str] = []
    breakdown: dict[str, float] = {}

    async def one(name: str) -> None:
        try:
            await rt.start(name)
            started.append(name)
        except (LxcError, OSError, trio.BrokenResourceError) as err:
            errors.append(f"{name}: {err}")

    async def run() -> float:
        await rt.state(names[0])  # warm: the daemon and spawner up
        idle = pss_kib([daemon_pid(lxcpath)])
        began = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(one, name)
        elapsed = time.perf_counter() - began
        if started:
            await trio.sleep(1.0)  # every init has started its getty
            breakdown.update(memory.ours_breakdown(daemon_pid(lxcpath), idle, len(started)))

        limiter = trio.CapacityLimiter(64)  # stopping is not what is measured: no refused connects

        async def stop(name: str) -> None:
            try:
                async with limiter:
                    await rt.stop(name, kill=True)
            except (LxcError, OSError, trio.BrokenResourceError) as err:
                errors.append(f"stop {name}: {err}")

        async with trio.open_nursery() as nursery:
            for name in started:
                nursery.start_soon(stop, name)
        return elapsed

    elapsed = trio.run(run)
    return elapsed, len(started), errors[0] if errors else "", breakdown


# -- the bus under load ---------------------------------------------------------------------------


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def bus_load(
    lxcpath: str, tag: str, containers: int, cycles: int, subscribers: int
) -> dict[str, object]:
    names = [f"{tag}b{i:03d}" for i in range(containers)]
    bus_runtime.make_containers(BIN, lxcpath, f"{tag}bb", names, dict(os.environ))
    args = argparse.Namespace(subscribers=subscribers, cycles=cycles, concurrency=0)
    busy, total = cpu_times()
    result = bus_runtime.part1(args, lxcpath, names, f"{tag}b.*")
    busy_after, total_after = cpu_times()
    # How busy the machine was meanwhile: the subscribers wait for a CPU as much as for the bus.
    result["cpu_busy"] = (busy_after - busy) / max(1, total_after - total)
    return result


def bus_alone(names: int, cycles: int, subscribers: int, rate: float) -> dict[str, object]:
    """bench/bus.py: the same fan-out with made-up events and no container running (the floor)."""
    import importlib.util

    # bench/bus.py by its path: `bus` is the project's package.
    spec = importlib.util.spec_from_file_location("bench_bus", Path(__file__).with_name("bus.py"))
    assert spec is not None and spec.loader is not None
    bus_bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bus_bench)
    args = argparse.Namespace(
        names=names, subscribers=subscribers, cycles=cycles, publishers=4, rate=rate,
        queue_size=1024, mode="processes",
    )  # fmt: skip
    return trio.run(bus_bench.run_bench, args)


# -- the table --------------------------------------------------------------------------------------


def ratio_row(
    what: str,
    lxc: float | None,
    ours: float | None,
    target: float,
    fmt: Callable[[float], str],
    key: str = "",
) -> Row:
    if lxc is None or ours is None:
        return Row(
            what, fmt(lxc) if lxc else "—", fmt(ours) if ours else "—", "", f"≤ x{target:g}", None, key
        )  # fmt: skip
    r = ours / lxc
    return Row(what, fmt(lxc), fmt(ours), f"x{r:.2f}", f"≤ x{target:g}", r <= target, key)


def floor_row(what: str, lxc: float | None, ours: float, bare: float, target: float) -> Row:
    r = ours / bare
    return Row(
        what, ms(lxc) if lxc else "—", ms(ours), f"x{r:.2f} of python",
        f"≤ x{target:g} of `python -c pass` ({bare:.1f} ms)", r <= target,
    )  # fmt: skip


@dataclass
class Results:
    """What one run measured: figures by name per side, and what is not a number."""

    ours: dict[str, float] = field(default_factory=dict)
    lxc: dict[str, float] = field(default_factory=dict)
    #: Memory per container (bench/memory.py), by run: "ours", "LXC", "ours, API run".
    memory: dict[str, dict[str, float]] = field(default_factory=dict)
    api_many_error: str = ""
    bus: dict[str, object] | None = None
    bus_alone: dict[str, object] | None = None
    bus_error: str = ""
    #: The start trace's median steps (bench/start_trace.py), with the "single" part.
    trace: list[tuple[str, float, float, int]] = field(default_factory=list)


def number(figures: dict[str, object], key: str) -> float:
    """A figure of bench/bus_runtime.py's or bench/bus.py's result."""
    value = figures[key]
    assert isinstance(value, int | float)
    return float(value)


def mib(kib: float) -> str:
    return f"{kib / 1024:.2f} MiB"


def build_rows(res: Results, args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    o, lx = res.ours, res.lxc
    if "execute" in o:
        bare = o["bare"]
        rows += [
            ratio_row(
                "`lxc-execute -- /bin/true`",
                lx.get("execute"),
                o["execute"],
                floors.TARGETS["execute"],
                ms,
                "execute",
            ),
            ratio_row(
                "`lxc-start -d` + `lxc-wait RUNNING` + `lxc-stop -k`",
                lx.get("cycle"),
                o["cycle"],
                floors.TARGETS["cycle"],
                ms,
                "cycle",
            ),
            ratio_row(
                f"{args.rapid} rapid `lxc-execute` cycles",
                lx.get("rapid"),
                o["rapid"],
                floors.TARGETS["rapid"],
                seconds,
                "rapid",
            ),
            floor_row("`lxc-info -n X` (running)", lx.get("info"), o["info"], bare, 1.4),
            floor_row(
                "`lxc-wait -s RUNNING` when already running", lx.get("wait"), o["wait"], bare, 1.4
            ),
            floor_row("`lxc-freeze` + `lxc-unfreeze`", lx.get("freeze"), o["freeze"], bare, 3),
        ]
    n = args.many
    if "many_cli" in o:
        rows.append(ratio_row(
            f"{n} containers at once to all RUNNING, CLI ({n} `lxc-start -d` + `lxc-wait`)",
            lx.get("many_cli"), o["many_cli"], floors.TARGETS["many_cli"], seconds, "many_cli",
        ))  # fmt: skip
    if "many_api" in o:
        rows.append(ratio_row(
            "the same through the Python API from one trio program (LXC: its CLI)",
            lx.get("many_cli"), o["many_api"], floors.TARGETS["many_api"], seconds, "many_api",
        ))  # fmt: skip
    lxc_mem = memory.total(res.memory["LXC"]) if "LXC" in res.memory else None
    if "ours" in res.memory:
        rows.append(ratio_row(
            f"host memory per running container (PSS of its host processes / N, N = {n})",
            lxc_mem, memory.total(res.memory["ours"]), 1, mib,
        ))  # fmt: skip
    if "api_many" in o:
        m, ok = args.api_many, int(o["api_many_ok"])
        if "ours, API run" in res.memory:
            rows.append(ratio_row(
                f"host memory per running container, N = {ok} (API; LXC: at N = {n})",
                lxc_mem, memory.total(res.memory["ours, API run"]), 1, mib,
            ))  # fmt: skip
        text = f"{ok} of {m} in {o['api_many']:.2f} s"
        if res.api_many_error:
            text += f" (first error: {res.api_many_error[:80]})"
        rows.append(
            Row(
                f"{m} containers started at once through the API",
                "—",
                text,
                "",
                "all start",
                ok == m,
            )
        )
    what = (
        f"bus p99 transition -> delivery, {args.subscribers} subscriber processes, "
        f"{args.bus_containers} containers cycling"
    )
    target = "< 5 ms, no loss or reordering"
    if res.bus is not None:
        b = res.bus
        p99 = number(b, "p99") * 1000
        clean = b["lost"] == 0 and b["reordered"] == 0 and b["incomplete"] == 0
        text = (
            f"{p99:.2f} ms (p50 {number(b, 'p50') * 1000:.2f}; lost {b['lost']}, reordered "
            f"{b['reordered']}; CPUs {number(b, 'cpu_busy') * 100:.0f}% busy meanwhile)"
        )
        rows.append(Row(what, "—", text, "", target, p99 < 5 and clean))
    if res.bus_error:
        rows.append(Row(what, "—", f"failed: {res.bus_error[:100]}", "", target, False))
    if res.bus_alone is not None:
        b = res.bus_alone
        per = number(b, "subscriber_cpu") / max(1.0, number(b, "deliveries")) * 1e6
        rows.append(Row(
            f"bus alone (no container running), {args.subscribers} subscriber processes, same event rate",
            "—", f"{number(b, 'p99') * 1000:.2f} ms (p50 {number(b, 'p50') * 1000:.2f}; {per:.0f} µs of "
            f"subscriber CPU per delivery; lost {b['lost']}, reordered {b['reordered']})",
            "", "(the floor of the row above)", None,
        ))  # fmt: skip
    return rows


def mark(met: bool | None) -> str:
    return "" if met is None else ("yes" if met else "no")


def print_table(rows: list[Row]) -> None:
    header = ("what", "LXC", "ours", "ratio", "target", "met?")
    table = [header, *((r.what, r.lxc, r.ours, r.ratio, r.target, mark(r.met)) for r in rows)]
    widths = [min(60, max(len(line[i]) for line in table)) for i in range(len(header))]
    for line in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


def print_memory(res: Results) -> None:
    for label, breakdown in res.memory.items():
        parts = ", ".join(
            f"{k} {v:.1f}" if k == "processes per container" else f"{k} {v:.0f} KiB"
            for k, v in breakdown.items()
        )  # fmt: skip
        print(f"  memory per container, {label}: {parts}")


FLOOR_HEADER = (
    "row not met", "target", "floor, measured in this run", "left for everything else",
    "what LXC spends there, beyond its kernel CPU",
)  # fmt: skip
CPU_KEYS = ("payload ms", "payload system ms", "monitor ms", "monitor system ms")


def floors_of(rows: list[Row], res: Results, args: argparse.Namespace) -> list[floors.Floor]:
    """The floors of the rows whose targets were not met (bench/floors.py)."""
    unmet = {r.key for r in rows if r.met is False and r.key}
    found = floors.floor_rows(res.ours, res.lxc, rapid=args.rapid, many=args.many)
    return [f for f in found if f.key in unmet]


def cpu_lines(res: Results, args: argparse.Namespace) -> list[str]:
    """CPU per container charged to the containers' (and LXC's monitors') cgroups by
    the time N started through the commands were all RUNNING."""
    lines = []
    for label, side in (("LXC", res.lxc), ("trio-lxc", res.ours)):
        parts = [f"{k} {side[k]:.2f}" for k in CPU_KEYS if k in side]
        if parts:
            lines.append(f"CPU per container in its cgroups by all RUNNING ({args.many} via the commands), "
                         f"{label}: " + ", ".join(parts))  # fmt: skip
    return lines


def print_floors(rows: list[Row], res: Results, args: argparse.Namespace) -> None:
    found = floors_of(rows, res, args)
    if found:
        print("floors of the rows not met:")
        for f in found:
            what, target, floor, left, lxc_same = f.cells()
            print(f"  {what}: target {target}; floor {floor}; left {left}; LXC there: {lxc_same}")
    for line in cpu_lines(res, args):
        print(f"  {line}")


def markdown(rows: list[Row], res: Results, args: argparse.Namespace) -> str:
    lines = [
        f"Measured by `make bench` (bench/report.py) on {floors.cpu_count()} CPUs, {platform.release()}, "
        f"LXC {lxc_version()} in the same run; medians of {args.runs} runs.",
        "",
        "| what | LXC | trio-lxc | ratio | target | met? |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.what} | {r.lxc} | {r.ours} | {r.ratio} | {r.target} | {mark(r.met)} |" for r in rows
    ]
    for label, breakdown in res.memory.items():
        lines += [
            "",
            f"Memory per container, {label.replace('ours', 'trio-lxc')} (KiB of PSS):",
            "",
        ]
        lines += [
            f"- {k}: {v:.1f}" if k == "processes per container" else f"- {k}: {v:.0f}"
            for k, v in breakdown.items()
        ]
    found = floors_of(rows, res, args)
    if found:
        lines += ["", "| " + " | ".join(FLOOR_HEADER) + " |", "|---" * len(FLOOR_HEADER) + "|"]
        lines += ["| " + " | ".join(f.cells()) + " |" for f in found]
    lines += ["", *(f"- {line}" for line in cpu_lines(res, args))]
    return "\n".join(lines) + "\n"


def lxc_version() -> str:
    try:
        return subprocess.run(
            [str(LXC / "lxc-info"), "--version"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "(not installed)"


# -- main ---------------------------------------------------------------------------------------------


def run_parts(
    args: argparse.Namespace, tmp: str, env: dict[str, str], lxc_env: dict[str, str]
) -> Results:
    res = Results()
    o, lx = res.ours, res.lxc
    tag = "r" + os.urandom(2).hex()  # cgroup names are global: unique per run
    have_lxc = (LXC / "lxc-execute").exists() and not args.no_lxc
    skip = set(args.skip.split(",")) if args.skip else set()

    def ours_path(part: str) -> str:
        return os.path.join(tmp, f"ours-{part}")

    def lxc_path(part: str) -> str:
        return os.path.join(tmp, f"lxc-{part}")

    if "single" not in skip:
        step("one container: execute, start/wait/stop, rapid executes, info, wait, freeze")
        try:
            o.update(single(BIN, ours_path("single"), f"{tag}s", env, args.runs, args.rapid))
            if "trace" not in skip:  # where an execute's time goes (the daemon is warm)
                traces = start_trace.traced_runs(
                    BIN, ours_path("single"), f"{tag}s", env, args.runs, tmp
                )
                res.trace = start_trace.summarise(traces[0])
        finally:
            shutdown_ours(ours_path("single"), env)
        o["bare"] = median_of(args.runs, lambda: timed([sys.executable, "-c", "pass"], env))
        # The floors (bench/floors.py): the interpreter as the lean launchers start it,
        # and the kernel's part of LXC's whole lxc-execute.
        o["bare_s"], o["bare_s_cpu"], _ = floors.tree_cpu(
            [sys.executable, "-S", "-c", "pass"], env, args.runs
        )
        if have_lxc:
            lx.update(single(LXC, lxc_path("single"), f"{tag}s", lxc_env, args.runs, args.rapid))
            execute = [str(LXC / "lxc-execute"), "-P", lxc_path("single"), "-n", f"{tag}s", "--", "/bin/true"]
            _, cpu, kernel_share = floors.tree_cpu(execute, lxc_env, args.runs)
            lx["execute_cpu"], lx["execute_sys"] = cpu, cpu * kernel_share
            # A bare process's start (fork, exec, exit): LXC's command pays one that ours
            # pays inside its interpreter's time. Its whole CPU: too short to be split.
            lx["true_cpu"] = floors.tree_cpu(["/bin/true"], lxc_env, args.runs)[1]
    if "many" not in skip or "api" not in skip:
        names = [f"{tag}m{i:04d}" for i in range(max(args.many, args.api_many))]
        path = ours_path("many")
        bus_runtime.make_containers(BIN, path, f"{tag}mb", names, env)
        memory.same_inittab(os.path.join(path, f"{tag}mb", "rootfs"))
        try:
            if "many" not in skip:
                step(f"{args.many} at once through the commands, and memory (ours)")
                o["many_cli"], res.memory["ours"], cpu = many_cli(BIN, path, names[: args.many], env)
                o.update(cpu)
            if "api" not in skip:
                step(f"{args.many} and {args.api_many} at once through the API (ours)")
                o["many_api"], _, _, _ = many_api(path, names[: args.many])
                elapsed, ok, res.api_many_error, api_memory = many_api(path, names[: args.api_many])
                o["api_many"], o["api_many_ok"] = elapsed, ok
                if api_memory:
                    res.memory["ours, API run"] = api_memory
        finally:
            shutdown_ours(path, env)
        if have_lxc and "many" not in skip:
            step(f"{args.many} at once through the commands, and memory (LXC)")
            path = lxc_path("many")
            lnames = names[: args.many]
            bus_runtime.make_containers(LXC, path, f"{tag}mb", lnames, lxc_env)
            memory.same_inittab(os.path.join(path, f"{tag}mb", "rootfs"))
            lx["many_cli"], res.memory["LXC"], cpu = many_cli(LXC, path, lnames, lxc_env)
            lx.update(cpu)
    if "bus" not in skip:
        step(
            f"bus: {args.subscribers} subscribers, {args.bus_containers} containers x {args.bus_cycles} cycles"
        )
        path = ours_path("bus")
        try:
            res.bus = bus_load(path, tag, args.bus_containers, args.bus_cycles, args.subscribers)
        except Exception as err:  # noqa: BLE001 - the row says it failed, the others stand
            res.bus_error = str(failure(err))
        finally:
            bus_runtime.shutdown_ours(path, env["TRIO_LXC_RUNDIR"])
        rate = number(res.bus, "events_per_s") if res.bus is not None else 0.0
        step(
            f"bus alone: {args.subscribers} subscribers at {rate or 200:.0f} events/s, no containers"
        )
        res.bus_alone = bus_alone(
            args.bus_containers, args.bus_cycles, args.subscribers, rate or 200
        )
    # LXC's own leftovers: its lxc.pivot (rmdir fails while anything is in it).
    leftovers = [*bus_runtime.leftover_cgroups(tag), *glob.glob("/sys/fs/cgroup/*/lxc.pivot")]
    for cgroup in sorted(leftovers, key=len, reverse=True):
        try:
            os.rmdir(cgroup)
        except OSError:
            pass
    return res


def failure(err: BaseException) -> BaseException:
    """The first leaf of an exception group (what a failed trio run raised)."""
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    return err


def step(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=15, help="runs per median")
    parser.add_argument("--rapid", type=int, default=50, help="rapid lxc-execute cycles")
    parser.add_argument(
        "--many", type=int, default=100, help="containers at once (commands, API, memory)"
    )
    parser.add_argument(
        "--api-many", type=int, default=300, help="containers at once through the API"
    )
    parser.add_argument("--bus-containers", type=int, default=100)
    parser.add_argument("--bus-cycles", type=int, default=2)
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument(
        "--skip", default="", help=f"comma-separated parts to skip: {','.join(PARTS)}"
    )
    parser.add_argument("--no-lxc", action="store_true", help="ours only")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table as markdown")
    args = parser.parse_args()

    from runtime.kernel import linux

    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)  # the daemons and LXC's monitors are reaped here
    tmp = tempfile.mkdtemp(prefix="trio-lxc-report-")
    run_root = tempfile.mkdtemp(
        prefix="trio-lxc-report-", dir="/run" if os.access("/run", os.W_OK) else tmp
    )
    os.environ["TRIO_LXC_RUNDIR"] = run_root  # for the in-process API and the bus part
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: byte-code cached
    env = dict(os.environ)
    lxc_env = {k: v for k, v in os.environ.items() if not k.startswith("TRIO_LXC")}
    try:
        res = run_parts(args, tmp, env, lxc_env)
    finally:
        bus_runtime.reap()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(run_root, ignore_errors=True)
    rows = build_rows(res, args)
    print(
        f"trio-lxc against LXC ({lxc_version()}), medians of {args.runs} runs, one run on one machine"
    )
    print_table(rows)
    print_floors(rows, res, args)
    print_memory(res)
    if res.trace:
        start_trace.print_table(res.trace, args.runs, {})
    if args.markdown:
        Path(args.markdown).write_text(markdown(rows, res, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
