"""The cgroup v1 backend: what only the per-controller hierarchies need.

- cpuset: a new cpuset cgroup starts with empty `cpuset.cpus` / `cpuset.mems`
  unless its parent has `cgroup.clone_children = 1`, and a process cannot enter a
  cpuset without CPUs. So every cpuset cgroup we create gets the nearest ancestor's
  values copied in, and `cgroup.clone_children = 1` so the container's own
  sub-cgroups inherit them too (LXC does the same; we do not change the existing
  parent's flag, we copy explicitly instead).
- freezer: `freezer.state` (THAWED, FREEZING, FROZEN). The kernel gives no event
  for it, so waiting for FROZEN is polling (`events.poll_until`).
- resource figures: see `runtime.cgroup_files` (stdlib only, for the commands).
"""

from __future__ import annotations

import os

from runtime.cgroups import _fs
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
    """Make a cgroup we just created usable (only cpuset needs anything)."""
    if hierarchy.has("cpuset"):
        _init_cpuset(hierarchy, directory)


def _init_cpuset(hierarchy: Hierarchy, directory: str) -> None:
    _fs.write(os.path.join(directory, "cgroup.clone_children"), "1")
    for name in _CPUSET_FILES:
        path = os.path.join(directory, name)
        if _fs.read(path).strip():
            continue  # the kernel copied it (the parent has clone_children)
        value = _nearest_value(hierarchy, os.path.dirname(directory), name)
        if value:
            _fs.write(path, value)


def _nearest_value(hierarchy: Hierarchy, directory: str, name: str) -> str:
    """`name` of the nearest ancestor that has it set (an intermediate cgroup someone
    made without clone_children has it empty), up to the mount's root."""
    while hierarchy.contains(directory):
        value = _fs.read(os.path.join(directory, name)).strip()
        if value or directory == hierarchy.mountpoint:
            return value
        directory = os.path.dirname(directory)
    return ""


def freeze(directory: str) -> None:
    _fs.write(os.path.join(directory, FREEZER_STATE), "FROZEN")


def thaw(directory: str) -> None:
    _fs.write(os.path.join(directory, FREEZER_STATE), "THAWED")


def freezer_state(directory: str) -> str:
    """THAWED, FREEZING or FROZEN (a frozen ancestor shows as FROZEN too)."""
    return _fs.read(os.path.join(directory, FREEZER_STATE)).strip()
