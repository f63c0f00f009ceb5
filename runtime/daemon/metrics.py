"""The daemon's own figures, answered to the `metrics` control request (lxc-exporter).

What only the daemon knows: how many containers it supervises and in what state,
how often each was rebooted (restarts), the last exit of each, and its bus's
counters (subscribers now, events published since it started, subscribers
dropped for falling behind). The cgroup figures are not here: the exporter reads
them from the cgroup files itself, on each scrape, as lxc-info does.

The reply is plain JSON (a typed record on this side, `DaemonFigures`, keeps its
fields in one place); the request has no fields.
"""

from __future__ import annotations

import os

import attrs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runtime.daemon.app import Daemon


@attrs.frozen
class SupervisedFigures:
    name: str
    state: str
    pid: int | None
    restarts: int
    exit_code: int | None
    exit_signal: int | None


@attrs.frozen
class DaemonFigures:
    pid: int
    epoch: str | None
    events_published: int
    bus_subscribers: int
    bus_dropped: int
    control_connections: int
    containers: list[SupervisedFigures]

    def to_wire(self) -> dict[str, object]:
        return attrs.asdict(self)


def collect(daemon: Daemon) -> DaemonFigures:
    bus = daemon.bus
    containers = [
        SupervisedFigures(
            name=name,
            state=sup.state,
            pid=sup.pid,
            restarts=int(getattr(sup, "restarts", 0)),
            exit_code=sup.exit_code,
            exit_signal=sup.exit_signal,
        )
        for name, sup in sorted(daemon.supervisors.items())
    ]
    return DaemonFigures(
        pid=os.getpid(),
        epoch=getattr(bus, "epoch", None),
        events_published=int(getattr(bus, "seq", 0)),
        bus_subscribers=int(getattr(bus, "subscriber_count", 0)),
        bus_dropped=int(getattr(bus, "overflows", 0)),
        control_connections=daemon.connections,
        containers=containers,
    )


def daemon_figures(daemon: Daemon) -> dict[str, object]:
    """The `metrics` reply's fields (without `ok`)."""
    return collect(daemon).to_wire()
