"""`lxc-freeze -n NAME`: freeze every process of a running container.

The daemon does it (runtime/daemon/freezer.py): FREEZING, the cgroup freezer (cgroup2
`cgroup.freeze`, else the v1 `freezer.state`), a wait until the kernel says every
task is frozen, FROZEN; each state is published once on the bus. Freezing a frozen
container exits 0 and publishes nothing. A container that does not run is refused
with LXC's line (`Failed to freeze PATH:NAME`, exit 1) without starting a daemon.

`lxc-unfreeze` (cli/lxc_unfreeze.py) shares this module's body.
"""

from __future__ import annotations

from cli.common import LxcArgumentParser, load_rcfile, lxcpath_of, run_command
from cli.log import CommandLog
from cli.options import Namespace

OPTIONS = """\
  -n, --name=NAME      NAME of the container
  --rcfile=FILE        Load configuration file FILE
"""


def build_parser(prog: str, description: str, options: str = OPTIONS) -> LxcArgumentParser:
    parser = LxcArgumentParser(prog, f"{prog} --name=NAME", description, options)
    parser.add_argument("-n", "--name")
    parser.add_argument("--rcfile")
    parser.add_argument("names", nargs="*")
    return parser


def name_of(parser: LxcArgumentParser, args: Namespace, log: CommandLog) -> str:
    """-n NAME, else the first plain argument (LXC's tools take that too)."""
    import sys

    from runtime.client.lxcpath import validate_name

    name = args.name or (args.names[0] if args.names else None)
    if not name:
        sys.stderr.write(f"{parser.prog}: No container name specified\n")
        sys.exit(1)
    log.name = name
    validate_name(name)
    load_rcfile(args)  # LXC loads --rcfile before acting; a bad one is refused
    return str(name)


def freezer_body(
    parser: LxcArgumentParser, op: str, verb: str, args: Namespace, log: CommandLog
) -> int:
    """Ask the daemon to `op` (freeze|unfreeze) the container; LXC's error line."""
    from runtime.client.control_protocol import Freeze, RequestFailed, Unfreeze
    from runtime.client.daemon_client import open_connection
    from runtime.client.errors import LxcError
    from runtime.client.status import container_status

    name = name_of(parser, args, log)
    lxcpath = lxcpath_of(args)
    failed = f"Failed to {verb} {lxcpath}:{name}"
    if not container_status(lxcpath, name).running:
        raise LxcError(failed)
    request = Freeze(name=name) if op == "freeze" else Unfreeze(name=name)
    connection = open_connection(lxcpath)
    try:
        connection.call(request)
    except RequestFailed as err:
        reason = str(err) if err.kind == "failed" else None
        raise LxcError(f"{failed}: {reason}" if reason else failed) from None
    finally:
        connection.close()
    return 0


def body(args: Namespace, log: CommandLog) -> int:
    return freezer_body(PARSER, "freeze", "freeze", args, log)


PARSER = build_parser("lxc-freeze", "freezes a container with the identifier NAME")


def main(argv: list[str] | None = None) -> int:
    return run_command(PARSER, body, argv)
