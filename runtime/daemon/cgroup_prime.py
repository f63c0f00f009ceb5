"""How a start's init gets into its cgroups, and the grace period when the daemon moves it.

The init joins its v1 cgroups itself and the spawner clones it into its cgroup2
directory (runtime.cgroups.container.ContainerCgroups.joinable), which costs no
kernel grace period; `entry_plan` says what to ask for. What is left for the
daemon's `attach` (a start whose forked child is not the init, a cgroup2 directory
on a start that is not cloned) pays one: then the daemon starts that grace period
(runtime.cgroups.prime) when the start's cgroups exist, in one of trio's cached
worker threads, never awaited: the start goes on at once, and the attach finds it
paid. One prime at a time: concurrent starts share the one in flight (the kernel's
switch is global). Never when nothing is left to attach: the prime holds
`cgroup_mutex` through its grace period, and the init's own join would queue behind it.
"""

from __future__ import annotations

import attrs
import outcome
import trio

from runtime.cgroups import prime
from runtime.spawn import namespaces
from runtime.spawn.errors import SetupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runtime.cgroups import ContainerCgroups
    from runtime.config.model import ContainerConfig

_in_flight = False


@attrs.frozen
class EntryPlan:
    """join: v1 directories the init joins itself; into: the cgroup2 directory the
    spawner clones it into; daemon_attaches: something is left for the daemon."""

    join: tuple[str, ...]
    into: str | None
    daemon_attaches: bool


def entry_plan(cgroups: ContainerCgroups, config: ContainerConfig, mode: str) -> EntryPlan:
    """What the init can join without the daemon, as the spawner and child will see it."""
    v1_dirs, v2_dir = cgroups.joinable
    try:
        ns = namespaces.plan(config, mode)
    except SetupError:
        return EntryPlan((), None, True)  # the child reports it; the daemon attaches all
    cloned = namespaces.clones_into_pid_namespace(ns)
    if not cloned and ns.needs_fork:  # the child forks the init: the daemon moves it
        return EntryPlan((), None, True)
    into = v2_dir if cloned else None
    return EntryPlan(v1_dirs, into, daemon_attaches=v2_dir is not None and into is None)


def prime_cgroup_attach() -> None:
    """Begin a no-op migration in a worker thread unless one is already under way."""
    global _in_flight
    if _in_flight:
        return
    _in_flight = True
    trio.lowlevel.start_thread_soon(prime.prime, _done)


def _done(_result: outcome.Outcome[None]) -> None:
    """Called in the worker thread: a bool store is atomic under the GIL."""
    global _in_flight
    _in_flight = False
