"""`lxc.rootfs.options = idmap=container` (or `idmap=/proc/PID/ns/user`): an idmapped rootfs.

Why: a rootfs owned by host root (ids 0..N on disk) would read as nobody in a
user-namespaced container. Instead of chowning it (lxc-create's shift), an
idmapped mount (Linux 5.12+) shows on-disk id X as whatever the given user
namespace maps X to: with the container's own namespace, disk uid 0 is the
container's root, and what the container writes as root lands on disk as 0.
The files are never changed, so the same tree can serve privileged starts too.

Who does what, because of the kernel's rules:
- mount_setattr(MOUNT_ATTR_IDMAP) needs CAP_SYS_ADMIN over the filesystem's
  user namespace (the host's) and a detached mount, so the daemon (host root)
  makes it: open_tree(OPEN_TREE_CLONE) of the rootfs, then the idmap with the
  child's user namespace (/proc/A/ns/user, once its maps are written), and
  sends the mount fd with the "mapped" step (SCM_RIGHTS).
- move_mount into the child's mount namespace must be done by the child. Its
  target is the rootfs directory (or lxc.rootfs.mount), which the mapped root
  may not be able to look up (a 0700 lxcpath); so the child, still host root,
  makes it its working directory before unsharing the user namespace. A new
  mount namespace carries the working directory over to its copy of the mount,
  and the child attaches the tree on ".".
The tree is cloned without its submounts (an idmap applies per mount, and not
every filesystem supports one). Standard library only (the child imports it).
"""

from __future__ import annotations

import ctypes
import os

from runtime.kernel import linux

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

_SYS_OPEN_TREE = 428
_SYS_MOVE_MOUNT = 429
_SYS_MOUNT_SETATTR = 442

OPEN_TREE_CLONE = 1
AT_EMPTY_PATH = 0x1000
AT_FDCWD = -100
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_IDMAP = 0x100000

OPTION = "idmap"
CONTAINER = "container"


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def split_options(options: str | None) -> tuple[str | None, str]:
    """(the idmap= value or None, the other lxc.rootfs.options, comma-joined)."""
    value = None
    rest = []
    for item in (options or "").split(","):
        if item.startswith(OPTION + "="):
            value = item[len(OPTION) + 1 :]
        elif item:
            rest.append(item)
    return value, ",".join(rest)


def wanted(config: ContainerConfig | None) -> str | None:
    """The idmap= value of a container with a rootfs and lxc.idmap, else None."""
    if config is None or not config.rootfs_path or not config.idmap:
        return None
    value, _ = split_options(config.rootfs_options)
    return value or None


def userns_path(value: str, child_pid: int) -> str:
    """The user namespace whose maps the mount uses."""
    return f"/proc/{child_pid}/ns/user" if value == CONTAINER else value


def _syscall(number: int, *args: object) -> int:
    libc = linux.libc_handle()
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(number), *args)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(result)


def make_tree(rootfs: str, userns: str) -> int:
    """A detached clone of `rootfs`, idmapped through user namespace `userns` (daemon side)."""
    ns_fd = os.open(userns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        tree = _syscall(
            _SYS_OPEN_TREE,
            ctypes.c_int(AT_FDCWD),
            ctypes.c_char_p(os.fsencode(rootfs)),
            ctypes.c_uint(OPEN_TREE_CLONE | os.O_CLOEXEC),
        )
        try:
            attr = _MountAttr(MOUNT_ATTR_IDMAP, 0, 0, ns_fd)
            _syscall(
                _SYS_MOUNT_SETATTR,
                ctypes.c_int(tree),
                ctypes.c_char_p(b""),
                ctypes.c_uint(AT_EMPTY_PATH),
                ctypes.byref(attr),
                ctypes.c_size_t(ctypes.sizeof(attr)),
            )
        except BaseException:
            os.close(tree)
            raise
        return tree
    finally:
        os.close(ns_fd)


def attach_here(tree: int) -> None:
    """Attach the detached tree on the working directory (child side, own mount ns)."""
    _syscall(
        _SYS_MOVE_MOUNT,
        ctypes.c_int(tree),
        ctypes.c_char_p(b""),
        ctypes.c_int(AT_FDCWD),
        ctypes.c_char_p(b"."),
        ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH),
    )
