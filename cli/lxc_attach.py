"""`lxc-attach -n NAME [-s NAMESPACES] [-e PRIVS] [--clear-env|--keep-env] [-v VAR=VAL]...
[--keep-var VAR]... [-u UID] [-g GID] [-R] [-L FILE] [-- CMD...]`.

Runs CMD (or the user's shell) inside a running container, as LXC does: a helper
outside the container's pid namespace joins everything else and forks the attached
process, which this process then waits for; see cli/attach_exec.py for the steps. Exits with CMD's status
(128+N when a signal ended it; 127 when it cannot be found).
"""

from __future__ import annotations

import os

from cli.common import LxcArgumentParser, lxcpath_of, require_name, run_command
from cli.log import CommandLog
from cli.options import REMAINDER, Namespace

OPTIONS = """\
  -n, --name=NAME   NAME of the container
  -e, --elevated-privileges=PRIVILEGES
                    Use elevated privileges instead of those of the
                    container. If you don't specify privileges to be
                    elevated as OR'd list: CAP, CGROUP and LSM (capabilities,
                    cgroup and restrictions, respectively) then all of them
                    will be elevated.
                    WARNING: This may leak privileges into the container.
                    Use with care.
  -a, --arch=ARCH   Use ARCH for program instead of container's own
                    architecture.
  -s, --namespaces=FLAGS
                    Don't attach to all the namespaces of the container
                    but just to the following OR'd list of flags:
                    MOUNT, PID, UTSNAME, IPC, USER or NETWORK.
                    WARNING: Using -s implies -e with all privileges
                    elevated, it may therefore leak privileges into the
                    container. Use with care.
  -R, --remount-sys-proc
                    Remount /sys and /proc if not attaching to the
                    mount namespace when using -s in order to properly
                    reflect the correct namespace context. See the
                    lxc-attach(1) manual page for details.
      --clear-env   Clear all environment variables before attaching.
                    The attached shell/program will start with only
                    container=lxc set.
      --keep-env    Keep all current environment variables. This
                    is the current default behaviour, but is likely to
                    change in the future.
  -L, --pty-log=FILE
                    Log pty output to FILE
  -v, --set-var     Set an additional variable that is seen by the
                    attached program in the container. May be specified
                    multiple times.
      --keep-var    Keep an additional environment variable. Only
                    applicable if --clear-env is specified. May be used
                    multiple times.
  -f, --rcfile=FILE
                    Load configuration file FILE
  -u, --uid=UID     Execute COMMAND with UID inside the container
  -g, --gid=GID     Execute COMMAND with GID inside the container
  -c, --context=context
                    SELinux Context to transition into
"""


def build_parser() -> LxcArgumentParser:
    parser = LxcArgumentParser(
        "lxc-attach", "lxc-attach --name=NAME [-- COMMAND]",
        "Execute the specified COMMAND - enter the container NAME", OPTIONS,
    )  # fmt: skip
    parser.add_argument("-n", "--name")
    parser.add_argument("-e", "--elevated-privileges", dest="elevated", nargs="?", const="")
    parser.add_argument("-a", "--arch")
    parser.add_argument("-s", "--namespaces")
    parser.add_argument("-R", "--remount-sys-proc", action="store_true", dest="remount")
    parser.add_argument("--clear-env", action="store_true")
    parser.add_argument("--keep-env", action="store_true")
    parser.add_argument("-L", "--pty-log")
    parser.add_argument("-v", "--set-var", action="append")
    parser.add_argument("--keep-var", action="append")
    parser.add_argument("-f", "--rcfile")
    parser.add_argument("-u", "--uid")
    parser.add_argument("-g", "--gid")
    parser.add_argument("-c", "--context")
    parser.add_argument("command", nargs=REMAINDER)
    return parser


def _id(text: str | None, what: str) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        PARSER.error(f"invalid {what} '{text}'")
    return int(text)


def body(args: Namespace, log: CommandLog) -> int:
    from cli.attach_exec import Options, attach, find_target, parse_namespaces, parse_privileges
    from runtime.client.errors import LxcError
    from runtime.client.lxcpath import validate_name

    name = require_name(PARSER, args)
    validate_name(name)
    if args.clear_env and args.keep_env:
        PARSER.error("--clear-env and --keep-env cannot be used together")
    if args.context:
        raise LxcError("SELinux contexts are not supported (-c)")
    try:
        namespaces = parse_namespaces(args.namespaces) if args.namespaces else None
        elevated = parse_privileges(args.elevated) if args.elevated is not None else set()
    except ValueError as err:
        PARSER.error(str(err))
    for item in args.set_var:
        if "=" not in item:
            PARSER.error(f"invalid variable '{item}' (VAR=VALUE)")
    command = list(args.command)
    from cli.attach_keys import arch_personality

    options = Options(
        personality=arch_personality(args.arch) if args.arch else None,
        argv=command[1:] if command[:1] == ["--"] else command,
        namespaces=namespaces,
        elevated=elevated,
        clear_env=bool(args.clear_env),
        set_vars=args.set_var,
        keep_vars=args.keep_var,
        uid=_id(args.uid, "uid"),
        gid=_id(args.gid, "gid"),
        remount=bool(args.remount),
        pty_log=os.path.abspath(args.pty_log) if args.pty_log else None,
    )
    target = find_target(lxcpath_of(args), name, args.rcfile)
    return attach(target, options)


PARSER = build_parser()


def main(argv: list[str] | None = None) -> int:
    code = run_command(PARSER, body, argv)
    if argv is None:  # the command itself: skip the interpreter's tear-down (milliseconds)
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
