"""`overlay`: the rootfs is an overlayfs of a lower directory and an upper one.

LXC's layout, kept so its tools and ours read each other's containers: the value
is `overlay:LOWER:UPPER` with UPPER = `<container>/overlay/delta`, the work
directory beside it (`overlay/work`), and an empty `<container>/rootfs` as the
mount point. A snapshot clone of a dir container takes the original's rootfs as
LOWER; a clone of an overlay container keeps its LOWER and copies its delta, so a
clone never writes into anything but its own delta. The mount itself is done by
the container child (runtime.storage.childmount), or read-only on the host when a
copy needs the merged view (`merged_view`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from runtime.kernel import linux
from runtime.storage.fscopy import copy_tree
from runtime.storage.spec import RootfsSpec


def _make_layout(staging: str, delta_from: str | None) -> None:
    os.makedirs(os.path.join(staging, "overlay"), 0o755, exist_ok=True)
    delta = os.path.join(staging, "overlay", "delta")
    if delta_from is not None:
        copy_tree(delta_from, delta)  # whiteouts are device nodes, opaque dirs xattrs: kept
    else:
        os.mkdir(delta, 0o755)
    os.mkdir(os.path.join(staging, "overlay", "work"), 0o755)
    if not os.path.isdir(os.path.join(staging, "rootfs")):
        os.mkdir(os.path.join(staging, "rootfs"), 0o755)


def own_layout(staging: str, uid: int, gid: int) -> None:
    """An unprivileged container mounts its overlay as its mapped root, which must
    own the delta and work directories (the files in a copied delta keep theirs)."""
    for part in ("overlay", "overlay/delta", "overlay/work"):
        path = os.path.join(staging, part)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chown(path, uid, gid)


def value_for(lower: str, final_dir: str) -> str:
    return RootfsSpec("overlay", lower, os.path.join(final_dir, "overlay", "delta")).value()


def new(staging: str, final_dir: str) -> tuple[str, str]:
    """lxc-create -B overlay (as LXC): the template builds `rootfs`, which is the
    lower directory; the delta starts empty. (value, where to build)."""
    os.mkdir(os.path.join(staging, "rootfs"), 0o755)
    _make_layout(staging, None)
    return value_for(os.path.join(final_dir, "rootfs"), final_dir), os.path.join(staging, "rootfs")


def snapshot_of_dir(lower: str, staging: str, final_dir: str) -> str:
    """A clone whose lower directory is a dir container's rootfs."""
    _make_layout(staging, None)
    return value_for(lower, final_dir)


def snapshot_of_overlay(src: RootfsSpec, staging: str, final_dir: str) -> str:
    """A clone of an overlay container: the same lower, a copy of its delta."""
    assert src.upper is not None
    _make_layout(staging, src.upper)
    return value_for(src.path, final_dir)


@contextmanager
def merged_view(spec: RootfsSpec) -> Iterator[str]:
    """The merged tree mounted read-only on a private temporary directory (two
    lower layers, delta over lower: no upper, so nothing can be written)."""
    assert spec.upper is not None
    place = tempfile.mkdtemp(prefix="trio-lxc-overlay-")
    try:
        flags = linux.MS_RDONLY | linux.MS_NODEV | linux.MS_NOSUID | linux.MS_NOEXEC
        linux.mount("overlay", place, "overlay", flags,
                    f"lowerdir={_escape(spec.upper)}:{_escape(spec.path)}")  # fmt: skip
        try:
            linux.mount(None, place, None, linux.MS_PRIVATE)
            yield place
        finally:
            linux.umount2(place, linux.MNT_DETACH)
    finally:
        os.rmdir(place)


def _escape(path: str) -> str:
    """overlayfs option syntax: `,` `:` and `\\` in a path are escaped."""
    return path.replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")
