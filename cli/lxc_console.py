"""`lxc-console -n NAME [-t TTY] [-e PREFIX]`: a running container's tty on this terminal.

`-t N` picks tty N (0 is the console), the default is the first free tty. The
daemon keeps every terminal's pty open, so leaving with the escape sequence
(Ctrl-a q, or the -e prefix and q) and coming back finds the same session; while
one `lxc-console` holds a terminal, another is refused ("Denied access to tty").
LXC's banner and exit codes: not running -> `NAME is not running`, exit 1; stdin
not a terminal -> `Failed to add stdin handler`, exit 1. See cli/console_session.py.
"""

from __future__ import annotations

from cli.common import LxcArgumentParser, load_rcfile, lxcpath_of, require_name, run_command
from cli.log import CommandLog
from cli.options import Namespace

OPTIONS = """\
  -n, --name=NAME      NAME of the container
  -t, --tty=NUMBER     console tty number
  -e, --escape=PREFIX  prefix for escape command
  --rcfile=FILE        Load configuration file FILE
"""


def build_parser() -> LxcArgumentParser:
    parser = LxcArgumentParser(
        "lxc-console", "lxc-console --name=NAME [--tty NUMBER]",
        "logs on the container with the identifier NAME", OPTIONS,
    )  # fmt: skip
    parser.add_argument("-n", "--name")
    parser.add_argument("-t", "--tty")
    parser.add_argument("-e", "--escape")
    parser.add_argument("--rcfile")
    return parser


def body(args: Namespace, log: CommandLog) -> int:
    from cli.console_session import console
    from cli.terminal import escape_code
    from runtime.client.lxcpath import validate_name

    name = require_name(PARSER, args)
    validate_name(name)
    load_rcfile(args)
    try:
        tty = int(args.tty) if args.tty is not None else -1
        if tty < -1:
            raise ValueError
    except ValueError:
        PARSER.error(f"invalid tty number '{args.tty}'")
    try:
        escape = escape_code(args.escape)
    except ValueError as err:
        PARSER.error(str(err))
    return console(lxcpath_of(args), name, tty, escape, bool(args.quiet))


PARSER = build_parser()


def main(argv: list[str] | None = None) -> int:
    return run_command(PARSER, body, argv)
