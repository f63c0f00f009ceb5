"""lxc.ephemeral = 1: the container is destroyed when it stops, as LXC does.

LXC's `lxc-copy -e` writes the key into a copy it starts; any container that sets
it is destroyed (its directory, rootfs included) once it has stopped for good, not
when it reboots. The daemon does it here after the supervisor ended, for a
container that ran (a start that failed leaves the container for its owner to
fix). A container that stopped while no daemon ran is destroyed by the next
daemon when it buries it (`after_burial`). Only a container defined in the lxcpath by that config is destroyed: a
volatile `lxc-execute -f FILE` container has nothing to remove. The removal takes
the container's lock like lxc-destroy, in a worker thread so that a command that
holds the lock while it asks this daemon something is never waited on.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from runtime.client.records import ContainerRecord
    from runtime.config.model import ContainerConfig
    from runtime.daemon.supervisor import Supervisor

log = logging.getLogger("trio-lxc.ephemeral")


def destroy_if_ephemeral(lxcpath: str, name: str, config: ContainerConfig | None, config_path: str | None) -> bool:
    """Remove the stopped container when its config sets lxc.ephemeral = 1; True if done."""
    from runtime.client.lxcpath import ContainerPaths
    from runtime.storage import store

    if config is None or not config.ephemeral or config_path is None:
        return False
    paths = ContainerPaths(lxcpath, name)
    if os.path.realpath(config_path) != os.path.realpath(paths.config):
        return False
    store.remove_stopped(lxcpath, name)
    return True


async def after_stop(lxcpath: str, supervisor: Supervisor) -> None:
    """Called by the daemon once a supervisor has ended, before its name is free for
    a new start (which would otherwise run while the directory is being removed).
    Not ephemeral: returns at once, without a checkpoint."""
    if supervisor.start_error is not None or supervisor.pid is None:
        return
    spec = supervisor.spec
    if spec is None or not spec.config.ephemeral:
        return
    with trio.CancelScope(shield=True):
        try:
            done = await trio.to_thread.run_sync(
                destroy_if_ephemeral, lxcpath, supervisor.name, spec.config, spec.config_path,
            )  # fmt: skip
        except Exception as err:  # noqa: BLE001 - logged; the daemon goes on
            log.warning("%s: lxc.ephemeral: cannot destroy the container: %s", supervisor.name, err)
            return
    if done:
        log.info("%s: destroyed (lxc.ephemeral)", supervisor.name)


async def after_burial(lxcpath: str, name: str, record: ContainerRecord) -> None:
    """A container that died while no daemon ran (runtime.daemon.app._bury): if it
    had started (its record has an init pid) and its config sets lxc.ephemeral = 1,
    it is destroyed now, as its own daemon would have done."""
    config_path = record.config_path
    if record.pid is None or config_path is None:
        return
    with trio.CancelScope(shield=True):
        try:
            done = await trio.to_thread.run_sync(_bury_ephemeral, lxcpath, name, config_path)
        except Exception as err:  # noqa: BLE001 - logged; the daemon goes on
            log.warning("%s: lxc.ephemeral: cannot destroy the container: %s", name, err)
            return
    if done:
        log.info("%s: destroyed (lxc.ephemeral, stopped while no daemon ran)", name)


def _bury_ephemeral(lxcpath: str, name: str, config_path: str) -> bool:
    from runtime.config import model

    try:
        config = model.load(config_path)
    except Exception:  # noqa: BLE001 - a config gone or broken: nothing to decide on
        return False
    return destroy_if_ephemeral(lxcpath, name, config, config_path)
