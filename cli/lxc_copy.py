"""`lxc-copy -n NAME -N NEWNAME [-p NEWPATH] [-R] [-s] [-B TYPE] [-K] [-M] [-- HOOK ARGS]`,
and `-e` to start an ephemeral copy: clone, snapshot or rename a container; the
arguments after `--` go to the copy's lxc.hook.clone hooks."""

from __future__ import annotations

from cli.common import LxcArgumentParser, load_rcfile, lxcpath_of, require_name, run_command
from cli.log import CommandLog
from cli.options import REMAINDER, Namespace

OPTIONS = """\
  -n, --name=NAME           NAME of the container
  -N, --newname=NEWNAME     NEWNAME for the restored container
  -p, --newpath=NEWPATH     NEWPATH for the container to be stored
  -R, --rename              rename container
  -s, --snapshot            create snapshot instead of clone (overlay)
  -a, --allowrunning        allow snapshot creation even if source container is running
  -F, --foreground          start with current tty attached to /dev/console
  -d, --daemon              daemonize the container (default)
  -e, --ephemeral           start ephemeral container
  -m, --mount               directory to mount into container, bind=/src-path[:/dst-path][:ro|rw]
                            (overlay= mounts are not supported)
  -B, --backingstorage=TYPE backingstorage type for the container (dir, overlay, loop)
  -t, --tmpfs               place ephemeral container on a tmpfs (not supported)
  -L, --fssize              size of the new block device for block device containers
  -D, --keepdata            pass together with -e start a persistent snapshot
  -K, --keepname            keep the hostname of the original container
  --  hook options          arguments passed to the hook program
  -M, --keepmac             keep the MAC address of the original container
  --rcfile=FILE             Load configuration file FILE
"""


def build_parser() -> LxcArgumentParser:
    parser = LxcArgumentParser(
        "lxc-copy",
        "lxc-copy --name=NAME [-P lxcpath] -N newname [-p newpath] [-B backingstorage] [-s] "
        "[-K] [-M] [-L size [unit]] -- hook options\n"
        "lxc-copy --name=NAME [-P lxcpath] [-N newname] [-p newpath] [-B backingstorage] -e "
        "[-d] [-D] [-K] [-M] [-m bind=/src:/dest] -- hook options\n"
        "lxc-copy --name=NAME [-P lxcpath] -N newname -R",
        "clone a container",
        OPTIONS,
    )
    parser.add_argument("-n", "--name")
    parser.add_argument("-N", "--newname")
    parser.add_argument("-p", "--newpath")
    parser.add_argument("-R", "--rename", action="store_true")
    parser.add_argument("-s", "--snapshot", action="store_true")
    parser.add_argument("-a", "--allowrunning", action="store_true")
    parser.add_argument("-F", "--foreground", action="store_true")
    parser.add_argument("-d", "--daemon", action="store_true")
    parser.add_argument("-e", "--ephemeral", action="store_true")
    parser.add_argument("-m", "--mount", action="append")
    parser.add_argument("-B", "--backingstorage")
    parser.add_argument("-t", "--tmpfs", action="store_true")
    parser.add_argument("-L", "--fssize")
    parser.add_argument("-D", "--keepdata", action="store_true")
    parser.add_argument("-K", "--keepname", action="store_true")
    parser.add_argument("-M", "--keepmac", action="store_true")
    parser.add_argument("--rcfile")
    parser.add_argument("hook_args", nargs=REMAINDER)
    return parser


def body(args: Namespace, log: CommandLog) -> int:
    from cli.copy_start import check_start_options, ephemeral_settings, start_copy, unused_name
    from cli.store_options import store_options
    from runtime.client.errors import LxcError
    from runtime.storage import store

    name = require_name(PARSER, args)
    load_rcfile(args)
    check_start_options(args)
    if args.rename and (args.snapshot or args.ephemeral or args.backingstorage):
        raise LxcError("-R renames a container; it takes no -s, -e or -B")
    lxcpath = lxcpath_of(args)
    if not args.newname and not args.newpath and not args.ephemeral:
        raise LxcError("give the new name with -N NEWNAME (and/or a new lxcpath with -p)")
    new_lxcpath = args.newpath or lxcpath
    new_name = args.newname or (unused_name(new_lxcpath, name) if args.ephemeral else name)
    backing = args.backingstorage
    # LXC: -B overlay is a snapshot; -e is one unless -B asks for another store.
    snapshot = args.snapshot or backing == "overlay" or (args.ephemeral and backing is None)
    settings = ephemeral_settings(args, new_lxcpath, new_name) if args.ephemeral else []
    store.copy(
        lxcpath,
        name,
        new_name,
        new_lxcpath=args.newpath,
        keep_name=args.keepname,
        keep_mac=args.keepmac,
        rename=args.rename,
        hook_args=args.hook_args[1:] if args.hook_args[:1] == ["--"] else args.hook_args,
        snapshot=snapshot,
        backing=None if backing in (None, "best") else backing,
        store_options=store_options(args),
        allow_running=args.allowrunning,
        settings=settings,
    )
    verb = "renamed" if args.rename else "snapshotted" if snapshot else "copied"
    log.info("copy", f"{verb} {name} to {new_name}")
    if args.ephemeral:
        return start_copy(args, new_lxcpath, new_name)
    return 0


PARSER = build_parser()


def main(argv: list[str] | None = None) -> int:
    return run_command(PARSER, body, argv)
