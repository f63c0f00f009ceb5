"""The start and stop traces summarised: median ms per step of N traced runs.

`bench/start_latency.py --trace` runs this: each run is `lxc-execute -l TRACE -o
FILE -- /bin/true` (runtime.kernel.start_trace writes one line per step, with its
offset from the command's request and the gap since the previous step: the start,
then the end of the run, from the init's exit to the reply); the table
shows, per step, the median offset and the median gap, in the order of the
medians, then the command's whole wall time, untraced and traced, beside LXC's
`lxc-execute` in the same run. A second table does the same for `lxc-stop -k -l
TRACE` of a running container (`lxc-start -d` and `lxc-wait` before each, not
timed). The gaps say where the time goes; the column is what to cut first.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections import defaultdict
from pathlib import Path

from runtime.kernel.start_trace import parse_line


def normalised(label: str) -> str:
    """One row per step (a label that names a pid or a path would be one row per start)."""
    return label


def read_trace(path: str) -> tuple[list[tuple[str, float, float]], float | None]:
    """The steps of one log, and the wall time of its first step (its stamp, to the ms)."""
    rows = []
    first_wall = None
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            parsed = parse_line(line)
            if parsed is None:
                continue
            if first_wall is None:
                stamp = line.split()[2]  # PROG NAME YYYYmmddHHMMSS.mmm LEVEL ...
                first_wall = (
                    time.mktime(time.strptime(stamp[:14], "%Y%m%d%H%M%S"))
                    + int(stamp[15:18]) / 1000
                )
            rows.append((normalised(parsed[0]), parsed[1], parsed[2]))
    return rows, first_wall


def traced_runs(
    tools: Path, lxcpath: str, name: str, env: dict[str, str], runs: int, tmp: str
) -> tuple[list[list[tuple[str, float, float]]], list[float]]:
    """`runs` traced executes: their steps and their wall times (ms).

    Two rows come from the bench itself: the command's own start-up before its
    request (interpreter, imports, config check: from the first line's stamp, to the
    ms) and what follows the `Started` event (the application's run, the stop, the
    final reply, the command's exit)."""
    traces = []
    walls = []
    for i in range(runs):
        log = os.path.join(tmp, f"trace-{i}.log")
        argv = [str(tools / "lxc-execute"), "-P", lxcpath, "-n", name, "-l", "TRACE", "-o", log, "--", "/bin/true"]  # fmt: skip
        start, wall_start = time.perf_counter(), time.time()
        subprocess.run(
            argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        took = (time.perf_counter() - start) * 1000
        walls.append(took)
        rows, first_wall = read_trace(log)
        if first_wall is not None and rows:
            spawned = rows[0][1] - max(0.0, (first_wall - wall_start) * 1000)
            exited = spawned + took
            rows.insert(0, ("bench: command spawned", spawned, 0.0))
            rows.append(("bench: command exited", exited, exited - rows[-1][1]))
        traces.append(rows)
    return traces, walls


def stop_runs(
    tools: Path, lxcpath: str, name: str, env: dict[str, str], runs: int, tmp: str | None
) -> tuple[list[list[tuple[str, float, float]]], list[float]]:
    """`runs` `lxc-stop -k` of a running container (`tmp`: traced, logs there): their
    steps and the stop command's wall times (ms); the start and the wait are not timed."""
    traces = []
    walls = []
    for i in range(runs):
        for argv in (["lxc-start", "-d"], ["lxc-wait", "-s", "RUNNING"]):
            subprocess.run([str(tools / argv[0]), "-P", lxcpath, "-n", name, *argv[1:]], env=env,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        argv = [str(tools / "lxc-stop"), "-P", lxcpath, "-n", name, "-k"]
        log = os.path.join(tmp, f"stop-{i}.log") if tmp is not None else None
        if log is not None:
            argv += ["-l", "TRACE", "-o", log]
        start, wall_start = time.perf_counter(), time.time()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        took = (time.perf_counter() - start) * 1000
        walls.append(took)
        if log is None:
            continue
        rows, first_wall = read_trace(log)
        if first_wall is not None and rows:
            spawned = rows[0][1] - max(0.0, (first_wall - wall_start) * 1000)
            exited = spawned + took
            rows.insert(0, ("bench: command spawned", spawned, 0.0))
            rows.append(("bench: command exited", exited, exited - rows[-1][1]))
        traces.append(rows)
    return traces, walls


def summarise(traces: list[list[tuple[str, float, float]]]) -> list[tuple[str, float, float, int]]:
    """(step, median ms, median gap ms, how many runs had it), by median offset."""
    at: dict[str, list[float]] = defaultdict(list)
    gaps: dict[str, list[float]] = defaultdict(list)
    for trace in traces:
        for label, offset, gap in trace:
            at[label].append(offset)
            gaps[label].append(gap)
    rows = [
        (label, statistics.median(at[label]), statistics.median(gaps[label]), len(at[label]))
        for label in at
    ]
    rows.sort(key=lambda row: row[1])
    return rows


def print_table(
    rows: list[tuple[str, float, float, int]],
    runs: int,
    totals: dict[str, float],
    what: str = "`lxc-execute -- /bin/true` (the start, then the end of the run)",
) -> None:
    print(f"trace: median of {runs} traced {what} (ms since the request)")
    print(f"  {'step':48} {'at':>9} {'gap':>8} {'runs':>5}")
    for label, offset, gap, seen in rows:
        print(f"  {label:48} {offset:9.2f} {gap:8.2f} {seen:5d}")
    for label, value in totals.items():
        print(f"  {label:48} {value:9.2f}")
