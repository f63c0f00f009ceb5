"""`lxc-execute -n NAME [-f CONFIG] [-s KEY=VAL]... [-d] -- CMD...`: an application container.

pid 1 is an lxc-init-like reaper, the command is pid 2, stdio is the caller's
(passed to the daemon as file descriptors), except that a terminal among them is
replaced by a pty of the application's own, proxied here (cli/execute_terminal.py:
the caller's terminal is never the container's; with -d it becomes /dev/null),
INT/TERM/HUP/QUIT/USR1/USR2 sent to lxc-execute reach the application, and
lxc-execute exits with the application's status (128+N for a signal). Works for a created container and for a volatile one
given only `-f`.
"""

from __future__ import annotations

from cli.common import LxcArgumentParser, lxcpath_of, require_name, run_command
from cli.log import CommandLog
from cli.options import REMAINDER, Namespace
from runtime.client import lean_os as os  # not `os`: start-up time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cli.start_trace_log import StartTracer
    from runtime.client.control_protocol import Event, Start

OPTIONS = """\
  -n, --name=NAME      NAME of the container
  -f, --rcfile=FILE    Load configuration file FILE
  -s, --define KEY=VAL Assign VAL to configuration variable KEY
  -u, --uid=UID        Execute COMMAND with UID inside the container
  -g, --gid=GID        Execute COMMAND with GID inside the container
  -d, --daemon         Daemonize the container
"""


def build_parser() -> LxcArgumentParser:
    parser = LxcArgumentParser(
        "lxc-execute", "lxc-execute --name=NAME -- COMMAND",
        "executes COMMAND in the container NAME", OPTIONS,
    )  # fmt: skip
    parser.add_argument("-n", "--name")
    parser.add_argument("-f", "--rcfile")
    parser.add_argument("-s", "--define", action="append")
    parser.add_argument("-u", "--uid")
    parser.add_argument("-g", "--gid")
    parser.add_argument("-d", "--daemon", action="store_true")
    parser.add_argument("command", nargs=REMAINDER)
    return parser


def body(args: Namespace, log: CommandLog) -> int:
    from cli.requests import (
        call,
        command_line,
        config_path_for,
        forward_signals,
        show_warnings,
        terminal_fds,
        tracer_for,
    )
    from runtime.client.control_protocol import Start
    from runtime.client.daemon_client import open_connection

    name = require_name(PARSER, args)
    tracer = tracer_for(log, str(name))  # -l TRACE -o FILE: the start's steps
    lxcpath = lxcpath_of(args)
    config_path = config_path_for(lxcpath, name, args.rcfile, "Executing a container with no configuration file may crash the host")
    defines = list(args.define)
    if args.uid is not None:
        defines.append(f"lxc.init.uid={args.uid}")
    if args.gid is not None:
        defines.append(f"lxc.init.gid={args.gid}")
    # The config (and "no command to execute" when neither argv nor lxc.execute.cmd
    # gives one) is the daemon's to check, before STARTING (cli.requests).
    argv = command_line(args.command)  # as given: the daemon chooses (runtime.spawn.start_spec)

    def on_event(event: Event) -> None:
        show_warnings(event, log, "execute")
        if tracer is not None:
            tracer.on_event(event)

    request = Start(
        name=name, mode="application", argv=tuple(argv), config_path=config_path,
        defines=tuple(defines), attach=not args.daemon, trace=tracer.request_built() if tracer else False,
    )  # fmt: skip
    terminals = terminal_fds()
    if args.daemon:
        return _detached(lxcpath, request, terminals, tracer, log)
    read_at = 0
    if terminals:  # the application gets a pty of its own (cli/execute_terminal.py)
        from cli.execute_terminal import run_attached

        reply = run_attached(lxcpath, str(name), request, terminals, on_event)
    else:
        connection = open_connection(lxcpath)
        try:
            forward_signals(connection, name)
            reply = call(connection, request, (0, 1, 2), tracer, lambda event: show_warnings(event, log, "execute"))
            read_at = connection.read_at
        finally:
            connection.close()
    if tracer is not None:
        tracer.finished(read_at=read_at)  # the end of the run (stop_trace lines)
    status = reply.status
    log.info("execute", f"{name} exited with status {status}")
    return status if status is not None else 1


def _detached(
    lxcpath: str, request: Start, terminals: list[int], tracer: StartTracer | None, log: CommandLog
) -> int:
    """-d: start and return; a terminal of ours is not left to the container."""
    from cli.execute_terminal import detached_stdio
    from cli.requests import call, show_warnings
    from runtime.client.daemon_client import open_connection

    stdio, null = detached_stdio(terminals)
    try:
        connection = open_connection(lxcpath)
        try:
            call(connection, request, stdio, tracer, lambda event: show_warnings(event, log, "execute"))
        finally:
            connection.close()
    finally:
        os.close(null)
    return 0


PARSER = build_parser()


def main(argv: list[str] | None = None) -> int:
    return run_command(PARSER, body, argv)
