"""Hand a compiled seccomp BPF program (runtime.seccomp.compile) to the kernel.

Used by the container child (runtime.spawn.child, after pivot_root: everything is
imported here at module import time) and by lxc-attach's helper
(cli.attach_exec): standard library and ctypes only, and cheap to import.

As LXC: the filter is loaded while the process still has CAP_SYS_ADMIN, without
no_new_privs (setuid programs keep working in the container); only when the
kernel refuses for lack of that capability (EACCES) is no_new_privs set first.
A process that is already under a seccomp filter (a nested container) loads the
container's filter only with `lxc.seccomp.allow_nesting = 1`; otherwise it keeps
the outer filter alone and loads nothing (LXC's `use_seccomp`).
"""

from __future__ import annotations

import ctypes
import errno
import os
from typing import TYPE_CHECKING, Protocol

from runtime.spawn.errors import SetupError

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

PR_GET_SECCOMP = 21
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2
_INSTRUCTION = 8  # sizeof(struct sock_filter): u16 code, u8 jt, u8 jf, u32 k


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl
_prctl.restype = ctypes.c_int
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]


def _call(option: int, arg2: int, arg3: int | None = None) -> int:
    result = _prctl(option, arg2, arg3, 0, 0)
    if result < 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))
    return int(result)


def filtered() -> bool:
    """True when this process already runs under a seccomp filter (or strict mode)."""
    try:
        return _call(PR_GET_SECCOMP, 0) != 0
    except OSError:  # prctl itself filtered: we are under a filter
        return True


def load(bpf: bytes, allow_nesting: bool = False) -> bool:
    """Load `bpf` as this process's seccomp filter; False when skipped because the
    process is already filtered and nesting is not allowed. Raises OSError."""
    if not bpf or len(bpf) % _INSTRUCTION:
        raise OSError(errno.EINVAL, "the seccomp program is not a whole number of BPF instructions")
    if not allow_nesting and filtered():
        return False
    program = ctypes.create_string_buffer(bpf, len(bpf))
    fprog = _SockFprog(len(bpf) // _INSTRUCTION, ctypes.addressof(program))
    try:
        _call(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog))
    except OSError as err:
        if err.errno != errno.EACCES:  # EACCES: no CAP_SYS_ADMIN, so no_new_privs first
            raise
        _call(PR_SET_NO_NEW_PRIVS, 1)
        _call(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog))
    return True


class SeccompRequest(Protocol):
    """What `apply` reads of the child's request."""

    @property
    def seccomp_bpf(self) -> bytes | None: ...

    @property
    def config(self) -> ContainerConfig: ...


def apply(request: SeccompRequest) -> None:
    """The container child's step: load the compiled lxc.seccomp.profile of the
    request, honouring lxc.seccomp.allow_nesting (a child already under a filter,
    e.g. started inside a container, loads its own only with it set to 1)."""
    if request.seccomp_bpf is None:
        return
    allow_nesting = bool(request.config.seccomp_allow_nesting)
    try:
        load(request.seccomp_bpf, allow_nesting)
    except OSError as err:
        raise SetupError(
            "lxc.seccomp.profile", f"cannot load the seccomp filter: {err.strerror}"
        ) from None
