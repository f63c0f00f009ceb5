"""`lxc-copy -n NAME -N NEWNAME [-p NEWPATH] [-R] [-K] [-M] [-- HOOK ARGS]`: clone or rename
a container; the arguments after `--` go to the copy's lxc.hook.clone hooks."""

from __future__ import annotations

from cli.common import LxcArgumentParser, load_rcfile, lxcpath_of, require_name, run_command
from cli.log import CommandLog
from cli.options import REMAINDER, Namespace

OPTIONS = """\
  -n, --name=NAME           NAME of the container
  -N, --newname=NEWNAME     NEWNAME for the restored container
  -p, --newpath=NEWPATH     NEWPATH for the container to be stored
  -R, --rename              rename container
  -s, --snapshot            create snapshot instead of clone (not supported yet)
  -e, --ephemeral           start ephemeral container (not supported yet)
  -B, --backingstorage=TYPE backingstorage type for the container (only 'dir')
  -K, --keepname            keep the hostname of the original container
  -M, --keepmac             keep the MAC address of the original container
  --rcfile=FILE             Load configuration file FILE
"""


def build_parser() -> LxcArgumentParser:
    parser = LxcArgumentParser(
        "lxc-copy",
        "lxc-copy --name=NAME [-P lxcpath] -N newname [-p newpath] [-R] [-K] [-M] [-- hook arguments]",
        "clone a container",
        OPTIONS,
    )
    parser.add_argument("-n", "--name")
    parser.add_argument("-N", "--newname")
    parser.add_argument("-p", "--newpath")
    parser.add_argument("-R", "--rename", action="store_true")
    parser.add_argument("-s", "--snapshot", action="store_true")
    parser.add_argument("-e", "--ephemeral", action="store_true")
    parser.add_argument("-B", "--backingstorage", default="dir")
    parser.add_argument("-K", "--keepname", action="store_true")
    parser.add_argument("-M", "--keepmac", action="store_true")
    parser.add_argument("--rcfile")
    parser.add_argument("hook_args", nargs=REMAINDER)
    return parser


def body(args: Namespace, log: CommandLog) -> int:
    from runtime import store
    from runtime.errors import LxcError

    name = require_name(PARSER, args)
    load_rcfile(args)
    if args.snapshot or args.ephemeral:
        raise LxcError("snapshots and ephemeral copies are not supported yet; use a full copy")
    if args.backingstorage != "dir":
        raise LxcError(f"backing store '{args.backingstorage}' is not supported (only 'dir')")
    if not args.newname and not args.newpath:
        raise LxcError("give the new name with -N NEWNAME (and/or a new lxcpath with -p)")
    new_name = args.newname or name
    store.copy(
        lxcpath_of(args),
        name,
        new_name,
        new_lxcpath=args.newpath,
        keep_name=args.keepname,
        keep_mac=args.keepmac,
        rename=args.rename,
        hook_args=args.hook_args[1:] if args.hook_args[:1] == ["--"] else args.hook_args,
    )
    log.info("copy", f"{'renamed' if args.rename else 'copied'} {name} to {new_name}")
    return 0


PARSER = build_parser()


def main(argv: list[str] | None = None) -> int:
    return run_command(PARSER, body, argv)
