"""Entry point of the runtime daemon: single instance per lxcpath, then trio.

Started by runtime.client.daemon_client in a new session. It takes an flock on
`<rundir>/daemon.lock` (a second daemon for the same lxcpath exits at once, and
the command that started it connects to the first one), becomes a child subreaper
(container inits whose spawner died are re-parented here, not to init), logs to
`<rundir>/daemon.log` (rotated: at most about 3 MiB), and writes one byte on
`--ready-fd` once it listens.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys

from runtime.client.rundir import acquire_daemon_lock, lxcpath_key, pin_run_dir, remove_pid_file
from runtime.daemon import fd_limit
from runtime.daemon.deferred_modules import defer
from runtime.kernel import linux

DEFAULT_IDLE = 30.0
#: daemon.log is rotated at this size, keeping LOG_BACKUPS old files: a client that
#: sends bad requests in a loop (each one is logged) cannot fill the disk.
LOG_MAX_BYTES = 1 << 20
LOG_BACKUPS = 2


def setup_logging(
    path: str,
    level: str,
    *,
    logger: logging.Logger | None = None,
    max_bytes: int = LOG_MAX_BYTES,
    backups: int = LOG_BACKUPS,
) -> logging.Handler:
    """Log to `path`, rotated (`path.1`, `path.2`); returns the handler (root logger by default)."""
    from runtime.daemon.log_file import RotatingLog  # after defer(): it imports logging.handlers

    handler = RotatingLog(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s - %(message)s")
    )
    target = logger if logger is not None else logging.getLogger()
    target.addHandler(handler)
    target.setLevel(level)
    return handler


def main(argv: list[str] | None = None) -> int:
    defer()  # before trio & co. import what the daemon never uses (runtime.daemon.deferred_modules)
    import trio

    from runtime.daemon.app import Daemon

    parser = argparse.ArgumentParser(prog="trio-lxc-daemon")
    parser.add_argument("--lxcpath", required=True)
    parser.add_argument("--ready-fd", type=int, default=-1)
    parser.add_argument("--idle", type=float, default=None, help="seconds idle before exiting")
    args = parser.parse_args(argv)
    # The real path: a daemon started through a symlinked lxcpath serves every
    # spelling of it, and must outlive the symlink (runtime.client.rundir.lxcpath_key).
    lxcpath = lxcpath_key(args.lxcpath)
    locked = acquire_daemon_lock(lxcpath)
    if locked is None:
        return 0  # another daemon serves this lxcpath; our caller connects to it
    lock_fd, rundir = locked  # held until this process exits
    pin_run_dir(lxcpath, rundir)  # records: no realpath and hash per write
    with open(os.path.join(rundir, "daemon.pid"), "w", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()}\n")
    setup_logging(
        os.path.join(rundir, "daemon.log"),
        os.environ.get("TRIO_LXC_DAEMON_LOG_LEVEL", "INFO").upper(),
    )
    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    linux.set_name("lxc-runtimed")
    fd_limit.raise_nofile()  # many containers, several fds each (runtime.daemon.fd_limit)
    idle = args.idle if args.idle is not None else float(
        os.environ.get("TRIO_LXC_DAEMON_IDLE", DEFAULT_IDLE)
    )
    ready_fd = args.ready_fd

    def ready() -> None:
        if ready_fd >= 0:
            os.write(ready_fd, b"1")
            os.close(ready_fd)

    daemon = Daemon(lxcpath, rundir, idle_timeout=idle)
    # What start-up made lives as long as the daemon (modules, classes, tables): out of
    # the collector's sight, so a full collection no longer walks it. One took 8-10 ms
    # of the daemon's loop (a start or a bus event waiting behind it) once per ~300
    # starts and stops here; the collector tracks about half as many objects then.
    gc.freeze()
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
