"""What every `lxc-*` command shares: LXC's common options, help layout and error exits.

LXC's tools answer a bad option with one line naming it, the usage text on stderr
and exit code 1 (argparse would use 2), and they accept the same common options
everywhere: `-o/--logfile`, `-l/--logpriority`, `-q/--quiet`, `-P/--lxcpath`,
`-?/--help`, `--usage`, `--version`. `run_command` wires those up and turns an
`LxcError` into its one-line message and exit code.
"""

from __future__ import annotations

import sys

from cli.log import CommandLog
from cli.options import Namespace, OptionParser, UsageError
from runtime.client.errors import LxcError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at start-up; annotations only
    from collections.abc import Callable, Sequence
    from typing import NoReturn

    from runtime.config.model import ContainerConfig

    Body = Callable[[Namespace, CommandLog], int]

#: The LXC release whose command-line interface these tools implement.
LXC_COMPAT_VERSION = "5.0.2"
#: Our own release, printed after the compatible LXC version by --version.
TRIO_LXC_VERSION = "0.1.0"

COMMON_HELP = """\
Common options :
  -o, --logfile=FILE               Output log to FILE instead of stderr
  -l, --logpriority=LEVEL          Set log priority to LEVEL
  -q, --quiet                      Don't produce any output
  -P, --lxcpath=PATH               Use specified container path
  -?, --help                       Give this help list
      --usage                      Give a short usage message
      --version                    Print the version number
"""


class LxcArgumentParser(OptionParser):
    """getopt_long-style parsing with LXC's help text, exit code (1) and one-line error."""

    def __init__(self, prog: str, usage: str, description: str, options_help: str) -> None:
        super().__init__(prog)
        self.lxc_usage = usage
        self.lxc_description = description
        self.lxc_options_help = options_help
        self.add_argument("-o", "--logfile")
        self.add_argument("-l", "--logpriority")
        self.add_argument("-q", "--quiet", action="store_true")
        self.add_argument("-P", "--lxcpath", action="append")
        self.add_argument("-?", "-h", "--help", action="store_true", dest="show_help")
        self.add_argument("--usage", action="store_true", dest="show_usage")
        self.add_argument("--version", action="store_true", dest="show_version")

    def format_help(self) -> str:
        parts = [f"Usage: {self.lxc_usage}\n", f"{self.prog} {self.lxc_description}\n"]
        if self.lxc_options_help:
            parts.append("Options :\n" + self.lxc_options_help)
        parts.append(COMMON_HELP)
        parts.append(
            "Mandatory or optional arguments to long options are also mandatory or optional\n"
            "for any corresponding short options.\n\n"
            f"See the {self.prog} man page for further information.\n"
        )
        return "\n".join(parts) + "\n"

    def format_usage(self) -> str:
        return f"Usage: {self.lxc_usage}\n"

    def error(self, message: str) -> NoReturn:
        """LXC prints the complaint, then the whole help, on stderr, and exits 1."""
        sys.stderr.write(f"{self.prog}: {message}\n")
        sys.stderr.write(self.format_help())
        sys.exit(1)

    def parse_args(self, argv: list[str]) -> Namespace:
        try:
            return super().parse_args(argv)
        except UsageError as err:
            self.error(str(err))


def lxcpath_of(args: Namespace) -> str:
    """The single lxcpath a command works on: the last -P given, else the default."""
    from runtime.client.lxcpath import default_lxcpath

    paths = args.lxcpath or []
    return paths[-1] if paths else default_lxcpath()


