"""Container ids to host ids, read from a running process's maps.

Why: a process outside a container (lxc-attach before it joins, the daemon)
sometimes has to give a host object to a container user, e.g. the attach pty
to `-u 1000`. Inside the user namespace it may not chown host-owned inodes, so
it chowns before joining, to the host id the container's map gives `1000`.
Standard library only.
"""

from __future__ import annotations


def read_map(pid: int, kind: str) -> list[tuple[int, int, int]]:
    """(container id, host id, count) lines of /proc/PID/uid_map ("u") or gid_map ("g")."""
    name = "uid_map" if kind == "u" else "gid_map"
    with open(f"/proc/{pid}/{name}", encoding="ascii") as handle:
        return [
            (int(a), int(b), int(c))
            for a, b, c in (line.split() for line in handle if line.strip())
        ]


def host_id(pid: int, kind: str, ns_id: int) -> int | None:
    """The host id container id `ns_id` of process `pid` maps to; None if unmapped."""
    for first, lower, count in read_map(pid, kind):
        if first <= ns_id < first + count:
            return lower + ns_id - first
    return None


def give_terminal(fd: int, pid: int, uid: int) -> None:
    """chown a pty slave to container uid `uid` of process `pid`, from outside.

    Done before joining the user namespace: inside it, the host-owned pty could
    not be chowned. Best effort, as before: the process holds the fd anyway.
    """
    import os

    try:
        owner = host_id(pid, "u", uid)
        if owner is not None:
            os.fchown(fd, owner, -1)
    except (OSError, ValueError):
        pass
