"""Control requests checked field by field, before the daemon acts on any of them.

Why: a request comes from any process that may connect (root or the daemon's
uid), and a wrong type or range deep inside a start used to surface as an
exception after cgroups were made (a `winsize` of 70000 failed in `struct.pack`
with the container left STARTING). Here each op has one function that turns the
raw JSON object into a small frozen record with exact types, or raises
`RequestError` whose one-line message names the field. Container names follow
the rules the commands use (runtime.lxcpath.validate_name). Unknown extra fields
are ignored, so a newer command still talks to this daemon.

The records are deliberately plain (one class per op, fields as on the wire) so
the control protocol can later grow typed messages from them.
"""

from __future__ import annotations

import math
import signal as signals
from collections.abc import Callable

import attrs

from runtime.errors import InvalidName
from runtime.lxcpath import validate_name

#: Signals a request may name: 1 to SIGRTMAX.
SIGNAL_MIN, SIGNAL_MAX = 1, 64
#: A terminal size is two unsigned shorts (struct winsize).
WINSIZE_MAX = 65535
#: Terminal numbers a console request may name (-1: the first free one, 0: the console).
TTY_MIN, TTY_MAX = -1, 1024
START_MODES = ("system", "application")


class RequestError(Exception):
    """A request the daemon refuses: the message names the field and the reason."""

    exit_code = 1

    def reply(self) -> dict[str, object]:
        return {"ok": False, "error": str(self), "exit_code": self.exit_code}


# -- the records ----------------------------------------------------------------------


@attrs.frozen
class Ping:
    pass


@attrs.frozen
class Shutdown:
    pass


@attrs.frozen
class Named:
    """An op that needs only the container: state, freeze, unfreeze, stats."""

    name: str


@attrs.frozen
class Start:
    name: str
    mode: str
    argv: tuple[str, ...]
    config_path: str | None
    config_text: str | None
    defines: tuple[str, ...]
    attach: bool
    foreground_console: bool
    winsize: tuple[int, int] | None


@attrs.frozen
class Stop:
    name: str
    timeout: float
    kill: bool
    reboot: bool
    nowait: bool
    nokill: bool
    #: lxc-stop --rcfile: the rcfile's signals, used in place of the started config's.
    halt_signal: int | None = None
    reboot_signal: int | None = None
    stop_signal: int | None = None


@attrs.frozen
class Signal:
    name: str | None
    signal: int


@attrs.frozen
class Console:
    name: str
    tty: int


@attrs.frozen
class ConsoleResize:
    name: str | None
    tty: int
    rows: int
    cols: int


@attrs.frozen
class ConsoleLog:
    name: str
    clear: bool


@attrs.frozen
class Cgroup:
    name: str
    key: str
    value: str | None


@attrs.frozen
class Device:
    """lxc-device: add|del a host interface or device node (runtime/device.py)."""

    name: str
    action: str
    device: str
    target: str | None


@attrs.frozen
class Checkpoint:
    """lxc-checkpoint: dump (or, with restore, restore) a container (runtime/checkpoint_ops.py)."""

    name: str
    dir: str
    stop: bool
    verbose: bool
    predump: bool
    predump_dir: str | None
    action_script: str | None


Request = (
    Ping | Shutdown | Named | Start | Stop | Signal | Console | ConsoleResize | ConsoleLog | Cgroup | Device
    | Checkpoint
)

# -- field checks -------------------------------------------------------------------------

_MISSING = object()


def _fail(field: str, reason: str) -> RequestError:
    return RequestError(f"bad request: '{field}' {reason}")


def _get(message: dict[str, object], field: str, default: object = _MISSING) -> object:
    value = message.get(field, _MISSING)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise _fail(field, "is missing")
        return default
    return value


def _text(message: dict[str, object], field: str, default: object = _MISSING) -> str:
    value = _get(message, field, default)
    if value is None:
        return value  # type: ignore[return-value]  (an optional field's default)
    if not isinstance(value, str):
        raise _fail(field, f"must be a string, not {_kind(value)}")
    if "\0" in value:
        raise _fail(field, "must not contain NUL")
    return value


