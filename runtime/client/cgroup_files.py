"""A container's cgroup files by path: the resource figures (CPU, block I/O, memory,
kernel memory, swap) and the file behind an `lxc-cgroup` key.

Input: hierarchy key -> directory, as `ContainerCgroups.limit_paths` gives it and
the runtime record stores it (`cgroup_limits`): v1 keys are the controllers joined
by commas (`cpu,cpuacct`, `memory`, `name=systemd`), the v2 key is `unified`.

Why a module of its own, outside `runtime.cgroups`: `lxc-info`, `lxc-ls --fancy`
and `lxc-cgroup` work on the files named in the runtime record, without a round
trip to the daemon (as LXC's own client reads and writes the cgroup files itself),
and a client may import only the standard library (the `runtime.cgroups` package
pulls in `logging`, `dataclasses` and `re`: some 60 ms). `ContainerCgroups.stats()`
and `ContainerCgroups.get/set` use this module too, so there is one reading of each
file and one rule for finding a key.

Which file gives which figure (v1 wins on a hybrid host, where the controllers are):

| figure       | cgroup v1                                       | cgroup2                 |
|--------------|-------------------------------------------------|-------------------------|
| cpu_ns       | `cpuacct.usage`                                 | `cpu.stat` usage_usec   |
| blkio_bytes  | `blkio.throttle.io_service_bytes[_recursive]` Total | `io.stat` rbytes+wbytes |
| memory_bytes | `memory.usage_in_bytes`                         | `memory.current`        |
| kmem_bytes   | `memory.kmem.usage_in_bytes`                    | (none: None)            |
| swap_bytes   | `memory.memsw.usage_in_bytes` - usage           | `memory.swap.current`   |

A figure the host does not account is None (the caller leaves its line out).

A key (`cpu.shares`) is looked for in the v1 hierarchy of its controller (the part
before the first dot), then in cgroup2; `cgroup.*` core files in cgroup2 first.
"""

from __future__ import annotations

from runtime.client import lean_os as os  # not `os`: start-up time

TYPE_CHECKING = False
if TYPE_CHECKING:  # collections.abc costs a client milliseconds: annotations only
    from collections.abc import Callable, Mapping

    Reader = Callable[[str], int | None]

__all__ = ["FIGURES", "figures", "is_key", "locate", "read_text"]

UNIFIED = "unified"

#: The keys of `figures()`, in lxc-info's order.
FIGURES = ("cpu_ns", "blkio_bytes", "memory_bytes", "kmem_bytes", "swap_bytes")


def read_text(path: str) -> str | None:
    """A cgroup file's text, or None when it cannot be read (gone, not accounted)."""
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return None


def _first_int(path: str) -> int | None:
    text = read_text(path)
    try:
        return int(text.split()[0]) if text else None
    except ValueError:
        return None


def _stat_field(path: str, field: str) -> int | None:
    text = read_text(path)
    if text is None:
        return None
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == field and words[1].isdigit():
            return int(words[1])
    return None


# -- cgroup v1 ------------------------------------------------------------------------


def v1_cpu_ns(directory: str) -> int | None:
    """CPU time of every task of the cgroup and below, in nanoseconds."""
    return _first_int(os.path.join(directory, "cpuacct.usage"))


def v1_blkio_bytes(directory: str) -> int | None:
    """Bytes read and written: the `Total` line of the throttle statistics, with
    descendants when the kernel offers the recursive file (a nested container's
    sub-cgroups are part of the container)."""
    for name in ("blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_service_bytes"):
        text = read_text(os.path.join(directory, name))
        if text is None:
            continue
        for line in text.splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "Total" and words[1].isdigit():
                return int(words[1])
        return 0
    return None


def v1_memory_bytes(directory: str) -> int | None:
    return _first_int(os.path.join(directory, "memory.usage_in_bytes"))


def v1_kmem_bytes(directory: str) -> int | None:
    return _first_int(os.path.join(directory, "memory.kmem.usage_in_bytes"))


