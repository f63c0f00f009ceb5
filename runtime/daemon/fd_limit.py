"""The daemon's open-file limit: raised to the hard limit, the inherited one kept for containers.

Why: one daemon holds several descriptors per container (its pidfd, console and
tty masters, the clients and bus subscribers that watch it), so the usual soft
limit of 1024 runs out a few hundred containers in (issue 15: 1000 containers under
one daemon). The hard limit is what an unprivileged process may raise itself to,
so the daemon takes all of it at start (as systemd does for itself).

Why not for containers: a container inherits its limits from the spawner, and a
program that sizes a table by RLIMIT_NOFILE or closes every descriptor up to it
(or uses select(2)) can slow down or break with a soft limit of a million. LXC's
containers get the limit of whoever started them; ours get the limit the daemon
was started with: the spawner is set back to it (prlimit(2)) before it is asked
to fork anything. lxc.prlimit.nofile still sets a container's own.
"""

from __future__ import annotations

import resource

__all__ = ["INHERITED", "raise_nofile", "restore_nofile"]

#: (soft, hard) as this process started, before `raise_nofile`.
INHERITED: tuple[int, int] = resource.getrlimit(resource.RLIMIT_NOFILE)


def raise_nofile() -> int:
    """Raise our soft RLIMIT_NOFILE to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError):
            return soft  # keep what we have; the daemon still works, only with fewer
        soft = hard
    return soft


def restore_nofile(pid: int) -> None:
    """Give process `pid` (our child, not yet working) the soft limit we inherited."""
    soft, _hard = INHERITED
    try:
        current_soft, current_hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        if current_soft != soft and soft <= current_hard:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, current_hard))
    except ProcessLookupError:
        pass  # it died at start-up: its caller reports that