def _name(message: dict[str, object], field: str = "name") -> str:
    value = _text(message, field)
    try:
        return validate_name(value)
    except InvalidName as err:
        raise _fail(field, f"is refused: {err}") from None


def _optional_name(message: dict[str, object]) -> str | None:
    return None if message.get("name") is None else _name(message)


def _flag(message: dict[str, object], field: str) -> bool:
    value = _get(message, field, False)
    if not isinstance(value, bool):
        raise _fail(field, f"must be true or false, not {_kind(value)}")
    return value


def _integer(message: dict[str, object], field: str, low: int, high: int, default: object = _MISSING) -> int:
    value = _get(message, field, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(field, f"must be an integer, not {_kind(value)}")
    if not low <= value <= high:
        raise _fail(field, f"must be between {low} and {high}, not {value}")
    return value


def _number(message: dict[str, object], field: str, default: float) -> float:
    value = _get(message, field, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(field, f"must be a number, not {_kind(value)}")
    if not math.isfinite(value):
        raise _fail(field, f"must be a finite number, not {value}")
    return float(value)


def _strings(message: dict[str, object], field: str) -> tuple[str, ...]:
    value = _get(message, field, [])
    if not isinstance(value, list):
        raise _fail(field, f"must be a list of strings, not {_kind(value)}")
    for item in value:
        if not isinstance(item, str):
            raise _fail(field, f"must be a list of strings, not a list holding {_kind(item)}")
        if "\0" in item:
            raise _fail(field, "must not contain NUL")
    return tuple(value)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)  # fmt: skip


def _winsize(message: dict[str, object]) -> tuple[int, int] | None:
    value = message.get("winsize")
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise _fail("winsize", "must be [rows, cols]")
    rows, cols = ({"winsize": item} for item in value)
    return (_integer(rows, "winsize", 0, WINSIZE_MAX), _integer(cols, "winsize", 0, WINSIZE_MAX))


# -- one function per op ------------------------------------------------------------------


def parse_ping(message: dict[str, object]) -> Ping:
    return Ping()


def parse_shutdown(message: dict[str, object]) -> Shutdown:
    return Shutdown()


def parse_named(message: dict[str, object]) -> Named:
    return Named(_name(message))


def parse_start(message: dict[str, object]) -> Start:
    name = _name(message)
    mode = _text(message, "mode", "system")
    if mode not in START_MODES:
        raise _fail("mode", f"must be one of {', '.join(START_MODES)}, not '{mode}'")
    config_path = _text(message, "config_path", None)
    if config_path is not None and not config_path.startswith("/"):
        raise _fail("config_path", f"must be an absolute path, not '{config_path}'")
    console = _text(message, "console", None)
    if console not in (None, "foreground"):
        raise _fail("console", f"must be 'foreground' or null, not '{console}'")
    return Start(
        name=name,
        mode=mode,
        argv=_strings(message, "argv"),
        config_path=config_path,
        config_text=_text(message, "config_text", None),
        defines=_strings(message, "defines"),
        attach=_flag(message, "attach"),
        foreground_console=console == "foreground",
        winsize=_winsize(message),
    )


def parse_stop(message: dict[str, object]) -> Stop:
    return Stop(
        name=_name(message),
        timeout=_number(message, "timeout", 60.0),
        kill=_flag(message, "kill"),
        reboot=_flag(message, "reboot"),
        nowait=_flag(message, "nowait"),
        nokill=_flag(message, "nokill"),
        halt_signal=_optional_signal(message, "halt_signal"),
        reboot_signal=_optional_signal(message, "reboot_signal"),
        stop_signal=_optional_signal(message, "stop_signal"),
    )


def _optional_signal(message: dict[str, object], field: str) -> int | None:
    if message.get(field) is None:
        return None
    return _integer(message, field, SIGNAL_MIN, SIGNAL_MAX)


def parse_signal(message: dict[str, object]) -> Signal:
    """`signal` {name, signal}; also what an attached command sends (name optional)."""
    number = _integer(message, "signal", SIGNAL_MIN, SIGNAL_MAX, int(signals.SIGTERM))
    return Signal(_optional_name(message), number)


def parse_console(message: dict[str, object]) -> Console:
    return Console(_name(message), _integer(message, "tty", TTY_MIN, TTY_MAX, -1))


def parse_console_resize(message: dict[str, object]) -> ConsoleResize:
    """On a connection of its own (name required by its handler), or on a console lease."""
    return ConsoleResize(
        _optional_name(message),
        _integer(message, "tty", 0, TTY_MAX, 0),
        _integer(message, "rows", 0, WINSIZE_MAX),
        _integer(message, "cols", 0, WINSIZE_MAX),
    )


def parse_console_log(message: dict[str, object]) -> ConsoleLog:
    return ConsoleLog(_name(message), _flag(message, "clear"))


def parse_cgroup(message: dict[str, object]) -> Cgroup:
    key = _text(message, "key")
    if not key:
        raise _fail("key", "must not be empty")
    return Cgroup(_name(message), key, _text(message, "value", None))


def parse_device(message: dict[str, object]) -> Device:
    action = _text(message, "action")
    if action not in ("add", "del"):
        raise _fail("action", f"must be 'add' or 'del', not '{action}'")
    device = _text(message, "device")
    target = _text(message, "target", None)
    for field, value in (("device", device), ("target", target)):
        if value is not None and (not value or "\n" in value or len(value) > 4096):
            raise _fail(field, "must be a non-empty line of at most 4096 characters")
    return Device(_name(message), action, device, target)


def parse_checkpoint(message: dict[str, object]) -> Checkpoint:
    """`checkpoint` and `restore`: the images' directory must be an absolute path."""
    directory = _text(message, "dir")
    script = _text(message, "action_script", None)
    for field, value in (("dir", directory), ("action_script", script)):
        if value is not None and not value.startswith("/"):
            raise _fail(field, f"must be an absolute path, not '{value}'")
    return Checkpoint(
        name=_name(message),
        dir=directory,
        stop=_flag(message, "stop"),
        verbose=_flag(message, "verbose"),
        predump=_flag(message, "predump"),
        predump_dir=_text(message, "predump_dir", None),
        action_script=script,
    )


def parse_start_many(message: dict[str, object]) -> Request:
    """lxc-autostart's batches: checked in runtime.daemon.many (imported when one comes)."""
    from runtime.daemon import many

    return many.parse_start_many(message)  # type: ignore[return-value]


def parse_stop_many(message: dict[str, object]) -> Request:
    from runtime.daemon import many

    return many.parse_stop_many(message)  # type: ignore[return-value]


PARSERS: dict[str, Callable[[dict[str, object]], Request]] = {
    "ping": parse_ping,
    "shutdown": parse_shutdown,
    "state": parse_named,
    "freeze": parse_named,
    "unfreeze": parse_named,
    "stats": parse_named,
    "start": parse_start,
    "stop": parse_stop,
    "signal": parse_signal,
    "console": parse_console,
    "console-resize": parse_console_resize,
    "console-log": parse_console_log,
    "cgroup": parse_cgroup,
    "metrics": parse_ping,  # no fields: runtime.daemon.metrics
    "device": parse_device,
    "checkpoint": parse_checkpoint,
    "restore": parse_checkpoint,
    "start-many": parse_start_many,
    "stop-many": parse_stop_many,
}


def parse(message: dict[str, object]) -> tuple[str, Request]:
    """(op, its checked record); RequestError for an unknown op or a bad field."""
    op = message.get("op")
    if not isinstance(op, str) or op not in PARSERS:
        shown = op if isinstance(op, str) and len(op) <= 40 and op.isprintable() else repr(op)[:40]
        raise RequestError(f"unknown request '{shown}'")
    return op, PARSERS[op](message)
