"""`lxc-usernsexec`: run a command as root in a new user namespace.

LXC's command line, which is not the common one of the other lxc-* commands:
`lxc-usernsexec [-h] [-m MAP]... [-s] [--] [COMMAND [ARG...]]`, MAP being
`u|g|b:NSID:HOSTID:RANGE`. Without -m, the caller's whole allotment in
/etc/subuid and /etc/subgid is mapped from id 0, as LXC does. `-s` also maps
the caller's own uid and gid (to the first container ids the maps leave free). Without a command, /bin/sh.
Uid 0 and gid 0 must be mapped: the command runs as root of the namespace.
The work is `runtime.userns.usernsexec`; the maps are checked as lxc.idmap is.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

PROG = "lxc-usernsexec"

USAGE = f"""usage: {PROG} [-h] [-m <uid-maps>] [-s] -- [command [arg ..]]

  -h            this message

  -m <uid-maps> uid maps to use
  -s            map self (the caller's uid and gid, after the other ids)

  uid-maps: [u|g|b]:ns_id:host_id:range
            [u|g|b]: map user id, group id, or both
            ns_id: the base id in the new namespace
            host_id: the base id in the parent namespace
            range: how many ids to map
  Without -m, the caller's ranges in /etc/subuid and /etc/subgid are mapped from 0.
  The command runs as uid 0 and gid 0 of the new namespace: both must be mapped.
"""


class UsageError(Exception):
    pass


def parse(argv: list[str]) -> tuple[list[str], bool, list[str], bool]:
    """(map lines as lxc.idmap values, map self, command, help)."""
    lines: list[str] = []
    map_self = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        if arg == "-h":
            return lines, map_self, [], True
        if arg == "-s":
            map_self = True
        elif arg.startswith("-m"):
            value = arg[2:]
            if not value:
                i += 1
                if i == len(argv):
                    raise UsageError("option requires an argument -- 'm'")
                value = argv[i]
            lines.append(_map_line(value))
        else:
            raise UsageError(f"invalid option -- '{arg[1:2]}'")
        i += 1
    return lines, map_self, argv[i:] or ["/bin/sh"], False


def _map_line(value: str) -> str:
    fields = value.split(":")
    if len(fields) != 4 or fields[0] not in ("u", "g", "b"):
        raise UsageError(f"bad map '{value}': expected [u|g|b]:ns_id:host_id:range")
    return " ".join(fields)


def _self_lines(lines: list[str]) -> list[str]:
    """The caller's uid and gid, each at the first container id after the maps,
    unless the maps already cover it on the host side."""
    added = []
    for kind, own in (("u", os.getuid()), ("g", os.getgid())):
        ends, covered = [0], False
        for line in lines:
            k, ns_id, host_id, count = line.split()
            if k in (kind, "b"):
                ends.append(int(ns_id) + int(count))
                covered = covered or int(host_id) <= own < int(host_id) + int(count)
        if not covered:
            added.append(f"{kind} {max(ends)} {own} 1")
    return added


def main(argv: Sequence[str] | None = None) -> int:
    from runtime.userns import maps, subids, usernsexec

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        lines, map_self, command, want_help = parse(args)
    except UsageError as err:
        sys.stderr.write(f"{PROG}: {err}\n{USAGE}")
        return 1
    if want_help:
        sys.stdout.write(USAGE)
        return 0
    if not lines:
        lines = subids.default_map_lines(os.getuid())
        if not lines:
            sys.stderr.write(f"{PROG}: Failed to find subuid or subgid allocation\n")
            return 1
    if map_self:
        lines += _self_lines(lines)
    try:
        checked = maps.validate((line, None) for line in lines)
    except maps.MapError as err:
        sys.stderr.write(f"{PROG}: {err.reason}\n")
        return 1
    assert checked is not None
    try:
        return usernsexec.run(checked, command)
    except usernsexec.UsernsExecError as err:
        sys.stderr.write(f"{PROG}: {err}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
