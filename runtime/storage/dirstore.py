"""`dir`: the rootfs is a plain host directory (the default store).

No native snapshot: LXC's lxc-snapshot of a dir container is a full copy, and
`lxc-copy -s` turns it into an overlay clone (runtime.storage.overlay)."""

from __future__ import annotations

import os

from runtime.client.errors import LxcError
from runtime.storage.fscopy import copy_tree
from runtime.storage.options import StoreOptions

PREFIX = "dir:"


def new(staging: str, final_dir: str, opts: StoreOptions) -> tuple[str, str, str | None]:
    """A new empty rootfs: (lxc.rootfs.path value, where to build it, a directory
    outside the container's to remove if the create fails)."""
    if opts.dir:
        place = os.path.abspath(opts.dir)
        if os.path.lexists(place):
            raise LxcError(f"--dir {opts.dir}: it already exists; name a new directory")
        os.makedirs(place, 0o755)
        return PREFIX + place, place, place
    os.mkdir(os.path.join(staging, "rootfs"), 0o755)
    return PREFIX + os.path.join(final_dir, "rootfs"), os.path.join(staging, "rootfs"), None


def copy_from(view: str, staging: str, final_dir: str) -> str:
    """A full copy of the directory `view` as the new container's rootfs."""
    copy_tree(view, os.path.join(staging, "rootfs"))
    return PREFIX + os.path.join(final_dir, "rootfs")
