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

Each call is one request on its own connection to the lxcpath's daemon (started on
first use, as the commands do), so any number of calls can run concurrently from
one trio program; `wait` rides the monitor bus, so it never polls. The daemon does
the work; this module only speaks its protocol, asynchronously.
"""

from __future__ import annotations

import os
import socket

import trio

from runtime.control import LineReader, encode
from runtime.daemon_client import bus_socket_path, connect, control_socket_path
from runtime.errors import LxcError
from runtime.lxcpath import ContainerPaths


class Runtime:
    """A handle on one lxcpath's runtime daemon."""

    def __init__(self, lxcpath: str) -> None:
        self.lxcpath = os.path.abspath(lxcpath)
        self._starting = trio.Lock()  # one daemon start at a time from this program

    async def _connect(self) -> trio.SocketStream:
        path = control_socket_path(self.lxcpath)
        for attempt in range(2):
            sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                await sock.connect(path)
                return trio.SocketStream(sock)
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if attempt:
                    raise
                async with self._starting:
                    # Connects if another task started it meanwhile, else starts it.
                    await trio.to_thread.run_sync(_ensure_daemon, self.lxcpath)
        raise AssertionError("unreachable")

    async def request(self, message: dict[str, object]) -> dict[str, object]:
        """Send one request and return its final reply; LxcError if it failed."""
        stream = await self._connect()
        reader = LineReader()
        async with stream:
            await stream.send_all(encode(message))
            while True:
                data = await stream.receive_some(65536)
                if not data:
                    raise LxcError("the runtime daemon closed the connection (see its log)")
                for reply, _ in reader.feed(data):
                    if "ok" not in reply:
                        continue
                    if not reply["ok"]:
                        code = reply.get("exit_code") or 1
                        raise LxcError(str(reply.get("error")), exit_code=int(code))  # type: ignore[arg-type]
                    return reply

    async def start(
        self, name: str, argv: list[str] | None = None, *, defines: list[str] | None = None
    ) -> int:
        """Start a created container (detached); returns its init's host pid."""
        paths = ContainerPaths(self.lxcpath, name)
        if not paths.is_defined():
            raise LxcError(f"{name} doesn't exist")
        if not argv:  # as lxc-start: lxc.init.cmd (with the defines), else /sbin/init
            argv = _init_command(paths.config, defines or []) or ["/sbin/init"]
        reply = await self.request(
            {
                "op": "start", "name": name, "mode": "system",
                "argv": argv, "config_path": paths.config,
                "defines": defines or [],
            }
        )  # fmt: skip
        return int(reply["pid"])  # type: ignore[arg-type]

    async def stop(self, name: str, *, kill: bool = False, timeout: float = 60) -> None:
        """Stop a container (gracefully, or at once with kill=True) and wait for STOPPED."""
        await self.request({"op": "stop", "name": name, "kill": kill, "timeout": timeout})

    async def state(self, name: str) -> str:
        reply = await self.request({"op": "state", "name": name})
        return str(reply["state"])

    async def freeze(self, name: str) -> bool:
        """Freeze a running container (returns once FROZEN); False if it already was."""
        return bool((await self.request({"op": "freeze", "name": name}))["changed"])

    async def unfreeze(self, name: str) -> bool:
        """Thaw a frozen container (returns once RUNNING); False if it was not frozen."""
        return bool((await self.request({"op": "unfreeze", "name": name}))["changed"])

    async def cgroup_get(self, name: str, key: str) -> str:
        """A cgroup key of a running container, as the kernel gives it (`cpu.shares`)."""
        _check_cgroup_key(key, write=False)
        return str((await self.request({"op": "cgroup", "name": name, "key": key}))["value"])

    async def cgroup_set(self, name: str, key: str, value: str) -> None:
        _check_cgroup_key(key, write=True)
        await self.request({"op": "cgroup", "name": name, "key": key, "value": value})

    async def stats(self, name: str) -> dict[str, int | None]:
        """cpu_ns, blkio_bytes, memory_bytes, kmem_bytes, swap_bytes (None: not accounted)."""
        return dict((await self.request({"op": "stats", "name": name}))["stats"])  # type: ignore[call-overload]

    async def wait(self, name: str, states: set[str], *, timeout: float | None = None) -> str:
        """Wait until the container is in one of `states` (at once if it already is)."""
        from bus.aclient import open_bus

        await self._ensure_daemon()
        with trio.fail_after(timeout) if timeout is not None else trio.CancelScope():
            async with open_bus(bus_socket_path(self.lxcpath)) as bus:
                async for event in bus.subscribe(_exact(name), states=states):
                    found = getattr(event, "state", None)
                    if found in states:
                        return str(found)
        raise LxcError(f"the bus closed before {name} reached {'|'.join(sorted(states))}")

    async def _ensure_daemon(self) -> None:
        await self.request({"op": "ping"})


def _check_cgroup_key(key: str, *, write: bool) -> None:
    """The daemon refuses a key that is not a plain cgroup file name too; refusing
    here gives the same one-line reason without a round trip."""
    from runtime.config.names import cgroup_file_problem

    problem = cgroup_file_problem(key, write=write)
    if problem is not None:
        raise LxcError(f"cgroup key {problem}")


def _ensure_daemon(lxcpath: str) -> None:
    connect(lxcpath, autostart=True).close()


def _exact(name: str) -> str:
    """A bus regex matching exactly `name`."""
    import re

    return re.escape(name)


def _init_command(config_path: str, defines: list[str]) -> list[str]:
    """lxc.init.cmd of the config with the defines applied, split on blanks (as LXC)."""
    from runtime.config.parser import apply_define, parse_file

    raw = parse_file(config_path)
    for define in defines:
        apply_define(raw, define)
    value = raw.get("lxc.init.cmd")
    return value.split() if value else []
