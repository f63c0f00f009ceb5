"""Start the kernel's cgroup-migration grace period when a start begins (runtime.cgroups.prime).

In one of trio's cached worker threads, never awaited: the start goes on at once, and
the attach of its init finds the grace period paid. One prime at a time: concurrent
starts share the one in flight (the kernel's switch is global).
"""

from __future__ import annotations

import outcome
import trio

from runtime.cgroups import prime

_in_flight = False


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
