"""Pay the kernel's cgroup-migration grace period ahead of a start, off the start's path.

Every write to a `cgroup.procs` file takes the kernel's global threadgroup rwsem
for writing (`cgroup_threadgroup_rwsem`, a percpu rwsem). Taking it first switches
every reader (each fork and exit on the machine) to its slow path and waits for an
RCU grace period: 6 to 15 ms on the project's 2-CPU machine, while the writes that
follow within about one more grace period find it switched already and take
microseconds (measured with `strace -T` on a start: the first `cgroup.procs` write
11.4 ms, the next eight hierarchies µs each). LXC pays it once per start too, when
it moves its monitor into `lxc.monitor.NAME`.

A start needs one such write per hierarchy, and the container's init can only be
moved once it exists, after the spawner's fork and the child's unshare. So the
daemon starts the grace period itself as soon as the start's cgroups exist: it
moves its own process into the cgroup it already is in (a no-op migration that
still takes the rwsem), in a worker thread, while the spawner forks and the child
unshares. The init's attach then waits only for what is left of that grace period,
or finds it over and takes microseconds. Not earlier: the kernel holds
`cgroup_mutex` through the wait, so the start's own mkdirs would queue behind it. A host can remove the wait altogether by mounting its
cgroup hierarchies with `favordynmods` (Linux 6.0+, the kernel's own trade: slower
forks for faster migrations); that is the host's policy, not a runtime's.

Nothing here can fail a start: a write that fails (cgroup gone, no v1 hierarchy,
permission) is ignored, and the start pays the grace period in its own attach.
"""

from __future__ import annotations

import os

from runtime.cgroups.mounts import CgroupMounts, discover

#: The daemon's own `cgroup.procs` in one hierarchy, found once per process.
_own_procs: str | None = None
#: Set when the write is not ours to make (an unprivileged daemon): never tried again.
_refused = False


def own_procs_file(mounts: CgroupMounts) -> str | None:
    """This process's own `cgroup.procs` in the first v1 hierarchy it is in (else v2)."""
    for hierarchy in mounts.hierarchies:
        path = mounts.self_cgroups.get(hierarchy.key)
        if path is None:
            continue
        directory = hierarchy.dir_of(path)
        if directory is not None:
            return os.path.join(directory, "cgroup.procs")
    return None


def prime() -> None:
    """Move this process into its own cgroup (a no-op) to start the grace period.

    Blocks for that grace period: call it in a worker thread. Errors are dropped
    (see the module's docstring).
    """
    global _own_procs, _refused
    if _refused:
        return
    try:
        if _own_procs is None:
            _own_procs = own_procs_file(discover())
        if _own_procs is None:
            return
        fd = os.open(_own_procs, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)
    except PermissionError:
        _refused = True
    except OSError:
        _own_procs = None  # moved or removed: found again next time
