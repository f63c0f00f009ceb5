"""What the daemon hands to a user-namespaced container's root before it starts.

Two things the container's root must own, because inside the user namespace it
holds no capability over the host root's inodes (they read as nobody):

- its cgroups: the payload directory of every hierarchy, and the files of it
  that make a delegation (v2: those the kernel lists in /sys/kernel/cgroup/delegate;
  v1: tasks, cgroup.procs, cgroup.clone_children, as LXC chowns them), so a
  systemd or a nested runtime inside can create and manage its own sub-cgroups.
  The limits files stay the host's: the container cannot raise its own limits.
- its terminals: the console and tty pty slaves the daemon allocated (the host's
  /dev/pts/N), so the container's getty and shell can open, chown and use them.

Both are chowned to the host uid and gid of container root (the maps say which).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from runtime.userns.maps import IdMaps, from_config

if TYPE_CHECKING:
    from runtime.daemon.supervisor import Supervisor

#: The files of a v2 cgroup a delegation covers, when the kernel does not say.
_V2_DEFAULT = ("cgroup.procs", "cgroup.threads", "cgroup.subtree_control")
_V1_FILES = ("tasks", "cgroup.procs", "cgroup.clone_children")
_DELEGATE = "/sys/kernel/cgroup/delegate"


class DelegateFailed(Exception):
    """A chown the container's root needs failed; the start aborts with this line."""


def v2_delegate_files() -> tuple[str, ...]:
    """The kernel's list of v2 files a delegatee must own (Linux 4.15+)."""
    try:
        with open(_DELEGATE, encoding="ascii") as handle:
            names = tuple(line.strip() for line in handle if line.strip())
    except OSError:
        return _V2_DEFAULT
    return names or _V2_DEFAULT


def chown_cgroups(paths: dict[str, str], maps: IdMaps) -> None:
    """The payload cgroup of every hierarchy (key -> directory) and its delegation files."""
    v2_files = v2_delegate_files()
    for key, directory in paths.items():
        files = v2_files if key == "unified" or _is_v2(directory) else _V1_FILES
        _chown(directory, maps, required=True)
        for name in files:
            _chown(os.path.join(directory, name), maps, required=False)


def _is_v2(directory: str) -> bool:
    return os.path.exists(os.path.join(directory, "cgroup.controllers"))


def chown_terminals(paths: list[str], maps: IdMaps) -> None:
    """The pty slaves the container's console and ttys are bound from."""
    for path in paths:
        _chown(path, maps, required=True)


def _chown(path: str, maps: IdMaps, *, required: bool) -> None:
    try:
        os.chown(path, maps.root_uid, maps.root_gid, follow_symlinks=False)
    except FileNotFoundError:
        if required:
            raise DelegateFailed(f"lxc.idmap: cannot give {path} to the container's root: missing") from None
    except OSError as err:
        raise DelegateFailed(
            f"lxc.idmap: cannot give {path} to the container's root: {os.strerror(err.errno or 0)}"
        ) from None


def prepare(supervisor: Supervisor) -> None:
    """Before the spawn: cgroups and terminals of a mapped container to its root."""
    maps = from_config(supervisor.config)
    if maps is None:
        return
    cgroups = supervisor.cgroups
    if cgroups is not None:
        chown_cgroups(cgroups.paths, maps)
    terminals = supervisor.terminals
    if terminals is not None:
        chown_terminals(
            [p for p in [terminals.console_path, *terminals.tty_paths] if p], maps
        )
