"""Backing stores trio-lxc recognises but does not build: btrfs, zfs, lvm, rbd, nbd.

Each is refused with one line: the tool it needs when that tool is missing from
the host (the usual case, and the one a user can act on), else that trio-lxc does
not implement it. A `btrfs:/path` rootfs made elsewhere still starts: it is a
directory (`spec.DIRECTORY_KINDS`); only creating, cloning and snapshotting one
through this store is refused.
"""

from __future__ import annotations

import shutil

from runtime.client.errors import LxcError

#: Store type -> (the command it needs, the package that has it).
TOOLS: dict[str, tuple[str, str]] = {
    "btrfs": ("btrfs", "btrfs-progs"),
    "zfs": ("zfs", "zfsutils-linux"),
    "lvm": ("lvcreate", "lvm2"),
    "rbd": ("rbd", "ceph-common"),
    "nbd": ("qemu-nbd", "qemu-utils"),
}


def refuse(kind: str, what: str = "backing store") -> LxcError:
    """The error for a store type this host or trio-lxc cannot provide."""
    tool = TOOLS.get(kind)
    if tool is not None and shutil.which(tool[0]) is None:
        return LxcError(
            f"{what} '{kind}' needs the '{tool[0]}' tool ({tool[1]}), which is not installed; "
            "use -B dir, overlay or loop"
        )
    return LxcError(f"{what} '{kind}' is not supported by trio-lxc; use -B dir, overlay or loop")
