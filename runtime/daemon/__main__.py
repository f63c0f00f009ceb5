"""Entry point of the runtime daemon: single instance per lxcpath, then trio.

Started by runtime.daemon_client in a new session. It takes an flock on
`<rundir>/daemon.lock` (a second daemon for the same lxcpath exits at once, and
the command that started it connects to the first one), becomes a child subreaper
(container inits whose spawner died are re-parented here, not to init), logs to
`<rundir>/daemon.log`, and writes one byte on `--ready-fd` once it listens.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import trio

from runtime import linux
from runtime.daemon.app import Daemon
from runtime.rundir import acquire_daemon_lock, remove_pid_file

DEFAULT_IDLE = 30.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trio-lxc-daemon")
    parser.add_argument("--lxcpath", required=True)
    parser.add_argument("--ready-fd", type=int, default=-1)
    parser.add_argument("--idle", type=float, default=None, help="seconds idle before exiting")
    args = parser.parse_args(argv)
    lxcpath = os.path.abspath(args.lxcpath)
    locked = acquire_daemon_lock(lxcpath)
    if locked is None:
        return 0  # another daemon serves this lxcpath; our caller connects to it
    lock_fd, rundir = locked  # held until this process exits
    with open(os.path.join(rundir, "daemon.pid"), "w", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()}\n")
    logging.basicConfig(
        filename=os.path.join(rundir, "daemon.log"),
        level=os.environ.get("TRIO_LXC_DAEMON_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(process)d %(levelname)s %(name)s - %(message)s",
    )
    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    linux.set_name("lxc-runtimed")
    idle = args.idle if args.idle is not None else float(
        os.environ.get("TRIO_LXC_DAEMON_IDLE", DEFAULT_IDLE)
    )
    ready_fd = args.ready_fd

    def ready() -> None:
        if ready_fd >= 0:
            os.write(ready_fd, b"1")
            os.close(ready_fd)

    daemon = Daemon(lxcpath, rundir, idle_timeout=idle)
    try:
        trio.run(daemon.run, ready)
    except Exception:
        logging.getLogger("trio-lxc.daemon").exception("daemon failed")
        return 1
    finally:
        remove_pid_file(os.path.join(rundir, "daemon.pid"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
