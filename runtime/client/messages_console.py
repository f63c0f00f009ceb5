"""The control protocol's console messages: `console` (a terminal lease, its
`Closed` event), `console-resize`, `console-log`.

Loaded by runtime.client.control_protocol the first time one of these names is
asked of it (see runtime.client.messages_start for why).
"""

from __future__ import annotations

from runtime.client.control import MAX_LINE
from runtime.client.control_protocol import (
    TTY_MAX,
    TTY_MIN,
    WINSIZE_MAX,
    Done,
    Event,
    Reply,
    Request,
    container_name,
    field,
    flag,
    integer,
    optional,
    text,
)


class ConsoleReply(Reply):
    """The terminal leased (its fd comes with this line)."""

    tty: int = field(integer(0, TTY_MAX))


class ConsoleLogReply(Reply):
    """The console ring buffer, as latin-1 text."""

    data: str = field(text(MAX_LINE))


class Closed(Event, type="closed"):
    """A console lease's terminal went away (the container stopped)."""


class Console(Request[ConsoleReply], op="console"):
    """Lease a terminal (-1: the first free tty, 0: the console) until the connection
    closes; its fd comes with the reply, `Closed` when the container stops, and
    `ConsoleResize`s (without a name, no reply) may be sent on the lease."""

    name: str = field(container_name)
    tty: int = field(integer(TTY_MIN, TTY_MAX), default=-1)


class ConsoleResize(Request[Done], op="console-resize"):
    """On a connection of its own (name required), or on a console lease (no name)."""

    name: str | None = field(optional(container_name), default=None)
    tty: int = field(integer(0, TTY_MAX), default=0)
    rows: int = field(integer(0, WINSIZE_MAX))
    cols: int = field(integer(0, WINSIZE_MAX))


class ConsoleLog(Request[ConsoleLogReply], op="console-log"):
    name: str = field(container_name)
    clear: bool = field(flag, default=False)
