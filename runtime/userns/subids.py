"""/etc/subuid and /etc/subgid: the id ranges a user may map (shadow's format).

Each line is `OWNER:FIRST:COUNT`, OWNER a login name or a numeric uid. A user's
ranges are the lines naming either. Used by lxc-usernsexec's default maps (the
whole allotment mapped from container id 0, as LXC's does).
"""

from __future__ import annotations

import pwd

SUBUID = "/etc/subuid"
SUBGID = "/etc/subgid"


def ranges(path: str, uid: int) -> list[tuple[int, int]]:
    """(first host id, count) of every line of `path` that belongs to `uid`."""
    owners = {str(uid)}
    try:
        owners.add(pwd.getpwuid(uid).pw_name)
    except KeyError:
        pass
    found: list[tuple[int, int]] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        fields = line.strip().split(":")
        if len(fields) != 3 or fields[0] not in owners:
            continue
        try:
            first, count = int(fields[1]), int(fields[2])
        except ValueError:
            continue
        if first >= 0 and count > 0:
            found.append((first, count))
    return found


def default_map_lines(uid: int) -> list[str]:
    """`u|g NSID HOSTID COUNT` lines mapping the first allotment of each file at 0.

    The first range of each kind goes to container ids 0..COUNT-1, further ranges
    follow on; empty when either file grants nothing.
    """
    lines: list[str] = []
    for kind, path in (("u", SUBUID), ("g", SUBGID)):
        next_id = 0
        for first, count in ranges(path, uid):
            lines.append(f"{kind} {next_id} {first} {count}")
            next_id += count
    return lines
