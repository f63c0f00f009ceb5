"""lxc-snapshot: snapshots are containers `snapN` in the lxcpath `<container>/snaps`.

As LXC: a snapshot is a copy of the container kept under its directory with its
name and MAC addresses (a dir container's is a full copy, an overlay container's
an overlay with the same lower directory and a copy of the delta), a `ts` file
(`YYYY:MM:DD HH:MM:SS`) and, with -c, a `comment` file. Restoring makes a new
container from a snapshot (`-N`), or replaces the container's rootfs and config
in place, keeping its snapshots. A running container is refused (LXC refuses it
too, lxc-snapshot has no --allowrunning): a consistent copy needs it stopped.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

from runtime.client.errors import ContainerBusy, ContainerNotFound, LxcError
from runtime.client.locks import container_lock
from runtime.client.lxcpath import ContainerPaths

SNAPS = "snaps"
_SNAP_NAME = re.compile(r"snap(\d+)")


@dataclass(frozen=True)
class Snapshot:
    name: str
    path: str  # the snapshots' lxcpath
    timestamp: str
    comment: str | None


def snaps_dir(paths: ContainerPaths) -> str:
    return os.path.join(paths.dir, SNAPS)


def names(paths: ContainerPaths) -> list[str]:
    """The container's snapshots, in snapshot order (snap0, snap1, ..., snap10)."""
    try:
        entries = os.listdir(snaps_dir(paths))
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = [n for n in entries if os.path.isfile(os.path.join(snaps_dir(paths), n, "config"))]
    return sorted(found, key=lambda n: (0, int(m.group(1))) if (m := _SNAP_NAME.fullmatch(n))
                  else (1, 0))  # fmt: skip


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def list_snapshots(paths: ContainerPaths) -> list[Snapshot]:
    """The snapshots with their timestamps and comments (lxc-snapshot -L)."""
    _defined(paths)
    result = []
    for name in names(paths):
        directory = os.path.join(snaps_dir(paths), name)
        result.append(
            Snapshot(name, snaps_dir(paths), (_read(os.path.join(directory, "ts")) or "").strip(),
                     _read(os.path.join(directory, "comment")))  # fmt: skip
        )
    return result


def format_list(snapshots: list[Snapshot], comments: bool) -> str:
    """LXC's listing: `NAME (PATH) TIMESTAMP`, the comment after it with -C."""
    if not snapshots:
        return "No snapshots\n"
    out = []
    for snap in snapshots:
        out.append(f"{snap.name} ({snap.path}) {snap.timestamp}\n")
        if comments and snap.comment:
            out.append(snap.comment if snap.comment.endswith("\n") else snap.comment + "\n")
    return "".join(out)


def _defined(paths: ContainerPaths) -> None:
    if not paths.is_defined():
        raise ContainerNotFound(f"{paths.name} doesn't exist")


def _next_name(paths: ContainerPaths) -> str:
    index = 0
    while os.path.lexists(os.path.join(snaps_dir(paths), f"snap{index}")):
        index += 1
    return f"snap{index}"


def create(
    paths: ContainerPaths, comment_file: str | None = None, comment: str | None = None
) -> str:
    """Snapshot a stopped container; the new snapshot's name. The comment is the
    text of `comment_file` (lxc-snapshot -c) or `comment` (the Python API)."""
    from runtime.storage import store

    _defined(paths)
    if comment_file is not None:
        try:
            with open(comment_file, encoding="utf-8", errors="surrogateescape") as handle:
                comment = handle.read()
        except OSError as err:
            raise LxcError(f"cannot read the comment file {comment_file}: {err.strerror}") from None
    os.makedirs(snaps_dir(paths), 0o755, exist_ok=True)
    name = _next_name(paths)
    try:
        snap = store.copy(
            paths.lxcpath, paths.name, name, new_lxcpath=snaps_dir(paths), keep_name=True,
            keep_mac=True, snapshot=_is_overlay(paths), run_hooks=False,
        )  # fmt: skip
    except BaseException:
        _tidy(paths)
        raise
    with open(os.path.join(snap.dir, "ts"), "w", encoding="utf-8") as handle:
        handle.write(time.strftime("%Y:%m:%d %H:%M:%S"))
    if comment is not None:
        with open(os.path.join(snap.dir, "comment"), "w", encoding="utf-8",
                  errors="surrogateescape") as handle:  # fmt: skip
            handle.write(comment)
    return name


def _is_overlay(paths: ContainerPaths) -> bool:
    from runtime.storage import spec, store

    value = store.load_config(paths).get("lxc.rootfs.path")
    return value is not None and spec.parse(value).kind == "overlay"


def _snapshot_paths(paths: ContainerPaths, snap: str) -> ContainerPaths:
    if not _SNAP_NAME.fullmatch(snap) and snap not in names(paths):
        raise LxcError(f"{snap}: not a snapshot of {paths.name} (lxc-snapshot -n {paths.name} -L)")
    snap_paths = ContainerPaths(snaps_dir(paths), snap)
    if not snap_paths.is_defined():
        raise ContainerNotFound(f"{paths.name} has no snapshot {snap}")
    return snap_paths


def destroy(paths: ContainerPaths, snap: str) -> None:
    """Destroy one snapshot (refused while a clone uses it)."""
    from runtime.storage import store

    _defined(paths)
    snap_paths = _snapshot_paths(paths, snap)
    with container_lock(snap_paths.lxcpath, snap):
        store.refuse_dependents(snap_paths)
        store.remove_defined(snap_paths)
    _tidy(paths)


def destroy_all(paths: ContainerPaths) -> None:
    """Destroy every snapshot (lxc-snapshot -d ALL, lxc-destroy -s)."""
    for snap in names(paths):
        destroy(paths, snap)
    _tidy(paths)


def _tidy(paths: ContainerPaths) -> None:
    """The snaps directory goes with its last snapshot (LXC's too)."""
    try:
        os.rmdir(snaps_dir(paths))
    except OSError:
        pass


def restore(paths: ContainerPaths, snap: str, new_name: str | None = None) -> ContainerPaths:
    """A container from a snapshot: a new one (`new_name`), or this one in place
    (its rootfs and config replaced, its snapshots kept). Refused while the
    container runs or clones use its rootfs (in place), as LXC does."""
    from runtime.storage import deps, store

    _defined(paths)
    snap_paths = _snapshot_paths(paths, snap)
    if deps.dependents(paths):
        raise ContainerBusy(f"{paths.name}: container rootfs has dependent snapshots")
    if new_name and new_name != paths.name:
        return store.copy(
            snap_paths.lxcpath, snap, new_name, new_lxcpath=paths.lxcpath, run_hooks=False
        )
    return store.restore_in_place(paths, snap_paths)

