"""clone3(2) from Python: `os.fork()` with flags, and into a cgroup2 directory.

Why: `os.fork()` cannot ask for what only clone3 offers, and two of those save a
container's start and lxc-attach a wait each: CLONE_NEWPID, the child being pid 1
of a new pid namespace at once (runtime.spawn.pidns_clone), and CLONE_INTO_CGROUP,
the child created in a cgroup2 directory, where a write to that directory's
cgroup.procs takes the kernel's global threadgroup rwsem and waits for an RCU
grace period first (runtime.spawn.cgroup_join).

How: the same steps as `os.fork()`, with clone3 in place of fork(2): CPython's
`PyOS_BeforeFork` / `PyOS_AfterFork_*` (fork hooks, the import lock, the GIL
state and signal handling reset in the child) around a raw clone3 called with
the GIL held (a `PyDLL` function). glibc's own fork bookkeeping is skipped, so
callers must be single-threaded (the spawner, lxc-attach) and hold none of glibc's
locks between its calls; the child's cached thread id stays the parent's, which
only glibc's pthread calls on other threads would read (there are none; raise(3)
asks the kernel).
"""

from __future__ import annotations

import ctypes
import os
import signal

SYS_CLONE3 = 435  # the same number on every architecture (the generic table)
#: Create the child in the cgroup2 directory `cgroup` names (Linux 5.7+).
CLONE_INTO_CGROUP = 0x200000000


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
    """The C functions, bound once (before any fork)."""

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


def warm_up() -> None:
    """Bind the functions now (the spawner does it before its first fork)."""
    global _calls
    if _calls is None:
        _calls = _Calls()


def last_errno() -> int:
    """The errno of the last clone3 that failed."""
    return ctypes.get_errno()


def clone(flags: int, cgroup_dir: str | None) -> tuple[int, bool] | None:
    """clone3 with `flags` (CLONE_NEW*), into `cgroup_dir` when the kernel takes it:
    (pid, whether the child was made in `cgroup_dir`), (0, ...) in the child. Without
    the cgroup (older than 5.7, a directory the kernel refuses) it clones again
    without it, unless `flags` asks for nothing else (then None, as on any refusal:
    the caller forks its own way)."""
    warm_up()
    cgroup_fd = _open_cgroup(cgroup_dir)
    try:
        if cgroup_fd >= 0:
            into = _clone3(flags | CLONE_INTO_CGROUP, cgroup_fd)
            if into >= 0:
                return into, True
        if not flags:
            return None
        pid = _clone3(flags, 0)
    finally:
        if cgroup_fd >= 0:
            os.close(cgroup_fd)  # in the child too: nothing of the caller's stays
    return (pid, False) if pid >= 0 else None


def fork_into_cgroup(cgroup_dir: str) -> int | None:
    """os.fork(), the child created in the cgroup2 directory `cgroup_dir`: its pid, 0
    in the child, None when the kernel or the directory refuses (fork as before)."""
    cloned = clone(0, cgroup_dir)
    return None if cloned is None else cloned[0]


def _open_cgroup(directory: str | None) -> int:
    """An fd of the cgroup2 directory for CLONE_INTO_CGROUP; -1 without one."""
    if directory is None:
        return -1
    try:
        return os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return -1  # whoever moves the process later meets it again and reports it


def _clone3(flags: int, cgroup_fd: int) -> int:
    """One clone3: the child's 0, the parent's pid, or -1 (errno: `last_errno`)."""
    assert _calls is not None
    args = _CloneArgs(flags=flags, exit_signal=signal.SIGCHLD, cgroup=max(cgroup_fd, 0))
    _calls.before()
    pid: int = _calls.syscall(SYS_CLONE3, ctypes.addressof(args), ctypes.sizeof(args))
    if pid == 0:
        _calls.after_child()
        return 0
    _calls.after_parent()
    return pid
