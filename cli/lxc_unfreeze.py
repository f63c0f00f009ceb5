"""`lxc-unfreeze -n NAME`: let a frozen container's processes run again.

THAWED, then RUNNING, each published once. Thawing a running container exits 0
and publishes nothing. A container that does not run is an error (exit 1); LXC
returns 0 there, but nothing was thawed (listed in README's differences).
"""

from __future__ import annotations

from cli.common import run_command
from cli.log import CommandLog
from cli.lxc_freeze import build_parser, freezer_body
from cli.options import Namespace

OPTIONS = """\
  -n, --name=NAME   NAME of the container
  --rcfile=FILE     Load configuration file FILE
"""


def body(args: Namespace, log: CommandLog) -> int:
    return freezer_body(PARSER, "unfreeze", "unfreeze", args, log)


PARSER = build_parser("lxc-unfreeze", "unfreezes a container with the identifier NAME", OPTIONS)


def main(argv: list[str] | None = None) -> int:
    return run_command(PARSER, body, argv)
