"""Which namespaces a container gets, and entering them.

The set, as lxc(7) and lxc.container.conf(5) describe it:
- an application container (lxc-execute) gets pid, ipc, mnt, uts, net and
  cgroup (the man pages leave cgroup out, but LXC 5 gives lxc-execute's container
  a cgroup namespace too: its cgroup reads "/", and `cgroup:mixed` mounts nothing;
  `lxc.namespace.keep = cgroup` gives the host's back);
- a system container (lxc-start) gets uts, ipc, pid, mnt, net and cgroup;
- either shares the host's network only when its devices are all of type `none`
  (LXC's rule): a config without any `lxc.net.*` gets a namespace with only `lo`;
- `lxc.namespace.clone` replaces the set, `lxc.namespace.keep` removes from it,
  `lxc.namespace.share.NS` joins an existing namespace instead (a /proc/PID/ns path,
  or a pid); `lxc.time.offset.*` adds a time namespace.

Where this differs from LXC: a share value naming a container is resolved by the
daemon, which knows the init pids (it replaces the value by the pid before the
fork; `runtime.spawn.share_names` lists what to resolve). The child cannot look the
name up itself: it has no business reading the daemon's records.

The cgroup namespace is never unshared here: the container's init unshares it
after the daemon has moved it into its cgroups (`go`), so the namespace's root is
the container's own cgroup. A container with `lxc.idmap` gets a user namespace,
made first so it owns every other one (`runtime.userns.enter`); a user namespace
without maps, or maps with the user namespace kept, is refused: never host root.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from runtime.kernel import linux
from runtime.spawn.errors import SetupError, describe_os_error, unshare
from runtime.userns import enter as userns_enter

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

#: Namespace name (as in lxc.namespace.* and /proc/PID/ns/) -> CLONE_NEW* flag.
FLAGS: dict[str, int] = {
    "cgroup": linux.CLONE_NEWCGROUP,
    "ipc": linux.CLONE_NEWIPC,
    "mnt": linux.CLONE_NEWNS,
    "net": linux.CLONE_NEWNET,
    "pid": linux.CLONE_NEWPID,
    "time": linux.CLONE_NEWTIME,
    "user": linux.CLONE_NEWUSER,
    "uts": linux.CLONE_NEWUTS,
}

APPLICATION_DEFAULT = frozenset({"pid", "ipc", "mnt", "uts", "cgroup"})
SYSTEM_DEFAULT = frozenset({"uts", "ipc", "pid", "mnt", "net", "cgroup"})

#: setns order: mnt last, because joining a mount namespace changes root and cwd.
_SETNS_ORDER = ("user", "cgroup", "ipc", "uts", "net", "pid", "time", "mnt")


class NamespacePlan:
    """new: namespaces to create; share: namespace -> path of one to join; pid_made:
    the new pid namespace exists already (the spawner cloned us into it as its pid
    1, runtime.spawn.pidns_clone), so neither unshare nor fork is left for it."""

    __slots__ = ("new", "pid_made", "share")

    def __init__(self, new: frozenset[str], share: dict[str, str], pid_made: bool = False) -> None:
        self.new = new
        self.share = share
        self.pid_made = pid_made

    @property
    def unshare_flags(self) -> int:
        """CLONE_NEW* flags for the first unshare (everything new except cgroup and
        user, which is unshared alone, before, to be mapped)."""
        flags = 0
        for name in self.new - {"cgroup", "user"}:
            flags |= FLAGS[name]
        if self.pid_made:
            flags &= ~linux.CLONE_NEWPID
        return flags

    @property
    def needs_fork(self) -> bool:
        """A new or joined pid/time namespace applies to children only: fork the init."""
        wanted = {"pid", "time"} & (self.new | set(self.share))
        if self.pid_made:
            wanted.discard("pid")
        return bool(wanted)

    def has_own(self, name: str) -> bool:
        """The container has a namespace of this type of its own (new, not the host's)."""
        return name in self.new

    def isolated(self, name: str) -> bool:
        """The container does not use the host's namespace of this type."""
        return name in self.new or name in self.share

    def __repr__(self) -> str:
        made = ", pid_made=True" if self.pid_made else ""
        return f"NamespacePlan(new={sorted(self.new)}, share={self.share!r}{made})"


def clones_into_pid_namespace(ns: NamespacePlan) -> bool:
    """The spawner can clone the init straight into its new pid namespace: nothing
    else needs a process before it (runtime.spawn.pidns_clone). No user namespace (it
    must own the pid namespace, and is mapped by the daemon first), no time namespace
    (it also needs a fork), no joined pid namespace."""
    return (
        "pid" in ns.new
        and not {"user", "time"} & (ns.new | set(ns.share))
        and "pid" not in ns.share
    )


def _has_net(config: ContainerConfig) -> tuple[bool, bool]:
    """(any device wanting a namespace of its own, any device of the host's: none)."""
    from runtime.net import types as net_types

    kinds = [net_types.get(dev.type) for dev in config.net]
    return (
        any(k is not None and k.new_netns for k in kinds),
        any(k is not None and not k.new_netns for k in kinds),
    )


def plan(config: ContainerConfig, mode: str) -> NamespacePlan:
    """The namespaces of a container started in `mode` ("system" / "application")."""
    if config.namespace_clone:
        new = set(config.namespace_clone)
    else:
        new = set(APPLICATION_DEFAULT if mode == "application" else SYSTEM_DEFAULT)
        # As LXC: only devices all of type none share the host's network; no device
        # at all is a network namespace of its own with only lo.
        real_device, share_host = _has_net(config)
        if share_host and not real_device:
            new.discard("net")
        else:
            new.add("net")
    if config.time_offset_boot is not None or config.time_offset_monotonic is not None:
        new.add("time")
    new -= set(config.namespace_keep)
    share: dict[str, str] = {}
    for name, value in config.namespace_share.items():
        key = f"lxc.namespace.share.{name}"
        if name not in FLAGS:
            raise SetupError(key, f"unknown namespace '{name}'")
        if value.startswith("/"):
            share[name] = value
        elif value.isdigit():
            share[name] = f"/proc/{value}/ns/{name}"
        else:
            raise SetupError(key, f"container '{value}' is not running (no init pid known)")
        new.discard(name)
    _plan_user(config, new, share)
    return NamespacePlan(frozenset(new), share)


def _plan_user(config: ContainerConfig, new: set[str], share: dict[str, str]) -> None:
    """lxc.idmap adds a user namespace (as LXC: whatever lxc.namespace.clone says)."""
    mapped = bool(getattr(config, "idmap", None))
    if mapped and "user" in config.namespace_keep:
        raise SetupError(
            "lxc.namespace.keep", "lxc.idmap needs a user namespace, so 'user' cannot be kept"
        )
    if mapped and "user" not in share:
        new.add("user")
    if "user" in new and not mapped:
        raise SetupError("lxc.namespace.clone", "a user namespace needs lxc.idmap lines")


def enter(ns: NamespacePlan, config: ContainerConfig, map_user: Callable[[], None] | None = None) -> None:
    """Join the shared namespaces, then create the new ones (all but cgroup).

    Every shared namespace is opened before the first setns: joining a mount
    namespace changes what /proc paths mean. A new user namespace is made before
    the others and `map_user` (unshare, maps, mapped root) runs then.
    """
    fds: dict[str, int] = {}
    try:
        for name, path in ns.share.items():
            try:
                fds[name] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as err:
                raise SetupError(
                    f"lxc.namespace.share.{name}", f"cannot open '{path}': {describe_os_error(err)}"
                ) from None
        for name in _SETNS_ORDER:
            if name in fds:
                try:
                    linux.setns(fds[name], FLAGS[name])
                except OSError as err:
                    raise SetupError(
                        f"lxc.namespace.share.{name}",
                        f"cannot join '{ns.share[name]}': {describe_os_error(err)}",
                    ) from None
    finally:
        for fd in fds.values():
            os.close(fd)
    if "user" in ns.share:
        userns_enter.become_root("lxc.namespace.share.user")
    if "user" in ns.new:
        if map_user is None:
            raise SetupError("lxc.idmap", "no way to have the user namespace mapped")
        map_user()
    flags = ns.unshare_flags
    if flags:
        names = " ".join(sorted(ns.new - {"cgroup"}))
        unshare(flags, "lxc.namespace.clone", f"namespaces ({names})")
    if "time" in ns.new:
        _set_time_offsets(config)


def _set_time_offsets(config: ContainerConfig) -> None:
    """Write lxc.time.offset.* into the new time namespace (before any process enters it)."""
    lines = []
    for clock, offset in (
        ("monotonic", config.time_offset_monotonic),
        ("boottime", config.time_offset_boot),
    ):
        if offset:
            seconds, nanoseconds = divmod(offset, 10**9)
            lines.append(f"{clock} {seconds} {nanoseconds}\n")
    if not lines:
        return
    try:
        with open("/proc/self/timens_offsets", "w") as handle:
            handle.write("".join(lines))
    except OSError as err:
        raise SetupError(
            "lxc.time.offset", f"cannot set clock offsets: {describe_os_error(err)}"
        ) from None


def unshare_cgroup() -> None:
    """Create the cgroup namespace, rooted at the cgroup the daemon put us in."""
    unshare(linux.CLONE_NEWCGROUP, "lxc.namespace.clone", "the cgroup namespace")
