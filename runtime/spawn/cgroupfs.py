"""lxc.mount.auto = cgroup[-full][:mixed|:ro|:rw][:force] or cgroup2[:ro][:force]:
/sys/fs/cgroup in a container (cgroup2: `mount_cgroup2`).

What is done, by case:
- The container has a cgroup namespace and `:force` is not given: nothing, as in
  LXC (a container with its own cgroup namespace mounts cgroups itself; LXC 5.0.2
  leaves /sys/fs/cgroup empty here, see the reference).
- With a cgroup namespace and `:force`: a tmpfs on /sys/fs/cgroup with one fresh
  mount per host hierarchy (`cpu`, `memory`, ..., `unified`; cgroup2 directly on
  /sys/fs/cgroup on a pure v2 host). The namespace roots each of them at the
  container's own cgroup, so `cgroup` and `cgroup-full` are the same; `:ro` makes
  the hierarchies read-only, `:mixed` and `:rw` leave them writable (the whole view
  is the container's own subtree).
- Without a cgroup namespace the host's hierarchies are bind-mounted from the
  host side: `cgroup` shows only the container's own cgroup at its real path
  (e.g. /sys/fs/cgroup/memory/lxc/c1), read-only for `:ro`; `cgroup-full` shows
  the whole hierarchy read-only (`:rw`: writable) with the container's own cgroup
  bound writable over it for `:mixed`.
- The tmpfs itself is read-only except for `:rw`. Co-mounted v1 hierarchies
  (`cpu,cpuacct`) get a symlink per controller.
- A mode-less `cgroup` is `:rw` if the container keeps CAP_SYS_ADMIN, else
  `:mixed` (lxc.container.conf(5)).

The host's hierarchies and the container's cgroup paths are read from
/proc/self/mountinfo and /proc/self/cgroup after the daemon has moved the init into
its cgroups and before the cgroup namespace is created (`host_hierarchies`).
"""

from __future__ import annotations

import os

from runtime.kernel import linux
from runtime.spawn import resolve
from runtime.spawn.errors import SetupError, describe_os_error
from runtime.spawn.mounts import MountContext, ensure_mountpoint, remount_bind

CGROUP_ROOT = "/sys/fs/cgroup"
_KEY = "lxc.mount.auto"
_V1_CONTROLLERS = frozenset(
    "cpu cpuacct cpuset memory devices freezer net_cls net_prio blkio perf_event hugetlb pids "
    "rdma misc debug".split()
)
_PSEUDO = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC


class Hierarchy:
    """One cgroup hierarchy of the host.

    name: its directory under /sys/fs/cgroup ("" for a cgroup2 mounted there itself);
    fstype: cgroup or cgroup2; controllers: the v1 mount options naming it
    (controllers and name=...); own: the container's cgroup path in it.
    """

    __slots__ = ("mountpoint", "name", "fstype", "controllers", "own")

    def __init__(
        self, mountpoint: str, name: str, fstype: str, controllers: tuple[str, ...], own: str
    ) -> None:
        self.mountpoint = mountpoint
        self.name = name
        self.fstype = fstype
        self.controllers = controllers
        self.own = own

    @property
    def data(self) -> str | None:
        """mount(2) data for a fresh mount of this hierarchy."""
        if self.fstype == "cgroup2":
            return None  # nsdelegate & co. are global flags the kernel keeps
        if all(c.startswith("name=") for c in self.controllers):
            return ",".join(("none", *self.controllers))
        return ",".join(self.controllers)

    def __repr__(self) -> str:
        return f"Hierarchy({self.name!r}, {self.fstype}, {self.controllers}, own={self.own!r})"


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        digits = field[i + 1 : i + 4]
        if field[i] == "\\" and len(digits) == 3 and digits.isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _own_paths(text: str) -> tuple[dict[frozenset[str], str], str | None]:
    """/proc/self/cgroup -> ({v1 controller set: path}, v2 path)."""
    v1: dict[frozenset[str], str] = {}
    v2 = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            v2 = parts[2]
        else:
            v1[frozenset(parts[1].split(","))] = parts[2]
    return v1, v2


def host_hierarchies(
    mountinfo: str = "/proc/self/mountinfo", cgroup: str = "/proc/self/cgroup"
) -> list[Hierarchy]:
    """The cgroup hierarchies mounted under /sys/fs/cgroup and our place in each."""
    with open(cgroup) as handle:
        v1_paths, v2_path = _own_paths(handle.read())
    with open(mountinfo) as handle:
        lines = handle.read().splitlines()
    found: dict[str, Hierarchy] = {}
    for line in lines:
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        mountpoint = _unescape(fields[4])
        if mountpoint == CGROUP_ROOT:
            name = ""
        elif mountpoint.startswith(CGROUP_ROOT + "/"):
            name = mountpoint[len(CGROUP_ROOT) + 1 :]
        else:
            continue
        if tail[0] == "cgroup2":
            controllers: tuple[str, ...] = ()
            own = v2_path or "/"
        else:
            controllers = tuple(
                opt
                for opt in tail[2].split(",")
                if opt in _V1_CONTROLLERS or opt.startswith("name=")
            )
            own = v1_paths.get(frozenset(controllers), "/")
        found.setdefault(name, Hierarchy(mountpoint, name, tail[0], controllers, own))
    return list(found.values())


def uses_hierarchies(token: str, cgroup_ns: bool) -> bool:
    """Whether `mount_cgroups` will mount anything for this lxc.mount.auto token (and
    so needs `host_hierarchies`): not with a cgroup namespace unless `:force`."""
    return not cgroup_ns or "force" in token.split(":")[1:]


