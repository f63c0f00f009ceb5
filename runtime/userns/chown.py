"""Shift the ownership of a tree into a container's mapped range.

Why: a container in a user namespace sees the host's files through its maps.
A rootfs made by host root (ids 0..N on disk) looks, from inside, as owned by
nobody (unmapped), so its root could not even write /etc. Shifting every inode
from container id X to the host id X maps to (`IdMaps.host_uid(X)`) makes the
rootfs what the container expects: `/` owned by its own root. Ids the map does
not cover are left alone (they stay nobody inside, as under LXC).

Symlinks are changed themselves (lchown), never followed, and the walk stays
on the tree's filesystem (a mount inside is not ours to change). chown(2)
clears the set-uid/set-gid bits of a file, so they are put back.
"""

from __future__ import annotations

import os
import stat

from runtime.userns.maps import IdMaps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runtime.config.parser import RawConfig


def shift_tree(root: str, maps: IdMaps) -> int:
    """Shift every inode under `root` (itself included); returns how many changed."""
    device = os.lstat(root).st_dev
    changed = 0
    changed += _shift_one(root, None, maps)
    for _dirpath, dirnames, filenames, dirfd in os.fwalk(root, follow_symlinks=False):
        keep = []
        for name in dirnames:
            info = os.lstat(name, dir_fd=dirfd)
            if info.st_dev == device:
                keep.append(name)
        dirnames[:] = keep
        for name in [*keep, *filenames]:
            changed += _shift_one(name, dirfd, maps)
    return changed


def _shift_one(path: str, dirfd: int | None, maps: IdMaps) -> int:
    info = os.lstat(path, dir_fd=dirfd)
    uid = maps.host_uid(info.st_uid)
    gid = maps.host_gid(info.st_gid)
    new_uid = info.st_uid if uid is None else uid
    new_gid = info.st_gid if gid is None else gid
    if (new_uid, new_gid) == (info.st_uid, info.st_gid):
        return 0
    os.chown(path, new_uid, new_gid, dir_fd=dirfd, follow_symlinks=False)
    special = stat.S_IMODE(info.st_mode) & (stat.S_ISUID | stat.S_ISGID)
    if special and not stat.S_ISLNK(info.st_mode):
        os.chmod(path, stat.S_IMODE(info.st_mode), dir_fd=dirfd)
    return 1


def own_container(directory: str, raw: RawConfig) -> None:
    """lxc-create of a container with lxc.idmap: its directory and rootfs, shifted.

    The container directory (0770, as LXC makes it) goes to the mapped root so
    that it can reach its rootfs, as LXC's create does; the rootfs a template
    built (ids as the container sees them) is shifted into the mapped range,
    which is what LXC gets by running the template under the map. A bad map set
    fails the create (ConfigError naming lxc.idmap) before anything changes.
    """
    from runtime.userns.maps import check_raw

    maps = check_raw(raw)
    if maps is None:
        return
    rootfs = os.path.join(directory, "rootfs")
    if os.path.isdir(rootfs) and not os.path.islink(rootfs):
        shift_tree(rootfs, maps)
    os.chown(directory, maps.root_uid, maps.root_gid)
