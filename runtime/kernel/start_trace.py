"""The start trace: a monotonic timestamp for every step of one container start.

Why: a start crosses four processes (the command, the daemon, the spawner, the
container child) and its latency is the sum of many small steps; the only way to
know which one to cut is to see them all on one time line. CLOCK_MONOTONIC is one
clock for every process of the host, so marks taken anywhere merge by sorting.

Who records what:
- the daemon: a `Recorder` per traced start (the supervisor's steps), given the
  child's marks from its handshake message and sent back to the command in the
  `Started` event (runtime.client.control_protocol.TraceMark);
- the spawner and the container child: this module's process-wide list (both are
  single-threaded, and a fork copies the list into the child). `begin(True)` when a
  traced spawn arrives, `mark()` at each step, and the container's init sends the
  whole list in one `{"step": "trace"}` handshake message just before its exec.

One caveat: a container with lxc.time.offset.monotonic runs its init in a time
namespace whose CLOCK_MONOTONIC is shifted; its marks after "namespaces made" are
off by that offset.

Off (the default), a mark is one attribute test: no clock read, no syscall, no
message; `received()` reads the vDSO clock once per spawn request, which is not a
system call either.

The end of a run is traced the same way (the "stop_trace" lines): when an
`lxc-execute -l TRACE`'s container exits, or an `lxc-stop -l TRACE` stops one, the
supervisor's end `Recorder` marks how the init's exit was noticed, each clean-up
step and STOPPING/STOPPED, and the daemon sends its marks in a `Traced` event just
before the final reply (runtime.daemon.exit_trace).

The command turns the steps into LXC-shaped log lines (`format_lines`) with their
offset from its own request and the gap since the previous step;
bench/start_latency.py --trace aggregates them (`offsets`). Standard library only:
the commands import it.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket

#: One step: (who took it: "client", "daemon", "spawner", "child"; the step; CLOCK_MONOTONIC ns).
Mark = tuple[str, str, int]

#: The handshake step that carries the child's marks to the daemon.
STEP_TRACE = "trace"
#: At most this many marks travel from a child (its message stays one small packet).
MAX_MARKS = 200
#: The log module of a start's steps, and of the steps of a run's end (exit, stop).
START_MODULE = "start_trace"
STOP_MODULE = "stop_trace"
MODULES = (START_MODULE, STOP_MODULE)

now = time.monotonic_ns


class Recorder:
    """The daemon's marks of one start; every call is a no-op when tracing is off."""

    __slots__ = ("marks",)

    def __init__(self, enabled: bool, origin: int = 0) -> None:
        self.marks: list[Mark] | None = [] if enabled else None
        if enabled and origin:
            self.marks = [("daemon", "request decoded", origin)]

    @property
    def enabled(self) -> bool:
        return self.marks is not None

    def mark(self, step: str, by: str = "daemon") -> None:
        if self.marks is not None:
            self.marks.append((by, step, now()))

    def enable(self) -> None:
        """Record from now on (a traced stop of a run whose start was not traced)."""
        if self.marks is None:
            self.marks = []

    def mark_at(self, step: str, ns: int, by: str = "daemon") -> None:
        """A step taken earlier, at `ns` (a request's arrival)."""
        if self.marks is not None:
            self.marks.append((by, step, ns))

    def take(self, message: dict[str, object]) -> None:
        """Add the marks of a child's `{"step": "trace"}` message (garbage is skipped:
        after its start hook the child may be the container's code)."""
        if self.marks is None:
            return
        self.marks.extend(parse_marks(message.get("marks"))[:MAX_MARKS])

    def steps(self) -> list[Mark]:
        """Every mark so far, in time order."""
        return merge(self.marks or [])


def parse_marks(value: object) -> list[Mark]:
    """Marks from their wire form `[[by, step, ns], ...]`; anything malformed is dropped."""
    out: list[Mark] = []
    if not isinstance(value, list):
        return out
    for item in value:
        if (
            isinstance(item, list)
            and len(item) == 3
            and isinstance(item[0], str)
            and isinstance(item[1], str)
            and isinstance(item[2], int)
            and not isinstance(item[2], bool)
        ):
            out.append((item[0][:32], item[1][:200], item[2]))
    return out


