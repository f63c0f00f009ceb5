"""The daemon's registry of container terminals, and the glue the supervisor calls.

`ConsoleManager` lives as long as the daemon and runs every container's terminal
tasks in its own nursery. A supervisor opens the terminals of its container just
before the spawn (`open_terminals`) and keeps them (`supervisor.terminals`), passes
their slave paths in the spawn request and the console as the init's stdio, and
closes them when the container is STOPPED (`close_terminals`), which also tells
every client.

`lxc-start -F` on a terminal asks for the console to be its own before the start
(`expect_foreground`); the supervisor's `open_terminals` then makes a socketpair the
console's peer and the control connection hands the other end to the command
(`take_foreground_end`).
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from runtime.daemon.console.terminals import ContainerTerminals

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
            await self._nursery.start(terminals.run, self._nursery)
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


class ConsoleError(Exception):
    """The terminals cannot be allocated; the message is one line for the user."""


async def open_terminals(
    manager: ConsoleManager | None, name: str, config: Any, *, own_stdio: bool
) -> ContainerTerminals | None:
    """Allocate the container's terminals (ConsoleError if that is impossible); None
    when nothing would use them: no manager, or no rootfs to bind them in while the
    init has the command's own stdio (`own_stdio`)."""
    if manager is None:
        return None
    if not getattr(config, "rootfs_path", None) and own_stdio:
        return None
    try:
        return await manager.open(name, config)
    except OSError as err:
        reason = err.strerror if err.strerror and "lxc." in err.strerror else f"cannot allocate the terminals: {err}"
        raise ConsoleError(reason) from None


def close_terminals(manager: ConsoleManager | None, name: str, terminals: ContainerTerminals) -> None:
    """The container is STOPPED: close its terminals, which tells their clients."""
    if manager is not None:
        manager.close(name, terminals)
    else:
        terminals.close()
