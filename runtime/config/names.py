"""The names that keys and commands turn into file paths, and which of them are refused.

Three key families end in a name the runtime joins to a directory and writes to:
`lxc.cgroup.NAME` / `lxc.cgroup2.NAME` (a file of the container's cgroup),
`lxc.sysctl.NAME` (`/proc/sys/` with the dots as slashes) and `lxc.proc.NAME` (a
file of `/proc/PID/`); `lxc-cgroup NAME KEY` and the daemon's `cgroup` request
take a cgroup file name too. A name with `/` or `..` would reach a file outside
that directory (`lxc.cgroup.memory.x/../../../release_agent` is the host's release
agent, which the kernel runs as root on the host), so every such name must be a
plain file name of its interface, judged here, once, for the parser, the cgroup
router, `lxc-cgroup` and the daemon alike. The rules are allow-lists of shape, not
lists of bad strings:

- cgroup file: `CONTROLLER.FILE[.MORE]`, every part letters, digits, `_` or `-`
  (`memory.limit_in_bytes`, `hugetlb.2MB.limit_in_bytes`, `io.max`,
  `cgroup.freeze`). No part is empty, so neither `.` nor `..` nor `/` can occur.
  That already leaves out v1's dot-less files: `tasks` (moves a process),
  `release_agent` and `notify_on_release` (make the kernel run a host binary).
  Writing is refused also for the few dotted files that move processes or change
  the cgroup layout the runtime owns (`CGROUP_WRITE_REFUSED`); reading them is fine
  (`lxc-cgroup NAME cgroup.procs`).
- sysctl: `GROUP.NAME[.MORE]` (`net.ipv4.ip_forward`), the same parts; one part
  alone is a directory of `/proc/sys`, never a setting.
- /proc file: one lower-case word (`oom_score_adj`, `timerslack_ns`).

Standard library only and no `re`: the client commands import this on start-up.
"""

from __future__ import annotations

_LOWER = "abcdefghijklmnopqrstuvwxyz"
_PART = frozenset(_LOWER + _LOWER.upper() + "0123456789_-")
_PROC_FILE = frozenset(_LOWER + "_")

#: Dotted cgroup files a config or command may read but never write, and why.
CGROUP_WRITE_REFUSED = {
    "cgroup.procs": "it moves processes into the container's cgroup (a host process"
    " there would be under the container's control)",
    "cgroup.threads": "it moves threads into the container's cgroup",
    "cgroup.subtree_control": "the runtime manages which controllers the container's"
    " cgroups delegate",
}


def shown(text: str) -> str:
    """`text` for a one-line message: what is not printable is escaped (`\\u3000`,
    `\\n`, `\\x00`), so a bad name can neither break the line nor hide in it."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _dotted(name: str, least: int) -> bool:
    parts = name.split(".")
    return len(parts) >= least and all(part and _PART.issuperset(part) for part in parts)


def cgroup_file_problem(name: str, *, write: bool = True) -> str | None:
    """Why `name` may not be used as a cgroup file (written, unless `write` is
    False), or None if it may."""
    if not _dotted(name, 2):
        return f"'{shown(name)}' is not a cgroup file name (CONTROLLER.FILE, like memory.max)"
    if write and name in CGROUP_WRITE_REFUSED:
        return f"'{name}' may not be written: {CGROUP_WRITE_REFUSED[name]}"
    return None


def sysctl_problem(name: str) -> str | None:
    """Why `name` is not a sysctl (`net.ipv4.ip_forward`), or None."""
    if not _dotted(name, 2):
        return (
            f"'{shown(name)}' is not a sysctl name (dotted words of letters, digits,"
            " '_' and '-', like net.ipv4.ip_forward)"
        )
    return None


def proc_file_problem(name: str) -> str | None:
    """Why `name` is not a file of /proc/PID/ (`oom_score_adj`), or None."""
    if not name or not _PROC_FILE.issuperset(name):
        return f"'{shown(name)}' is not a /proc/PID file name (lower-case word, like oom_score_adj)"
    return None