def v1_swap_bytes(directory: str) -> int | None:
    """memory+swap minus memory (present only with swap accounting)."""
    both = _first_int(os.path.join(directory, "memory.memsw.usage_in_bytes"))
    memory = v1_memory_bytes(directory)
    if both is None or memory is None:
        return None
    return max(both - memory, 0)


# -- cgroup2 --------------------------------------------------------------------------


def v2_cpu_ns(directory: str) -> int | None:
    """`usage_usec` of `cpu.stat` (present without the cpu controller), in ns."""
    usec = _stat_field(os.path.join(directory, "cpu.stat"), "usage_usec")
    return None if usec is None else usec * 1000


def v2_blkio_bytes(directory: str) -> int | None:
    """rbytes + wbytes of every device in `io.stat` (needs the io controller)."""
    text = read_text(os.path.join(directory, "io.stat"))
    if text is None:
        return None
    total = 0
    for line in text.splitlines():
        for word in line.split()[1:]:
            name, _, value = word.partition("=")
            if name in ("rbytes", "wbytes") and value.isdigit():
                total += int(value)
    return total


def v2_memory_bytes(directory: str) -> int | None:
    return _first_int(os.path.join(directory, "memory.current"))


def v2_swap_bytes(directory: str) -> int | None:
    return _first_int(os.path.join(directory, "memory.swap.current"))


_READERS: dict[str, tuple[str, Reader | None, Reader | None]] = {
    # figure: (v1 controller, v1 reader, v2 reader)
    "cpu_ns": ("cpuacct", v1_cpu_ns, v2_cpu_ns),
    "blkio_bytes": ("blkio", v1_blkio_bytes, v2_blkio_bytes),
    "memory_bytes": ("memory", v1_memory_bytes, v2_memory_bytes),
    "kmem_bytes": ("memory", v1_kmem_bytes, None),
    "swap_bytes": ("memory", v1_swap_bytes, v2_swap_bytes),
}


def figures(paths: Mapping[str, str], wanted: tuple[str, ...] = FIGURES) -> dict[str, int | None]:
    """The `wanted` figures (default: all of `FIGURES`) of the cgroups `paths`
    (hierarchy key -> directory); None for what the host does not account."""
    v1_dirs: dict[str, list[str]] = {}
    v2_dir: str | None = None
    for key, directory in paths.items():
        if key == UNIFIED:
            v2_dir = directory
            continue
        for controller in key.split(","):
            v1_dirs.setdefault(controller, []).append(directory)
    result: dict[str, int | None] = {}
    for figure in wanted:
        controller, v1_read, v2_read = _READERS[figure]
        value: int | None = None
        for directory in v1_dirs.get(controller, ()):
            value = v1_read(directory) if v1_read is not None else None
            if value is not None:
                break
        if value is None and v2_read is not None and v2_dir is not None:
            value = v2_read(v2_dir)
        result[figure] = value
    return result


# -- keys (lxc-cgroup) -----------------------------------------------------------------

_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def is_key(key: str) -> bool:
    """`controller.file[.more]` made of letters, digits, `_` and `-`: nothing that
    could leave the cgroup directory (`../x`, `a/b`)."""
    parts = key.split(".")
    return len(parts) >= 2 and all(part and set(part) <= _KEY_CHARS for part in parts)


def locate(paths: Mapping[str, str], key: str) -> str | None:
    """The file of `key` among the cgroups `paths`, or None if none has it (or
    `key` is not a cgroup file name)."""
    if not is_key(key):
        return None
    controller = key.split(".", 1)[0]
    v1 = [(k, d) for k, d in paths.items() if k != UNIFIED]
    v2 = [d for k, d in paths.items() if k == UNIFIED]
    if controller == "cgroup":
        candidates = [*v2, *(d for _, d in v1)]
    else:
        candidates = [d for k, d in v1 if controller in k.split(",")] + v2
    for directory in candidates:
        path = os.path.join(directory, key)
        if os.path.isfile(path):
            return path
    return None
