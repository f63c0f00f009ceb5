"""One container's network, from STARTING to STOPPED, as its supervisor drives it.

`ContainerNetwork.setup()` runs inside the set-up handshake, after the init's pid
has arrived and the cgroups are attached and before "go"; `teardown()` runs in
STOPPING (and after ABORTING) once the container's processes are gone. The netlink
work itself is in `runtime.net.host` and runs in a worker thread, one batch per
call; nothing here blocks the trio loop. See `runtime.net` for the design.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import trio

from runtime.net import handles
from runtime.net.plan import DEVICE_TYPES, NetworkError, plan

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig
    from runtime.net.host import NetState
    from runtime.net.plan import DevicePlan

log = logging.getLogger("trio-lxc.net")


class ContainerNetwork:
    """The network devices of one running container and the handles to reach them.

    state: the devices made, as `runtime.net.host.NetState` entries (the `net`
    list of the runtime record). nl_fd / nsfd: the netlink socket inside the
    container's network namespace and the namespace itself (None when the container
    has none of its own, or after re-adoption for nl_fd).
    """

    def __init__(self, *, name: str, config: ContainerConfig, config_path: str | None) -> None:
        self.name = name
        self.config = config
        self.config_path = config_path
        self.entries: list[dict[str, Any]] = []
        self.nl_fd: int | None = None
        self.nsfd: int | None = None

    # -- starting ----------------------------------------------------------------
    async def setup(self, sync: trio.socket.SocketType, pid_message: dict[str, object]) -> None:
        """Make and configure the devices; NetworkError naming the key on failure.

        Whatever was made before a failure stays in `entries` for `teardown`.
        """
        try:
            await self._setup(sync, pid_message)
        except NetworkError:
            raise
        except Exception as err:  # noqa: BLE001 - an unexpected failure still aborts cleanly
            log.exception("%s: network set-up", self.name)
            raise NetworkError("lxc.net", f"{type(err).__name__}: {err}") from None

    async def _setup(self, sync: trio.socket.SocketType, pid_message: dict[str, object]) -> None:
        own_netns = bool(pid_message.get("netns"))
        if own_netns:
            try:
                self.nl_fd, self.nsfd = await handles.receive_handles(sync)
            except handles.HandlesError as err:
                raise NetworkError(None, str(err)) from None
        plans = plan(self.config, own_netns)
        if any(p.type in DEVICE_TYPES for p in plans):
            from runtime.net.host import NetState

            state = NetState(self.entries)
            try:
                await trio.to_thread.run_sync(_host_setup, plans, state, self.nsfd, self.nl_fd)
            finally:
                self.entries = state.devices
        else:
            self._close_handles()  # nothing to configure, nothing to give back
        for p in plans:
            if p.type not in DEVICE_TYPES and (p.dev.script_up or p.dev.script_down):
                self.entries.append(
                    {"index": p.index, "type": p.type, "script_down": p.dev.script_down}
                )
        from runtime.net.scripts import run_script

        scripts = {p.index: p.dev.script_up for p in plans}
        for entry in sorted(self.entries, key=lambda e: int(e["index"])):
            if scripts.get(entry["index"]):
                await run_script(
                    {**entry, "script_up": scripts[entry["index"]]}, "up",
                    name=self.name, config=self.config, config_path=self.config_path,
                )  # fmt: skip

    def record(self) -> list[dict[str, Any]]:
        """The `net` list of the runtime record (host-side names, moved devices)."""
        return [dict(e) for e in self.entries]

    def host_links(self) -> list[str]:
        return [str(e["host"]) for e in self.entries if e.get("host")]

    # -- stopping ----------------------------------------------------------------
    async def teardown(self) -> None:
        """script.down, then give back and remove everything; never raises."""
        from runtime.net.scripts import run_script

        try:
            for entry in sorted(self.entries, key=lambda e: int(e["index"]), reverse=True):
                try:
                    await run_script(
                        entry, "down", name=self.name, config=self.config, config_path=self.config_path
                    )
                except NetworkError as err:
                    log.warning("%s: %s", self.name, err)
            if any(e.get("type") in DEVICE_TYPES for e in self.entries):
                if self.nl_fd is None and self.nsfd is not None and _needs_inside(self.entries):
                    self.nl_fd = await _netlink_socket_in(self.nsfd)
                problems = await trio.to_thread.run_sync(_host_teardown, self.entries, self.nl_fd)
                for problem in problems:
                    log.warning("%s: %s", self.name, problem)
        except Exception:  # noqa: BLE001 - stopping goes on; the log says what is left
            log.exception("%s: removing the network devices", self.name)
        finally:
            self.entries = []
            self._close_handles()

    def _close_handles(self) -> None:
        for fd in (self.nl_fd, self.nsfd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.nl_fd = self.nsfd = None

    # -- a daemon restart ----------------------------------------------------------
    @classmethod
    def from_record(
        cls, record: dict[str, object], *, config: ContainerConfig, pid: int | None
    ) -> ContainerNetwork | None:
        """The network of a container re-adopted alive (None if it has no devices).

        The namespace is held open from now on, so that it outlives the container's
        last process and the devices can still be given back at its stop.
        """
        entries = record.get("net")
        if not isinstance(entries, list) or not entries:
            return None
        config_path = record.get("config_path")
        net = cls(
            name=str(record.get("name")),
            config=config,
            config_path=config_path if isinstance(config_path, str) else None,
        )
        net.entries = [dict(e) for e in entries if isinstance(e, dict)]
        if pid is not None:
            try:
                net.nsfd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                net.nsfd = None
        return net


def _needs_inside(entries: list[dict[str, Any]]) -> bool:
    """Whether a device must be given back or deleted from inside the namespace."""
    from runtime.net import types

    return any(e.get("type") in types.names_where("removed_inside") for e in entries)


def _host_setup(plans: list[DevicePlan], state: NetState, nsfd: int | None, nl_fd: int | None) -> None:
    from runtime.net import host

    assert nsfd is not None and nl_fd is not None
    host.setup(plans, state, nsfd, nl_fd)


def _host_teardown(entries: list[dict[str, Any]], nl_fd: int | None) -> list[str]:
    from runtime.net import host

    return host.teardown(host.NetState(entries), nl_fd)


async def _netlink_socket_in(nsfd: int) -> int | None:
    """A netlink socket inside the namespace `nsfd`, made by a short helper process.

    Only needed after a daemon restart (the child's socket died with the old
    daemon): the helper (`runtime.net.nsopen`) enters the namespace and passes a
    socket back, so the trio process never calls setns and never forks Python.
    """
    import socket
    import sys

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        argv = [sys.executable, "-m", "runtime.net.nsopen", str(theirs.fileno()), str(nsfd)]
        with trio.move_on_after(20):
            result = await trio.run_process(
                argv, pass_fds=(theirs.fileno(), nsfd), check=False, capture_stderr=True
            )
            if result.returncode != 0:
                log.warning("nsopen helper failed: %s", result.stderr.decode(errors="replace").strip())
                return None
            theirs.close()
            ours.setblocking(False)  # the helper has exited: its packet is there or never
            try:
                _, fds, _, _ = socket.recv_fds(ours, 64, 1)
            except BlockingIOError:
                return None
            return fds[0] if fds else None
        return None
    finally:
        ours.close()
        if theirs.fileno() >= 0:
            theirs.close()


async def cleanup_dead_record(record: dict[str, object]) -> None:
    """A daemon restart found this container dead: undo what its network left."""
    entries = record.get("net")
    if not isinstance(entries, list) or not entries:
        return
    if not any(isinstance(e, dict) and e.get("type") in DEVICE_TYPES for e in entries):
        return
    try:
        problems = await trio.to_thread.run_sync(_host_teardown, [dict(e) for e in entries], None)
    except Exception:  # noqa: BLE001
        log.exception("%s: cleaning up network devices", record.get("name"))
        return
    for problem in problems:
        log.warning("%s: %s", record.get("name"), problem)
