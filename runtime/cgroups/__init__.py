"""Control groups for containers: one interface over cgroup v1, cgroup2, or both.

The public surface, re-exported from small private-by-convention modules:

- `ContainerCgroups` (`container`): create a container's cgroups from its config
  (`lxc.cgroup.*`, `lxc.cgroup2.*`, `lxc.cgroup.dir*`, `lxc.cgroup.relative`),
  attach its first process, list/kill its processes, freeze/thaw, wait until it is
  empty or frozen (trio), read/write keys for `lxc-cgroup`, read figures for
  `lxc-info`, destroy; `paths` / `from_paths` to re-adopt after a daemon restart.
- `cleanup_stale(name)`: remove a stopped container's leftover cgroups.
- `CgroupWatcher` (`events`): one inotify instance shared by every wait of a
  daemon (start `watcher.run` in a nursery, pass `watcher=` to the waits).
- `discover()` / `CgroupMounts` / `Hierarchy` (`mounts`): what is mounted, read
  from /proc/self/mountinfo, chosen at run time (legacy, hybrid, unified).
- Errors (`errors`): `CgroupError`, `CgroupBusy`, `CgroupSettingError` (names the
  config key), `CgroupUnknownKey`.

Module map: `layout` (where the cgroups go), `settings` (which file each setting
goes to), `v1` / `v2` (backend specifics), `events` (inotify/poll waits from trio),
`_fs` (cgroup file operations).

Importing this package imports neither trio nor pyinotify: the waits import them
when first awaited, so a synchronous user (the spawner) pays for neither.
"""

from __future__ import annotations

from runtime.cgroups.container import ContainerCgroups, cleanup_stale
from runtime.cgroups.errors import (
    CgroupBusy,
    CgroupError,
    CgroupSettingError,
    CgroupUnknownKey,
)
from runtime.cgroups.events import CgroupWatcher
from runtime.cgroups.mounts import CgroupMounts, Hierarchy, discover

__all__ = [
    "CgroupBusy",
    "CgroupError",
    "CgroupMounts",
    "CgroupSettingError",
    "CgroupUnknownKey",
    "CgroupWatcher",
    "ContainerCgroups",
    "Hierarchy",
    "cleanup_stale",
    "discover",
]
