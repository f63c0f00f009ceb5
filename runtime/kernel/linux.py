"""The privileged Linux system calls Python 3.11's `os` module lacks, in one place.

Why this module exists: a container runtime needs `unshare(2)`, `setns(2)`,
`mount(2)`, `umount2(2)`, `pivot_root(2)` and `prctl(2)`, and the standard library
offers none of them (3.12 adds `os.unshare`/`os.setns`, but we support 3.11).
Every such call goes through ctypes on the C library here, so that the rest of
the code base never touches ctypes, every failure is an `OSError` with the real
errno and a message naming the call and its arguments, and one file is the
audit surface for what the runtime asks of the kernel.

libc (and ctypes itself) is loaded on the first call, not at import: the
command-line clients import this module cheaply even when they never use it.
`pivot_root` has no glibc wrapper, so it goes through `syscall(2)` with the
architecture's system call number.
"""

from __future__ import annotations

import os
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing ctypes costs start-up time
    import ctypes

# --- unshare(2) / setns(2) / clone(2) namespace flags (linux/sched.h) ---
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# --- mount(2) flags (linux/mount.h) ---
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

# --- umount2(2) flags ---
MNT_FORCE = 1
MNT_DETACH = 2
MNT_EXPIRE = 4
UMOUNT_NOFOLLOW = 8

# --- prctl(2) options (linux/prctl.h) ---
PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
PR_SET_NAME = 15
PR_GET_NAME = 16
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_MM = 35
PR_SET_MM_MAP = 14
PR_SET_MM_MAP_SIZE = 15
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39

#: `AT_FDCWD` for the *at() calls.
AT_FDCWD = -100
#: The kernel's upper bound on a file handle's opaque bytes (MAX_HANDLE_SZ).
MAX_HANDLE_SZ = 128

#: pivot_root(2) system call numbers: glibc has no wrapper for it.
_SYS_PIVOT_ROOT: dict[str, int] = {
    "x86_64": 155,
    "i386": 217,
    "i686": 217,
    "aarch64": 41,
    "arm64": 41,
    "riscv64": 41,
    "loongarch64": 41,
    "armv7l": 218,
    "armv6l": 218,
    "ppc64le": 203,
    "ppc64": 203,
    "s390x": 217,
}

_libc_handle: ctypes.CDLL | None = None


def libc_handle() -> ctypes.CDLL:
    """The C library, loaded once on first use with errno capture turned on."""
    global _libc_handle
    if _libc_handle is None:
        import ctypes

        try:
            lib = ctypes.CDLL("libc.so.6", use_errno=True)
        except OSError:  # not glibc: the symbols are in the running process
            lib = ctypes.CDLL(None, use_errno=True)
        _declare(lib)
        _libc_handle = lib
    return _libc_handle


def _declare(lib: ctypes.CDLL) -> None:
    """Give ctypes the C prototypes, so wrong argument types fail loudly, not silently."""
    import ctypes

    c_char_p, c_int, c_ulong, c_void_p, c_long = (
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_ulong,
        ctypes.c_void_p,
        ctypes.c_long,
    )
    lib.unshare.argtypes = [c_int]
    lib.unshare.restype = c_int
    lib.setns.argtypes = [c_int, c_int]
    lib.setns.restype = c_int
    lib.mount.argtypes = [c_char_p, c_char_p, c_char_p, c_ulong, c_void_p]
    lib.mount.restype = c_int
    lib.umount2.argtypes = [c_char_p, c_int]
    lib.umount2.restype = c_int
    lib.prctl.argtypes = [c_int, c_ulong, c_ulong, c_ulong, c_ulong]
    lib.prctl.restype = c_int
    lib.syscall.restype = c_long
    lib.name_to_handle_at.argtypes = [c_int, c_char_p, c_void_p, c_void_p, c_int]
    lib.name_to_handle_at.restype = c_int
    lib.renameat2.argtypes = [c_int, c_char_p, c_int, c_char_p, ctypes.c_uint]
    lib.renameat2.restype = c_int


