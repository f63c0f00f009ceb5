"""The daemon's registry of container terminals, and the glue the supervisor calls.

`ConsoleManager` lives as long as the daemon and runs every container's terminal
tasks in its own nursery. A supervisor opens the terminals of its container just
before the spawn (`open_for`), passes their slave paths and the console as the
init's stdio in the spawn request (`request_fields`, `init_stdio`), and closes them
when the container is STOPPED (`close_for`), which also tells every client.

`lxc-start -F` on a terminal asks for the console to be its own before the start
(`expect_foreground`); the supervisor's `open_for` then makes a socketpair the
console's peer and the control connection hands the other end to the command
(`take_foreground_end`).
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from runtime.console.terminals import ContainerTerminals

log = logging.getLogger("trio-lxc.console")

_NOT_FOREGROUND = False


class ConsoleManager:
    """Every running container's `ContainerTerminals`, by name."""

    def __init__(self) -> None:
        self.terminals: dict[str, ContainerTerminals] = {}
        self._foreground: dict[str, tuple[int, int] | None] = {}
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    def expect_foreground(self, name: str, winsize: object = None) -> None:
        """The next start of `name` puts its console on the starting command's terminal.

        `winsize` is the terminal's [rows, cols], given to the console at once.
        """
        size = None
        if isinstance(winsize, (list, tuple)) and len(winsize) == 2:
            try:
                size = (int(winsize[0]), int(winsize[1]))
            except (TypeError, ValueError):
                size = None
        self._foreground[name] = size

    async def open(self, name: str, config: Any) -> ContainerTerminals:
        """Allocate the terminals of a starting container and start serving them."""
        self.close(name)
        foreground = self._foreground.pop(name, _NOT_FOREGROUND)
        terminals = ContainerTerminals(name, config, foreground=foreground)
        self.terminals[name] = terminals
        if self._nursery is not None:
            await self._nursery.start(terminals.run)
        return terminals

    def get(self, name: str) -> ContainerTerminals | None:
        return self.terminals.get(name)

    def take_foreground_end(self, name: str) -> int | None:
        """The command's end of a foreground console (None when there is none)."""
        self._foreground.pop(name, None)
        terminals = self.terminals.get(name)
        return terminals.take_foreground_end() if terminals is not None else None

    def close(self, name: str, terminals: ContainerTerminals | None = None) -> None:
        current = self.terminals.get(name)
        if current is None or (terminals is not None and current is not terminals):
            if terminals is not None:
                terminals.close()
            return
        del self.terminals[name]
        current.close()


# -- what the supervisor calls ------------------------------------------------------------


def _manager(supervisor: Any) -> ConsoleManager | None:
    return getattr(supervisor.links, "consoles", None)


async def open_for(supervisor: Any) -> None:
    """Allocate the container's terminals (StartFailed if that is impossible)."""
    supervisor.terminals = None
    manager = _manager(supervisor)
    if manager is None:
        return
    if not getattr(supervisor.config, "rootfs_path", None) and supervisor.spec.stdio is not None:
        return  # no /dev to bind them on and the command's own stdio: nothing would use them
    try:
        supervisor.terminals = await manager.open(supervisor.name, supervisor.config)
    except OSError as err:
        from runtime.supervisor import StartFailed

        reason = err.strerror if err.strerror and "lxc." in err.strerror else f"cannot allocate the terminals: {err}"
        raise StartFailed(reason) from None


def init_stdio(supervisor: Any) -> tuple[int, int, int] | None:
    """The console, three times, for an init started without the command's stdio."""
    terminals = getattr(supervisor, "terminals", None)
    return terminals.init_stdio() if terminals is not None else None


def request_fields(supervisor: Any) -> dict[str, object]:
    """The spawn request's `console` and `ttys` (host paths of the slaves)."""
    terminals = getattr(supervisor, "terminals", None)
    if terminals is None:
        return {}
    return {"console": terminals.console_path, "ttys": terminals.tty_paths}


def close_for(supervisor: Any) -> None:
    terminals = getattr(supervisor, "terminals", None)
    if terminals is None:
        return
    supervisor.terminals = None
    manager = _manager(supervisor)
    if manager is not None:
        manager.close(supervisor.name, terminals)
    else:
        terminals.close()
