"""The cgroup v1 backend: what only the per-controller hierarchies need.

- cpuset: a new cpuset cgroup starts with empty `cpuset.cpus` / `cpuset.mems`
  unless its parent has `cgroup.clone_children = 1` (a host where LXC never ran has
  0), a process cannot enter a cpuset without CPUs, and a cgroup's values must be a
  subset of its parent's (writing them below an empty parent is EACCES). So for
  every cpuset cgroup we create, the empty levels from it up to the nearest
  initialised ancestor (an intermediate cgroup someone made without clone_children,
  an existing `lxc.cgroup.dir` level, a relative base) are filled top-down with
  that ancestor's values, as LXC does; the levels we create also get
  `cgroup.clone_children = 1` so the container's own sub-cgroups inherit them. We
  never change the flag of a cgroup we did not create: we copy explicitly instead.
  Filling an empty level is harmless: no process can be in a cpuset without CPUs.
- freezer: `freezer.state` (THAWED, FREEZING, FROZEN). The kernel gives no event
  for it, so waiting for FROZEN is polling (`events.poll_until`).
- resource figures: see `runtime.client.cgroup_files` (stdlib only, for the commands).
"""

from __future__ import annotations

import os

from runtime.cgroups import _fs
from runtime.cgroups.errors import CgroupError
from runtime.cgroups.mounts import Hierarchy

__all__ = [
    "FREEZER_STATE",
    "freeze",
    "freezer_state",
    "init_new_cgroup",
    "thaw",
]

FREEZER_STATE = "freezer.state"
_CPUSET_FILES = ("cpuset.cpus", "cpuset.mems")


def init_new_cgroup(hierarchy: Hierarchy, directory: str) -> None:
    """Make a cgroup we just created usable (only cpuset needs anything).

    Raises `CgroupError` naming the file the kernel refused."""
    if hierarchy.has("cpuset"):
        for name in _CPUSET_FILES:
            _fill_from_ancestor(hierarchy, directory, name)
        _write(os.path.join(directory, "cgroup.clone_children"), "1")


def _fill_from_ancestor(hierarchy: Hierarchy, directory: str, name: str) -> None:
    """Give `directory` and every empty level above it the value of `name` of the
    nearest ancestor that has one (up to the mount point), parents first."""
    empty: list[str] = []
    value = ""
    while hierarchy.contains(directory):
        value = _fs.read(os.path.join(directory, name)).strip()
        if value or directory == hierarchy.mountpoint:
            break
        empty.append(directory)
        directory = os.path.dirname(directory)
    if not value:
        return  # nothing above has it either: the kernel will say why at attach
    for level in reversed(empty):
        _write(os.path.join(level, name), value)


def _write(path: str, value: str) -> None:
    try:
        _fs.write(path, value)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CgroupError(f"cannot write {value!r} to {path}: {reason}") from exc


def freeze(directory: str) -> None:
    _fs.write(os.path.join(directory, FREEZER_STATE), "FROZEN")


def thaw(directory: str) -> None:
    _fs.write(os.path.join(directory, FREEZER_STATE), "THAWED")


def freezer_state(directory: str) -> str:
    """THAWED, FREEZING or FROZEN (a frozen ancestor shows as FROZEN too)."""
    return _fs.read(os.path.join(directory, FREEZER_STATE)).strip()
