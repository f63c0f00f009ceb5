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
(`take_foreground_end`). Through a reboot that socket is kept (`close_terminals`
with `keep_foreground`) and becomes the next run's console peer: the command stays
on the console, as LXC's does.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import trio

from runtime.daemon.console.terminals import Carried, ContainerTerminals

log = logging.getLogger("trio-lxc.console")

_NOT_FOREGROUND = False


class ConsoleManager:
    """Every running container's `ContainerTerminals`, by name."""

    def __init__(self) -> None:
        self.terminals: dict[str, ContainerTerminals] = {}
        self._foreground: dict[str, tuple[int, int] | None] = {}
        #: Foreground consoles kept through a reboot, for the next run's `open`.
        self._carried: dict[str, Carried] = {}
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
        carried = self._carried.pop(name, None)
        terminals = ContainerTerminals(name, config, foreground=foreground, carried=carried)
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

    def close(self, name: str, terminals: ContainerTerminals | None = None, *, keep_foreground: bool = False) -> None:
        current = self.terminals.get(name)
        if current is None or (terminals is not None and current is not terminals):
            if terminals is not None:
                self._keep(name, terminals.close(keep_foreground=keep_foreground))
            return
        del self.terminals[name]
        self._keep(name, current.close(keep_foreground=keep_foreground))

    def _keep(self, name: str, carried: Carried | None) -> None:
        if carried is not None:
            self.drop_carried(name)
            self._carried[name] = carried

    def resize_carried(self, name: str, rows: int, cols: int) -> bool:
        """A resize of a foreground console between two runs (a reboot): kept for the
        next run's console. False when nothing is carried for `name`."""
        carried = self._carried.get(name)
        if carried is None:
            return False
        self._carried[name] = (carried[0], (rows, cols), carried[2])
        return True

    def drop_carried(self, name: str) -> None:
        """The container will not run again (its supervisor ended): a foreground
        console kept for its next run is closed, which ends the command's console."""
        carried = self._carried.pop(name, None)
        if carried is not None:
            try:
                os.close(carried[0])
            except OSError:
                pass


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


def close_terminals(
    manager: ConsoleManager | None, name: str, terminals: ContainerTerminals, *, keep_foreground: bool = False
) -> None:
    """The container is STOPPED: close its terminals, which tells their clients; with
    `keep_foreground` (it reboots), a foreground console is kept for the next run."""
    if manager is not None:
        manager.close(name, terminals, keep_foreground=keep_foreground)
    else:
        terminals.close()


def drop_carried(manager: ConsoleManager | None, name: str) -> None:
    """The supervisor ends: nothing kept for a next run stays open."""
    if manager is not None:
        manager.drop_carried(name)
