"""Where a container's cgroup goes in each hierarchy: LXC 5's layout, as a pure plan.

- Default: `lxc.payload.<name>` directly below the hierarchy's root (the root the
  mount shows), the same relative path in every hierarchy.
- `lxc.cgroup.dir = D`: `D/lxc.payload.<name>` (intermediate cgroups of D are created
  when missing, as LXC does).
- `lxc.cgroup.dir.container = C`: exactly `C`; with `lxc.cgroup.dir.container.inner
  = I` the limits go on `C` and the processes in `C/I`, so the container can manage
  `C/I` (its cgroup namespace root) without being able to lift the limits on `C`.
- `lxc.cgroup.relative = 1`: all of the above below this process's own cgroup in
  each hierarchy (/proc/self/cgroup) instead of the root, so a daemon started in a
  delegated sub-tree (systemd-run --user, a nested container) stays inside it.

Differences from LXC, on purpose:
- LXC appends `-1`, `-2`... when the directory exists. Here an existing cgroup
  without processes is a leftover of a crash and is replaced, and one with
  processes means the container runs: an error, not a second cgroup
  (`ContainerCgroups.create` does that part).
- There is no `lxc.monitor.<name>` cgroup: the supervisor is a task of the shared
  daemon, not a process per container, so `lxc.cgroup.dir.monitor` (and
  `.monitor.pivot`) have nothing to place and are accepted but unused, and
  `lxc.cgroup.dir.container` does not require `lxc.cgroup.dir.monitor` with it.

Like LXC, a directory key must be relative and must not walk upwards (`..`).
The plan is computed without touching the file system, so it is tested without root.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runtime.cgroups.errors import CgroupError, CgroupSettingError
from runtime.cgroups.mounts import CgroupMounts, Hierarchy

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

__all__ = ["PAYLOAD_PREFIX", "Placement", "plan"]

PAYLOAD_PREFIX = "lxc.payload."


@dataclass(frozen=True, slots=True)
class Placement:
    """A container's cgroup in one hierarchy.

    `base` is the existing cgroup everything is created below; `limit` receives the
    `lxc.cgroup*` settings; `payload` receives the processes (the same directory
    and the same string, unless `lxc.cgroup.dir.container.inner` is set). A
    running container keeps one per hierarchy for its whole life, so it has slots.
    """

    hierarchy: Hierarchy
    base: str
    limit: str
    payload: str


def _relative_dir(key: str, value: str) -> str:
    """A checked, normalised relative path for a directory key."""
    if value.startswith("/"):
        raise CgroupSettingError(key, f"{value!r}: the path must be relative, not absolute")
    parts = [part for part in value.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise CgroupSettingError(key, f"{value!r}: the path must not walk upwards with '..'")
    if not parts:
        raise CgroupSettingError(key, f"{value!r}: the path is empty")
    return "/".join(parts)


def check_name(name: str) -> None:
    """A container name becomes one path component of the cgroup."""
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise CgroupError(f"{name!r} cannot be a container's cgroup name")


def relative_paths(name: str, config: ContainerConfig | None) -> tuple[str, str]:
    """(limit, payload) below the base, from the config's `lxc.cgroup.dir*` keys
    (None: no config, the defaults)."""
    check_name(name)
    cgroup_dir = config.cgroup_dir if config is not None else None
    container_dir = config.cgroup_dir_container if config is not None else None
    inner = config.cgroup_dir_container_inner if config is not None else None
    if cgroup_dir and container_dir:
        raise CgroupSettingError(
            "lxc.cgroup.dir", "cannot be combined with lxc.cgroup.dir.container (choose one)"
        )
    if inner and not container_dir:
        raise CgroupSettingError(
            "lxc.cgroup.dir.container.inner", "needs lxc.cgroup.dir.container to be set"
        )
    if container_dir:
        limit = _relative_dir("lxc.cgroup.dir.container", container_dir)
        if inner:
            return limit, limit + "/" + _relative_dir("lxc.cgroup.dir.container.inner", inner)
        return limit, limit
    leaf = PAYLOAD_PREFIX + name
    if cgroup_dir:
        leaf = _relative_dir("lxc.cgroup.dir", cgroup_dir) + "/" + leaf
    return leaf, leaf


def plan(name: str, config: ContainerConfig | None, mounts: CgroupMounts) -> list[Placement]:
    """One placement per hierarchy (v1 in mount order, then v2)."""
    limit_rel, payload_rel = relative_paths(name, config)
    relative = bool(config is not None and config.cgroup_relative)
    placements = []
    for hierarchy in mounts.hierarchies:
        base = hierarchy.mountpoint
        if relative:
            own = mounts.self_cgroups.get(hierarchy.key, "/")
            own_dir = hierarchy.dir_of(own)
            if own_dir is None:
                raise CgroupError(
                    f"lxc.cgroup.relative: this process's cgroup {own!r} is not visible"
                    f" in the {hierarchy.key} hierarchy mounted at {hierarchy.mountpoint}"
                )
            base = own_dir
        limit = os.path.join(base, limit_rel)
        payload = limit if payload_rel == limit_rel else os.path.join(base, payload_rel)
        placements.append(Placement(hierarchy, base, limit, payload))
    return placements
