"""Which file of which hierarchy each `lxc.cgroup.*` / `lxc.cgroup2.*` setting goes to.

A pure plan (config + mounts in, writes and warnings out), separate from the writing
so that the routing rules below are tested without root and read in one place.

- `lxc.cgroup.<controller>.<file>` goes to the v1 hierarchy that has `<controller>`
  (`memory.limit_in_bytes` -> the memory tree; co-mounted `cpu,cpuacct` trees work).
  On a pure cgroup2 host the v1 keys are skipped with a warning, as LXC 5 does
  ("ignoring legacy cgroup limits"): distribution configs (Debian's common.conf)
  carry both v1 and v2 rules, and must start on either kind of host. Device rules
  are the exception (below).
  On a host with v1 hierarchies, a controller no hierarchy has is an error.
- `lxc.cgroup2.<file>` goes to the unified hierarchy; on a host without one it is
  an error, except `devices.*` (below).
- Order: settings are written in the order the config gave them (first-seen key
  order, values of a key in order), except that `memory.memsw.limit_in_bytes` is
  moved after `memory.limit_in_bytes`, because the kernel refuses a memsw limit
  below the memory limit (LXC sorts the same way).

Devices on cgroup2 are an eBPF program attached to the cgroup, which this project
does not build yet. Decision (documented in the final report and to go in README):
- A host with the v1 devices hierarchy enforces the device policy there. If the
  config also has `lxc.cgroup.devices.*` rules (Debian's common.conf has both sets,
  the same rules twice), the `lxc.cgroup2.devices.*` rules are skipped with a
  warning. If it has only `lxc.cgroup2.devices.*` rules, they are applied to the v1
  devices hierarchy (the syntax, `c 1:3 rwm`, is the same), so the policy the user
  wrote is enforced rather than dropped.
- A host without the v1 devices hierarchy (pure cgroup2) cannot enforce any device
  rule: the start fails with "lxc.cgroup2.devices.*: needs an eBPF device
  controller, not supported yet" (or the same reason under `lxc.cgroup.devices.*`
  when the config has only v1 device rules; LXC would ignore those with a warning).
  Refusing is deliberate: silently starting a container without the device policy
  its config asks for would let it open host block devices. A config without any
  device rule starts everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from runtime.cgroups.errors import CgroupSettingError
from runtime.cgroups.mounts import CgroupMounts, Hierarchy
from runtime.config.names import cgroup_file_problem

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

__all__ = ["DEVICES_UNSUPPORTED", "Write", "check_file_name", "route"]

V1_PREFIX = "lxc.cgroup."
V2_PREFIX = "lxc.cgroup2."
DEVICES_UNSUPPORTED = "needs an eBPF device controller, not supported yet"

_MEMSW = "memory.memsw.limit_in_bytes"
_MEMORY_LIMIT = "memory.limit_in_bytes"


@dataclass(frozen=True)
class Write:
    """Write `value` to `filename` in the container's limit cgroup of `hierarchy`."""

    config_key: str
    hierarchy: Hierarchy
    filename: str
    value: str


def check_file_name(key: str, filename: str, *, write: bool = False) -> None:
    """Refuse anything but `controller.file`: a config must not name `../x`; and with
    `write`, the files that move processes (`cgroup.procs`). The rule is
    `runtime.config.names`, which the parser applied already: this is the second
    check, where the name becomes a path."""
    problem = cgroup_file_problem(filename, write=write)
    if problem is not None:
        raise CgroupSettingError(key, problem)


def _ordered(settings: dict[str, list[str]]) -> list[tuple[str, str]]:
    keys = list(settings)
    if _MEMSW in keys and _MEMORY_LIMIT in keys and keys.index(_MEMSW) < keys.index(_MEMORY_LIMIT):
        keys.remove(_MEMSW)
        keys.insert(keys.index(_MEMORY_LIMIT) + 1, _MEMSW)
    return [(key, value) for key in keys for value in settings[key]]


def _is_devices(member: str) -> bool:
    return member.split(".", 1)[0] == "devices"


def route(config: ContainerConfig, mounts: CgroupMounts) -> tuple[list[Write], list[str]]:
    """The writes to make, in order, and warnings about settings skipped on purpose.

    Raises `CgroupSettingError` (naming the key) for a setting that cannot be applied
    on this host.
    """
    v1_settings: dict[str, list[str]] = dict(config.cgroup)
    v2_settings: dict[str, list[str]] = dict(config.cgroup2)
    v1_devices = mounts.v1_for("devices")
    has_v1_device_rules = any(_is_devices(member) for member in v1_settings)
    has_v2_device_rules = any(_is_devices(member) for member in v2_settings)
    if v1_devices is None and has_v2_device_rules:
        raise CgroupSettingError(V2_PREFIX + "devices.*", DEVICES_UNSUPPORTED)
    if not mounts.v1 and has_v1_device_rules:
        raise CgroupSettingError(
            V1_PREFIX + "devices.*",
            f"this host has no cgroup v1 devices hierarchy, and cgroup2 device rules"
            f" {DEVICES_UNSUPPORTED}",
        )
    writes: list[Write] = []
    warnings: list[str] = []

    for member, value in _ordered(v1_settings):
        key = V1_PREFIX + member
        check_file_name(key, member, write=True)
        if not mounts.v1:
            warnings.append(f"{key}: ignored, this host has no cgroup v1 hierarchy")
            continue
        controller = member.split(".", 1)[0]
        hierarchy = mounts.v1_for(controller)
        if hierarchy is None:
            mounted = ", ".join(h.key for h in mounts.v1)
            raise CgroupSettingError(
                key, f"no cgroup v1 hierarchy has the {controller} controller (mounted: {mounted})"
            )
        writes.append(Write(key, hierarchy, member, value))

    for member, value in _ordered(v2_settings):
        key = V2_PREFIX + member
        check_file_name(key, member, write=True)
        if _is_devices(member):
            assert v1_devices is not None  # refused above
            if has_v1_device_rules:
                warnings.append(
                    f"{key}: skipped, the lxc.cgroup.devices.* rules are enforced by the"
                    " cgroup v1 devices hierarchy (cgroup2 device rules need eBPF, not"
                    " supported yet)"
                )
            else:
                writes.append(Write(key, v1_devices, member, value))
            continue
        if mounts.v2 is None:
            raise CgroupSettingError(key, "this host has no cgroup2 hierarchy mounted")
        writes.append(Write(key, mounts.v2, member, value))
    return writes, warnings
