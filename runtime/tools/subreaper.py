"""Run a command as a child subreaper, then reap what it left running when it exits.

`python -m runtime.tools.subreaper [--wait SECONDS] -- COMMAND...`

Why: the runtime daemon outlives the command that started it and is re-parented to
the nearest subreaper, or to pid 1. Some machines (these VMs among them) have a
pid 1 that never reaps, so an exited daemon would stay a zombie. `make demo` runs
under this wrapper: it waits for the command, then for the daemons it started to
go idle and exit (at most --wait seconds), and reaps them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from runtime.kernel import linux


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    wait = 30.0
    if args[:1] == ["--wait"]:
        wait = float(args[1])
        args = args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.stderr.write("usage: python -m runtime.tools.subreaper [--wait SECONDS] -- COMMAND...\n")
        return 2
    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    status = subprocess.call(args)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.1)
    return status


if __name__ == "__main__":
    sys.exit(main())
