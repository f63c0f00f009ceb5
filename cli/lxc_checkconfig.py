"""`lxc-checkconfig`: report whether the kernel has what containers need.

The report itself (sources, probes, LXC's wording) is `runtime.tools.checkconfig`;
this module is the command line around it: LXC's common options, the version
line, colours on a terminal, exit code 0 (1 when a named configuration file
cannot be read). It imports neither trio nor pyroute2; the link probes load
pyroute2 in a forked child only when no kernel configuration file exists.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from cli.common import (
    LXC_COMPAT_VERSION,
    TRIO_LXC_VERSION,
    LxcArgumentParser,
    run_command,
)
from cli.log import CommandLog

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only
    from cli.options import Namespace

PROG = "lxc-checkconfig"


def make_parser() -> LxcArgumentParser:
    return LxcArgumentParser(
        prog=PROG,
        usage=f"{PROG}",
        description="checks the kernel for the features containers need.\n\n"
        "Reads the kernel configuration from $CONFIG, /proc/config.gz or\n"
        "/boot/config-$(uname -r); without one, probes the running kernel.",
        options_help="",
    )


def body(args: Namespace, log: CommandLog) -> int:
    """Build the report (LxcError for an unreadable config) and print it unless -q."""
    from runtime.tools.checkconfig import check_config, command_path, use_colour

    report = check_config(
        f"LXC version {LXC_COMPAT_VERSION} (trio-lxc {TRIO_LXC_VERSION})",
        env=os.environ,
        colour=use_colour(sys.stdout, os.environ),
        prog=command_path(sys.argv[0] if sys.argv else None),
    )
    if not args.quiet:
        sys.stdout.write(report)
        sys.stdout.flush()
    return 0


#: LXC's lxc-checkconfig is a script that ignores its arguments: asking it for help
#: runs the check. These run it here too instead of printing a usage text.
HELP_FLAGS = frozenset({"-h", "-?", "--help", "--usage"})


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    return run_command(make_parser(), body, [a for a in args if a not in HELP_FLAGS])


if __name__ == "__main__":
    sys.exit(main())
