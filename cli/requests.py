"""Client-side helpers shared by lxc-start, lxc-execute and lxc-stop.

A start's config is read by the daemon alone, before STARTING: a bad config fails
the command with the daemon's one line (file, line, key), exit code 1 and no state
event at all (LXC also fails while loading the rcfile, before STARTING), and what
it only warns about comes back as a `Warned` event, printed by `show_warnings`.
The command itself no longer parses it (the key table and its checkers were ~3 ms
of every lxc-start and lxc-execute, for a parse the daemon does anyway), except
`lxc-start -F`, which needs lxc.console.path before it asks.
"""

from __future__ import annotations

import _signal  # `signal` without its enums (~2.5 ms of start-up)
import stat

from runtime.client import lean_os as os  # not `os`: start-up time
from runtime.client.control_protocol import Event, Signal, Warned, result
from runtime.client.daemon_client import Connection
from runtime.client.errors import ConfigError, LxcError

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs ~4 ms at start-up
    from collections.abc import Callable

    from cli.log import CommandLog
    from cli.start_trace_log import StartTracer
    from runtime.client.control_protocol import R, Request
    from runtime.config.parser import RawConfig

#: Signals a foreground command passes on to its container (lxc-execute, lxc-start -F).
FORWARDED_SIGNALS = (
    _signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT, _signal.SIGUSR1, _signal.SIGUSR2,
)  # fmt: skip


def load_checked(config_path: str, defines: list[str]) -> RawConfig:
    """Parse the config and the -s defines; ConfigError names file, line and key."""
    from runtime.config.parser import apply_define, parse_file  # the key table: not at import

    raw = parse_file(config_path)
    for define in defines:
        apply_define(raw, define)
    return raw


def config_path_for(lxcpath: str, name: str, rcfile: str | None, missing: str) -> str:
    """The config a start uses: -f FILE, else the container's own; LxcError(missing) if none."""
    from runtime.client.lxcpath import ContainerPaths, validate_name

    validate_name(name)
    if rcfile:
        return readable_config(os.path.abspath(rcfile))
    paths = ContainerPaths(lxcpath, name)
    if paths.is_defined():
        return readable_config(paths.config)
    raise LxcError(missing)


def readable_config(path: str) -> str:
    """`path`, if it is a regular file we can read: a missing or unreadable config is
    refused here, before any daemon starts, with the parser's own line (the daemon
    reads the config itself; runtime.config.parser.parse_file)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            regular = stat.S_ISREG(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
    except OSError as err:
        raise ConfigError(path, 0, None, f"cannot read the config file: {err.strerror or err}") from None
    if not regular:
        raise ConfigError(path, 0, None, "cannot read the config file: not a regular file")
    return path


def command_line(command: list[str]) -> list[str]:
    """The command after the options, without the `--` that may introduce it."""
    return command[1:] if command[:1] == ["--"] else list(command)


def terminal_fds() -> list[int]:
    """Which of our stdin, stdout and stderr are terminals (cli.execute_terminal, with
    termios and the pty helpers, is imported only when one is, or for -d)."""
    found = []
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                found.append(fd)
        except OSError:
            pass
    return found


def show_warnings(event: object, log: CommandLog, module: str) -> bool:
    """A start's `Warned` event: its lines printed as this command's warnings (True);
    False for any other line."""
    if not isinstance(event, Warned):
        return False
    for warning in event.warnings:
        log.warn(module, warning)
    return True


def forward_signals(connection: Connection, name: str) -> None:
    """While attached, pass INT/TERM/HUP/QUIT/USR1/USR2 on to the container's init."""

    def handler(signum: int, _frame: object) -> None:
        try:
            connection.tell(Signal(name=name, signal=signum))
        except OSError:
            pass

    for sig in FORWARDED_SIGNALS:
        _signal.signal(sig, handler)


def tracer_for(log: CommandLog, name: str) -> StartTracer | None:
    """`-l TRACE -o FILE`: a tracer of the start's steps (cli.start_trace_log, imported
    only then); None otherwise."""
    from cli.log import LEVELS

    if log.file_path is None or log.level > LEVELS["TRACE"]:
        return None
    from cli.start_trace_log import StartTracer

    return StartTracer(log, name)


def read_result(
    connection: Connection,
    request: Request[R],
    tracer: StartTracer | None,
    on_event: Callable[[Event], object] | None = None,
) -> R:
    """Read until the request's final reply; its events go to `on_event` (a start's
    warnings) and to the tracer."""
    while True:
        reply = connection.receive()
        if not isinstance(reply, Event):
            return result(request, reply)
        if on_event is not None:
            on_event(reply)
        if tracer is not None:
            tracer.on_event(reply, connection.read_at)


def call(
    connection: Connection,
    request: Request[R],
    fds: tuple[int, ...],
    tracer: StartTracer | None,
    on_event: Callable[[Event], object] | None = None,
) -> R:
    """`connection.call`, its events seen by `on_event` and, when given, the tracer."""
    connection.send(request, fds)
    return read_result(connection, request, tracer, on_event)
