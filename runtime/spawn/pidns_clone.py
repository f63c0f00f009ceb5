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
nothing has to come before it (`applies`): no user namespace (it must own the
pid namespace, and is mapped by the daemon first), no time namespace (it also
needs a fork), no joined pid namespace. Everything else still goes through A.

How: the same steps as `os.fork()`, with clone3 in place of fork(2): CPython's
`PyOS_BeforeFork` / `PyOS_AfterFork_*` (fork hooks, the import lock, the GIL
state and signal handling reset in the child) around a raw clone3 called with
the GIL held (a `PyDLL` function). glibc's own fork bookkeeping is skipped: the
spawner is single-threaded and holds none of glibc's locks between its calls;
the child's cached thread id stays the spawner's, which only glibc's pthread
calls on other threads would read (there are none; raise(3) asks the kernel).
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
from typing import TYPE_CHECKING

from runtime.kernel import linux
from runtime.spawn import namespaces
from runtime.spawn.errors import SetupError

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

SYS_CLONE3 = 435  # the same number on every architecture (the generic table)


class _CloneArgs(ctypes.Structure):
    """struct clone_args (linux/sched.h), up to `cgroup` (CLONE_ARGS_SIZE_VER2)."""

    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("pidfd", ctypes.c_uint64),
        ("child_tid", ctypes.c_uint64),
        ("parent_tid", ctypes.c_uint64),
        ("exit_signal", ctypes.c_uint64),
        ("stack", ctypes.c_uint64),
        ("stack_size", ctypes.c_uint64),
        ("tls", ctypes.c_uint64),
        ("set_tid", ctypes.c_uint64),
        ("set_tid_size", ctypes.c_uint64),
        ("cgroup", ctypes.c_uint64),
    ]


class _Calls:
    """The C functions, bound once (in the spawner, before any fork)."""

    def __init__(self) -> None:
        api = ctypes.pythonapi  # a PyDLL: its calls keep the GIL
        self.before = api.PyOS_BeforeFork
        self.after_parent = api.PyOS_AfterFork_Parent
        self.after_child = api.PyOS_AfterFork_Child
        for function in (self.before, self.after_parent, self.after_child):
            function.argtypes = []
            function.restype = None
        # PyDLL, not CDLL: a CDLL call releases the GIL around the system call, and
        # the child would then start with the GIL in a state PyOS_AfterFork_Child
        # does not expect.
        self.syscall = ctypes.PyDLL(None, use_errno=True).syscall
        self.syscall.argtypes = [ctypes.c_long, ctypes.c_void_p, ctypes.c_size_t]
        self.syscall.restype = ctypes.c_long


_calls: _Calls | None = None
#: False once the kernel said it has no clone3 (older than 5.3): A again.
_usable = True


def warm_up() -> None:
    """Bind the functions before the first fork (the spawner's start-up), and build
    the ctypes structures every container child uses (runtime.kernel.linux)."""
    global _calls
    if _calls is None:
        _calls = _Calls()
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


#: clone3's flag that creates the process in the cgroup2 directory `cgroup` names.
CLONE_INTO_CGROUP = 0x200000000


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
    warm_up()
    assert _calls is not None
    cgroup_fd = _open_cgroup(cgroup_dir)
    try:
        if cgroup_fd >= 0:
            into = _clone3(linux.CLONE_NEWPID | CLONE_INTO_CGROUP, cgroup_fd)
            if into >= 0:
                return into, True
        pid = _clone3(linux.CLONE_NEWPID, 0)
    finally:
        if cgroup_fd >= 0:
            os.close(cgroup_fd)  # in the child too: nothing of the spawner's stays
    if pid < 0:
        # Any refusal: this start takes the old way, whose unshare reports the
        # reason with its key; a kernel without clone3 is not asked again.
        if ctypes.get_errno() == errno.ENOSYS:
            _usable = False
        return None
    return pid, False


def _open_cgroup(directory: str | None) -> int:
    """An fd of the cgroup2 directory for CLONE_INTO_CGROUP; -1 without one."""
    if directory is None:
        return -1
    try:
        return os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return -1  # the daemon's attach meets it again and reports it


def _clone3(flags: int, cgroup_fd: int) -> int:
    """One clone3: the child's 0, the parent's pid, or -1 (errno in ctypes)."""
    assert _calls is not None
    args = _CloneArgs(flags=flags, exit_signal=signal.SIGCHLD, cgroup=max(cgroup_fd, 0))
    _calls.before()
    pid: int = _calls.syscall(SYS_CLONE3, ctypes.addressof(args), ctypes.sizeof(args))
    if pid == 0:
        _calls.after_child()
        return 0
    _calls.after_parent()
    return pid


def host_pid() -> int:
    """This process's pid in the host's pid namespace (the spawner's /proc shows it)."""
    return int(os.readlink("/proc/self"))
