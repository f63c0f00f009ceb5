"""Fork the container child straight into its new pid namespace: one fork, not two.

Why: a new pid namespace applies to children only, so the child used to be two
processes: "A", forked by the spawner, unshared the namespaces and forked the
init "B", then exited. Each is a fork of the whole spawner (a Python process of
~17 MiB): its page tables copied, every page it writes copied again, its address
space torn down at exit. A cost ~4 ms of CPU per start and delayed the init's pid,
which the daemon waits for before it attaches the cgroups. `clone3(CLONE_NEWPID)`
in the spawner makes the forked process the init (pid 1) at once; it unshares
the other namespaces itself, as A did (so the network namespace's set-up, the
costly one, stays out of the spawner's loop).

When: only when the pid namespace is the only thing that needs a fork and
nothing has to come before it (`applies`, namespaces.clones_into_pid_namespace):
no user namespace, no time namespace, no joined pid namespace. Everything else
still goes through A.

How: clone3 (runtime.kernel.clone3), with CLONE_INTO_CGROUP too when the
daemon names the container's cgroup2 directory.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from runtime.kernel import clone3, linux
from runtime.spawn import namespaces
from runtime.spawn.errors import SetupError

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

#: False once the kernel said it has no clone3 (older than 5.3): A again.
_usable = True


def warm_up() -> None:
    """Bind the functions before the first fork (the spawner's start-up), and build
    the ctypes structures every container child uses (runtime.kernel.linux)."""
    clone3.warm_up()
    linux.prepare_structures()


def applies(config: ContainerConfig, mode: str) -> bool:
    """The start can be cloned straight into a new pid namespace (see the module)."""
    if not _usable:
        return False
    try:
        plan = namespaces.plan(config, mode)
    except SetupError:
        return False  # the child meets it again and reports it
    return namespaces.clones_into_pid_namespace(plan)


def fork_in_new_pid_namespace(cgroup_dir: str | None = None) -> tuple[int, bool] | None:
    """os.fork(), the child being pid 1 of a new pid namespace: (pid, whether the
    child was created in `cgroup_dir`, a cgroup2 directory); (0, ...) in the child.
    None when the kernel refuses clone3 (the caller then forks as before).

    `cgroup_dir`: CLONE_INTO_CGROUP, so the daemon need not move the init into
    its cgroup2 directory (runtime.cgroups.container.ContainerCgroups.joinable).
    A kernel that refuses it (older than 5.7, a directory it will not take) gets
    the clone without it, and the daemon moves the init as before.
    """
    global _usable
    cloned = clone3.clone(linux.CLONE_NEWPID, cgroup_dir)
    if cloned is None and clone3.last_errno() == errno.ENOSYS:
        _usable = False  # a kernel without clone3 is not asked again
    return cloned


def host_pid() -> int:
    """This process's pid in the host's pid namespace (the spawner's /proc shows it)."""
    return int(os.readlink("/proc/self"))
