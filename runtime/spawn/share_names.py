"""lxc.namespace.share.NS = NAME: join the namespace of the running container NAME.

LXC accepts a container name (in the same lxcpath), a pid or a /proc/PID/ns path.
The container child cannot look a name up (it must not read the daemon's
records), so the supervisor replaces each name by that container's init pid
before the spawn (`shared_container_names` lists them), and refuses the start,
naming the key, when it is not running. The daemon imports this module: it imports
none of the child's (runtime.spawn.namespaces imports userns.enter and mounts, ~1 MiB).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig


class ShareError(Exception):
    """A name that cannot be resolved; the message names the key."""


def shared_container_names(config: ContainerConfig) -> dict[str, str]:
    """Namespace -> container name for `lxc.namespace.share.*` values naming a container.

    The daemon replaces each of these values by the named container's init pid
    before handing the config to the spawner.
    """
    return {
        name: value
        for name, value in config.namespace_share.items()
        if not value.startswith("/") and not value.isdigit()
    }


def resolve(name: str, config: ContainerConfig, running_init: Callable[[str], int | None] | None) -> dict[str, str]:
    """Namespace -> init pid (as text) for each share value naming a container."""
    resolved: dict[str, str] = {}
    for namespace, other in shared_container_names(config).items():
        key = f"lxc.namespace.share.{namespace}"
        if other == name:
            raise ShareError(f"{key}: a container cannot share its own namespace")
        pid = running_init(other) if running_init is not None else None
        if pid is None:
            raise ShareError(f"{key}: container '{other}' is not running")
        resolved[namespace] = str(pid)
    return resolved


def apply(config: ContainerConfig, resolved: dict[str, str]) -> None:
    """In the spawner: put the pids in place of the names (values checked: digits)."""
    for namespace, pid in resolved.items():
        if namespace in config.namespace_share and str(pid).isdigit():
            config.namespace_share[namespace] = str(pid)
