"""`lxc-start -n NAME [-f CONFIG] [-d|-F] [-s KEY=VAL]... [-p PIDFILE] [CMD...]`.

Daemonized by default: returns once the container is RUNNING, or says why it
aborted. `-F` stays in the foreground with the caller's stdio as the container's
until it stops: on a terminal (stdin) the console is proxied to it; otherwise any
of 0, 1, 2 that is a terminal is replaced by a pty of pid 1's own, proxied here
(cli/execute_terminal.py: container root could TIOCSTI into the caller's terminal).
pid 1 is CMD, else lxc.init.cmd, else /sbin/init: the daemon chooses (runtime.
start_spec); CMD goes as given. `-C` has nothing to close: the daemon starts the
container, so none of this command's fds (but -F's stdio) reach it.
`--share-NS NAME|PID` is `-s lxc.namespace.share.NS=NAME|PID`, as in LXC.
"""

from __future__ import annotations

from cli.common import LxcArgumentParser, lxcpath_of, require_name, run_command
from cli.log import CommandLog
from cli.options import REMAINDER, Namespace
from runtime.client import lean_os as os  # not `os`: start-up time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cli.start_trace_log import StartTracer
    from runtime.client.control_protocol import Event, Reply

OPTIONS = """\
  -n, --name=NAME        NAME of the container
  -d, --daemon           Daemonize the container (default)
  -F, --foreground       Start with the current tty attached to /dev/console
  -p, --pidfile=FILE     Create a file with the process id
  -f, --rcfile=FILE      Load configuration file FILE
  -c, --console=FILE     Use specified FILE for the container console
  -L, --console-log=FILE Log container console output to FILE
  -C, --close-all-fds    If any fds are inherited, close them
                         Note: --daemon implies --close-all-fds
  -s, --define KEY=VAL   Assign VAL to configuration variable KEY
      --share-[net|ipc|uts|pid]=NAME Share a namespace with another container or pid
"""


#: `--share-NS NAME|PID` is LXC's shorthand for `-s lxc.namespace.share.NS=NAME|PID`.
SHARED_NAMESPACES = ("net", "ipc", "uts", "pid")


def build_parser() -> LxcArgumentParser:
    parser = LxcArgumentParser(
        "lxc-start", "lxc-start --name=NAME -- COMMAND",
        "start COMMAND in specified container NAME", OPTIONS,
    )  # fmt: skip
    parser.add_argument("-n", "--name")
    parser.add_argument("-d", "--daemon", action="store_true")
    parser.add_argument("-F", "--foreground", action="store_true")
    parser.add_argument("-p", "--pidfile")
    parser.add_argument("-f", "--rcfile")
    parser.add_argument("-c", "--console")
    parser.add_argument("-L", "--console-log")
    parser.add_argument("-C", "--close-all-fds", action="store_true")
    parser.add_argument("-s", "--define", action="append")
    for namespace in SHARED_NAMESPACES:
        parser.add_argument(f"--share-{namespace}", dest=f"share_{namespace}")
    parser.add_argument("command", nargs=REMAINDER)
    return parser


def body(args: Namespace, log: CommandLog) -> int:
    from cli.requests import (
        command_line,
        config_path_for,
        forward_signals,
        show_warnings,
        tracer_for,
    )
    from runtime.client.control_protocol import ErrorReply, Start, Started
    from runtime.client.daemon_client import open_connection
    from runtime.client.errors import LxcError

    name = require_name(PARSER, args)
    tracer = tracer_for(log, str(name))  # -l TRACE -o FILE: the start's steps
    lxcpath = lxcpath_of(args)
    from runtime.client.lxc_native import find, refusal

    lxc_run = find(lxcpath, name)  # LXC itself runs it: its cgroups would clash anyway
    if lxc_run is not None:
        raise LxcError(refusal(lxcpath, name, lxc_run))
    config_path = config_path_for(lxcpath, name, args.rcfile, "No container config specified")
    defines = list(args.define)
    for namespace in SHARED_NAMESPACES:
        shared = getattr(args, f"share_{namespace}")
        if shared:
            defines.append(f"lxc.namespace.share.{namespace}={shared}")
    if args.console:  # -c FILE, -L FILE: the console's device and log (cli.console_session)
        defines.append(f"lxc.console.path={os.path.abspath(args.console)}")
    if args.console_log:
        defines.append(f"lxc.console.logfile={os.path.abspath(args.console_log)}")
    # The config is the daemon's to read, before STARTING (cli.requests); -F reads it
    # here too, for lxc.console.path.
    argv = command_line(args.command)  # as given: the daemon chooses pid 1 (runtime.spawn.start_spec)
    foreground = bool(args.foreground) and not args.daemon
    on_terminal = False
    if foreground:  # on a terminal, the console is proxied to it (cli/console_session.py)
        from cli import console_session
        from cli.requests import load_checked

        raw = load_checked(config_path, defines)
        on_terminal = console_session.console_on_terminal(raw.get("lxc.console.path"))
    request = Start(
        name=name, mode="system", argv=tuple(argv), config_path=config_path,
        defines=tuple(defines), attach=foreground, trace=tracer.request_built() if tracer else False,
        console="foreground" if on_terminal else None,
        winsize=console_session.foreground_winsize() if on_terminal else None,
    )  # fmt: skip
    if foreground and not on_terminal:
        from cli.execute_terminal import run_attached
        from cli.requests import terminal_fds

        terminals = terminal_fds()
        if terminals:  # never the caller's terminal itself: a pty of pid 1's own

            def on_event(event: Event) -> None:
                if not show_warnings(event, log, "start"):
                    _started(args, log, name, event, tracer)

            run_attached(lxcpath, str(name), request, terminals, on_event)
            return 0
    connection = open_connection(lxcpath)
    console_fds: list[int] = []
    try:
        if foreground:
            forward_signals(connection, name)
        connection.send(request, (0, 1, 2) if foreground and not on_terminal else ())
        started, console_fds = connection.receive_with_fds()
        while show_warnings(started, log, "start"):  # the config's warnings come first
            started, console_fds = connection.receive_with_fds()
        if isinstance(started, ErrorReply):
            raise started.failure()
        _started(args, log, name, started, tracer, connection.read_at)
        if console_fds:
            console_session.foreground(connection, lxcpath, name, console_fds[0])
        elif isinstance(started, Started):
            connection.result(request)
    finally:
        for fd in console_fds:
            os.close(fd)
        connection.close()
    return 0


def _started(
    args: Namespace,
    log: CommandLog,
    name: str,
    started: Event | Reply,
    tracer: StartTracer | None,
    read_at: int = 0,
) -> None:
    """pid 1 runs (the `Started` event, or a start's reply, read at `read_at`): log it
    and write the pid file."""
    from runtime.client.control_protocol import Started, StartReply

    if tracer is not None:
        tracer.on_event(started, read_at)
    pid = started.pid if isinstance(started, (Started, StartReply)) else None
    log.info("start", f"{name} started with init pid {pid}")
    if args.pidfile and pid:
        with open(args.pidfile, "w", encoding="utf-8") as handle:
            handle.write(f"{pid}\n")


PARSER = build_parser()


def main(argv: list[str] | None = None) -> int:
    return run_command(PARSER, body, argv)
