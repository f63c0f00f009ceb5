"""linux.resources -> `lxc.cgroup.*` (v1) / `lxc.cgroup2.*` (v2) config lines.

Which one a controller's settings go to follows the host: a controller bound to
a v1 hierarchy gets v1 files (this project's hybrid VMs: all of them), one only
in cgroup2's `cgroup.controllers` gets v2 files, with runc's conversions (shares
to cpu.weight, blkio weight to io.weight, swap to memory.swap.max). The lines
then go through the runtime's own cgroup code (runtime.cgroups), which creates,
writes and removes the container's cgroups as for any LXC container.

A setting the host cannot take (no such controller, no v2 equivalent) is refused
with its field, never dropped.
"""

from __future__ import annotations

from runtime.cgroups.mounts import CgroupMounts, discover
from runtime.oci.errors import SpecError
from runtime.oci.node import Node

MAX = "max"
#: What runc always allows after the spec's rules (its AllowedDevices): mknod of
#: any node, and the standard nodes, the console and the ptys.
RUNC_ALLOWED_DEVICES = (
    "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:5 rwm",
    "c 1:9 rwm", "c 5:1 rwm", "c 136:* rwm", "c 5:2 rwm",
)  # fmt: skip


class Resources:
    """The lines for one config.json's linux.resources on this host."""

    def __init__(self, mounts: CgroupMounts | None = None) -> None:
        self.mounts = mounts if mounts is not None else discover()
        self.lines: list[str] = []

    def version(self, controller: str, field: str) -> int:
        """1 or 2: where `controller` lives here; SpecError naming `field` if nowhere."""
        if self.mounts.v1_for(controller) is not None:
            return 1
        if self.mounts.v2 is not None and controller in self.mounts.v2.controllers:
            return 2
        raise SpecError(field, f"the host has no {controller} cgroup controller")

    def set(self, version: int, name: str, value: object) -> None:
        key = "lxc.cgroup" if version == 1 else "lxc.cgroup2"
        self.lines.append(f"{key}.{name} = {value}")

    def translate(self, node: Node) -> list[str]:
        node.fields(
            ("devices", "memory", "cpu", "pids", "blockIO", "hugepageLimits", "unified"),
            refused=("network", "rdma"),
        )
        for key, method in (
            ("devices", self._devices),
            ("memory", self._memory),
            ("cpu", self._cpu),
            ("pids", self._pids),
            ("blockIO", self._block_io),
            ("hugepageLimits", self._hugepages),
            ("unified", self._unified),
        ):
            child = node.get(key)
            if child is not None:
                method(child)
        return self.lines

    # -- devices ------------------------------------------------------------------------
    def _devices(self, node: Node) -> None:
        """The spec's rules in order, then runc's defaults (so /dev/null always works)."""
        rules = node.items()
        if not rules:
            return
        if self.mounts.v1_for("devices") is None:
            raise SpecError(
                node.path, "device rules need the v1 devices controller (no eBPF device filter yet)"
            )
        for rule in rules:
            rule.fields(("allow", "type", "major", "minor", "access"))
            allow = rule.get_bool("allow")
            kind = rule.get_str("type", "a") or "a"
            if kind not in ("a", "b", "c"):
                raise SpecError(f"{rule.path}.type", f"'{kind}' is not a, b or c")
            major, minor = rule.get_int("major"), rule.get_int("minor")
            access = rule.get_str("access", "rwm") or "rwm"
            if not access or set(access) - set("rwm"):
                raise SpecError(f"{rule.path}.access", f"'{access}' is not a subset of rwm")
            if kind == "a" and major is None and minor is None:
                value = "a"
            else:
                value = (
                    f"{kind} {'*' if major is None or major < 0 else major}:"
                    f"{'*' if minor is None or minor < 0 else minor} {access}"
                )
            self.set(1, "devices.allow" if allow else "devices.deny", value)
        for value in RUNC_ALLOWED_DEVICES:
            self.set(1, "devices.allow", value)

    # -- memory -------------------------------------------------------------------------
    def _memory(self, node: Node) -> None:
        node.fields(
            ("limit", "reservation", "swap", "swappiness", "disableOOMKiller", "useHierarchy"),
            refused=("kernel", "kernelTCP", "checkBeforeUpdate"),
        )
        limit, reservation = node.get_int("limit"), node.get_int("reservation")
        swap, swappiness = node.get_int("swap"), node.get_int("swappiness")
        version = self.version("memory", node.path)
        if version == 1:
            if limit is not None:
                self.set(1, "memory.limit_in_bytes", limit)
            if swap is not None:
                self.set(1, "memory.memsw.limit_in_bytes", swap)
            if reservation is not None:
                self.set(1, "memory.soft_limit_in_bytes", reservation)
            if swappiness is not None:
                self.set(1, "memory.swappiness", swappiness)
            if node.get_bool("disableOOMKiller"):
                self.set(1, "memory.oom_control", 1)
            if node.get("useHierarchy") is not None:
                self.set(1, "memory.use_hierarchy", int(node.get_bool("useHierarchy")))
            return
        if limit is not None:
            self.set(2, "memory.max", MAX if limit < 0 else limit)
        if reservation is not None:
            self.set(2, "memory.low", MAX if reservation < 0 else reservation)
        if swap is not None:
            if swap < 0:
                self.set(2, "memory.swap.max", MAX)
            elif limit is None or limit < 0:
                raise SpecError(f"{node.path}.swap", "needs memory.limit on cgroup v2")
            else:
                self.set(2, "memory.swap.max", swap - limit)
        for key in ("swappiness", "disableOOMKiller", "useHierarchy"):
            if node.get(key) is not None and node.members()[key] not in (None, False):
                raise SpecError(f"{node.path}.{key}", "has no cgroup v2 equivalent")

    # -- cpu ----------------------------------------------------------------------------
    def _cpu(self, node: Node) -> None:
        node.fields(
            ("shares", "quota", "period", "realtimeRuntime", "realtimePeriod", "cpus", "mems"),
            refused=("idle", "burst"),
        )
        shares, quota, period = node.get_int("shares"), node.get_int("quota"), node.get_int("period")
        rt_runtime, rt_period = node.get_int("realtimeRuntime"), node.get_int("realtimePeriod")
        if shares is not None or quota is not None or period is not None:
            version = self.version("cpu", node.path)
            if version == 1:
                if shares is not None:
                    self.set(1, "cpu.shares", shares)
                if period is not None:
                    self.set(1, "cpu.cfs_period_us", period)
                if quota is not None:
                    self.set(1, "cpu.cfs_quota_us", quota)
            else:
                if shares is not None and shares:
                    self.set(2, "cpu.weight", 1 + ((shares - 2) * 9999) // 262142)
                if quota is not None or period is not None:
                    text = MAX if quota is None or quota < 0 else str(quota)
                    self.set(2, "cpu.max", f"{text} {period or 100000}")
        if rt_runtime is not None or rt_period is not None:
            if self.version("cpu", node.path) != 1:
                raise SpecError(f"{node.path}.realtimeRuntime", "has no cgroup v2 equivalent")
            if rt_period is not None:
                self.set(1, "cpu.rt_period_us", rt_period)
            if rt_runtime is not None:
                self.set(1, "cpu.rt_runtime_us", rt_runtime)
        for key in ("cpus", "mems"):
            value = node.get_str(key)
            if value:
                version = self.version("cpuset", f"{node.path}.{key}")
                self.set(version, f"cpuset.{key}", value)

    # -- pids, blockIO, hugetlb, unified -------------------------------------------------
    def _pids(self, node: Node) -> None:
        node.fields(("limit",))
        limit = node.get_int("limit")
        if limit is not None:
            version = self.version("pids", node.path)
            self.set(version, "pids.max", MAX if limit <= 0 else limit)

    def _block_io(self, node: Node) -> None:
        node.fields(
            (
                "weight", "weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
                "throttleReadIOPSDevice", "throttleWriteIOPSDevice",
            ),
            refused=("leafWeight",),
        )  # fmt: skip
        v1 = self.mounts.v1_for("blkio") is not None
        version = 1 if v1 else self.version("io", node.path)
        weight = node.get_int("weight")
        if weight is not None and weight:
            if version == 1:
                self.set(1, "blkio.weight", weight)
            else:
                self.set(2, "io.weight", f"default {1 + (weight - 10) * 9999 // 990}")
        devices = node.get("weightDevice")
        for item in devices.items() if devices is not None else []:
            item.fields(("major", "minor", "weight"), refused=("leafWeight",))
            dev = _device(item)
            value = item.get_int("weight")
            if value is None:
                continue
            if version == 1:
                self.set(1, "blkio.weight_device", f"{dev} {value}")
            else:
                self.set(2, "io.weight", f"{dev} {1 + (value - 10) * 9999 // 990}")
        for key, v1_file, v2_word in (
            ("throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps"),
            ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps"),
            ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops"),
            ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops"),
        ):
            throttles = node.get(key)
            for item in throttles.items() if throttles is not None else []:
                item.fields(("major", "minor", "rate"))
                rate = item.get_int("rate") or 0
                if version == 1:
                    self.set(1, v1_file, f"{_device(item)} {rate}")
                else:
                    self.set(2, "io.max", f"{_device(item)} {v2_word}={rate or MAX}")

    def _hugepages(self, node: Node) -> None:
        for item in node.items():
            item.fields(("pageSize", "limit"))
            size = item.get_str("pageSize") or ""
            if not size or not size.replace("B", "").replace("K", "").replace("M", "").replace(
                "G", ""
            ).isdigit():
                raise SpecError(f"{item.path}.pageSize", f"'{size}' is not a page size")
            limit = item.get_int("limit") or 0
            version = self.version("hugetlb", item.path)
            name = f"hugetlb.{size}.limit_in_bytes" if version == 1 else f"hugetlb.{size}.max"
            self.set(version, name, limit)

    def _unified(self, node: Node) -> None:
        members = node.members()
        if not members:
            return
        if self.mounts.v2 is None:
            raise SpecError(node.path, "needs cgroup v2")
        for key in members:
            value = Node(members[key], f"{node.path}.{key}").text()
            self.set(2, key, value)


def _device(item: Node) -> str:
    major, minor = item.get_int("major"), item.get_int("minor")
    if major is None or minor is None:
        raise SpecError(item.path, "needs major and minor")
    return f"{major}:{minor}"

