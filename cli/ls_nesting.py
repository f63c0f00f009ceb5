"""`lxc-ls --nesting[=NUM]`: containers inside containers, NUM levels deep (5 by default).

LXC's rules: below a running container the same lxcpath is listed as the
container sees it (LXC attaches to it; here a forked child enters its mount
namespace only, which is all a listing needs); below a stopped one, the lxcpath
beneath its rootfs on the host. A nested container is named `parent/name` in the
name listings, and indented (`\\name`, one column further per level) under --fancy.
The filters apply at every level, and only a listed container is looked into.

The child that enters a container never imports after setns (the container's
files are not ours): every module a cell needs is imported before the fork.
"""

from __future__ import annotations

import functools
import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from cli.lxc_ls import Row
    from cli.options import Namespace

#: One listed container: (name as shown, nesting level, cells by column).
Entry = tuple[str, int, dict[str, str]]


def levels(args: Namespace) -> int:
    """The --nesting level (LXC: a number; 5 when given bare)."""
    from runtime.client.errors import LxcError

    try:
        value = int(args.nesting)
    except ValueError:
        raise LxcError(f"invalid nesting level '{args.nesting}'") from None
    return max(value, 0)


def collect(
    lxcpath: str, args: Namespace, columns: list[str] | None, max_level: int,
    level: int = 0, parent: str | None = None,
) -> list[Entry]:  # fmt: skip
    """The containers of `lxcpath` and, below each, its nested ones (depth first)."""
    from cli.lxc_ls import Row, name_filter, select
    from runtime.client.lxcpath import list_names

    pattern = name_filter(args)
    names = [n for n in list_names(lxcpath) if pattern is None or pattern.search(n)]
    found: list[Entry] = []
    for row in select([Row(lxcpath, n) for n in names], args):
        shown = f"{parent}/{row.name}" if parent and not columns else row.name
        cells = {c: row.cell(c) for c in columns} if columns else {}
        found.append((shown, level, cells))
        if level >= max_level:
            continue
        if row.status.pid:
            nested = functools.partial(collect, lxcpath, args, columns, max_level, level + 1, shown)
            found += _inside(row.status.pid, nested)
        else:
            below = _beneath_rootfs(row, lxcpath)
            if below is not None:
                found += collect(below, args, columns, max_level, level + 1, shown)
    return found


def _beneath_rootfs(row: Row, lxcpath: str) -> str | None:
    """lxcpath under a stopped container's rootfs, if it resolves inside that rootfs."""
    from runtime.storage.store import rootfs_of

    config = row.config
    rootfs = rootfs_of(config) if config is not None else None
    if not rootfs:
        return None
    root = os.path.realpath(rootfs)
    path = os.path.realpath(os.path.join(root, lxcpath.lstrip("/")))
    return path if path.startswith(root + os.sep) and os.path.isdir(path) else None


def _inside(pid: int, work: Callable[[], list[Entry]]) -> list[Entry]:
    """Run `work` in a child that entered pid's mount namespace; its entries."""
    import sys

    from runtime.kernel import linux

    _preload()
    try:
        nsfd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return []
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        code = 1
        try:
            os.close(read_end)
            linux.setns(nsfd, linux.CLONE_NEWNS)
            os.chdir("/")
            data = json.dumps(work()).encode()
            while data:
                data = data[os.write(write_end, data) :]
            code = 0
        except BaseException:  # noqa: BLE001 - the parent lists what it got
            pass
        os._exit(code)
    os.close(nsfd)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(child, 0)
    if status != 0:
        return []
    try:
        return [(str(n), int(lvl), dict(c)) for n, lvl, c in json.loads(b"".join(chunks))]
    except (ValueError, TypeError):
        return []


def _preload() -> None:
    """Everything a listing imports, imported now (see the module docstring)."""
    import encodings.idna  # noqa: F401
    import re  # noqa: F401
    import socket  # noqa: F401

    import runtime.cgroups.mounts  # noqa: F401
    import runtime.client.cgroup_files  # noqa: F401
    import runtime.client.errors  # noqa: F401
    import runtime.client.lxc_native  # noqa: F401
    import runtime.client.lxcpath  # noqa: F401
    import runtime.client.status  # noqa: F401
    import runtime.config.parser  # noqa: F401
    import runtime.net.info  # noqa: F401
    import runtime.storage.store  # noqa: F401


def fancy_name(entry: Entry) -> str:
    """LXC's indentation of a nested name under --fancy: `\\name`, one more column a level."""
    name, level, _cells = entry
    return name if level == 0 else " " * (level - 1) + "\\" + name
