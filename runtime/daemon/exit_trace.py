"""The end of a container's run, traced: from the init's exit (or a stop request) to the reply.

Why: the start trace (runtime.kernel.start_trace) ends at RUNNING, but a command
such as `lxc-execute -- /bin/true` or `lxc-stop -k` also waits for the exit to
be noticed, the clean-up (cgroups, network, terminals, record), STOPPING and
STOPPED, and the reply. Each supervisor keeps an end `Recorder`
(`Supervisor.end_trace`): on for a start that asked for a trace, turned on by a
traced stop (`follow_stop`); the supervisor marks its steps there, and the
connection that asked sends them in one `Traced` event just before its final
reply (`send_steps`). Off, every mark is one attribute test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from runtime.client import control_protocol as cp
from runtime.kernel import start_trace

if TYPE_CHECKING:
    from collections.abc import Sequence

#: The most steps one `Traced` event carries (its field's limit).
MAX_STEPS = 512


class Replier(Protocol):
    """The control connection, as seen here (runtime.daemon.app.ControlConnection)."""

    async def reply(self, message: cp.Reply | cp.ErrorReply | cp.Event, fds: Sequence[int] = ()) -> None: ...


class Traced(Protocol):
    """A supervisor, as seen here: its end recorder."""

    end_trace: start_trace.Recorder


def follow_stop(supervisor: Traced, decoded: int) -> None:
    """A traced stop request (decoded at `decoded`, CLOCK_MONOTONIC ns): record the
    steps of the end from now on, if they are not recorded already."""
    supervisor.end_trace.enable()  # in place: the supervisor's exit wait holds it
    supervisor.end_trace.mark_at("stop request decoded", decoded)


def event(recorder: start_trace.Recorder) -> cp.Traced:
    """The recorded steps as a `Traced` event (the latest ones if there are too many)."""
    steps = recorder.steps()[-MAX_STEPS:]
    return cp.Traced(trace=tuple(cp.TraceMark(by=b, step=s, ns=n) for b, s, n in steps))


async def send_steps(conn: Replier, recorder: start_trace.Recorder, step: str) -> None:
    """Mark `step` (the reply about to go) and send the steps, when they are recorded."""
    if not recorder.enabled:
        return
    recorder.mark(step)
    await conn.reply(event(recorder))
