"""LXC's dependency files between a container and the clones that use its rootfs.

An overlay clone's lower directory is another container's rootfs: that container
(the origin) must not be destroyed while the clone lives. As LXC does, the origin's
`lxc_snapshots` lists its dependents, two lines each (lxcpath, then name), and the
clone's `lxc_rdepends` names its origin the same way. A dependent that lives inside
its origin's directory (a snapshot under `snaps/`) is not recorded: it goes with it.

The origin's file is changed in place under an flock (a clone's destroy does not
hold the origin's container lock), and removed when its last entry goes (LXC too).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from runtime.client.lxcpath import ContainerPaths

SNAPSHOTS_FILE = "lxc_snapshots"
RDEPENDS_FILE = "lxc_rdepends"

Ref = tuple[str, str]  # (lxcpath, name)


def _read_pairs(text: str) -> list[Ref]:
    lines = [line for line in text.splitlines() if line]
    return [(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2)]


def _format(refs: list[Ref]) -> str:
    return "".join(f"{path}\n{name}\n" for path, name in refs)


def dependents(paths: ContainerPaths) -> list[Ref]:
    """The clones recorded in the container's lxc_snapshots."""
    try:
        with open(os.path.join(paths.dir, SNAPSHOTS_FILE), encoding="utf-8") as handle:
            return _read_pairs(handle.read())
    except FileNotFoundError:
        return []


def origin(paths: ContainerPaths) -> Ref | None:
    """The container whose rootfs this one uses (its lxc_rdepends), if any."""
    try:
        with open(os.path.join(paths.dir, RDEPENDS_FILE), encoding="utf-8") as handle:
            pairs = _read_pairs(handle.read())
    except FileNotFoundError:
        return None
    return pairs[0] if pairs else None


def owner_of(directory: str) -> Ref | None:
    """The container whose directory holds `directory` directly (its rootfs, an
    overlay's lower one), as (lxcpath, name); None when no config lies beside it."""
    container_dir = os.path.dirname(os.path.normpath(directory))
    if not os.path.isfile(os.path.join(container_dir, "config")):
        return None
    return os.path.dirname(container_dir), os.path.basename(container_dir)


def inside(child: ContainerPaths, parent: Ref) -> bool:
    """Whether `child` is `parent` itself or lives in its directory (a snapshot):
    then it needs no record, it goes with it."""
    parent_dir = os.path.realpath(os.path.join(*parent))
    child_dir = os.path.realpath(child.dir)
    return child_dir == parent_dir or child_dir.startswith(parent_dir + os.sep)


@contextmanager
def _locked_list(path: str) -> Iterator[list[Ref]]:
    """The list in `path`, changed in place by the block and written back (the
    file removed when empty)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # removed meanwhile by the holder before us: open it again
    try:
        with os.fdopen(os.dup(fd), "r+", encoding="utf-8") as handle:
            refs = _read_pairs(handle.read())
            yield refs
            if refs:
                handle.seek(0)
                handle.truncate()
                handle.write(_format(refs))
            else:
                os.unlink(path)
    finally:
        os.close(fd)


def record(clone: ContainerPaths, origin_ref: Ref, clone_dir: str | None = None) -> None:
    """Note that `clone` uses `origin_ref`'s rootfs (both files); nothing when the
    clone is its origin or lives inside its directory. `clone_dir`: where the clone's files
    are now (its staging directory while it is built)."""
    if inside(clone, origin_ref):
        return
    target = os.path.join(clone_dir or clone.dir, RDEPENDS_FILE)
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(_format([origin_ref]))
    with _locked_list(os.path.join(*origin_ref, SNAPSHOTS_FILE)) as refs:
        ref = (clone.lxcpath, clone.name)
        if ref not in refs:
            refs.append(ref)


def forget(clone: ContainerPaths, origin_ref: Ref) -> None:
    """Remove `clone` from its origin's lxc_snapshots (the clone is going away)."""
    path = os.path.join(*origin_ref, SNAPSHOTS_FILE)
    if not os.path.exists(path):
        return
    with _locked_list(path) as refs:
        ref = (clone.lxcpath, clone.name)
        while ref in refs:
            refs.remove(ref)
