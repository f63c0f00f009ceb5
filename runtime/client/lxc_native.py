"""Containers that LXC itself runs in an lxcpath we share with it.

trio-lxc keeps LXC's on-disk layout, so `/usr/bin/lxc-start -P P -n NAME` and our
`lxc-ls -P P` can look at the same container. LXC leaves no record of ours; what it
has instead, for as long as the container runs, is a monitor process (`[lxc monitor]
P NAME`) listening on the abstract unix socket `@P/NAME/command`, whose child is the
container's init. This module finds that: the socket by name in /proc/net/unix, its
owner by the socket's inode among the processes' file descriptors, the init among
the owner's children, and the init's cgroups (for the figures and the freezer).

Why not ask the socket: LXC's command protocol is private (C structs, command
numbers that moved between releases; one of them stops the container), and a
client of it would have to track LXC's versions. Everything needed here is in
/proc, read-only, and cannot act on the container by mistake.

Trust: a socket name is not proof (any process in the host's network namespace may
bind `@P/NAME/command`). The owner must be in our pid namespace: a container's
processes, whose pid namespace is their own, cannot pass for LXC's monitor. A host
process that fakes it only makes our commands refuse that name.

Not seen: a container started with an lxcpath and name so long that LXC hashes the
socket name; starting ours over it still fails, on its busy `lxc.payload.NAME`
cgroup (`ContainerCgroups.create`).

Standard library only, and /proc/net/unix is read only when asked: `lxc-ls` and
`lxc-info` call it for every container our records do not show running.
"""

from __future__ import annotations

from runtime.client import lean_os as os  # not `os`: start-up time

__all__ = ["LxcRun", "find", "refusal", "socket_name"]

_NET_UNIX = "/proc/net/unix"


class LxcRun:
    """What LXC runs under one name: its monitor, init (None while starting or
    stopping), state as `lxc-info` shows it, and the init's cgroup directories
    (hierarchy key -> directory, as `runtime.client.cgroup_files` takes them)."""

    __slots__ = ("monitor", "pid", "state", "cgroups")

    def __init__(self, monitor: int, pid: int | None, state: str, cgroups: dict[str, str]) -> None:
        self.monitor = monitor
        self.pid = pid
        self.state = state
        self.cgroups = cgroups


def socket_name(lxcpath: str, name: str) -> str:
    """The command socket's name as /proc/net/unix shows it (`@` for the NUL)."""
    return f"@{lxcpath}/{name}/command"


def _lxcpath_spellings(lxcpath: str) -> list[str]:
    """LXC names the socket after the lxcpath as it was given to it; we know only
    ours, so try it as given, absolute and resolved."""
    spellings = [lxcpath, os.path.abspath(lxcpath), os.path.realpath(lxcpath)]
    return list(dict.fromkeys(spellings))


def _listening_inode(names: list[str]) -> int | None:
    """The inode of a listening socket bound to one of `names`, or None."""
    wanted = set(names)
    try:
        with open(_NET_UNIX, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    # Every lxc-start asks, while the table holds every Unix socket of the host (the
    # more commands run at once, the longer): a name found nowhere in it is answered
    # without splitting its lines.
    if not any(name.encode("utf-8", "surrogateescape") in data for name in wanted):
        return None
    for line in data.decode("utf-8", "surrogateescape").splitlines()[1:]:  # after the header
        # Num RefCount Protocol Flags Type St Inode Path; the path may hold spaces
        fields = line.split(None, 7)
        if len(fields) == 8 and fields[7] in wanted and fields[3] == "00010000":
            return int(fields[6])  # flags __SO_ACCEPTCON: it listens
    return None


def _owner(inode: int) -> int | None:
    """The process holding socket `inode` open (the first found)."""
    target = f"socket:[{inode}]"
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        fd_dir = f"/proc/{entry}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or a kernel thread
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") == target:
                    return int(entry)
            except OSError:
                continue
    return None


def _pid_ns(pid: int | str) -> tuple[int, int] | None:
    try:
        info = os.stat(f"/proc/{pid}/ns/pid")
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(word) for word in handle.read().split()]
        except OSError:
            continue
    return found


def _init_of(monitor: int) -> int | None:
    """The container's init: the monitor's child in a pid namespace of its own
    (a hook or helper the monitor runs stays in the monitor's)."""
    children = _children(monitor)
    own = _pid_ns(monitor)
    for child in children:
        ns = _pid_ns(child)
        if ns is not None and ns != own:
            return child
    return children[0] if children else None


def _cgroups_of(pid: int) -> dict[str, str]:
    """Hierarchy key -> the directory of `pid`'s cgroup in it."""
    from runtime.cgroups.mounts import discover, parse_proc_cgroup

    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return {}
    mounts = discover()
    paths = parse_proc_cgroup(text, mounts.v1)
    found: dict[str, str] = {}
    for hierarchy in mounts.hierarchies:
        path = paths.get(hierarchy.key)
        directory = hierarchy.dir_of(path) if path is not None else None
        if directory is not None and os.path.isdir(directory):
            found[hierarchy.key] = directory
    return found


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return ""


def _freezer_state(cgroups: dict[str, str]) -> str:
    """RUNNING, FREEZING or FROZEN from whichever freezer holds the container."""
    for key, directory in cgroups.items():
        if "freezer" in key.split(","):
            state = _read(os.path.join(directory, "freezer.state")).strip()
            if state in ("FREEZING", "FROZEN"):
                return state
    unified = cgroups.get("unified")
    if unified and _read(os.path.join(unified, "cgroup.freeze")).strip() == "1":
        events = _read(os.path.join(unified, "cgroup.events")).splitlines()
        return "FROZEN" if "frozen 1" in events else "FREEZING"
    return "RUNNING"


def find(lxcpath: str, name: str) -> LxcRun | None:
    """What LXC runs as `name` in `lxcpath`, or None if LXC runs nothing there."""
    inode = _listening_inode([socket_name(p, name) for p in _lxcpath_spellings(lxcpath)])
    if inode is None:
        return None
    monitor = _owner(inode)
    if monitor is None or _pid_ns(monitor) != _pid_ns("self"):
        return None
    pid = _init_of(monitor)
    if pid is None:
        return LxcRun(monitor, None, "STARTING", {})
    cgroups = _cgroups_of(pid)
    return LxcRun(monitor, pid, _freezer_state(cgroups), cgroups)


def refusal(lxcpath: str, name: str, run: LxcRun) -> str:
    """The one-line reason our commands give for leaving LXC's container alone (the
    commands' log prefix names the container already)."""
    pid = f", init pid {run.pid}" if run.pid else ""
    return (
        f"already running, started by LXC itself (monitor pid {run.monitor}{pid});"
        f" manage it with LXC's own commands (lxc-stop -P {lxcpath} -n {name})"
    )
