"""The control protocol's messages that read or change a running container's
state: `state`, `stats`, `freeze`, `unfreeze`, `cgroup`, and the daemon's own
`metrics`.

Loaded by runtime.client.control_protocol the first time one of these names is
asked of it (see runtime.client.messages_start for why).
"""

from __future__ import annotations

from runtime.client.control import MAX_LINE
from runtime.client.control_protocol import (
    KEY_MAX,
    SIGNAL_MAX,
    SIGNAL_MIN,
    VALUE_MAX,
    Message,
    Reply,
    Request,
    container_name,
    field,
    figures,
    flag,
    integer,
    nested,
    optional,
    text,
)


class StateReply(Reply):
    state: str = field(text(KEY_MAX))
    pid: int | None = field(optional(integer(1, 1 << 31)), default=None)


class Changed(Reply):
    """freeze/unfreeze: whether the state changed (False: it already was)."""

    changed: bool = field(flag)


class CgroupReply(Reply):
    """The value read (a write answers with none)."""

    value: str | None = field(optional(text(MAX_LINE)), default=None)

    def to_wire(self) -> dict[str, object]:
        return {} if self.value is None else {"value": self.value}


class StatsReply(Reply):
    state: str = field(text(KEY_MAX))
    pid: int | None = field(optional(integer(1, 1 << 31)), default=None)
    stats: dict[str, int | None] = field(figures())


class SupervisedFigures(Message):
    """One supervised container in the `metrics` reply."""

    name: str = field(text(KEY_MAX))
    state: str = field(text(KEY_MAX))
    pid: int | None = field(optional(integer(1, 1 << 31)), default=None)
    restarts: int = field(integer(0, 1 << 62), default=0)
    exit_code: int | None = field(optional(integer(0, 255)), default=None)
    exit_signal: int | None = field(optional(integer(SIGNAL_MIN, SIGNAL_MAX)), default=None)


class MetricsReply(Reply):
    """The daemon's own figures (runtime.daemon.metrics; lxc-exporter asks each scrape)."""

    pid: int = field(integer(1, 1 << 31))
    epoch: str | None = field(optional(text(KEY_MAX)), default=None)
    events_published: int = field(integer(0, 1 << 62), default=0)
    bus_subscribers: int = field(integer(0, 1 << 62), default=0)
    bus_dropped: int = field(integer(0, 1 << 62), default=0)
    control_connections: int = field(integer(0, 1 << 62), default=0)
    containers: tuple[SupervisedFigures, ...] = field(nested(SupervisedFigures), default=())


class Metrics(Request[MetricsReply], op="metrics"):
    """The daemon's own figures."""


class State(Request[StateReply], op="state"):
    name: str = field(container_name)


class Freeze(Request[Changed], op="freeze"):
    name: str = field(container_name)


class Unfreeze(Request[Changed], op="unfreeze"):
    name: str = field(container_name)


class Stats(Request[StatsReply], op="stats"):
    name: str = field(container_name)


class Cgroup(Request[CgroupReply], op="cgroup"):
    """Read a cgroup key (no value), or write one."""

    name: str = field(container_name)
    key: str = field(text(KEY_MAX, empty=False, line=True))
    value: str | None = field(optional(text(VALUE_MAX)), default=None)
