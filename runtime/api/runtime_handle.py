"""The Python API for trio programs: start, stop and wait on many containers at once.

    import trio
    from runtime.api import Runtime

    async def main():
        rt = Runtime("/var/lib/lxc")
        async with trio.open_nursery() as nursery:
            for name in ("web1", "web2", "web3"):
                nursery.start_soon(rt.start, name)
        print(await rt.state("web1"))
        async with trio.open_nursery() as nursery:
            for name in ("web1", "web2", "web3"):
                nursery.start_soon(rt.stop, name)

    trio.run(main)

`start_many` / `stop_many` give the daemon a whole set in one request (what
lxc-autostart uses): for a known set, cheaper than one call per container.

Any number of calls can run concurrently from one trio program: they share one
connection to the lxcpath's daemon (opened on first use, the daemon started as
the commands do; reopened if the daemon restarted), each request with an id and
its reply routed back by it (runtime.daemon.mux_client), so 1000 concurrent starts
cost one connection, not 1000. `wait` rides the monitor bus, so it never polls. The daemon does
the work; this module only speaks its protocol, asynchronously.
"""

from __future__ import annotations

import os

from runtime.api import requests
from runtime.client.control_protocol import (
    Batch,
    Cgroup,
    ContainerDone,
    Event,
    Freeze,
    Ping,
    StartMany,
    State,
    Stats,
    StopMany,
    Unfreeze,
)
from runtime.client.errors import LxcError
from runtime.client.lxcpath import ContainerPaths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runtime.client.control_protocol import R, Request


class Runtime:
    """A handle on one lxcpath's runtime daemon (many containers, one trio program)."""

    def __init__(self, lxcpath: str) -> None:
        self.lxcpath = os.path.abspath(lxcpath)

    async def request(self, message: Request[R]) -> R:
        """Send one request (runtime.client.control_protocol) and return its final reply;
        LxcError if it failed."""
        return await requests.asend(self.lxcpath, message)

    async def start(
        self, name: str, argv: list[str] | None = None, *, defines: list[str] | None = None
    ) -> int:
        """Start a created container (detached); returns its init's host pid.
        pid 1 is `argv`, else the daemon's choice (lxc.init.cmd, else /sbin/init)."""
        paths = ContainerPaths(self.lxcpath, name)
        if not paths.is_defined():
            raise LxcError(f"{name} doesn't exist")
        reply = await self.request(requests.start(name, paths.config, argv, defines))
        pid = reply.pid
        if pid is None:
            raise LxcError(f"{name}: the daemon did not say which pid it started")
        return pid

    async def stop(self, name: str, *, kill: bool = False, timeout: float = 60) -> None:
        """Stop a container (gracefully, or at once with kill=True or timeout=0) and
        wait for STOPPED (lxc-stop -t 0 only asks; here 0 means no grace: a kill)."""
        await self.request(requests.stop(name, kill=kill or timeout == 0, timeout=timeout))

    async def start_many(self, names: list[str]) -> dict[str, str]:
        """Start every named container in one request (the daemon starts them all
        concurrently, as lxc-autostart's batch: each its own config, lxc.init.cmd or
        /sbin/init); returns once each is RUNNING or failed: {name: why} of the failed
        ones (empty when all started). Cheaper than many `start` calls: one connection,
        one request."""
        return await self._many(StartMany(batches=_one_batch(names)))

    async def stop_many(
        self, names: list[str], *, kill: bool = False, timeout: float = 60
    ) -> dict[str, str]:
        """Stop every named container in one request: a shutdown sends the halt signal
        and waits `timeout` seconds before the kill (-1: for ever); kill=True or
        timeout=0 kills at once, as `stop` does (the daemon's stop-many with a shutdown
        of timeout 0 only asks, as `lxc-autostart -s -t 0`). {name: why} of the failed."""
        action = "kill" if kill or timeout == 0 else "shutdown"
        return await self._many(StopMany(action=action, timeout=timeout, batches=_one_batch(names)))

    async def _many(self, message: StartMany | StopMany) -> dict[str, str]:
        failed: dict[str, str] = {}

        def on_event(event: Event) -> None:
            if isinstance(event, ContainerDone) and event.result == "failed":
                failed[event.name] = event.error or "failed"

        if message.batches:
            await requests.asend(self.lxcpath, message, on_event)  # on a connection of its own
        return failed

    async def state(self, name: str) -> str:
        return (await self.request(State(name=name))).state

    async def freeze(self, name: str) -> bool:
        """Freeze a running container (returns once FROZEN); False if it already was."""
        return (await self.request(Freeze(name=name))).changed

    async def unfreeze(self, name: str) -> bool:
        """Thaw a frozen container (returns once RUNNING); False if it was not frozen."""
        return (await self.request(Unfreeze(name=name))).changed

    async def cgroup_get(self, name: str, key: str) -> str:
        """A cgroup key of a running container, as the kernel gives it (`cpu.shares`)."""
        _check_cgroup_key(key, write=False)
        return (await self.request(Cgroup(name=name, key=key))).value or ""

    async def cgroup_set(self, name: str, key: str, value: str) -> None:
        _check_cgroup_key(key, write=True)
        await self.request(Cgroup(name=name, key=key, value=value))

    async def stats(self, name: str) -> dict[str, int | None]:
        """cpu_ns, blkio_bytes, memory_bytes, kmem_bytes, swap_bytes (None: not accounted)."""
        return dict((await self.request(Stats(name=name))).stats)

    async def wait(self, name: str, states: set[str], *, timeout: float | None = None) -> str:
        """Wait until the container is in one of `states` (at once if it already is);
        the state it reached. trio.TooSlowError after `timeout` seconds."""
        import trio

        from runtime.client.daemon_client import bus_socket_path
        from runtime.client.state_wait import await_state

        await self._ensure_daemon()
        found = await await_state(bus_socket_path(self.lxcpath), name, frozenset(states), timeout)
        if found is None:
            raise trio.TooSlowError
        return found

    async def _ensure_daemon(self) -> None:
        await self.request(Ping())


def _one_batch(names: list[str]) -> tuple[Batch, ...]:
    return (Batch(names=tuple(names)),) if names else ()


def _check_cgroup_key(key: str, *, write: bool) -> None:
    """The daemon refuses a key that is not a plain cgroup file name too; refusing
    here gives the same one-line reason without a round trip."""
    from runtime.config.names import cgroup_file_problem

    problem = cgroup_file_problem(key, write=write)
    if problem is not None:
        raise LxcError(f"cgroup key {problem}")
