"""The cgroup v2 backend: what only the unified hierarchy needs.

- Controllers are not there by default: a cgroup has a controller's files only when
  its parent lists the controller in `cgroup.subtree_control`. We enable, top-down
  from the hierarchy's root to the container cgroup's parent, the controllers the
  container needs and the level offers (`cgroup.controllers`): those named by its
  `lxc.cgroup2.*` keys, plus `BASE_CONTROLLERS` (what `lxc-info` reads and the usual
  limits use). LXC enables every offered controller; we do not, because that
  changes the host's root `cgroup.subtree_control` for controllers no container
  asked for (on this project's VMs: hugetlb, the only one v1 did not take), and it
  is never undone. The price: a nested runtime inside the container sees only those
  controllers unless the config names others (`lxc.cgroup2.cpuset.cpus = ...`).
  A level that refuses (a non-root cgroup with processes of its own cannot enable
  domain controllers: EBUSY) is noted and skipped; a setting that needs the missing
  controller then fails with its own, named error. The payload cgroup itself
  enables nothing: processes go there.
- `cgroup.freeze` / `cgroup.kill` (kernels >= 5.2 / 5.14) work without any
  controller, which is why a hybrid host uses them even though v1 has a freezer.
- `cgroup.events` (`populated 0|1`, `frozen 0|1`) changes raise an inotify
  IN_MODIFY: waits on it need no polling (`events.wait_until`).
"""

from __future__ import annotations

import logging
import os

from runtime.cgroups import _fs

__all__ = [
    "BASE_CONTROLLERS",
    "enable_controllers",
    "events",
    "freeze",
    "freeze_requested",
    "has_freeze",
    "has_kill",
    "kill",
    "thaw",
]

log = logging.getLogger(__name__)

EVENTS = "cgroup.events"


#: Enabled for every container when offered, whatever its config says.
BASE_CONTROLLERS = frozenset({"cpu", "io", "memory", "pids"})


def enable_controllers(mountpoint: str, payload: str, wanted: frozenset[str]) -> list[str]:
    """Enable the `wanted` controllers each level offers, from `mountpoint` down to
    `payload`'s parent.

    Returns a note for every controller a level refused (for the container's
    warnings); never raises for that.
    """
    notes: list[str] = []
    relative = os.path.relpath(payload, mountpoint)
    levels = [mountpoint]
    parts = [] if relative == "." else relative.split("/")
    for part in parts[:-1]:
        levels.append(os.path.join(levels[-1], part))
    for level in levels:
        try:
            offered = _fs.read(os.path.join(level, "cgroup.controllers")).split()
            enabled = set(_fs.read(os.path.join(level, "cgroup.subtree_control")).split())
        except OSError as exc:
            notes.append(f"cannot read the controllers of {level}: {exc.strerror}")
            continue
        for controller in offered:
            if controller in enabled or controller not in wanted:
                continue
            try:
                _fs.write(os.path.join(level, "cgroup.subtree_control"), "+" + controller)
            except OSError as exc:
                note = f"cannot enable the {controller} controller in {level}: {exc.strerror}"
                log.info("%s", note)
                notes.append(note)
    return notes


def events(directory: str) -> dict[str, int]:
    """`cgroup.events` as a dict (`{"populated": 1, "frozen": 0}`)."""
    result: dict[str, int] = {}
    for line in _fs.read(os.path.join(directory, EVENTS)).splitlines():
        name, _, value = line.partition(" ")
        if value.strip().isdigit():
            result[name] = int(value)
    return result


def has_freeze(directory: str) -> bool:
    return os.path.exists(os.path.join(directory, "cgroup.freeze"))


def has_kill(directory: str) -> bool:
    return os.path.exists(os.path.join(directory, "cgroup.kill"))


def freeze(directory: str) -> None:
    _fs.write(os.path.join(directory, "cgroup.freeze"), "1")


def thaw(directory: str) -> None:
    _fs.write(os.path.join(directory, "cgroup.freeze"), "0")


def freeze_requested(directory: str) -> bool:
    """Whether `cgroup.freeze` is 1 (frozen or still freezing)."""
    return _fs.read(os.path.join(directory, "cgroup.freeze")).strip() == "1"


def kill(directory: str) -> None:
    """SIGKILL every process of the cgroup and below; the kernel also stops forks
    that race with it, so nothing escapes."""
    _fs.write(os.path.join(directory, "cgroup.kill"), "1")
