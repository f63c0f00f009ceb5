"""`lxc-checkpoint -n NAME -D DIR [-s] [-v] [-p] [-A SCRIPT]` and `-r [-d|-F]` (restore).

The daemon drives criu (runtime/daemon/checkpoint_ops.py). Before it is asked, this
command refuses, as LXC does, what cannot work, without starting a daemon or
touching DIR: a missing -D or a mix of options LXC rejects (`could not parse
command line`), a container that is not running (`NAME not running, not
checkpointing`), and a host where criu is missing or `criu check` fails (its
reason). Every refusal and failure exits 1. `-F` restores and then waits until
the container stops (the console is not attached: see README).
"""

from __future__ import annotations

import os
import sys

from cli.common import LxcArgumentParser, load_rcfile, lxcpath_of, require_name, run_command
from cli.log import CommandLog
from cli.options import Namespace

OPTIONS = """\
  -r, --restore             Restore container
  -D, --checkpoint-dir=DIR  directory to save the checkpoint in
  -v, --verbose             Enable verbose criu logs
  -A, --action-script=PATH  Path to criu action script
  Checkpoint options:
  -s, --stop                Stop the container after checkpointing.
  -p, --pre-dump            Only pre-dump the memory of the container.
                            Container keeps on running and following
                            checkpoints will only dump the changes.
  --predump-dir=DIR         path to images from previous dump (relative to -D)
  Restore options:
  -d, --daemon              Daemonize the container (default)
  -F, --foreground          Start with the current tty attached to /dev/console
  --rcfile=FILE             Load configuration file FILE
"""


def build_parser() -> LxcArgumentParser:
    parser = LxcArgumentParser(
        "lxc-checkpoint", "lxc-checkpoint --name=NAME",
        "checkpoints and restores a container\n"
        "  Serializes a container's running state to disk to allow restoring it in\n"
        "  its running state at a later time.\n",
        "  -n, --name=NAME           NAME of the container\n" + OPTIONS,
    )  # fmt: skip
    parser.add_argument("-n", "--name")
    parser.add_argument("-r", "--restore", action="store_true")
    parser.add_argument("-D", "--checkpoint-dir")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("-A", "--action-script")
    parser.add_argument("-s", "--stop", action="store_true")
    parser.add_argument("-p", "--pre-dump", action="store_true")
    parser.add_argument("--predump-dir")
    parser.add_argument("-d", "--daemon", action="store_true")
    parser.add_argument("-F", "--foreground", action="store_true")
    parser.add_argument("--rcfile")
    return parser


def _refuse() -> None:
    sys.stderr.write("lxc-checkpoint: could not parse command line\n")
    sys.exit(1)


def body(args: Namespace, log: CommandLog) -> int:
    from runtime.client.daemon_client import open_connection
    from runtime.client.errors import LxcError
    from runtime.client.lxcpath import ContainerPaths, validate_name
    from runtime.client.status import container_status
    from runtime.criu import checkpoint

    name = require_name(PARSER, args)
    validate_name(name)
    load_rcfile(args)
    if not args.checkpoint_dir:
        _refuse()
    if args.restore and (args.stop or args.pre_dump or args.predump_dir):
        _refuse()
    if not args.restore and (args.daemon or args.foreground):
        _refuse()
    if args.daemon and args.foreground:
        _refuse()
    lxcpath = lxcpath_of(args)
    directory = os.path.abspath(args.checkpoint_dir)
    running = container_status(lxcpath, name).running
    verb = "Restoring" if args.restore else "Checkpointing"
    if args.restore:
        if not ContainerPaths(lxcpath, name).is_defined():
            raise LxcError(f"{name} doesn't exist")
        if running:
            raise LxcError(f"{name} is running, not restoring")
    elif not running:
        raise LxcError(f"{name} not running, not checkpointing")
    reason = checkpoint.problem()
    if reason:
        raise LxcError(f"{reason}; {verb} {name} failed")
    from runtime.client.control_protocol import Checkpoint, RequestFailed, Restore

    script = os.path.abspath(args.action_script) if args.action_script else None
    request: Checkpoint | Restore
    if args.restore:
        request = Restore(name=name, dir=directory, verbose=bool(args.verbose), action_script=script)
    else:
        request = Checkpoint(
            name=name, dir=directory, verbose=bool(args.verbose), stop=bool(args.stop),
            predump=bool(args.pre_dump), predump_dir=args.predump_dir, action_script=script,
        )  # fmt: skip
    connection = open_connection(lxcpath)
    try:
        connection.call(request)
    except RequestFailed as err:
        raise LxcError(str(err) or f"{verb} {name} failed") from None
    finally:
        connection.close()
    if args.restore and args.foreground:
        _wait_stopped(lxcpath, name)
    return 0


def _wait_stopped(lxcpath: str, name: str) -> None:
    """-F: stay until the restored container stops."""
    import time

    from runtime.client.status import container_status

    while container_status(lxcpath, name).running:
        time.sleep(0.5)


PARSER = build_parser()


def main(argv: list[str] | None = None) -> int:
    return run_command(PARSER, body, argv)
