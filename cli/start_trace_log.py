"""`lxc-start`/`lxc-execute -l TRACE -o FILE`: the steps of the start, in the log file.

Why in the command: LXC's own log at TRACE shows every step of its start, and the
steps of ours are spread over the daemon, the spawner and the container child. The
command asks for a traced start (`Start.trace`), the daemon sends the merged marks
back in the `Started` event (runtime.kernel.start_trace), and this module writes one
line per step, with its offset from the moment the command built its request (the
command's own steps before it are negative) and the gap since the previous step, in LXC's line shape:

    lxc-execute c1 20261205033009.254 TRACE    start_trace - child - +21.342 ms (+0.412 ms) pivot_root

The end of the run follows in the same log as "stop_trace" lines: the daemon's
`Traced` event, just before the final reply, carries its steps from the init's
exit (or, for `lxc-stop -l TRACE`, from the stop request) to STOPPED and the
reply; `finished()` adds the moment the command read that reply and writes them.

Nothing is asked, and nothing written, unless the log file takes TRACE lines.
"""

from __future__ import annotations

import time

from cli.log import LEVELS, CommandLog
from runtime.kernel import start_trace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar

    from runtime.client.control_protocol import Event, Reply, Request
    from runtime.client.daemon_client import Connection

    R = TypeVar("R", bound=Reply)


class StartTracer:
    """One traced start, seen from the command: its own marks and the daemon's."""

    def __init__(self, log: CommandLog, name: str) -> None:
        self.log = log
        self.name = name
        self.wall_origin = time.time()
        self.origin = start_trace.now()
        #: Before the request: the command's options read, its config checked.
        self.marks: list[start_trace.Mark] = [("client", "options parsed", self.origin)]
        self.written = False
        #: The end of the run (the `Traced` event), written by `finished`.
        self.end_marks: list[start_trace.Mark] = []

    def request_built(self) -> bool:
        """The request is ready: the offsets of every step count from now (True)."""
        at = start_trace.now()
        self.wall_origin += (at - self.origin) / 1e9
        self.origin = at
        self.marks.append(("client", "request built", at))
        return True

    @classmethod
    def for_log(cls, log: CommandLog, name: str) -> StartTracer | None:
        """A tracer when `-o FILE` takes TRACE lines (`-l TRACE`); None otherwise."""
        if log.file_path is None or log.level > LEVELS["TRACE"]:
            return None
        return cls(log, name)

    def on_event(self, event: Event | Reply, read_at: int = 0) -> None:
        """The `Started` event: the start's steps, written to the log at once (the
        container may run for long after it). A `Traced` event: the end's steps, kept
        for `finished`. `read_at`: when its bytes were read (Connection.read_at), so
        that the decoding after the read is a step of its own."""
        from runtime.client.control_protocol import Started, Traced

        if isinstance(event, Traced):
            self.end_marks.extend((m.by, m.step, m.ns) for m in event.trace)
            return
        if not isinstance(event, Started) or self.written:
            return
        decoded = start_trace.now()
        if read_at:
            self.marks.append(("client", "Started received", read_at))
            self.marks.append(("client", "Started decoded", decoded))
        else:
            self.marks.append(("client", "Started received", decoded))
        self.marks.extend((m.by, m.step, m.ns) for m in event.trace)
        self.write(start_trace.format_lines(
            self.log.prog, self.name, self.marks, self.origin, self.wall_origin
        ))  # fmt: skip
        self.written = True

    def finished(self, step: str = "exit reply received", read_at: int = 0) -> None:
        """The final reply is read (at `read_at`, else now): the end's steps (the
        `Traced` event's and this one), written after the start's."""
        end = [*self.end_marks, ("client", step, read_at or start_trace.now())]
        self.end_marks = []
        last: int | None = None
        if self.written:  # after the start's lines: the first gap counts from their last step
            last = max(m[2] for m in self.marks)
        else:  # no start (lxc-stop): the command's own steps come first
            end = [*self.marks, *end]
        self.write(start_trace.format_lines(
            self.log.prog, self.name, end, self.origin, self.wall_origin,
            module=start_trace.STOP_MODULE, previous=last,
        ))  # fmt: skip

    def write(self, lines: list[str]) -> None:
        self.log.write_file("".join(lines))  # the -o file opened at start-up (cli.log)

    def result(self, connection: Connection, request: Request[R]) -> R:
        """Read until the request's final reply, seeing its events on the way."""
        from cli.requests import read_result

        return read_result(connection, request, self)
