"""`lxc-stop -n NAME [-t TIMEOUT] [-k] [-r] [-W/--nowait] [--nokill]`.

Graceful first (lxc.signal.halt, SIGPWR by default), then every process of the
container is killed through its cgroups after the timeout; `-k` kills at once.
It returns once the container is STOPPED (nothing of it is left) unless --nowait
or `-t 0` (as LXC: the halt signal is sent, nothing waited for). `-r` returns once
the container runs again, or fails (exit 1) when it did not within the timeout.
`--rcfile FILE`: the signals are FILE's lxc.signal.* (cli.common.load_rcfile).
"""

from __future__ import annotations

from cli.common import LxcArgumentParser, load_rcfile, lxcpath_of, require_name, run_command
from cli.log import LEVELS, CommandLog
from cli.options import Namespace

OPTIONS = """\
  -n, --name=NAME   NAME of the container
  -r, --reboot      reboot the container
  -W, --nowait      don't wait for shutdown or reboot to complete
  -t, --timeout=T   wait T seconds before hard-stopping
  -k, --kill        kill container rather than request clean shutdown
      --nolock      Avoid using API locks
      --nokill      Only request clean shutdown, don't force kill after timeout
  --rcfile=FILE     Load configuration file FILE
"""


def build_parser() -> LxcArgumentParser:
    parser = LxcArgumentParser(
        "lxc-stop", "lxc-stop --name=NAME [-W] [-r|-k|--nokill]",
        "quits a container with the identifier NAME", OPTIONS,
    )  # fmt: skip
    parser.add_argument("-n", "--name")
    parser.add_argument("-r", "--reboot", action="store_true")
    parser.add_argument("-W", "--nowait", action="store_true")
    parser.add_argument("-t", "--timeout")
    parser.add_argument("-k", "--kill", action="store_true")
    parser.add_argument("--nolock", action="store_true")
    parser.add_argument("--nokill", action="store_true")
    parser.add_argument("--rcfile")
    return parser


def body(args: Namespace, log: CommandLog) -> int:
    from runtime.client.control_protocol import Stop
    from runtime.client.daemon_client import Connection, open_connection
    from runtime.client.daemon_start import control_socket_path, try_connect
    from runtime.client.errors import LxcError
    from runtime.client.lxcpath import validate_name

    name = require_name(PARSER, args)
    validate_name(name)
    if args.nolock and not args.kill:  # LXC's rule: only a kill may skip the locks
        raise LxcError("--nolock may only be used with -k")
    lxcpath = lxcpath_of(args)
    rcfile = load_rcfile(args)  # LXC loads it first: a bad one is refused before anything
    try:
        timeout = float(args.timeout) if args.timeout is not None else 60.0
    except ValueError:
        PARSER.error(f"invalid timeout '{args.timeout}'")
    # The daemon's connection, if one answers, is the one the request goes on (one
    # connect, not a probe and then another). No daemon and no live record: nothing
    # to stop. A live record without a daemon (it crashed) starts a new one, which
    # re-adopts the container first.
    sock = try_connect(control_socket_path(lxcpath))
    if sock is None:
        from runtime.client.status import container_status

        if not container_status(lxcpath, name).running:
            raise LxcError(f"{name} is not running", exit_code=2)
    halt: int | None = None
    reboot: int | None = None
    hard: int | None = None
    if rcfile is not None:
        # LXC's lxc-stop signals as the rcfile says (its defaults where it says
        # nothing), not as the config the container was started with.
        from runtime.daemon import stop_signal

        halt = stop_signal.halt_signal(rcfile)
        reboot = stop_signal.reboot_signal(rcfile)
        hard = stop_signal.stop_signal(rcfile)
    tracer = None
    if log.file_path is not None and log.level <= LEVELS["TRACE"]:  # -l TRACE -o FILE: the steps
        from cli.start_trace_log import StartTracer

        tracer = StartTracer(log, name)
    request = Stop(
        name=name, timeout=timeout, kill=bool(args.kill), reboot=bool(args.reboot),
        nowait=bool(args.nowait), nokill=bool(args.nokill),
        halt_signal=halt, reboot_signal=reboot, stop_signal=hard,
        trace=tracer.request_built() if tracer else False,
    )  # fmt: skip
    connection = Connection(sock) if sock is not None else open_connection(lxcpath)
    try:
        if tracer is None:
            connection.call(request)
        else:
            connection.send(request)
            tracer.result(connection, request)
    finally:
        connection.close()
    if tracer is not None:
        tracer.finished("reply received", connection.read_at)
    log.info("stop", f"{name} stopped")
    return 0


PARSER = build_parser()


def main(argv: list[str] | None = None) -> int:
    return run_command(PARSER, body, argv)
