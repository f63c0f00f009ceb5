"""The container child's side of a user namespace: unshare, wait for the maps, become root.

Called from `runtime.spawn.namespaces.enter` before any other namespace is made,
so the mount, pid, net, ipc, uts, cgroup and time namespaces created afterwards
are all owned by the new user namespace (and the host's root has no special
standing in them beyond what the kernel gives an ancestor namespace's root).

Only the daemon, host root, can write the maps (a process may not map ids it
does not hold), so the child unshares, tells the daemon {"step": "userns"} and
waits for {"step": "mapped"}; anything else (EOF included) aborts the start.
It never goes on unmapped: an unmapped child would run as the overflow uid, and
nothing here falls back to the host's root. Standard library only (the child
imports it before the fork).
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from runtime.kernel import linux
from runtime.spawn import handshake
from runtime.spawn.errors import SetupError, describe_os_error, unshare
from runtime.spawn.mounts import rootfs_directory
from runtime.userns import idmapped

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

#: The idmapped rootfs tree the daemon sent with "mapped" (`runtime.userns.idmapped`).
_tree: int | None = None


def take_idmapped_tree() -> int | None:
    """The idmapped rootfs mount fd received from the daemon, once; None without one."""
    global _tree
    tree, _tree = _tree, None
    return tree


def unshare_and_wait(sock: socket.socket, config: ContainerConfig | None = None) -> None:
    """New user namespace, maps written by the daemon, then the mapped root."""
    global _tree
    if config is not None and idmapped.wanted(config):
        _enter_rootfs_target(config)
    unshare(linux.CLONE_NEWUSER, "lxc.idmap", "the user namespace")
    handshake.send_msg(sock, {"step": handshake.STEP_USERNS, "pid": os.getpid()})
    try:
        data, fds, _, _ = socket.recv_fds(sock, handshake.MAX_MESSAGE, 1, socket.MSG_CMSG_CLOEXEC)
        reply = handshake.decode_msg(data)
    except (OSError, handshake.ProtocolError):
        reply, fds = None, []
    if reply is None or reply.get("step") != handshake.STEP_MAPPED:
        for fd in fds:
            os.close(fd)
        raise SetupError(None, "the daemon did not map the user namespace")
    if fds:
        _tree = fds[0]
    elif idmapped.wanted(config):
        raise SetupError("lxc.rootfs.options", "the daemon sent no idmapped rootfs")
    become_root("lxc.idmap")


def _enter_rootfs_target(config: ContainerConfig) -> None:
    """cwd = where the idmapped rootfs will be attached, looked up as host root."""
    # wanted(): the rootfs is set, so a target is found.
    target = config.rootfs_mount or rootfs_directory(config.rootfs_path) or ""
    try:
        os.chdir(target)
    except OSError as err:
        raise SetupError(
            "lxc.rootfs.path", f"cannot enter '{target}': {describe_os_error(err)}"
        ) from None


def become_root(key: str) -> None:
    """uid and gid 0 of the user namespace we are in, no supplementary groups.

    Right after the unshare (or a setns into a container's user namespace) the
    process holds every capability there but still has the host's ids, which
    read as the overflow id; files it made would belong to nobody.
    """
    try:
        os.setresgid(0, 0, 0)
        os.setgroups([])
        os.setresuid(0, 0, 0)
    except OSError as err:
        raise SetupError(
            key, f"cannot become root of the user namespace: {describe_os_error(err)}"
        ) from None
    # A uid change made us non-dumpable: /proc/self would then belong to the host's
    # root; the container's root owns its init's /proc entries, as under LXC.
    linux.prctl(linux.PR_SET_DUMPABLE, 1)

