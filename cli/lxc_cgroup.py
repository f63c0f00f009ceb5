"""`lxc-cgroup -n NAME KEY [VALUE]`: read or write a key of a running container's cgroup.

The key names its controller (`cpu.shares`, `memory.limit_in_bytes`); the daemon
finds the file in the v1 hierarchy of that controller, else in cgroup2 (where
`cgroup.*` core files come first), and reads or writes it (runtime/freezer.py,
`ContainerCgroups.get/set`). A read prints the kernel's text plus one more newline,
as LXC does. LXC's errors and exit code 1: `'PATH:NAME' is not running`,
`Failed to retrieve value of 'KEY' for 'PATH:NAME'`, `Failed to assign 'VALUE'
value to 'KEY' for 'NAME'` (we add the kernel's reason after a colon).
"""

from __future__ import annotations

import sys

from cli.common import LxcArgumentParser, lxcpath_of, run_command
from cli.log import CommandLog
from cli.lxc_freeze import name_of
from cli.options import Namespace

OPTIONS = """\
  -n, --name=NAME      NAME of the container
  --rcfile=FILE        Load configuration file FILE
"""

DESCRIPTION = """\
Get or set the value of a state object (for example, 'cpuset.cpus')
in the container's cgroup for the corresponding subsystem.
"""


class CgroupParser(LxcArgumentParser):
    """LXC's lxc-cgroup help has its description without the program name."""

    def format_help(self) -> str:
        text = super().format_help()
        return text.replace(f"{self.prog} {self.lxc_description}", self.lxc_description, 1)


def build_parser() -> CgroupParser:
    parser = CgroupParser(
        "lxc-cgroup", "lxc-cgroup --name=NAME state-object [value]", DESCRIPTION, OPTIONS
    )
    parser.add_argument("-n", "--name")
    parser.add_argument("--rcfile")
    parser.add_argument("names", nargs="*")
    return parser


def body(args: Namespace, log: CommandLog) -> int:
    from runtime.daemon_client import open_connection
    from runtime.errors import LxcError
    from runtime.status import container_status

    words = list(args.names)
    if not args.name and words:
        args.name = words.pop(0)
    if not words:
        # LXC: no state object (or no name at all) is a command-line error.
        sys.stderr.write(f"{PARSER.prog}: could not parse command line\n")
        return 1
    name = name_of(PARSER, args, log)
    key, value = words[0], (words[1] if len(words) > 1 else None)
    lxcpath = lxcpath_of(args)
    if not container_status(lxcpath, name).running:
        raise LxcError(f"'{lxcpath}:{name}' is not running")
    connection = open_connection(lxcpath)
    try:
        reply = connection.request({"op": "cgroup", "name": name, "key": key, "value": value})
    finally:
        connection.close()
    if not reply.get("ok"):
        kind = reply.get("kind")
        if kind == "not-running":
            raise LxcError(f"'{lxcpath}:{name}' is not running")
        reason = f": {reply.get('error')}" if kind == "failed" else ""
        if value is None:
            raise LxcError(f"Failed to retrieve value of '{key}' for '{lxcpath}:{name}'{reason}")
        raise LxcError(f"Failed to assign '{value}' value to '{key}' for '{name}'{reason}")
    if value is None:
        sys.stdout.write(f"{reply.get('value')}\n")
    return 0


PARSER = build_parser()


def main(argv: list[str] | None = None) -> int:
    return run_command(PARSER, body, argv)
