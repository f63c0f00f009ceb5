"""The container's init moves itself into its v1 cgroups: no kernel grace period.

Why here and not in the daemon: a pid written to a `cgroup.procs` file takes the
kernel's global threadgroup rwsem for writing, which waits for an RCU grace period
(4-8 ms on the project's 2-CPU machine, the longest wait of a start; see
runtime.cgroups.prime) and slows every fork on the host meanwhile. A process that
writes "0" to a v1 hierarchy's `tasks` file moves its own thread only, which the
kernel does under `cgroup_mutex` without that rwsem: ~15 µs a hierarchy here. The
init is single-threaded (a fresh clone of the spawner), so its thread is all of it.

Only the init does it, and only while it is still the host's: before it joins or
makes any namespace (a user namespace's root could not write the host's cgroup
files), before any code of the container exists. A child that is not the init (it
forks one: a time or user namespace) joins nothing and the daemon moves the init
(`ContainerCgroups.attach`), as it does for every directory the child reports it
did not join.
"""

from __future__ import annotations

import os

from runtime.spawn.errors import SetupError, describe_os_error


def join(directories: tuple[str, ...]) -> None:
    """Move this (single-threaded) process into each v1 cgroup directory."""
    for directory in directories:
        path = os.path.join(directory, "tasks")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
        except OSError as err:
            raise SetupError(
                None, f"cannot move the container into {path}: {describe_os_error(err)}"
            ) from None
