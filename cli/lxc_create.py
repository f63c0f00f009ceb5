"""`lxc-create -n NAME [-f CONFIG] [-t TEMPLATE] [-- TEMPLATE-OPTIONS]`."""

from __future__ import annotations

from cli.common import LxcArgumentParser, lxcpath_of, require_name, run_command
from cli.log import CommandLog
from cli.options import REMAINDER, Namespace
from cli.store_options import CREATE_HELP, add_create_options, store_options

OPTIONS = """\
  -n, --name=NAME               NAME of the container
  -f, --config=CONFIG           Initial configuration file
  -t, --template=TEMPLATE       Template to use to setup container (busybox, none)
  -B, --bdev=BDEV               Backing store type to use (dir, overlay, loop)
""" + CREATE_HELP + """  -- template-options
         This will pass template-options to the template as arguments.
"""


def build_parser() -> LxcArgumentParser:
    parser = LxcArgumentParser(
        "lxc-create",
        "lxc-create --name=NAME --template=TEMPLATE [OPTION...] [-- template-options]",
        "creates a container",
        OPTIONS,
    )
    parser.add_argument("-n", "--name")
    parser.add_argument("-f", "--config")
    parser.add_argument("-t", "--template")
    parser.add_argument("-B", "--bdev", default="dir")
    add_create_options(parser)  # --dir, --fstype, --fssize, lvm/zfs/rbd options
    parser.add_argument("template_args", nargs=REMAINDER)
    return parser


def body(args: Namespace, log: CommandLog) -> int:
    from runtime.client.errors import LxcError
    from runtime.storage import store

    name = require_name(PARSER, args)
    options = store_options(args)
    if not args.template:
        raise LxcError(
            "A template must be specified (-t busybox), or -t none for a container "
            "without a rootfs"
        )
    template_args = list(args.template_args)
    if template_args and template_args[0] == "--":
        template_args = template_args[1:]
    lxcpath = lxcpath_of(args)
    log.info("create", f"creating {name} in {lxcpath} (template {args.template})")
    store.create(
        lxcpath,
        name,
        config_file=args.config,
        template=args.template,
        template_args=template_args,
        backing="dir" if args.bdev == "best" else args.bdev,  # LXC's best: btrfs/zfs/lvm/dir
        store_options=options,
    )
    log.info("create", f"created {name}")
    return 0


PARSER = build_parser()


def main(argv: list[str] | None = None) -> int:
    return run_command(PARSER, body, argv)
