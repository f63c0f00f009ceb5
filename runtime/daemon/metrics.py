"""The daemon's own figures, answered to the `metrics` control request (lxc-exporter).

What only the daemon knows: how many containers it supervises and in what state,
how often each was rebooted (restarts), the last exit of each, and its bus's
counters (subscribers now, events published since it started, subscribers
dropped for falling behind). The cgroup figures are not here: the exporter reads
them from the cgroup files itself, on each scrape, as lxc-info does.

The reply is the protocol's `MetricsReply` (runtime.client.control_protocol); the
request has no fields.
"""

from __future__ import annotations

import os

from runtime.client.control_protocol import MetricsReply, SupervisedFigures

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runtime.daemon.app import Daemon


def collect(daemon: Daemon) -> MetricsReply:
    bus = daemon.bus
    containers = tuple(
        SupervisedFigures(
            name=name,
            state=sup.state,
            pid=sup.pid,
            restarts=int(getattr(sup, "restarts", 0)),
            exit_code=sup.exit_code,
            exit_signal=sup.exit_signal,
        )
        for name, sup in sorted(daemon.supervisors.items())
    )
    epoch = getattr(bus, "epoch", None)
    return MetricsReply(
        pid=os.getpid(),
        epoch=epoch if isinstance(epoch, str) else None,
        events_published=int(getattr(bus, "seq", 0)),
        bus_subscribers=int(getattr(bus, "subscriber_count", 0)),
        bus_dropped=int(getattr(bus, "overflows", 0)),
        control_connections=daemon.connections,
        containers=containers,
    )
