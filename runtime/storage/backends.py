"""The one interface of the backing stores: make, copy (or snapshot) a rootfs.

The store (runtime.storage.store) builds a container in a staging directory and renames
it into place; these functions fill that staging directory with the rootfs files
of a type and return the lxc.rootfs.path value the container will have in its
final directory. Each type lives in its own module (dirstore, overlay, loop;
unavailable refuses the rest), this one only chooses.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from runtime.client.errors import LxcError
from runtime.client.lxcpath import ContainerPaths
from runtime.storage import deps, dirstore, loop, overlay, unavailable
from runtime.storage.options import StoreOptions
from runtime.storage.spec import RootfsSpec

#: Types lxc-create and lxc-copy can make here.
BUILDABLE = ("dir", "overlay", "loop")
#: Entries of a container's directory that belong to its store or its snapshots:
#: never copied as they are by lxc-copy (the store copies the rootfs its own way).
STORE_ENTRIES = frozenset(
    {"rootfs", "overlay", loop.IMAGE, "snaps", deps.SNAPSHOTS_FILE, deps.RDEPENDS_FILE}
)


def check_kind(kind: str) -> None:
    if kind not in BUILDABLE:
        raise unavailable.refuse(kind)


def check_mapped(kind: str, idmapped: bool) -> None:
    """A loop rootfs cannot serve an unprivileged container: the kernel mounts no
    ext4 (nor opens /dev/loop-control) for a user namespace's root. LXC neither."""
    if idmapped and kind == "loop":
        raise LxcError(
            "a loop rootfs cannot be mounted by an unprivileged container (lxc.idmap); "
            "use -B dir or overlay"
        )


@dataclass
class NewRootfs:
    """A rootfs being created: its config value, the directory a template fills,
    and a directory outside the staging one to remove if the create fails."""

    kind: str
    value: str
    build_dir: str
    outside: str | None = None


def new_rootfs(kind: str, staging: str, final_dir: str, opts: StoreOptions) -> NewRootfs:
    """lxc-create -B KIND: the empty rootfs, before the template runs."""
    check_kind(kind)
    if opts.foreign:
        raise LxcError(f"{', '.join(opts.foreign)}: only for the lvm, zfs and rbd stores")
    if opts.dir and kind != "dir":
        raise LxcError(f"--dir places a dir rootfs; it does not apply to -B {kind}")
    if kind == "overlay":
        value, build = overlay.new(staging, final_dir)
        return NewRootfs(kind, value, build)
    if kind == "loop":
        value, build = loop.new(staging, final_dir, opts)
        return NewRootfs(kind, value, build)
    value, build, outside = dirstore.new(staging, final_dir, opts)
    return NewRootfs(kind, value, build, outside)


def seal(rootfs: NewRootfs, staging: str, opts: StoreOptions) -> None:
    """After the template: a loop rootfs goes into its image."""
    if rootfs.kind == "loop":
        loop.seal(staging, rootfs.build_dir, opts)


def copy_kind(src: RootfsSpec, requested: str | None, snapshot: bool) -> str:
    """The type of a copy: `-B` when given, else overlay for a snapshot of a dir
    container (LXC), else the original's type."""
    if requested is not None:
        check_kind(requested)
        if snapshot and requested not in ("overlay",) and not (requested == src.kind == "overlay"):
            raise LxcError(
                f"-s with -B {requested}: only overlay snapshots can be made here; "
                "leave out -B, or -s for a full copy"
            )
        return requested
    if src.kind not in BUILDABLE + ("btrfs",):
        raise unavailable.refuse(src.kind, "the original's backing store")
    if snapshot:
        if src.kind == "loop":
            raise LxcError("a loop rootfs has no snapshots; copy it in full (without -s)")
        if src.kind == "btrfs":
            raise unavailable.refuse("btrfs", "snapshots of the backing store")
        return "overlay"
    return "dir" if src.kind == "btrfs" else src.kind


@contextmanager
def view(src: RootfsSpec) -> Iterator[str]:
    """The original's rootfs as a directory to copy from (mounted read-only for
    the time of the copy when it is an overlay or an image)."""
    if src.kind == "overlay":
        with overlay.merged_view(src) as place:
            yield place
    elif src.kind == "loop":
        with loop.mounted_view(src.path) as place:
            yield place
    else:
        yield src.path


def copy_rootfs(
    src: RootfsSpec, kind: str, staging: str, dst: ContainerPaths, opts: StoreOptions
) -> tuple[str, deps.Ref | None]:
    """Fill `staging` with the copy's rootfs of type `kind`: (its value, the
    container whose rootfs it keeps using, for deps.record)."""
    if kind == "overlay":
        if src.kind == "overlay":
            value = overlay.snapshot_of_overlay(src, staging, dst.dir)
        else:
            value = overlay.snapshot_of_dir(src.path, staging, dst.dir)
        return value, deps.owner_of(src.path)
    if kind == "loop":
        if src.kind == "loop":
            return loop.copy_image(src.path, staging, dst.dir), None
        loop.check(opts)
        with view(src) as place:
            return loop.copy_from(place, staging, dst.dir, opts), None
    with view(src) as place:
        return dirstore.copy_from(place, staging, dst.dir), None
