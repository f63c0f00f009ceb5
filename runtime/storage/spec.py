"""lxc.rootfs.path values: which backing store, which paths, and where it is mounted.

LXC's forms: `dir:/path` or a bare `/path` (a directory), `overlay:LOWER:UPPER`
(also `overlayfs:`), `loop:/path/rootdev` (an image file with a filesystem),
`btrfs:/path` (a subvolume, used as a directory), `zfs:POOL/FS`, `lvm:/dev/VG/LV`,
`rbd:POOL/NAME` and `nbd:...`. An overlay or loop rootfs is mounted by the
container child in its own mount namespace (`childmount`) on `lxc.rootfs.mount`
when set, else on the `rootfs` directory of the container's directory as LXC lays
it out (`<dir>/overlay/delta` -> `<dir>/rootfs`, `<dir>/rootdev` -> `<dir>/rootfs`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: Types whose rootfs is a host directory used as it is.
DIRECTORY_KINDS = ("dir", "btrfs")
#: Types the child mounts itself.
MOUNTED_KINDS = ("overlay", "loop")
#: Types recognised and refused (`unavailable`), with the tool each needs.
REFUSED_KINDS = ("zfs", "lvm", "rbd", "nbd", "aufs")
KNOWN_KINDS = DIRECTORY_KINDS + MOUNTED_KINDS + REFUSED_KINDS


@dataclass(frozen=True)
class RootfsSpec:
    """One lxc.rootfs.path value. `path`: the directory (dir, btrfs), the lower
    directory (overlay), the image (loop) or the store's own name (zfs, lvm...);
    `upper`: overlay's upper (delta) directory."""

    kind: str
    path: str
    upper: str | None = None

    def value(self) -> str:
        """The value to write in a config (LXC's spelling)."""
        if self.kind == "overlay":
            return f"overlay:{self.path}:{self.upper}"
        return f"{self.kind}:{self.path}"

    @property
    def workdir(self) -> str:
        """overlay's work directory: beside the upper one (LXC's `overlay/work`)."""
        if self.upper is None:
            raise ValueError("not an overlay rootfs")
        return os.path.join(os.path.dirname(self.upper), "work")


def parse(value: str) -> RootfsSpec:
    """Split an lxc.rootfs.path value; ValueError with a reason when malformed."""
    kind, sep, rest = value.partition(":")
    if not sep or kind not in KNOWN_KINDS + ("overlayfs",):
        return RootfsSpec("dir", value)
    if kind in ("overlay", "overlayfs"):
        lower, sep, upper = rest.partition(":")
        if not sep or not lower or not upper:
            raise ValueError(f"'{value}': an overlay rootfs is overlay:LOWER:UPPER")
        if not (lower.startswith("/") and upper.startswith("/")):
            raise ValueError(f"'{value}': the overlay's directories must be absolute paths")
        return RootfsSpec("overlay", lower, upper)
    if not rest:
        raise ValueError(f"'{value}': no path after '{kind}:'")
    return RootfsSpec(kind, rest)


def mountpoint(spec: RootfsSpec, rootfs_mount: str | None = None) -> str:
    """The host directory the rootfs appears on for the container's mounts.

    A directory rootfs is its own mount point (bound onto itself); an overlay or
    loop one is mounted on lxc.rootfs.mount or on the `rootfs` directory beside
    the store's files (see the module docstring)."""
    if rootfs_mount:
        return rootfs_mount
    if spec.kind == "overlay" and spec.upper is not None:
        return os.path.join(os.path.dirname(os.path.dirname(spec.upper)), "rootfs")
    if spec.kind == "loop":
        return os.path.join(os.path.dirname(spec.path), "rootfs")
    return spec.path


def directory_of(value: str | None, rootfs_mount: str | None = None) -> str | None:
    """Where the rootfs of an lxc.rootfs.path value appears (None when unset);
    for the callers that need a directory whatever the type (hooks, consoles)."""
    if not value:
        return None
    try:
        return mountpoint(parse(value), rootfs_mount)
    except ValueError:
        return None


def container_trees(value: str | None, rootfs_mount: str | None = None) -> tuple[str, ...]:
    """The host directories whose contents the container of an lxc.rootfs.path value can
    change (a symlink or a FIFO planted there is the container's): the directory of a
    `dir:` or `btrfs:` rootfs; an overlay's upper directory (the container's writes)
    and its lower one (often another container's rootfs, which that one changes); and
    where an overlay or loop rootfs is mounted. The daemon opens no
    file beneath them through a symlink (runtime.storage.hostfiles)."""
    if not value:
        return ()
    try:
        spec = parse(value)
    except ValueError:
        return ()
    trees = [spec.upper, spec.path] if spec.kind == "overlay" else []
    if spec.kind in DIRECTORY_KINDS:
        trees.append(spec.path)
    trees.append(mountpoint(spec, rootfs_mount))
    return tuple(dict.fromkeys(tree for tree in trees if tree))
