"""`lxc-destroy -n NAME [-f] [-s]`: remove a container (a running one needs -f; one
with snapshots needs -s, which destroys them too; one with clones is refused)."""

from __future__ import annotations

from cli.common import LxcArgumentParser, load_rcfile, lxcpath_of, require_name, run_command
from cli.log import CommandLog
from cli.options import Namespace

OPTIONS = """\
  -n, --name=NAME   NAME of the container
  -s, --snapshots   destroy including all snapshots
  -f, --force       stop and destroy the container if it's still running
  --rcfile=FILE     Load configuration file FILE
"""


def build_parser() -> LxcArgumentParser:
    parser = LxcArgumentParser(
        "lxc-destroy", "lxc-destroy --name=NAME [-f] [-s] [-P lxcpath]",
        "destroys a container with the identifier NAME", OPTIONS,
    )  # fmt: skip
    parser.add_argument("-n", "--name")
    parser.add_argument("-s", "--snapshots", action="store_true")
    parser.add_argument("-f", "--force", action="store_true")
    parser.add_argument("--rcfile")
    return parser


def body(args: Namespace, log: CommandLog) -> int:
    from runtime.storage import store

    name = require_name(PARSER, args)
    load_rcfile(args)
    lxcpath = lxcpath_of(args)
    # The daemon of the lxcpath (keyed on its real path, so -P through a symlink
    # meets the same one) says whether it runs; store.destroy asks it again.
    if args.force and store.is_running(lxcpath, name):
        from runtime.client.control_protocol import Stop
        from runtime.client.daemon_client import open_connection

        connection = open_connection(lxcpath)  # a crashed daemon's successor re-adopts it
        try:
            connection.call(Stop(name=name, kill=True, timeout=0))
        finally:
            connection.close()
        log.info("destroy", f"stopped {name}")
    store.destroy(lxcpath, name, snapshots=args.snapshots)
    log.info("destroy", f"destroyed {name}")
    return 0


PARSER = build_parser()


def main(argv: list[str] | None = None) -> int:
    return run_command(PARSER, body, argv)
