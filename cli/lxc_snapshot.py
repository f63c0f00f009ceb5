"""`lxc-snapshot -n NAME [-c FILE] | -L [-C] | -r SNAP [-N NEW] | -d SNAP|ALL`:
snapshots of a stopped container under `<lxcpath>/<name>/snaps` (runtime.storage.
snapshots). A running container is refused, as LXC refuses it."""

from __future__ import annotations

import sys

from cli.common import LxcArgumentParser, load_rcfile, lxcpath_of, require_name, run_command
from cli.log import CommandLog
from cli.options import Namespace

OPTIONS = """\
  -n, --name=NAME        NAME of the container
  -L, --list             list all snapshots
  -r, --restore=NAME     restore snapshot NAME, e.g. 'snap0'
  -N, --newname=NEWNAME  NEWNAME for the restored container
  -d, --destroy=NAME     destroy snapshot NAME, e.g. 'snap0'
                         use ALL to destroy all snapshots
  -c, --comment=FILE     add FILE as a comment
  -C, --showcomments     show snapshot comments
  --rcfile=FILE          Load configuration file FILE
"""


def build_parser() -> LxcArgumentParser:
    parser = LxcArgumentParser(
        "lxc-snapshot",
        "lxc-snapshot --name=NAME [-P lxcpath] [-L [-C]] [-c commentfile] "
        "[-r snapname [-N newname]]",
        "snapshots a container",
        OPTIONS,
    )
    parser.add_argument("-n", "--name")
    parser.add_argument("-L", "--list", action="store_true")
    parser.add_argument("-r", "--restore")
    parser.add_argument("-N", "--newname")
    parser.add_argument("-d", "--destroy")
    parser.add_argument("-c", "--comment")
    parser.add_argument("-C", "--showcomments", action="store_true")
    parser.add_argument("--rcfile")
    parser.add_argument("rest", nargs="*")
    return parser


def body(args: Namespace, log: CommandLog) -> int:
    from runtime.client.errors import LxcError
    from runtime.client.lxcpath import ContainerPaths, validate_name
    from runtime.storage import snapshots

    name = require_name(PARSER, args)
    load_rcfile(args)
    paths = ContainerPaths(lxcpath_of(args), name)
    actions = [flag for flag, given in (("-L", args.list), ("-r", args.restore),
                                        ("-d", args.destroy)) if given]  # fmt: skip
    if len(actions) > 1:
        raise LxcError(f"{' and '.join(actions)} exclude each other")
    new_name = args.newname
    if args.rest:
        # LXC: after -r, a last argument is the new name when -N does not give one.
        if not args.restore or new_name or len(args.rest) > 1:
            raise LxcError(f"unexpected argument '{args.rest[0]}'")
        new_name = args.rest[0]
    if new_name and not args.restore:
        raise LxcError("-N names the container -r restores; give -r SNAPSHOT")
    if args.list:
        sys.stdout.write(snapshots.format_list(snapshots.list_snapshots(paths), args.showcomments))
    elif args.restore:
        if new_name:
            validate_name(new_name)
        snapshots.restore(paths, args.restore, new_name)
        log.info("snapshot", f"restored {args.restore} of {name} as {new_name or name}")
    elif args.destroy:
        if args.destroy == "ALL":
            snapshots.destroy_all(paths)
        else:
            snapshots.destroy(paths, args.destroy)
        log.info("snapshot", f"destroyed snapshot {args.destroy} of {name}")
    else:
        snap = snapshots.create(paths, args.comment)
        log.info("snapshot", f"created {snap} of {name}")
    return 0


PARSER = build_parser()


def main(argv: list[str] | None = None) -> int:
    return run_command(PARSER, body, argv)
