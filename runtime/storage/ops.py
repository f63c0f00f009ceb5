"""The storage operations by (lxcpath, name), for the Python API (runtime.api).

The commands call runtime.storage.store and runtime.storage.snapshots directly; this is
the same behaviour with plain arguments: a comment as text rather than a file,
sizes in bytes, no command-line parsing.
"""

from __future__ import annotations

from runtime.client.lxcpath import ContainerPaths, validate_name
from runtime.storage import snapshots
from runtime.storage.options import DEFAULT_FSSIZE, DEFAULT_FSTYPE, StoreOptions
from runtime.storage.snapshots import Snapshot


def clone(
    lxcpath: str,
    name: str,
    new_name: str,
    *,
    snapshot: bool = False,
    backing: str | None = None,
    new_lxcpath: str | None = None,
    keep_name: bool = False,
    keep_mac: bool = False,
    fssize: int = DEFAULT_FSSIZE,
    fstype: str = DEFAULT_FSTYPE,
    hook_args: tuple[str, ...] = (),
) -> ContainerPaths:
    """lxc-copy: a full copy, or with `snapshot` an overlay clone on the original's
    rootfs (recorded in lxc_snapshots / lxc_rdepends); `backing` as -B."""
    from runtime.storage import store

    return store.copy(
        lxcpath, name, new_name, new_lxcpath=new_lxcpath, keep_name=keep_name,
        keep_mac=keep_mac, snapshot=snapshot, backing=backing, hook_args=hook_args,
        store_options=StoreOptions(fstype=fstype, fssize=fssize),
    )  # fmt: skip


def snapshot(lxcpath: str, name: str, comment: str | None = None) -> str:
    """lxc-snapshot: snapshot the stopped container; the snapshot's name (snapN)."""
    validate_name(name)
    return snapshots.create(ContainerPaths(lxcpath, name), comment=comment)


def list_snapshots(lxcpath: str, name: str) -> list[Snapshot]:
    """lxc-snapshot -L: name, directory, timestamp and comment of each snapshot."""
    validate_name(name)
    return snapshots.list_snapshots(ContainerPaths(lxcpath, name))


def restore_snapshot(
    lxcpath: str, name: str, snap: str, new_name: str | None = None
) -> ContainerPaths:
    """lxc-snapshot -r: into `new_name`, or the container itself in place."""
    validate_name(name)
    if new_name:
        validate_name(new_name)
    return snapshots.restore(ContainerPaths(lxcpath, name), snap, new_name)


def destroy_snapshot(lxcpath: str, name: str, snap: str) -> None:
    """lxc-snapshot -d: one snapshot, or every one with "ALL"."""
    validate_name(name)
    paths = ContainerPaths(lxcpath, name)
    if snap == "ALL":
        snapshots.destroy_all(paths)
    else:
        snapshots.destroy(paths, snap)