def _raise(call: str) -> None:
    """Turn the errno of a failed libc call into an OSError naming the call."""
    import ctypes

    err = ctypes.get_errno()
    raise OSError(err, f"{call} failed: {os.strerror(err)}")


def _path(value: str | bytes | os.PathLike[str] | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def unshare(flags: int) -> None:
    """Move the calling process into new namespaces (`CLONE_NEW*` flags)."""
    if libc_handle().unshare(flags) != 0:
        _raise(f"unshare(0x{flags:x})")


#: renameat2(2): fail with EEXIST rather than replace the target.
RENAME_NOREPLACE = 1
#: renameat2(2): swap the two names atomically (both must exist).
RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange_paths(first: str, second: str) -> None:
    """Swap what the names `first` and `second` point to, in one atomic step."""
    if libc_handle().renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE) != 0:
        _raise(f"renameat2({first!r}, {second!r}, RENAME_EXCHANGE)")


def rename_noreplace(source: str, target: str) -> None:
    """Rename `source` to `target` unless `target` exists (FileExistsError then)."""
    if libc_handle().renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), RENAME_NOREPLACE) != 0:
        _raise(f"renameat2({source!r}, {target!r}, RENAME_NOREPLACE)")


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace `fd` refers to (a /proc/PID/ns/* or pidfd); 0 = any type."""
    if libc_handle().setns(fd, nstype) != 0:
        _raise(f"setns({fd}, 0x{nstype:x})")


def mount(
    source: str | bytes | os.PathLike[str] | None,
    target: str | bytes | os.PathLike[str],
    fstype: str | None = None,
    flags: int = 0,
    data: str | bytes | None = None,
) -> None:
    """mount(2): attach a filesystem, or change a mount with MS_BIND/MS_REMOUNT/MS_PRIVATE..."""
    raw_data = data.encode() if isinstance(data, str) else data
    rc = libc_handle().mount(
        _path(source), _path(target), fstype.encode() if fstype else None, flags, raw_data
    )
    if rc != 0:
        _raise(f"mount({source!r}, {os.fsdecode(target)!r}, {fstype!r}, 0x{flags:x}, {data!r})")


def umount2(target: str | bytes | os.PathLike[str], flags: int = 0) -> None:
    """umount2(2): detach the mount at `target` (MNT_DETACH for a lazy unmount)."""
    if libc_handle().umount2(_path(target), flags) != 0:
        _raise(f"umount2({os.fsdecode(target)!r}, 0x{flags:x})")


def pivot_root(new_root: str | os.PathLike[str], put_old: str | os.PathLike[str]) -> None:
    """pivot_root(2): make `new_root` the root mount, moving the old one to `put_old`."""
    import ctypes

    machine = os.uname().machine
    number = _SYS_PIVOT_ROOT.get(machine)
    call = f"pivot_root({os.fspath(new_root)!r}, {os.fspath(put_old)!r})"
    if number is None:
        import errno

        raise OSError(errno.ENOSYS, f"{call} failed: unknown system call number on {machine}")
    libc = libc_handle()
    rc = libc.syscall(
        ctypes.c_long(number),
        ctypes.c_char_p(os.fsencode(new_root)),
        ctypes.c_char_p(os.fsencode(put_old)),
    )
    if rc != 0:
        _raise(call)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """prctl(2) with integer arguments; returns the call's non-negative result.

    Options taking a pointer get `ctypes.addressof(buffer)`; `set_name`/`get_name`
    wrap the common string case.
    """
    rc = libc_handle().prctl(option, arg2, arg3, arg4, arg5)
    if rc < 0:
        _raise(f"prctl({option}, {arg2}, {arg3}, {arg4}, {arg5})")
    return int(rc)


def set_name(name: str | bytes) -> None:
    """PR_SET_NAME: the calling thread's name (`comm`, at most 15 bytes are kept)."""
    import ctypes

    raw = name.encode() if isinstance(name, str) else name
    buf = ctypes.create_string_buffer(raw[:15], 16)
    prctl(PR_SET_NAME, ctypes.addressof(buf))


def malloc_trim() -> bool:
    """glibc's malloc_trim(0): the heap's free pages go back to the kernel (the
    daemon after a burst of starts: runtime.daemon.heap_trim). False where the C
    library has no such call, or nothing was given back."""
    import ctypes

    trim = getattr(libc_handle(), "malloc_trim", None)
    if trim is None:
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return bool(trim(0))


def get_name() -> str:
    """PR_GET_NAME: the calling thread's name."""
    import ctypes

    buf = ctypes.create_string_buffer(16)
    prctl(PR_GET_NAME, ctypes.addressof(buf))
    return buf.value.decode(errors="replace")


def mm_map_size() -> int:
    """PR_SET_MM_MAP_SIZE: the size of `struct prctl_mm_map`.

    Side-effect free and unprivileged; the kernel answers it only when built with
    CONFIG_CHECKPOINT_RESTORE, which makes it a probe for that option.
    """
    import ctypes

    size = ctypes.c_uint(0)
    prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, ctypes.addressof(size))
    return int(size.value)


def name_to_handle_at(
    path: str | bytes | os.PathLike[str], dirfd: int = AT_FDCWD, flags: int = 0
) -> tuple[int, bytes, int]:
    """name_to_handle_at(2): `(handle_type, handle_bytes, mount_id)` for `path`.

    Used by checkpoint/restore (CRIU) to reopen files; ENOSYS means the kernel
    lacks CONFIG_FHANDLE.
    """
    import ctypes

    class FileHandle(ctypes.Structure):
        _fields_ = [
            ("handle_bytes", ctypes.c_uint),
            ("handle_type", ctypes.c_int),
            ("f_handle", ctypes.c_ubyte * MAX_HANDLE_SZ),
        ]

    handle = FileHandle()
    handle.handle_bytes = MAX_HANDLE_SZ
    mount_id = ctypes.c_int(0)
    raw = os.fsencode(path)
    rc = libc_handle().name_to_handle_at(
        dirfd, raw, ctypes.addressof(handle), ctypes.addressof(mount_id), flags
    )
    if rc != 0:
        _raise(f"name_to_handle_at({dirfd}, {os.fsdecode(raw)!r}, 0x{flags:x})")
    return handle.handle_type, bytes(handle.f_handle[: handle.handle_bytes]), mount_id.value


# --- container setup: openat2, capabilities, process title, network ---------------

#: openat2(2) `resolve` flags (linux/openat2.h).
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

#: openat2 is system call 437 on every architecture (it postdates the unified table).
_SYS_OPENAT2 = 437

#: prctl(2) options for ambient capabilities and the process's memory map fields.
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_MM_ARG_START = 8
PR_SET_MM_ARG_END = 9

#: capget(2)/capset(2): the 64-bit capability sets ABI.
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

#: ioctl(2) requests and flag bits for a network interface (linux/sockios.h, if.h).
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def openat2(dirfd: int, path: str | bytes, flags: int, mode: int = 0, resolve: int = 0) -> int:
    """openat2(2): open `path` relative to `dirfd` under the `resolve` rules; the new fd.

    `RESOLVE_IN_ROOT` makes `dirfd` the root for the lookup (`..`, absolute symlinks
    and absolute paths stay below it), which is how a mount target inside a
    container's rootfs is found without letting the container's symlinks point it at
    the host. ENOSYS on kernels before 5.6.
    """
    import ctypes

    # struct open_how {u64 flags, mode, resolve}, packed here rather than as a
    # ctypes.Structure: a class built per call cost ~15 µs, x130 opens per start.
    how = struct.pack("=QQQ", flags, mode, resolve)
    raw = os.fsencode(path)
    fd = libc_handle().syscall(
        ctypes.c_long(_SYS_OPENAT2),
        ctypes.c_int(dirfd),
        ctypes.c_char_p(raw),
        ctypes.c_char_p(how),
        ctypes.c_size_t(len(how)),
    )
    if fd < 0:
        _raise(f"openat2({dirfd}, {os.fsdecode(raw)!r}, 0x{flags:x}, 0x{resolve:x})")
    return int(fd)


_cap_types: tuple[type[ctypes.Structure], type[ctypes.Structure]] | None = None


def _cap_structs() -> tuple[type[ctypes.Structure], type[ctypes.Structure]]:
    """The capget/capset structures, built once (a ctypes class costs ~50 us to make;
    `prepare_structures` builds them in the spawner, before its forks)."""
    global _cap_types
    if _cap_types is None:
        _cap_types = _make_cap_structs()
    return _cap_types


def _make_cap_structs() -> tuple[type[ctypes.Structure], type[ctypes.Structure]]:
    import ctypes

    class CapHeader(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class CapData(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    return CapHeader, CapData


def capget() -> tuple[int, int, int]:
    """capget(2) for the calling thread: (effective, permitted, inheritable) as bit masks."""
    import ctypes

    header_t, data_t = _cap_structs()
    header = header_t(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (data_t * 2)()
    if libc_handle().capget(ctypes.byref(header), ctypes.byref(data)) != 0:
        _raise("capget()")
    effective, permitted, inheritable = (
        int(getattr(data[0], field) | (getattr(data[1], field) << 32))
        for field in ("effective", "permitted", "inheritable")
    )
    return effective, permitted, inheritable


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """capset(2) for the calling thread; each set is a bit mask (bit N = capability N)."""
    import ctypes

    header_t, data_t = _cap_structs()
    header = header_t(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (data_t * 2)()
    for index in (0, 1):
        shift = 32 * index
        data[index].effective = (effective >> shift) & 0xFFFFFFFF
        data[index].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[index].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    if libc_handle().capset(ctypes.byref(header), ctypes.byref(data)) != 0:
        _raise(f"capset(0x{effective:x}, 0x{permitted:x}, 0x{inheritable:x})")


def interface_up(name: str) -> None:
    """Set IFF_UP on the network interface `name` of the caller's network namespace.

    SIOCGIFFLAGS/SIOCSIFFLAGS on a throw-away socket: the one netlink-free change the
    container init makes itself (bringing `lo` up in a new network namespace).
    """
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        request = struct.pack("16sH22x", name.encode(), 0)
        reply = fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request)
        flags = struct.unpack_from("16sH", reply)[1]
        if not flags & IFF_UP:
            fcntl.ioctl(
                sock.fileno(), SIOCSIFFLAGS, struct.pack("16sH22x", name.encode(), flags | IFF_UP)
            )

#: prctl(2): whether the process may be ptraced/inspected by its peers; the
#: environment's place in memory (lxc-attach blanks both before it is visible).
PR_SET_DUMPABLE = 4
PR_SET_MM_ENV_START = 10
PR_SET_MM_ENV_END = 11


_mm_map_type: type[ctypes.Structure] | None = None


def _mm_map_struct() -> type[ctypes.Structure]:
    """struct prctl_mm_map (linux/prctl.h), built once (see `_cap_structs`)."""
    global _mm_map_type
    if _mm_map_type is None:
        import ctypes

        u64 = ctypes.c_uint64

        class MmMap(ctypes.Structure):
            _fields_ = [
                *((name, u64) for name in (
                    "start_code", "end_code", "start_data", "end_data", "start_brk", "brk",
                    "start_stack", "arg_start", "arg_end", "env_start", "env_end",
                )),
                ("auxv", ctypes.c_void_p), ("auxv_size", ctypes.c_uint32), ("exe_fd", ctypes.c_uint32),
            ]  # fmt: skip

        _mm_map_type = MmMap
    return _mm_map_type


def prepare_structures() -> None:
    """Build the ctypes structures a container child uses (capabilities, the process
    title) in the spawner, once, so that no forked child pays for making them."""
    _cap_structs()
    _mm_map_struct()


class ProcessTitle:
    """What /proc/PID/cmdline and /proc/PID/environ show of this process, replaced.

    For lxc-attach: until it execs, the attached process is a copy of a Python
    process whose command line and environment are the caller's. Built while
    /proc is the host's (it reads /proc/self/stat); `apply()` later points the
    command line at `title` and the environment at one NUL byte, with
    PR_SET_MM_MAP, which needs no capability (PR_SET_MM's single fields need
    CAP_SYS_RESOURCE). A fork inherits the result; exec replaces it.
    """

    def __init__(self, title: bytes) -> None:
        import ctypes

        MmMap = _mm_map_struct()  # noqa: N806 - a class
        self.buffer = ctypes.create_string_buffer(title + b"\0")
        with open("/proc/self/stat", "rb") as handle:
            fields = [int(v) for v in handle.read().rsplit(b")", 1)[1].split()[23:49]]
        # proc(5) numbers: startcode 26, endcode 27, startstack 28, start_data 45..env_end 51.
        start = ctypes.addressof(self.buffer)
        self.map = MmMap(
            start_code=fields[0], end_code=fields[1], start_stack=fields[2], start_data=fields[19],
            end_data=fields[20], start_brk=fields[21], arg_start=start, arg_end=start + len(title) + 1,
            env_start=start + len(title), env_end=start + len(title) + 1, auxv=None, auxv_size=0,
            exe_fd=0xFFFFFFFF,
        )  # fmt: skip
        lib = libc_handle()
        lib.sbrk.restype = ctypes.c_void_p
        lib.sbrk.argtypes = [ctypes.c_long]
        self._sbrk = lib.sbrk

    def apply(self) -> None:
        """Switch to the title (OSError when the kernel lacks CONFIG_CHECKPOINT_RESTORE)."""
        import ctypes

        self.map.brk = self._sbrk(0)  # the current break: PR_SET_MM_MAP sets it too
        prctl(PR_SET_MM, PR_SET_MM_MAP, ctypes.addressof(self.map), ctypes.sizeof(self.map))


# -- personality, session keyring, core scheduling (lxc.arch, lxc.keyring.session,
#    lxc.sched.core) --------------------------------------------------------------

#: personality(2) execution domains (linux/personality.h).
PER_LINUX = 0x0000
PER_LINUX32 = 0x0008
#: Ask personality(2) for the current value without changing it.
PERSONALITY_QUERY = 0xFFFFFFFF

#: keyctl(2): join (here: create) a new anonymous session keyring; its system call
#: numbers (libkeyutils has the wrapper, glibc has none).
KEYCTL_GET_KEYRING_ID = 0
KEYCTL_JOIN_SESSION_KEYRING = 1
KEY_SPEC_SESSION_KEYRING = -3
_SYS_KEYCTL: dict[str, int] = {
    "x86_64": 250, "i386": 288, "i686": 288, "aarch64": 219, "arm64": 219, "riscv64": 219,
    "loongarch64": 219, "armv7l": 311, "armv6l": 311, "ppc64le": 271, "ppc64": 271, "s390x": 280,
}  # fmt: skip

#: prctl(2) core scheduling (Linux 5.14+, CONFIG_SCHED_CORE).
PR_SCHED_CORE = 62
PR_SCHED_CORE_GET = 0
PR_SCHED_CORE_CREATE = 1
PR_SCHED_CORE_SHARE_FROM = 3
PR_SCHED_CORE_SCOPE_THREAD_GROUP = 1


def personality(persona: int) -> int:
    """personality(2): set the execution domain; returns the previous one."""
    rc = libc_handle().personality(persona)
    if rc == -1:
        _raise(f"personality(0x{persona:x})")
    return int(rc)


def keyctl(operation: int, arg2: int = 0, arg3: int = 0) -> int:
    """keyctl(2) with integer arguments (the operations used here take no pointer)."""
    import ctypes
    import errno

    machine = os.uname().machine
    number = _SYS_KEYCTL.get(machine)
    call = f"keyctl({operation}, {arg2}, {arg3})"
    if number is None:
        raise OSError(errno.ENOSYS, f"{call} failed: unknown system call number on {machine}")
    rc = libc_handle().syscall(
        ctypes.c_long(number), ctypes.c_int(operation), ctypes.c_long(arg2), ctypes.c_long(arg3)
    )
    if rc < 0:
        _raise(call)
    return int(rc)