# -- the spawner's and the container child's marks (process-wide) ----------------------

_marks: list[Mark] | None = None
_received = 0


def received() -> None:
    """The spawner read a request: remembered in case it asks for a trace."""
    global _received
    _received = now()


def begin(enabled: bool) -> None:
    """A spawn starts: record its marks (from the request's arrival) or none at all."""
    global _marks
    if not enabled:
        _marks = None
        return
    _marks = [("spawner", "request received", _received)] if _received else []


def mark(step: str, by: str = "child") -> None:
    if _marks is not None:
        _marks.append((by, step, now()))


def send(sock: socket.socket) -> None:
    """The child's marks to the daemon, as one handshake message (nothing when off).

    Errors are ignored: the trace never fails a start."""
    if _marks is None:
        return
    import json  # loaded already in a child (runtime.spawn.handshake): no file is read

    mark("trace sent")
    payload = {"step": STEP_TRACE, "marks": [list(m) for m in _marks[:MAX_MARKS]]}
    try:
        sock.send(json.dumps(payload, separators=(",", ":")).encode())
    except OSError:
        pass


# -- merging and showing -------------------------------------------------------------------


def merge(*sources: list[Mark]) -> list[Mark]:
    """The marks of several processes on one time line (stable for equal times)."""
    out = [m for source in sources for m in source]
    out.sort(key=lambda m: m[2])
    return out


def offsets(marks: list[Mark], origin: int) -> list[tuple[str, float, float]]:
    """(label "by: step", ms since `origin` (negative before it), ms since the previous mark)
    per mark, in order."""
    rows: list[tuple[str, float, float]] = []
    ordered = merge(marks)
    previous = min(origin, ordered[0][2]) if ordered else origin  # a step before the origin: gap 0
    for by, step, ns in ordered:
        rows.append((f"{by}: {step}", (ns - origin) / 1e6, (ns - previous) / 1e6))
        previous = ns
    return rows


def format_lines(
    prog: str,
    name: str,
    marks: list[Mark],
    origin: int,
    wall_origin: float,
    module: str = START_MODULE,
    previous: int | None = None,
) -> list[str]:
    """LXC's log line shape (`PROG NAME STAMP LEVEL module - where - message`), one per
    step: where is the process that took it, the message its offset from `origin`, the
    gap since the previous step and the step; the stamp is the step's own wall time
    (`wall_origin` is the wall time of `origin`). `previous`: the time of the step
    logged before these (the end of a run continues its start's lines)."""
    lines = []
    rows = offsets(marks, origin)
    if previous is not None and rows:
        first = merge(marks)[0][2]
        rows[0] = (rows[0][0], rows[0][1], max(0.0, (first - previous) / 1e6))
    for label, at_ms, gap_ms in rows:
        wall = wall_origin + at_ms / 1000
        stamp = time.strftime("%Y%m%d%H%M%S", time.localtime(wall))
        millis = int((wall % 1) * 1000)
        by, _, step = label.partition(": ")
        lines.append(
            f"{prog} {name} {stamp}.{millis:03d} TRACE    {module} - {by} - "
            f"{at_ms:+.3f} ms (+{gap_ms:.3f} ms) {step}\n"
        )
    return lines


def parse_line(line: str) -> tuple[str, float, float] | None:
    """(label "by: step", ms, gap ms) of one line `format_lines` wrote; None for any other."""
    _, sep, rest = line.rstrip("\n").partition(" TRACE    ")
    module, sep1, rest = rest.partition(" - ")
    if module not in MODULES or not sep1:
        return None
    by, sep2, rest = rest.partition(" - ")
    at, sep3, rest = rest.partition(" ms (+")
    gap, sep4, step = rest.partition(" ms) ")
    if not (sep and sep2 and sep3 and sep4):
        return None
    try:
        return f"{by}: {step}", float(at), float(gap)
    except ValueError:
        return None
