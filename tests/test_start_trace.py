"""The start trace (runtime.kernel.start_trace): `-l TRACE -o FILE` logs every step.

A real start of a busybox container (its own lxcpath and daemon, the `runtime`
fixture cleans up) writes the steps of the daemon, the spawner and the container
child in order; without TRACE no step is logged. The merge, format and parse of
the module are checked on their own.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from conftest import Cli

from runtime.kernel import start_trace

#: Steps every traced application start has, in the order they must appear.
EXECUTE_STEPS = [
    "client: options parsed",
    "client: request built",
    "daemon: request decoded",
    "daemon: start spec built",  # first: a config that does not load publishes nothing
    "daemon: STARTING published",
    "daemon: cgroups made",
    "daemon: spawner asked",
    "spawner: request received",
    "spawner: fork",
    "child: forked",
    "child: namespaces made",
    "daemon: init pid received",
    "daemon: cgroups attached",
    "daemon: network set up",
    "daemon: go sent",
    "child: go received",
    "child: rootfs mounted",
    "child: proc, sys mounted",
    "child: autodev",
    "child: cgroup mounts",
    "child: devpts, shm, terminals",
    "child: pivot_root",
    "child: old root detached",
    "child: credentials",
    "child: trace sent",
    "daemon: set-up done (EOF: exec'd)",
    "daemon: RUNNING published",
    "client: Started received",
]


#: The end of an attached run, after the start's steps (runtime.daemon.exit_trace).
EXIT_STEPS = [
    "daemon: exit status published",
    "daemon: STOPPING published",
    "daemon: no process left",
    "daemon: network torn down",
    "daemon: stop hooks done",
    "daemon: cgroups removed",
    "daemon: post-stop hooks done",
    "daemon: terminals closed",
    "daemon: record removed",
    "daemon: STOPPED published",
    "daemon: name free",
]
#: How the init's exit was learnt: at least one of these comes before EXIT_STEPS.
EXIT_NOTICED = {"daemon: exit status: the spawner's report", "daemon: exit status: reaped here (waitid)"}


@pytest.fixture
def busybox(runtime: Cli, tmp_path: Path) -> str:
    name = f"tr{uuid.uuid4().hex[:8]}"
    conf = tmp_path / "bb.conf"
    conf.write_text("lxc.net.0.type = empty\nlxc.mount.auto = proc:mixed sys:mixed cgroup:mixed\n")
    result = runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf))
    assert result.returncode == 0, result.stderr
    return name


def steps_in(log: Path) -> list[str]:
    parsed = (start_trace.parse_line(line) for line in log.read_text().splitlines())
    return [row[0] for row in parsed if row is not None]


def in_order(wanted: list[str], seen: list[str]) -> bool:
    """Every wanted step appears in `seen`, in this order (others may come between)."""
    position = 0
    for step in seen:
        if position < len(wanted) and step == wanted[position]:
            position += 1
    return position == len(wanted)


def out_of_order(wanted: list[str], seen: list[str]) -> list[str]:
    """What `in_order` found wrong, for the failure message: each wanted step that is
    missing, or comes before the wanted step it should follow."""
    where = {step: i for i, step in enumerate(seen)}
    problems = [f"missing: {step}" for step in wanted if step not in where]
    present = [step for step in wanted if step in where]
    problems += [f"{b!r} before {a!r}" for a, b in zip(present, present[1:], strict=False) if where[b] < where[a]]
    return problems


def test_execute_trace_logs_every_step_in_order(runtime: Cli, busybox: str, tmp_path: Path) -> None:
    log = tmp_path / "trace.log"
    result = runtime("lxc-execute", "-n", busybox, "-l", "TRACE", "-o", str(log), "--", "/bin/true")
    assert result.returncode == 0, result.stderr
    seen = steps_in(log)
    assert in_order(EXECUTE_STEPS, seen), out_of_order(EXECUTE_STEPS, seen)
    # the start's lines in time order (the end's follow: the init may exit before
    # the command reads `Started`)
    offsets = [start_trace.parse_line(line) for line in log.read_text().splitlines() if " start_trace - " in line]
    times = [row[1] for row in offsets if row is not None]
    assert (
        times == sorted(times) and times[0] < 0.0 and times[1] == 0.0
    )  # options parsed, request built
    # the line shape of LXC's log: PROG NAME STAMP LEVEL module - where - message
    first = log.read_text().splitlines()[0].split()
    assert first[0] == "lxc-execute" and first[1] == busybox and first[3] == "TRACE"


def test_execute_trace_goes_on_to_the_end_of_the_run(runtime: Cli, busybox: str, tmp_path: Path) -> None:
    log = tmp_path / "trace.log"
    result = runtime("lxc-execute", "-n", busybox, "-l", "TRACE", "-o", str(log), "--", "/bin/sh", "-c", "exit 3")
    assert result.returncode == 3, result.stderr
    lines = log.read_text().splitlines()
    end = [line for line in lines if " stop_trace - " in line]
    ends = [row[0] for row in map(start_trace.parse_line, end) if row is not None]
    assert len(ends) == len(end)  # every end line parses
    assert ends[-2:] == ["daemon: exit reply sent", "client: exit reply received"], ends
    assert in_order(EXIT_STEPS, ends), ends
    noticed = [i for i, step in enumerate(ends) if step in EXIT_NOTICED]
    assert noticed and noticed[0] < ends.index("daemon: exit status published"), ends
    # after the start's lines, in time order, and the command's own line last
    assert lines.index(end[0]) > max(i for i, line in enumerate(lines) if " start_trace - " in line)
    times = [row[1] for row in map(start_trace.parse_line, end) if row is not None]
    assert times == sorted(times)
    assert "exited with status 3" in lines[-1]


def test_stop_trace_logs_the_steps_of_a_kill(runtime: Cli, busybox: str, tmp_path: Path) -> None:
    result = runtime("lxc-start", "-n", busybox, "-d")
    assert result.returncode == 0, result.stderr
    log = tmp_path / "stop.log"
    try:
        result = runtime("lxc-stop", "-n", busybox, "-k", "-l", "TRACE", "-o", str(log))
        assert result.returncode == 0, result.stderr
    finally:
        runtime("lxc-stop", "-n", busybox, "-k")
    lines = log.read_text().splitlines()
    steps = [row[0] for row in map(start_trace.parse_line, lines) if row is not None]
    assert in_order(["client: options parsed", "client: request built", "daemon: stop request decoded",
                     "daemon: killed (cgroups)", *EXIT_STEPS[:-1], "daemon: stop reply sent",
                     "client: reply received"], steps), steps  # fmt: skip
    noticed = [i for i, step in enumerate(steps) if step in EXIT_NOTICED]
    assert noticed and steps.index("daemon: killed (cgroups)") < noticed[0], steps
    first = lines[0].split()
    assert first[0] == "lxc-stop" and first[1] == busybox and first[3] == "TRACE" and first[4] == "stop_trace"
    assert runtime("lxc-info", "-n", busybox, "-s").stdout.split()[-1] == "STOPPED"


def test_stop_without_trace_level_logs_no_step(runtime: Cli, busybox: str, tmp_path: Path) -> None:
    assert runtime("lxc-start", "-n", busybox, "-d").returncode == 0
    log = tmp_path / "stop.log"
    try:
        result = runtime("lxc-stop", "-n", busybox, "-k", "-l", "DEBUG", "-o", str(log))
        assert result.returncode == 0, result.stderr
    finally:
        runtime("lxc-stop", "-n", busybox, "-k")
    text = log.read_text() if log.exists() else ""
    assert "stop_trace" not in text and " TRACE " not in text


def test_start_trace_of_a_system_container(runtime: Cli, busybox: str, tmp_path: Path) -> None:
    log = tmp_path / "trace.log"
    result = runtime("lxc-start", "-n", busybox, "-d", "-l", "TRACE", "-o", str(log))
    assert result.returncode == 0, result.stderr
    try:
        seen = steps_in(log)
        assert in_order(["client: request built", "daemon: request decoded", "child: pivot_root",
                         "child: trace sent", "daemon: RUNNING published", "client: Started received"], seen), seen  # fmt: skip
    finally:
        runtime("lxc-stop", "-n", busybox, "-k")


def test_no_trace_lines_without_trace_level(runtime: Cli, busybox: str, tmp_path: Path) -> None:
    log = tmp_path / "debug.log"
    result = runtime("lxc-execute", "-n", busybox, "-l", "DEBUG", "-o", str(log), "--", "/bin/true")
    assert result.returncode == 0, result.stderr
    text = log.read_text() if log.exists() else ""
    assert "start_trace" not in text and "stop_trace" not in text and " TRACE " not in text


# -- the module alone -------------------------------------------------------------------


def test_merge_orders_marks_of_every_process() -> None:
    daemon = [("daemon", "a", 10), ("daemon", "c", 30)]
    child = [("child", "b", 20), ("child", "d", 40)]
    assert [m[1] for m in start_trace.merge(daemon, child)] == ["a", "b", "c", "d"]


def test_offsets_and_gaps_in_ms() -> None:
    marks = [("daemon", "x", 3_000_000), ("child", "y", 1_500_000)]
    assert start_trace.offsets(marks, 1_000_000) == [
        ("child: y", 0.5, 0.5),
        ("daemon: x", 2.0, 1.5),
    ]


def test_format_and_parse_round_trip() -> None:
    marks = [("client", "request built", 1_000_000), ("child", "pivot_root", 3_250_000)]
    lines = start_trace.format_lines("lxc-execute", "c1", marks, 1_000_000, 1_700_000_000.0)
    assert lines[1].endswith(" TRACE    start_trace - child - +2.250 ms (+2.250 ms) pivot_root\n")
    early = start_trace.format_lines(
        "lxc-execute", "c1", [("client", "options parsed", 500_000)], 1_000_000, 0.0
    )
    assert start_trace.parse_line(early[0]) == ("client: options parsed", -0.5, 0.0)
    assert lines[1].startswith("lxc-execute c1 ")
    assert [start_trace.parse_line(line) for line in lines] == [
        ("client: request built", 0.0, 0.0),
        ("child: pivot_root", 2.25, 2.25),
    ]
    assert start_trace.parse_line("lxc-execute c1 20260101000000.000 INFO execute - done") is None
    # the end of a run: its own module name, its first gap from the step logged before
    end = start_trace.format_lines(
        "lxc-stop", "c1", [("daemon", "STOPPED published", 4_000_000)], 1_000_000, 0.0,
        module=start_trace.STOP_MODULE, previous=3_500_000,
    )  # fmt: skip
    assert " TRACE    stop_trace - daemon - +3.000 ms (+0.500 ms) STOPPED published" in end[0]
    assert start_trace.parse_line(end[0]) == ("daemon: STOPPED published", 3.0, 0.5)
    assert start_trace.parse_line(end[0].replace("stop_trace", "other")) is None


def test_recorder_off_records_nothing_and_skips_garbage() -> None:
    off = start_trace.Recorder(False)
    off.mark("x")
    off.take({"step": "trace", "marks": [["child", "y", 5]]})
    assert off.steps() == [] and not off.enabled
    on = start_trace.Recorder(True, origin=7)
    on.take({"step": "trace", "marks": [["child", "y", 9], ["bad"], "x", ["c", "z", True]]})
    assert on.steps() == [("daemon", "request decoded", 7), ("child", "y", 9)]


def test_process_marks_only_after_begin() -> None:
    start_trace.begin(False)
    start_trace.mark("ignored")
    assert start_trace._marks is None
    start_trace.received()
    start_trace.begin(True)
    start_trace.mark("kept")
    assert start_trace._marks is not None
    assert [m[1] for m in start_trace._marks] == ["request received", "kept"]
    start_trace.begin(False)