def parse_token(token: str, keeps_sys_admin: bool) -> tuple[bool, str, bool]:
    """`cgroup-full:ro:force` -> (full, mode, force)."""
    parts = token.split(":")
    full = parts[0] == "cgroup-full"
    mode = next((p for p in parts[1:] if p in ("mixed", "ro", "rw")), None)
    force = "force" in parts[1:]
    if mode is None:
        mode = "rw" if keeps_sys_admin else "mixed"
    return full, mode, force


def _join(*parts: str) -> str:
    return "/".join(p for part in parts for p in resolve.components(part))


def _bind(ctx: MountContext, source: str, target: str, read_only: bool) -> None:
    fd = resolve.make_dirs(ctx.root_fd, target)
    try:
        linux.mount(source, resolve.fd_path(fd), None, linux.MS_BIND)
    finally:
        os.close(fd)
    fd = ctx.open(target)
    try:
        flags = _PSEUDO | (linux.MS_RDONLY if read_only else 0)
        remount_bind(resolve.fd_path(fd), flags, 0 if read_only else linux.MS_RDONLY)
    finally:
        os.close(fd)


def mount_cgroups(
    ctx: MountContext,
    token: str,
    hierarchies: list[Hierarchy],
    cgroup_ns: bool,
    keeps_sys_admin: bool,
) -> None:
    """Set up /sys/fs/cgroup in the root for one lxc.mount.auto cgroup token."""
    if token.split(":")[0] == "cgroup2":
        mount_cgroup2(ctx, token, hierarchies, cgroup_ns)
        return
    full, mode, force = parse_token(token, keeps_sys_admin)
    if (cgroup_ns and not force) or not hierarchies:
        return
    base = "sys/fs/cgroup"
    pure_v2 = any(h.name == "" for h in hierarchies)
    use_tmpfs = not pure_v2 or not (cgroup_ns or full)
    try:
        fd = ensure_mountpoint(ctx, base, _KEY)
        try:
            if use_tmpfs:
                linux.mount("cgroup", resolve.fd_path(fd), "tmpfs", _PSEUDO, "mode=755,size=64k")
        finally:
            os.close(fd)
        for h in hierarchies:
            dest = _join(base, h.name)
            if cgroup_ns:
                fd = resolve.make_dirs(ctx.root_fd, dest)
                try:
                    linux.mount(h.fstype, resolve.fd_path(fd), h.fstype, _PSEUDO, h.data)
                finally:
                    os.close(fd)
                if mode == "ro":
                    _bind_flags(ctx, dest, read_only=True)
            elif full:
                _bind(ctx, h.mountpoint, dest, read_only=mode != "rw")
                if mode == "mixed" and h.own != "/":
                    _bind(ctx, _join_host(h.mountpoint, h.own), _join(dest, h.own), read_only=False)
            else:
                _bind(
                    ctx, _join_host(h.mountpoint, h.own), _join(dest, h.own), read_only=mode == "ro"
                )
        if use_tmpfs:
            _controller_links(ctx, base, hierarchies)
            if mode != "rw":
                _bind_flags(ctx, base, read_only=True)
    except OSError as err:
        raise SetupError(
            _KEY, f"{token}: cannot set up /sys/fs/cgroup: {describe_os_error(err)}"
        ) from None


def mount_cgroup2(ctx: MountContext, token: str, hierarchies: list[Hierarchy], cgroup_ns: bool) -> None:
    """`cgroup2[:ro][:force]`: the cgroup2 hierarchy alone on /sys/fs/cgroup.

    As for `cgroup`, nothing without `:force` when the container has a cgroup
    namespace. With one, a fresh cgroup2 mount (rooted at the container's cgroup);
    without one, the container's own cgroup2 directory bound there. `:ro` makes it
    read-only.
    """
    parts = token.split(":")[1:]
    if cgroup_ns and "force" not in parts:
        return
    unified = next((h for h in hierarchies if h.fstype == "cgroup2"), None)
    if unified is None:
        raise SetupError(_KEY, f"{token}: this host has no cgroup2 hierarchy")
    base = "sys/fs/cgroup"
    try:
        fd = ensure_mountpoint(ctx, base, _KEY)
        try:
            if cgroup_ns:
                linux.mount("cgroup2", resolve.fd_path(fd), "cgroup2", _PSEUDO, unified.data)
            else:
                source = _join_host(unified.mountpoint, unified.own)
                linux.mount(source, resolve.fd_path(fd), None, linux.MS_BIND)
        finally:
            os.close(fd)
        _bind_flags(ctx, base, read_only="ro" in parts)
    except OSError as err:
        raise SetupError(
            _KEY, f"{token}: cannot set up /sys/fs/cgroup: {describe_os_error(err)}"
        ) from None


def _join_host(mountpoint: str, own: str) -> str:
    return mountpoint.rstrip("/") + "/" + own.strip("/") if own.strip("/") else mountpoint


def _bind_flags(ctx: MountContext, target: str, read_only: bool) -> None:
    fd = ctx.open(target)
    try:
        remount_bind(resolve.fd_path(fd), _PSEUDO | (linux.MS_RDONLY if read_only else 0))
    finally:
        os.close(fd)


def _controller_links(ctx: MountContext, base: str, hierarchies: list[Hierarchy]) -> None:
    """`cpu -> cpu,cpuacct` for co-mounted v1 controllers, as systemd hosts have them."""
    names = {h.name for h in hierarchies}
    fd = ctx.open(base, directory=True)
    try:
        for h in hierarchies:
            if "," not in h.name:
                continue
            for part in h.name.split(","):
                if part not in names:
                    try:
                        os.symlink(h.name, part, dir_fd=fd)
                    except FileExistsError:
                        pass
    finally:
        os.close(fd)