def log_trees(args: Namespace) -> tuple[str, ...]:
    """Where `-o FILE` follows no symlink (runtime.storage.hostfiles): the lxcpath,
    and the named container's own trees (its rootfs may be kept outside the lxcpath),
    read from its config (or --rcfile). Only with -o: the parser is not loaded else."""
    lxcpath = lxcpath_of(args)  # every command takes -P (LxcArgumentParser)
    name = getattr(args, "name", None)
    if not isinstance(name, str) or not name or "/" in name:
        return (lxcpath,)
    from runtime.client.errors import ConfigError
    from runtime.config.parser import parse_file
    from runtime.storage.spec import container_trees

    rcfile = getattr(args, "rcfile", None)
    config = rcfile if isinstance(rcfile, str) and rcfile else f"{lxcpath}/{name}/config"
    try:
        raw = parse_file(config)
    except (ConfigError, OSError, ValueError):
        return (lxcpath,)  # no config to read: the daemon says why when it matters
    return (lxcpath, *container_trees(raw.get("lxc.rootfs.path"), raw.get("lxc.rootfs.mount")))


def run_command(
    parser: LxcArgumentParser,
    body: Body,
    argv: Sequence[str] | None = None,
) -> int:
    """Parse the command line, set up logging, run `body`, and map errors to exit codes."""
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.show_help:
        sys.stdout.write(parser.format_help())
        return 0
    if args.show_usage:
        sys.stdout.write(parser.format_usage())
        return 0
    if args.show_version:
        sys.stdout.write(f"{LXC_COMPAT_VERSION} (trio-lxc {TRIO_LXC_VERSION})\n")
        return 0
    log = CommandLog(parser.prog)
    try:
        log.configure(
            name=getattr(args, "name", None),
            quiet=args.quiet,
            level=args.logpriority,
            logfile=args.logfile,
            trees=log_trees(args) if args.logfile else (),
        )
    except ValueError as err:
        parser.error(str(err))
    try:
        return body(args, log)
    except LxcError as err:
        log.error(parser.prog, str(err))
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 141
    except PermissionError as err:
        # Not root: the run directory, the daemon's sockets and the containers'
        # cgroups are root's. One line, like LXC's, not a traceback.
        where = f" - {err.filename}" if err.filename else ""
        log.error(parser.prog, f"Permission denied{where}: the runtime's files and daemon belong to root")
        return 1


def stdout_gone() -> int:
    """The reader of stdout went away (`lxc-monitor | head`): point stdout at
    /dev/null so the final flush cannot raise again, and return 141, quietly, as a
    C tool dies of SIGPIPE."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141


def require_name(parser: LxcArgumentParser, args: Namespace) -> str:
    """LXC refuses a missing -n with 'No container name specified' and exit 1."""
    if not args.name:
        sys.stderr.write(f"{parser.prog}: No container name specified\n")
        sys.exit(1)
    return str(args.name)


def load_rcfile(args: Namespace) -> ContainerConfig | None:
    """`--rcfile FILE`: load FILE as the container's config, as LXC's tools do.

    LXC's tools call `c->load_config(rcfile)` and stop with "Failed to load rcfile"
    (exit 1) when it does not load; here the project's parser and checkers read it,
    so the one line names file, line and key. Returns the typed config
    (runtime.config.model), or None without --rcfile.

    What the loaded config changes: for lxc-stop, the signals it sends
    (lxc.signal.halt, lxc.signal.reboot with -r, lxc.signal.stop with -k) are the
    rcfile's (LXC's defaults where it sets none) instead of the started config's.
    For lxc-freeze, lxc-unfreeze, lxc-console, lxc-cgroup, lxc-wait, lxc-destroy,
    lxc-copy, lxc-device and lxc-checkpoint LXC's rcfile changes nothing observable
    beyond this load check (they act on the running container or its directory),
    so the check is all they do with it. lxc-monitor checks it too (LXC's accepts
    it and never loads it; an option that is parsed and ignored is a defect here).
    """
    rcfile = getattr(args, "rcfile", None)
    if rcfile is None:
        return None
    from runtime.client.errors import ConfigError
    from runtime.config.model import from_raw
    from runtime.config.parser import parse_file

    try:
        return from_raw(parse_file(rcfile))
    except ConfigError as err:
        raise ConfigError(err.file, err.line, err.key, f"{err.reason} (Failed to load rcfile)") from None

