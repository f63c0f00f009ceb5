"""The daemon's side of a user namespace: write the maps of the waiting child.

The child has unshared its user namespace and sent {"step": "userns"}; the
daemon, host root, writes /proc/PID/gid_map then uid_map directly (each in a
single write, as the kernel requires) and answers {"step": "mapped"}. As LXC
does for a start by root, /proc/PID/setgroups is left at "allow": the
container's root may set its own processes' groups, within the gid map.
`newuidmap`/`newgidmap` are for callers that are not root; the daemon is.

The pid written to is the one the spawner reported for the fork (the child's
own word is only checked against it), and the child is alive and waiting for
our answer, so the pid cannot have been reused.
"""

from __future__ import annotations

import array
import json
import os
import socket
from typing import TYPE_CHECKING

import trio

from runtime.userns.maps import IdMaps

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

STEP_MAPPED = "mapped"


class MapFailed(Exception):
    """The maps could not be written; the start aborts with this line."""


def write_maps(pid: int, maps: IdMaps) -> None:
    """gid_map then uid_map of process `pid` (MapFailed naming lxc.idmap)."""
    for kind, name in (("g", "gid_map"), ("u", "uid_map")):
        path = f"/proc/{pid}/{name}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, maps.text(kind).encode())
            finally:
                os.close(fd)
        except OSError as err:
            raise MapFailed(
                f"lxc.idmap: cannot write {path}: {os.strerror(err.errno or 0)}"
            ) from None


async def map_child(
    sync: trio.socket.SocketType,
    forked: int,
    message: dict[str, object],
    maps: IdMaps | None,
    config: ContainerConfig | None = None,
) -> None:
    """Answer the child's {"step": "userns"}: write its maps, then "mapped"."""
    if maps is None:
        raise MapFailed("lxc.idmap: the container asked for a user namespace without id maps")
    if message.get("pid") != forked:
        raise MapFailed(f"lxc.idmap: the child reported pid {message.get('pid')}, not {forked}")
    write_maps(forked, maps)
    data = json.dumps({"step": STEP_MAPPED}).encode()
    tree = _idmapped_tree(forked, config)
    if tree is None:
        await sync.send(data)
        return
    try:
        await sync.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [tree]))])
    finally:
        os.close(tree)


def _idmapped_tree(forked: int, config: ContainerConfig | None) -> int | None:
    """lxc.rootfs.options idmap=: the detached idmapped rootfs for the child."""
    from runtime.spawn.mounts import rootfs_directory
    from runtime.userns import idmapped

    value = idmapped.wanted(config)
    if value is None or config is None:
        return None
    rootfs = rootfs_directory(config.rootfs_path)
    userns = idmapped.userns_path(value, forked)
    try:
        return idmapped.make_tree(str(rootfs), userns)
    except OSError as err:
        raise MapFailed(
            f"lxc.rootfs.options: cannot make an idmapped mount of '{rootfs}' with {userns}: "
            f"{os.strerror(err.errno or 0)}"
        ) from None
