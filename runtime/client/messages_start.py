"""The control protocol's messages of a start and a stop: `start` (lxc-start,
lxc-execute), `stop` (lxc-stop), `signal`, and the events a start sends before its
reply (`Warned`, `Started`, `Traced`).

Why a module of their own: a command makes only the classes of the requests it
sends (each class costs its start-up time); runtime.client.control_protocol
loads this module the first time one of these names is asked of it, and its table
(`OPS`) names the classes of each op.
"""

from __future__ import annotations

from runtime.client.control import MAX_LINE
from runtime.client.control_protocol import (
    KEY_MAX,
    SIGNAL_MAX,
    SIGNAL_MIN,
    SIGTERM,
    START_MODES,
    VALUE_MAX,
    WINSIZE_MAX,
    Done,
    Event,
    Message,
    Reply,
    Request,
    choice,
    container_name,
    field,
    flag,
    integer,
    nested,
    number,
    optional,
    pair,
    strings,
    text,
)


class StartReply(Reply):
    """Detached (`attach` false): the init's pid. Attached: how it ended (`status` is
    LXC's figure: the exit code, or 128+N for signal N)."""

    pid: int | None = field(optional(integer(1, 1 << 31)), default=None)
    status: int | None = field(optional(integer(0, 255)), default=None)
    exit_code: int | None = field(optional(integer(0, 255)), default=None)
    signal: int | None = field(optional(integer(SIGNAL_MIN, SIGNAL_MAX)), default=None)

    def to_wire(self) -> dict[str, object]:
        data = super().to_wire()
        if self.pid is not None and self.status is None and self.exit_code is None and self.signal is None:
            return {"pid": self.pid}  # detached: the line as it always was
        del data["pid"]
        return data


class TraceMark(Message):
    """One step of a traced start (runtime.kernel.start_trace): who, what, CLOCK_MONOTONIC ns."""

    by: str = field(text(KEY_MAX))
    step: str = field(text(KEY_MAX))
    ns: int = field(integer(0, 1 << 63))


class Started(Event, type="started"):
    """A start's pid 1 runs; with `console` (lxc-start -F on a terminal) the console's
    socket comes with this line; with `Start.trace`, the steps of the start."""

    pid: int | None = field(optional(integer(1, 1 << 31)), default=None)
    console: bool = field(flag, default=False)
    trace: tuple[TraceMark, ...] = field(nested(TraceMark, items=512), default=())

    def to_wire(self) -> dict[str, object]:
        data = super().to_wire()
        if not self.trace:
            del data["trace"]  # the line as it always was
        return data


class Warned(Event, type="warnings"):
    """Before a start's `Started` (or its error): the warnings its config gave (keys
    LXC also ignores on this host), for the command to print; the config is read by
    the daemon alone (the commands no longer parse it before asking)."""

    warnings: tuple[str, ...] = field(strings(items=256, limit=MAX_LINE))


class Traced(Event, type="trace"):
    """Before the final reply of a traced run's end (`lxc-execute -l TRACE`, `Stop.trace`):
    the steps from the init's exit (or the stop request) to STOPPED."""

    trace: tuple[TraceMark, ...] = field(nested(TraceMark, items=512), default=())


class Start(Request[StartReply], op="start"):
    """lxc-start / lxc-execute. Detached, the reply says the pid; with `attach` the
    connection stays until the container stops (`Signal`s may be sent on it meanwhile)
    and the reply says how it ended. The caller's stdio may come with it (3 fds)."""

    name: str = field(container_name)
    mode: str = field(choice(*START_MODES), default="system")
    argv: tuple[str, ...] = field(strings(), default=())
    config_path: str | None = field(optional(text(absolute=True)), default=None)
    #: A volatile container's whole config (the line limit bounds it).
    config_text: str | None = field(optional(text(MAX_LINE)), default=None)
    defines: tuple[str, ...] = field(strings(limit=VALUE_MAX), default=())
    attach: bool = field(flag, default=False)
    #: "foreground": lxc-start -F on a terminal; the console comes with `Started`.
    console: str | None = field(optional(choice("foreground")), default=None)
    winsize: tuple[int, int] | None = field(optional(pair(0, WINSIZE_MAX)), default=None)
    #: lxc-start/lxc-execute -l TRACE: `Started` carries the start's steps.
    trace: bool = field(flag, default=False)

    @property
    def foreground_console(self) -> bool:
        return self.console == "foreground"


class Stop(Request[Done], op="stop"):
    name: str = field(container_name)
    #: Seconds before the hard stop; negative: wait for ever.
    timeout: float = field(number, default=60.0)
    kill: bool = field(flag, default=False)
    reboot: bool = field(flag, default=False)
    nowait: bool = field(flag, default=False)
    nokill: bool = field(flag, default=False)
    #: lxc-stop --rcfile: the rcfile's signals, used in place of the started config's.
    halt_signal: int | None = field(optional(integer(SIGNAL_MIN, SIGNAL_MAX)), default=None)
    reboot_signal: int | None = field(optional(integer(SIGNAL_MIN, SIGNAL_MAX)), default=None)
    stop_signal: int | None = field(optional(integer(SIGNAL_MIN, SIGNAL_MAX)), default=None)
    #: lxc-stop -l TRACE: a `Traced` event with the steps of the stop precedes the reply.
    trace: bool = field(flag, default=False)


class Signal(Request[Done], op="signal"):
    """Signal the init. Without a name, on an attached start's connection: no reply."""

    name: str | None = field(optional(container_name), default=None)
    signal: int = field(integer(SIGNAL_MIN, SIGNAL_MAX), default=SIGTERM)
