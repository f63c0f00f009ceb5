"""`lxc-cgroup -n NAME KEY [VALUE]`: read or write a key of a running container's cgroup.

The key names its controller (`cpu.shares`, `memory.limit_in_bytes`); the file is
looked for in the v1 hierarchy of that controller, else in cgroup2 (`cgroup.*`
core files there first): `runtime.client.cgroup_files.locate`, the rule the daemon's
`ContainerCgroups.get/set` use too. Like LXC's client, the command reads and
writes the file itself, here at the paths of the container's runtime record: no
daemon round trip, no import beyond the standard library (the daemon offers the
same as the `cgroup` request, for the Python API).

A read prints the kernel's text plus one more newline, as LXC does. A write is one
`write(2)`, whose errno is the kernel's verdict. LXC's errors, exit code 1:
`'PATH:NAME' is not running`, `Failed to retrieve value of 'KEY' for 'PATH:NAME'`,
`Failed to assign 'VALUE' value to 'KEY' for 'NAME'` (we add the kernel's reason
after a colon). On a hybrid host `cgroup.*` keys (`cgroup.procs`) are read from
cgroup2, where LXC fails. A key that is not a plain cgroup file name (`../x`), or
a write to a file that moves processes (`cgroup.procs`, `cgroup.threads`) or the
controllers the runtime delegates (`cgroup.subtree_control`), is refused before
anything is looked up, naming the key (LXC writes whatever path it is given).
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
    from runtime.client import lean_os as os  # not `os`: start-up time
    from runtime.client.cgroup_files import locate
    from runtime.client.errors import LxcError
    from runtime.client.status import container_status
    from runtime.config.names import cgroup_file_problem

    words = list(args.names)
    if not args.name and words:
        args.name = words.pop(0)
    if not words:
        # LXC: no state object (or no name at all) is a command-line error.
        sys.stderr.write(f"{PARSER.prog}: could not parse command line\n")
        return 1
    name = name_of(PARSER, args, log)
    key, value = words[0], (words[1] if len(words) > 1 else None)
    # The key becomes a path under the container's cgroups: a plain file name only,
    # and never one that moves processes (see runtime.config.names).
    problem = cgroup_file_problem(key, write=value is not None)
    if problem is not None:
        raise LxcError(f"state object {problem}")
    lxcpath = lxcpath_of(args)
    not_running = LxcError(f"'{lxcpath}:{name}' is not running")

    def failure(reason: str = "") -> LxcError:
        if value is None:
            return LxcError(f"Failed to retrieve value of '{key}' for '{lxcpath}:{name}'{reason}")
        return LxcError(f"Failed to assign '{value}' value to '{key}' for '{name}'{reason}")

    status = container_status(lxcpath, name)
    if not status.running or not status.cgroups:
        raise not_running
    path = locate(status.cgroups, key)
    if path is None:
        if not any(os.path.isdir(d) for d in status.cgroups.values()):
            raise not_running  # it stopped meanwhile
        raise failure()
    try:
        if value is None:
            with open(path) as handle:
                text = handle.read()
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
    except FileNotFoundError:
        raise not_running from None
    except OSError as err:
        raise failure(f": {err.strerror or err}") from None
    if value is None:
        sys.stdout.write(text + "\n")
    return 0


PARSER = build_parser()


def main(argv: list[str] | None = None) -> int:
    return run_command(PARSER, body, argv)
