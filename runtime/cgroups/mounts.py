"""Which cgroup hierarchies this process can use: read from /proc/self/mountinfo.

Why mountinfo and not a fixed `/sys/fs/cgroup/<controller>` guess: the layout differs
per distribution and per nesting level. Pure cgroup2 hosts mount one unified tree at
/sys/fs/cgroup; legacy hosts mount one tree per controller (sometimes co-mounted, as
`cpu,cpuacct`) plus named hierarchies (`name=systemd`); hybrid hosts have both, the
v2 tree at /sys/fs/cgroup/unified with the controllers the v1 trees did not take.
Inside a container a mount's root is a sub-cgroup (the mountinfo `root` field), so a
cgroup path must be translated through it. LXC reads the same file for the same
reason; like LXC, a hybrid host uses every hierarchy (v1 for the controllers, v2 for
`cgroup.freeze`, `cgroup.kill` and `cgroup.events`).

Only the first mount of each hierarchy is kept (bind mounts of the same tree add
nothing). `CgroupMounts.only(1)` / `.only(2)` give the view of a pure-v1 or pure-v2
host, which is how the tests run both backends on one hybrid machine.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field

from runtime.cgroups import _fs, mount_watch

__all__ = ["CgroupMounts", "Hierarchy", "discover", "parse_mountinfo", "parse_proc_cgroup"]

#: The v2 hierarchy's key in `CgroupMounts.self_cgroups` and `ContainerCgroups.paths`.
UNIFIED = "unified"

#: Used when /proc/cgroups cannot be read: every v1 controller Linux has had.
_KNOWN_CONTROLLERS = frozenset(
    "cpuset cpu cpuacct blkio memory devices freezer net_cls perf_event net_prio "
    "hugetlb pids rdma misc debug".split()
)

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class Hierarchy:
    """One mounted cgroup tree.

    `controllers` are the v1 controllers bound to the tree (a named hierarchy is
    `("name=systemd",)`), or for v2 the controllers its root offers
    (`cgroup.controllers`; empty on this project's VMs). `root` is the cgroup path
    the mount shows at `mountpoint` ("/" unless we are inside a cgroup namespace or
    someone bind-mounted a sub-tree).
    """

    version: int
    mountpoint: str
    root: str = "/"
    controllers: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """A stable name: `unified` for v2, the controllers joined by commas for v1."""
        return UNIFIED if self.version == 2 else ",".join(self.controllers)

    def has(self, controller: str) -> bool:
        return controller in self.controllers

    def dir_of(self, cgroup_path: str) -> str | None:
        """The directory of `cgroup_path` (as /proc/PID/cgroup writes it), or None
        when that cgroup is outside what this mount shows."""
        path = "/" + cgroup_path.strip("/")
        root = "/" + self.root.strip("/")
        if root != "/":
            if path != root and not path.startswith(root + "/"):
                return None
            path = path[len(root) :] or "/"
        return os.path.normpath(self.mountpoint + path)

    def contains(self, directory: str) -> bool:
        """Whether `directory` is this mount point or below it."""
        directory = os.path.normpath(directory)
        return directory == self.mountpoint or directory.startswith(self.mountpoint + "/")


@dataclass(frozen=True)
class CgroupMounts:
    """Every cgroup hierarchy of this process, and its own cgroup in each.

    `self_cgroups` maps a hierarchy key to this process's cgroup path in it (from
    /proc/self/cgroup); `lxc.cgroup.relative = 1` places containers below it.
    """

    v1: tuple[Hierarchy, ...] = ()
    v2: Hierarchy | None = None
    self_cgroups: dict[str, str] = field(default_factory=dict)

    @property
    def layout(self) -> str:
        """`legacy` (v1 only), `unified` (v2 only), `hybrid` (both) or `none`."""
        if self.v1 and self.v2 is not None:
            return "hybrid"
        if self.v1:
            return "legacy"
        return "unified" if self.v2 is not None else "none"

    @property
    def hierarchies(self) -> tuple[Hierarchy, ...]:
        """v1 trees in mount order, then the v2 tree."""
        return self.v1 + ((self.v2,) if self.v2 is not None else ())

    def v1_for(self, controller: str) -> Hierarchy | None:
        """The v1 tree that has `controller` bound, if any."""
        for hierarchy in self.v1:
            if hierarchy.has(controller):
                return hierarchy
        return None

    def owning(self, directory: str) -> Hierarchy | None:
        """The hierarchy whose mount holds `directory` (the deepest mount point wins)."""
        best: Hierarchy | None = None
        for hierarchy in self.hierarchies:
            if hierarchy.contains(directory) and (
                best is None or len(hierarchy.mountpoint) > len(best.mountpoint)
            ):
                best = hierarchy
        return best

    def only(self, version: int) -> CgroupMounts:
        """This view restricted to one cgroup version (a pure-v1 or pure-v2 host)."""
        if version == 1:
            return dataclasses.replace(self, v2=None)
        if version == 2:
            return dataclasses.replace(self, v1=())
        raise ValueError(f"cgroup version must be 1 or 2, not {version!r}")


def _unescape(text: str) -> str:
    """mountinfo writes space, tab, newline and backslash as `\\ooo`."""
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), text)


def _known_controllers(proc_cgroups: str | None) -> frozenset[str]:
    if proc_cgroups is None:
        return _KNOWN_CONTROLLERS
    names = {line.split()[0] for line in proc_cgroups.splitlines() if line and line[0] != "#"}
    return frozenset(names) | _KNOWN_CONTROLLERS


def parse_mountinfo(
    text: str, known_controllers: frozenset[str] = _KNOWN_CONTROLLERS
) -> tuple[list[Hierarchy], Hierarchy | None]:
    """The v1 trees (controllers from the super options) and the first v2 tree.

    The v2 tree's `controllers` are left empty here: they come from its
    `cgroup.controllers` file, which `discover` reads.
    """
    v1: list[Hierarchy] = []
    v2: Hierarchy | None = None
    seen: set[tuple[str, ...]] = set()
    for line in text.splitlines():
        before, sep, after = line.partition(" - ")
        if not sep:
            continue
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        fstype, super_options = tail[0], tail[2]
        root, mountpoint = _unescape(fields[3]), _unescape(fields[4])
        if fstype == "cgroup2":
            if v2 is None:
                v2 = Hierarchy(2, mountpoint, root)
        elif fstype == "cgroup":
            controllers = tuple(
                option
                for option in super_options.split(",")
                if option in known_controllers or option.startswith("name=")
            )
            if controllers and controllers not in seen:
                seen.add(controllers)
                v1.append(Hierarchy(1, mountpoint, root, controllers))
    return v1, v2


def parse_proc_cgroup(text: str, v1: list[Hierarchy] | tuple[Hierarchy, ...]) -> dict[str, str]:
    """/proc/PID/cgroup as hierarchy key -> cgroup path (`0::/x` is the v2 line)."""
    by_set = {frozenset(h.controllers): h.key for h in v1}
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy_id, controllers, path = parts
        if hierarchy_id == "0" and controllers == "":
            paths[UNIFIED] = path
            continue
        key = by_set.get(frozenset(controllers.split(",")))
        if key is not None:
            paths[key] = path
    return paths


def _read(path: str) -> str | None:
    try:
        return _fs.read(path)
    except OSError:
        return None


SELF_MOUNTINFO = "/proc/self/mountinfo"


def discover(
    mountinfo: str = SELF_MOUNTINFO, proc_cgroup: str = "/proc/self/cgroup"
) -> CgroupMounts:
    """The cgroup hierarchies mounted here and this process's cgroups in them.

    This process's own mount table is parsed again only when it changed
    (runtime.cgroups.mount_watch): the daemon asks at every start and stop."""
    if mountinfo == SELF_MOUNTINFO:
        v1, v2 = _OWN_TABLE.get()
    else:
        v1, v2 = _parse_mountinfo_file(mountinfo)
    if v2 is not None:
        available = _read(os.path.join(v2.mountpoint, "cgroup.controllers")) or ""
        v2 = dataclasses.replace(v2, controllers=tuple(available.split()))
    own = parse_proc_cgroup(_read(proc_cgroup) or "", v1)
    return CgroupMounts(v1, v2, own)


def _parse_mountinfo_file(path: str) -> tuple[tuple[Hierarchy, ...], Hierarchy | None]:
    v1, v2 = parse_mountinfo(_read(path) or "", _known_controllers(_read("/proc/cgroups")))
    return tuple(v1), v2


_OWN_TABLE = mount_watch.Watch(lambda: _parse_mountinfo_file(SELF_MOUNTINFO))
