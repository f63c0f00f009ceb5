"""Run a command in new namespaces: what `lxc-unshare` does, without a container.

Three processes, so that a new pid namespace gets a pid 1 and the caller can
prepare what only it can do from outside:

- the caller (lxc-unshare) forks the *holder*;
- the holder unshares the namespaces, then tells the caller through a pipe;
- the caller writes the user namespace's id maps and moves `-i` interfaces into
  the holder's network namespace (both need a process outside them), then
  releases the holder;
- the holder forks the *task* (pid 1 of a new pid namespace), waits for it and
  exits with its status; the task sets the hostname, mounts /proc, /dev/shm and
  /dev/mqueue (`-M`, in its now private mount tree, so nothing reaches the host),
  changes to the user (`-u`) and execs the command.

With `-d` the caller returns once the task runs and the holder, in a session of
its own, is the task's parent. Everything before exec happens in forked children
of a process with no threads, so plain os calls are safe there.
"""

from __future__ import annotations

import os
import pwd
import sys

from runtime.client.errors import LxcError
from runtime.kernel import linux
from runtime.kernel.gated_fork import fork_gated

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a command milliseconds at start-up
    from typing import NoReturn

#: Names `-s` accepts, as LXC 5 does: the /proc/PID/ns names in any case, and
#: LXC's long names in capitals.
_NAMESPACES = {
    "mnt": linux.CLONE_NEWNS,
    "pid": linux.CLONE_NEWPID,
    "uts": linux.CLONE_NEWUTS,
    "ipc": linux.CLONE_NEWIPC,
    "user": linux.CLONE_NEWUSER,
    "net": linux.CLONE_NEWNET,
    "cgroup": linux.CLONE_NEWCGROUP,
}
_LONG_NAMES = {"MOUNT": "mnt", "UTSNAME": "uts", "NETWORK": "net"}


def namespace_flags(spec: str) -> int:
    """CLONE_NEW* flags of a `-s` value (`"NETWORK|PID"`); ValueError for a bad name."""
    flags = 0
    for word in spec.split("|"):
        if not word:
            continue
        name = _LONG_NAMES.get(word, word.lower())
        if name not in _NAMESPACES:
            raise ValueError(word)
        flags |= _NAMESPACES[name]
    return flags


class Plan:
    """What one lxc-unshare run does (checked by the command line before forking)."""

    def __init__(
        self,
        flags: int,
        argv: list[str],
        user: pwd.struct_passwd | None = None,
        hostname: str | None = None,
        interfaces: tuple[str, ...] = (),
        daemon: bool = False,
        remount: bool = False,
    ) -> None:
        self.flags = flags
        self.argv = argv
        self.user = user
        self.hostname = hostname
        self.interfaces = interfaces
        self.daemon = daemon
        self.remount = remount


def _status_code(status: int) -> int:
    """A wait status as a shell's exit code (128+N for a signal)."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _id_maps(pid: int, plan: Plan) -> None:
    """Map root in the new user namespace to the `-u` user (or the caller) outside."""
    uid = plan.user.pw_uid if plan.user else os.getuid()
    gid = plan.user.pw_gid if plan.user else os.getgid()
    with open(f"/proc/{pid}/setgroups", "w", encoding="ascii") as handle:
        handle.write("deny")
    for kind, outside in (("uid", uid), ("gid", gid)):
        with open(f"/proc/{pid}/{kind}_map", "w", encoding="ascii") as handle:
            handle.write(f"0 {outside} 1\n")


def _move_interfaces(pid: int, names: tuple[str, ...]) -> None:
    """Move each named host interface into the holder's network namespace."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    with IPRoute() as ipr:
        for name in names:
            found = ipr.link_lookup(ifname=name)
            if not found:
                raise LxcError(f"Failed to move network device \"{name}\": no such interface")
            try:
                ipr.link("set", index=found[0], net_ns_pid=pid)
            except NetlinkError as err:
                raise LxcError(f"Failed to move network device \"{name}\": {err}") from None


def _task(plan: Plan) -> None:
    """In the new namespaces: hostname, mounts, user, exec. Never returns."""
    import warnings  # noqa: F401 - os.execvp imports it: after setuid it may be unreadable

    try:
        if plan.hostname is not None:
            import socket

            socket.sethostname(plan.hostname)
        if plan.remount:
            linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
            # /proc must be the new pid namespace's; /dev/shm and /dev/mqueue are mounted
            # where the host has them (as LXC, a failure there is not fatal; unlike LXC,
            # a missing mount point is not created in the host's /dev).
            for source, target, fstype, required in (
                ("proc", "/proc", "proc", True),
                ("shmfs", "/dev/shm", "tmpfs", False),
                ("mqueue", "/dev/mqueue", "mqueue", False),
            ):
                try:
                    linux.mount(source, target, fstype, linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
                except OSError as err:
                    if required:
                        raise LxcError(f"Failed to mount {fstype} on {target}: {err.strerror}") from None
        if plan.flags & linux.CLONE_NEWUSER:
            os.setgid(0)
            os.setuid(0)
        elif plan.user is not None:
            os.initgroups(plan.user.pw_name, plan.user.pw_gid)
            os.setgid(plan.user.pw_gid)
            os.setuid(plan.user.pw_uid)
        try:
            os.execvp(plan.argv[0], plan.argv)
        except OSError as err:
            raise LxcError(f"Failed to exec: '{plan.argv[0]}': {err.strerror}") from None
    except BaseException as err:  # noqa: BLE001 - a forked child reports and exits
        sys.stderr.write(f"lxc-unshare: {err}\n")
        sys.stderr.flush()
        os._exit(1)


def _holder(plan: Plan, ready_w: int, go_r: int) -> NoReturn:
    """Unshare, let the caller prepare, start the task and wait for it. Never returns."""
    code = 1
    try:
        if plan.daemon:
            os.setsid()
        linux.unshare(plan.flags)
        os.write(ready_w, b"u")
        os.close(ready_w)
        if os.read(go_r, 1) != b"g":
            os._exit(1)  # the caller failed to prepare and reported it
        os.close(go_r)
        pid = os.fork()
        if pid == 0:
            _task(plan)
        code = _status_code(os.waitpid(pid, 0)[1])
    except BaseException as err:  # noqa: BLE001 - a forked child reports and exits
        sys.stderr.write(f"lxc-unshare: Failed to unshare namespaces: {err}\n")
        sys.stderr.flush()
    os._exit(code)


def run(plan: Plan) -> int:
    """Run the plan; the command's exit code (0 at once with -d)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid, ready_r, go_w = fork_gated(lambda ready_w, go_r: _holder(plan, ready_w, go_r))
    try:
        if os.read(ready_r, 1) != b"u":  # the holder could not unshare and said why
            return _status_code(os.waitpid(pid, 0)[1]) or 1
        try:
            if plan.flags & linux.CLONE_NEWUSER:
                _id_maps(pid, plan)
            if plan.interfaces:
                _move_interfaces(pid, plan.interfaces)
        except BaseException:
            os.close(go_w)
            go_w = -1
            os.waitpid(pid, 0)
            raise
        os.write(go_w, b"g")
    finally:
        os.close(ready_r)
        if go_w >= 0:
            os.close(go_w)
    if plan.daemon:
        return 0
    return _status_code(os.waitpid(pid, 0)[1])
