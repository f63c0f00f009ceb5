"""Can the container's mapped root reach its rootfs? Say which directory stops it.

A user-namespaced child looks up `lxc.rootfs.path` as the mapped root, which
holds no capability over inodes of unmapped owners: a 0700 directory of the
host's root anywhere on the path (a home directory, pytest's temporary root,
an lxcpath made 0700) makes the rootfs unreachable. The kernel would only say
ENOENT/EACCES for the whole path; this walks it component by component, as the
child sees it, and names the first directory it cannot search, so the message
says what to fix (as LXC's does).
"""

from __future__ import annotations

import os

from runtime.spawn.errors import SetupError


def check_path(path: str, key: str = "lxc.rootfs.path") -> None:
    """SetupError naming the first directory of `path` the caller cannot search."""
    if not path.startswith("/"):
        return  # the mount code reports a relative path
    current = "/"
    for part in [p for p in path.split("/") if p]:
        if not os.access(current, os.X_OK):
            raise SetupError(
                key,
                f"'{path}' cannot be reached by the container's root (mapped by lxc.idmap): "
                f"it cannot search '{current}' (make it searchable, e.g. chmod o+x, "
                "or owned by the mapped root)",
            )
        current = os.path.join(current, part)
        if not os.path.lexists(current):
            return  # the mount code reports a missing path
