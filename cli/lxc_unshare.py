"""`lxc-unshare -s NAMESPACES [-u USER] [-H HOSTNAME] [-i IFNAME]... [-d] [-M] -- CMD`.

Runs CMD in new namespaces (runtime/tools/unshare.py). LXC's rules for the options:
a command and `-s` are required; `-H` needs UTSNAME, `-i` needs NETWORK, `-M`
needs MOUNT; `-u` takes a user name. Every refusal is one line and exit 1.
"""

from __future__ import annotations

from cli.common import LxcArgumentParser, run_command
from cli.log import CommandLog
from cli.options import REMAINDER, Namespace

OPTIONS = """\
  -s, --namespaces=FLAGS
                    ORed list of flags to unshare,
                    e.g. -s "NETWORK|PID|UTSNAME", or their /proc/PID/ns names
  -u, --user=USERID new user to use
  -i, --ifname=IFNAME
                    interface name to be moved into container (presumably with NETWORK unsharing set)
  -H, --hostname=HOSTNAME
                    set the hostname in the container
  -d, --daemon      daemonize (do not wait for container to exit)
  -M, --remount     remount default fs (eg: /proc /dev/shm /dev/mqueue)
"""


def build_parser() -> LxcArgumentParser:
    parser = LxcArgumentParser(
        "lxc-unshare", "lxc-unshare --namespaces=FLAGS -- COMMAND",
        "run a COMMAND in a new set of namespaces", OPTIONS,
    )  # fmt: skip
    parser.add_argument("-s", "--namespaces")
    parser.add_argument("-u", "--user")
    parser.add_argument("-i", "--ifname", action="append")
    parser.add_argument("-H", "--hostname")
    parser.add_argument("-d", "--daemon", action="store_true")
    parser.add_argument("-M", "--remount", action="store_true")
    parser.add_argument("command", nargs=REMAINDER)
    return parser


def body(args: Namespace, log: CommandLog) -> int:
    import pwd

    from runtime.client.errors import LxcError
    from runtime.kernel import linux
    from runtime.tools.unshare import Plan, namespace_flags, run

    command = list(args.command)
    if command[:1] == ["--"]:  # the `--` that may introduce the command
        command = command[1:]
    if not command:
        raise LxcError("A command to execute in the new namespace is required")
    if not args.namespaces:
        raise LxcError("A namespace to execute command is required")
    try:
        flags = namespace_flags(args.namespaces)
    except ValueError as err:
        raise LxcError(f"Unknown namespace '{err}' in '{args.namespaces}'") from None
    interfaces = tuple(args.ifname or ())
    if interfaces and not flags & linux.CLONE_NEWNET:
        raise LxcError("-i <interfacename> needs -s NETWORK option")
    if args.hostname is not None and not flags & linux.CLONE_NEWUTS:
        raise LxcError("-H <hostname> needs -s UTSNAME option")
    if args.remount and not flags & linux.CLONE_NEWNS:
        raise LxcError("-M needs -s MOUNT option")
    user = None
    if args.user is not None:
        try:
            user = pwd.getpwnam(args.user)
        except KeyError:
            raise LxcError(f"Unknown user '{args.user}'") from None
    plan = Plan(flags, command, user, args.hostname, interfaces, args.daemon, args.remount)
    return run(plan)


PARSER = build_parser()


def main(argv: list[str] | None = None) -> int:
    return run_command(PARSER, body, argv)
