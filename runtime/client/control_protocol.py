"""Every message of the control socket, declared once, sans IO (after bus/protocol.py, h11).

Why one protocol: the commands (cli/*), the Python API and the daemon used to
build and read these messages each on their own, as dict literals read back
with `.get()`; now each request and each reply is a typed, frozen message whose
fields carry their checks (type, length, range), and one table, `OPS`, says for
every op which request it takes, which reply it ends with, which progress events
may come before that reply and how many file descriptors travel each way, like
the command table of LXC's commands.c. The client half (encode a request,
decode its replies) and the server half (decode a request, encode its replies)
are the same declarations read in the two directions.

Wire (framing in runtime/client/control.py): one JSON object per line, `"v": 1`.
    request  {"op": OP, "id"?: ID, ...fields}
    reply    {"ok": true, "id"?: ID, ...fields}                 the final line
             {"ok": false, "id"?: ID, "error": TEXT, "exit_code": N, "kind"?: K}
    event    {"event": TYPE, "id"?: ID, ...fields}              progress, before it
`id` is optional; the daemon echoes it on every line it sends for that request.
Without ids a connection carries one request at a time (the commands: one
request per connection). With ids it may carry many at once: the daemon serves
each request with an id in its own task and its lines come in completion order,
routed by id (runtime.daemon.control_mux; the trio client: runtime.daemon.
mux_client), except the requests that need a connection of their own
(`shares_connection`: fds either way, or the connection becomes a stream). Unknown
fields are ignored (a newer command still talks to an older daemon); a missing
or bad field is refused with one line naming it (`bad request: 'name' ...`).
Constructing a message runs the same checks as decoding one, so a message that
exists is valid, on either side. Two requests are also sent *within* another
(no reply of their own): `Signal` on an attached start's connection (lxc-execute,
lxc-start -F pass their signals on) and `ConsoleResize` on a console lease.

Adding an op: declare its request class in the messages_* module of its family
(fields with `field(check, default=...)`, the reply type as the generic parameter,
`op="name"`), its reply class (or reuse `Done`), list the new names in `_MODULE_OF`,
add one `Op(...)` row to `OPS`, and an `op_<name>` handler on the daemon's
ControlConnection (runtime/daemon/app.py). Never change what an existing op
means: a new meaning gets a new op.

The messages of the ops live in four modules by family (runtime.client.
messages_start: start, stop, signal; messages_state: state, stats, freeze, cgroup,
metrics; messages_console; messages_admin: device, checkpoint, restore, start-many,
stop-many), loaded the first time one of their names is asked of this module
(`__getattr__`, PEP 562): `from runtime.client.control_protocol import Start` works
as before, and a command makes only the classes of the ops it uses (every class
made costs start-up time: ~0.3 ms for the thirty a start does not use). `OPS`
names each op's classes; an `Op` finds them when asked.

Standard library only, no `typing` at run time: the client commands import it
at start-up (the TYPE_CHECKING branch is read by the type checker alone). That
is also why messages are not attrs classes: `Message` is a small frozen,
keyword-only, dataclass-like base (PEP 681 tells the type checker so).
"""

from __future__ import annotations

import math

from runtime.client.control import MAX_LINE, VERSION
from runtime.client.errors import InvalidName, LxcError, printable_line
from runtime.client.lxcpath import validate_name

# The type checker reads the first branch: messages are dataclass-like (PEP 681), so
# `Stop(name=..., kill=True)` is checked field by field, and `field(...)` is typed as
# the field's value (as dataclasses.field is). At run time the second branch costs
# nothing, and `field` (below) returns the _Field that Message collects.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import ClassVar, Generic, TypeVar, cast, dataclass_transform

    T = TypeVar("T")
    R = TypeVar("R", bound="Reply", covariant=True)
    M = TypeVar("M", bound="Message")
    #: A field's check: (wire or Python value, field name) -> the typed value, or RequestError.
    Check = Callable[[object, str], T]

    def field(check: Callable[[object, str], T], *, default: T = ...) -> T:
        """A message field: its check, and its default when it may be left out."""
        ...
else:

    def dataclass_transform(**_kwargs: object) -> Callable[[type], type]:
        return lambda cls: cls

    def cast(_kind: object, value: object) -> object:
        return value


# -- limits ------------------------------------------------------------------------------

#: Signals a request may name: 1 to SIGRTMAX.
SIGNAL_MIN, SIGNAL_MAX = 1, 64
#: A `Signal` request's default (Linux's number; the `signal` module costs the commands).
SIGTERM = 15
#: A terminal size is two unsigned shorts (struct winsize).
WINSIZE_MAX = 65535
#: Terminal numbers a console request may name (-1: the first free one, 0: the console).
TTY_MIN, TTY_MAX = -1, 1024
#: A path (PATH_MAX), a line of text in a request, a cgroup file name (NAME_MAX).
PATH_MAX = 4096
KEY_MAX = 255
VALUE_MAX = 1 << 16
#: argv and -s defines: items, and bytes per item (the kernel's MAX_ARG_STRLEN).
LIST_MAX = 4096
ARG_MAX = 1 << 17
#: A request id: a JSON-safe integer.
ID_MAX = (1 << 53) - 1
START_MODES = ("system", "application")
#: lxc-autostart: containers one start-many/stop-many may name, and the longest delay
#: (a day) it may ask for between batches.
MANY_MAX = 4096
MANY_DELAY_MAX = 86400


# -- errors ------------------------------------------------------------------------------


class RequestError(LxcError):
    """A request refused before anything was done: the message names the field.

    Raised by decoding (the daemon answers it as an ErrorReply echoing `request_id`)
    and by constructing a message with a bad field (a command prints it, exit 1).
    """

    def __init__(self, message: str, request_id: int | None = None) -> None:
        super().__init__(message, exit_code=1)
        self.request_id = request_id

    def reply(self) -> ErrorReply:
        return ErrorReply(error=str(self), exit_code=self.exit_code)


class RequestFailed(LxcError):
    """The daemon answered a request with an error: its line, exit code and kind."""

    def __init__(self, reply: ErrorReply) -> None:
        super().__init__(reply.error, exit_code=reply.exit_code)
        self.reply = reply
        self.kind = reply.kind


class ReplyError(LxcError):
    """The daemon's answer is not what the protocol says (a bug, or not our daemon)."""


def _fail(name: str, reason: str) -> RequestError:
    return RequestError(f"bad request: '{name}' {reason}")


def _shown(value: object, limit: int = 40) -> str:
    """A value from the peer as one short printable line, for an error message (it
    is logged and printed: no escape sequence, no 4000-digit number)."""
    return printable_line(value if isinstance(value, str) else repr(value), limit)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "a list", tuple: "a list", dict: "an object"}  # fmt: skip
    return kinds.get(type(value), type(value).__name__)


# -- checks: each returns the typed value or raises RequestError naming the field ------------


def _refuse_lone_surrogates(value: str, name: str) -> None:
    """A JSON `\\ud800` decodes to a string no file name, argument or value can be
    (only the `\\udc80`-`\\udcff` of undecodable bytes, surrogateescape, can): refused
    here, not met as an encoding error deep in a handler."""
    try:
        value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise _fail(name, "must be text: it holds a lone surrogate (\\ud800-\\udfff)") from None


def text(limit: int = PATH_MAX, *, empty: bool = True, line: bool = False, absolute: bool = False) -> Check[str]:
    """A string without NUL or lone surrogates, of at most `limit` characters."""

    def check(value: object, name: str) -> str:
        if not isinstance(value, str):
            raise _fail(name, f"must be a string, not {_kind(value)}")
        if "\0" in value:
            raise _fail(name, "must not contain NUL")
        _refuse_lone_surrogates(value, name)
        if len(value) > limit:
            raise _fail(name, f"must be at most {limit} characters long")
        if not empty and not value:
            raise _fail(name, "must not be empty")
        if line and "\n" in value:
            raise _fail(name, "must be one line")
        if absolute and not value.startswith("/"):
            raise _fail(name, f"must be an absolute path, not '{_shown(value)}'")
        return value

    return check


def optional(check: Check[T]) -> Check[T | None]:
    """`check`, or null."""

    def optional_check(value: object, name: str) -> T | None:
        return None if value is None else check(value, name)

    return optional_check


def container_name(value: object, name: str) -> str:
    """A container name as the commands accept it (runtime.client.lxcpath.validate_name)."""
    if not isinstance(value, str):
        raise _fail(name, f"must be a string, not {_kind(value)}")
    if "\0" in value:
        raise _fail(name, "must not contain NUL")
    _refuse_lone_surrogates(value, name)
    try:
        return validate_name(value)
    except InvalidName as err:
        raise _fail(name, f"is refused: {_shown(str(err), 200)}") from None


def container_names(items: int = LIST_MAX) -> Check[tuple[str, ...]]:
    """A list of at most `items` container names (for ops on several containers)."""

    def check(value: object, name: str) -> tuple[str, ...]:
        if not isinstance(value, (list, tuple)):
            raise _fail(name, f"must be a list of container names, not {_kind(value)}")
        if len(value) > items:
            raise _fail(name, f"must hold at most {items} names")
        return tuple(container_name(item, name) for item in value)

    return check


def flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(name, f"must be true or false, not {_kind(value)}")
    return value


def integer(low: int, high: int) -> Check[int]:
    def check(value: object, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(name, f"must be an integer, not {_kind(value)}")
        if not low <= value <= high:
            raise _fail(name, f"must be between {low} and {high}, not {_shown(value)}")
        return value

    return check


def number(value: object, name: str) -> float:
    """A finite number (an integer is taken as one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(name, f"must be a number, not {_kind(value)}")
    try:
        converted = float(value)  # an integer past 1e308 is no float: OverflowError
    except OverflowError:
        converted = math.inf
    if not math.isfinite(converted):
        raise _fail(name, f"must be a finite number, not {_shown(value)}")
    return converted


def choice(*allowed: str) -> Check[str]:
    def check(value: object, name: str) -> str:
        if not isinstance(value, str) or value not in allowed:
            shown = _shown(value) if isinstance(value, str) else _kind(value)
            raise _fail(name, f"must be one of {', '.join(allowed)}, not '{shown}'")
        return value

    return check


def strings(items: int = LIST_MAX, limit: int = ARG_MAX) -> Check[tuple[str, ...]]:
    """A list of at most `items` strings without NUL, each at most `limit` long."""

    def check(value: object, name: str) -> tuple[str, ...]:
        if not isinstance(value, (list, tuple)):
            raise _fail(name, f"must be a list of strings, not {_kind(value)}")
        if len(value) > items:
            raise _fail(name, f"must hold at most {items} strings")
        for item in value:
            if not isinstance(item, str):
                raise _fail(name, f"must be a list of strings, not a list holding {_kind(item)}")
            if "\0" in item:
                raise _fail(name, "must not contain NUL")
            _refuse_lone_surrogates(item, name)
            if len(item) > limit:
                raise _fail(name, f"must hold strings of at most {limit} characters")
        return tuple(value)

    return check


def pair(low: int, high: int) -> Check[tuple[int, int]]:
    """[a, b], two integers in low..high (a terminal's rows and columns)."""
    one = integer(low, high)

    def check(value: object, name: str) -> tuple[int, int]:
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise _fail(name, "must be [rows, cols]")
        return (one(value[0], name), one(value[1], name))

    return check


def figures(items: int = 64) -> Check[dict[str, int | None]]:
    """An object of at most `items` named integers (or nulls): cgroup figures."""
    key_check = text(KEY_MAX)

    def check(value: object, name: str) -> dict[str, int | None]:
        if not isinstance(value, dict) or len(value) > items:
            raise _fail(name, f"must be an object of at most {items} figures")
        out: dict[str, int | None] = {}
        for key, item in value.items():
            if item is not None and (isinstance(item, bool) or not isinstance(item, int)):
                raise _fail(name, f"must hold integers or nulls, not {_kind(item)}")
            out[key_check(key, name)] = item
        return out

    return check


def nested(kind: type[M], items: int = 1 << 16) -> Check[tuple[M, ...]]:
    """A list of at most `items` messages of `kind` (as JSON objects on the wire)."""

    def check(value: object, name: str) -> tuple[M, ...]:
        if not isinstance(value, (list, tuple)) or len(value) > items:
            raise _fail(name, f"must be a list of at most {items} objects")
        out = []
        for item in value:
            if isinstance(item, kind):
                out.append(item)
            elif isinstance(item, dict):
                out.append(kind.from_wire(item))
            else:
                raise _fail(name, f"must be a list of objects, not a list holding {_kind(item)}")
        return tuple(out)

    return check


# -- messages ------------------------------------------------------------------------------


class _Field:
    """One declared field at run time: its check, whether it may be left out, its default."""

    __slots__ = ("check", "default", "optional", "name")

    #: The fields of the class being created, in order (`__set_name__`), taken by
    #: `Message.__init_subclass__`.
    declared: ClassVar[list[_Field]] = []

    def __init__(self, check: Check[object], default: object, has_default: bool) -> None:
        self.check = check
        self.default = default
        self.optional = has_default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        _Field.declared.append(self)


if not TYPE_CHECKING:

    def field(check: Check[object], **kwargs: object) -> _Field:
        """`field(check)`: required; `field(check, default=X)`: X when left out (or null)."""
        has_default = "default" in kwargs
        return _Field(check, kwargs.get("default"), has_default)


#: Keys of the envelope: no message field may use them.
ENVELOPE_KEYS = frozenset({"v", "op", "id", "ok", "event"})


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
class Message:
    """A typed, frozen message: `FIELDS` (from the class body's `field(...)`s) say what it holds.

    Construction and `from_wire` run every field's check, so a Message is valid
    by construction; `to_wire` gives its fields as a JSON-ready dict (tuples become
    lists, nested messages objects).
    """

    FIELDS: ClassVar[tuple[_Field, ...]] = ()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        # The fields `__set_name__` saw while the class was made (no scan of the class
        # namespace, no delattr: ~0.5 ms of every command's start-up for 45 classes).
        # They stay class attributes, shadowed by each message's own values.
        own, _Field.declared = _Field.declared, []
        if own:
            for spec in own:
                if spec.name in ENVELOPE_KEYS:
                    raise TypeError(f"{cls.__name__}.{spec.name}: an envelope key")
            names = {f.name for f in own}
            cls.FIELDS = tuple([f for f in cls.FIELDS if f.name not in names] + own)

    def __init__(self, **values: object) -> None:
        unknown = set(values) - {f.name for f in self.FIELDS}
        if unknown:
            raise TypeError(f"{type(self).__name__}: no field {', '.join(sorted(unknown))}")
        self._fill(values)

    def _fill(self, values: Mapping[str, object]) -> None:
        for spec in self.FIELDS:
            value = values.get(spec.name)
            if value is None:
                if not spec.optional:
                    raise _fail(spec.name, "is missing")
                value = spec.default
                if value is not None:
                    value = spec.check(value, spec.name)
            else:
                value = spec.check(value, spec.name)
            object.__setattr__(self, spec.name, value)

    @classmethod
    def from_wire(cls: type[M], data: Mapping[str, object]) -> M:
        """The message for a decoded JSON object; RequestError names a bad field."""
        message = cls.__new__(cls)
        message._fill(data)
        return message

    def to_wire(self) -> dict[str, object]:
        """The fields as a JSON-ready object (without the envelope)."""
        return {spec.name: _wire(getattr(self, spec.name)) for spec in self.FIELDS}

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and type(other) is type(self) and other.to_wire() == self.to_wire()

    def __hash__(self) -> int:
        return hash((type(self), repr(self)))

    def __repr__(self) -> str:
        shown = ", ".join(f"{spec.name}={getattr(self, spec.name)!r}" for spec in self.FIELDS)
        return f"{type(self).__name__}({shown})"


def _wire(value: object) -> object:
    if isinstance(value, Message):
        return value.to_wire()
    if isinstance(value, tuple):
        return [_wire(item) for item in value]
    return value


class Reply(Message):
    """A final answer: `{"ok": true, ...}` on the wire."""


class Event(Message):
    """A progress line before the final reply: `{"event": TYPE, ...}` (TYPE from OPS)."""

    TYPE: ClassVar[str] = ""

    def __init_subclass__(cls, type: str = "") -> None:
        super().__init_subclass__()
        cls.TYPE = type or cls.TYPE


if TYPE_CHECKING:

    class Request(Message, Generic[R]):
        """A request whose final reply is an R (`Connection.call` returns one)."""

        #: The op (a key of OPS) this request is sent as: `class X(Request[R], op="x")`.
        OP: ClassVar[str] = ""

        def __init_subclass__(cls, op: str = "") -> None: ...

else:

    class Request(Message):
        """A request whose final reply is an R (`Connection.call` returns one)."""

        OP = ""

        def __init_subclass__(cls, op: str = "") -> None:
            super().__init_subclass__()
            cls.OP = op or cls.OP

        def __class_getitem__(cls, _reply: object) -> type:
            return cls  # the reply type is for the type checker; OPS has it at run time


class ErrorReply(Message):
    """A refused or failed request: LXC's line, its exit code, and a `kind` some commands
    word their own message from (runtime.daemon.freezer: not-running, failed, unknown-key)."""

    error: str = field(text(MAX_LINE))
    exit_code: int = field(integer(1, 255), default=1)
    kind: str | None = field(optional(text(KEY_MAX)), default=None)

    def to_wire(self) -> dict[str, object]:
        data = super().to_wire()
        if self.kind is None:
            del data["kind"]  # the line as it always was
        return data

    def failure(self) -> RequestFailed:
        return RequestFailed(self)


# -- replies -------------------------------------------------------------------------------


class Done(Reply):
    """Success with nothing more to say (`{"ok": true}`)."""


class Pong(Reply):
    pid: int = field(integer(1, 1 << 31))


# -- requests ------------------------------------------------------------------------------


class Ping(Request[Pong], op="ping"):
    """Is the daemon there (and which pid is it)?"""


class Shutdown(Request[Done], op="shutdown"):
    """Kill every container and exit (tests and `make` clean-up)."""


# -- the table -------------------------------------------------------------------------------


class Op:
    """One row of the table: the op's name, request and reply types, the events that may
    precede the reply, and the fds: how many the request may carry (`fds`, the allowed
    counts) and how many come with the reply or an event (`reply_fds`, at most).

    The row names its classes; `request`, `reply` and `events` load them when first
    asked (the module that declares them, see the module docstring)."""

    __slots__ = ("name", "_request", "_reply", "_events", "fds", "reply_fds", "own_connection")

    def __init__(
        self,
        name: str,
        request: str,
        reply: str,
        *,
        events: tuple[str, ...] = (),
        fds: tuple[int, ...] = (0,),
        reply_fds: int = 0,
        own_connection: bool = False,
    ) -> None:
        self.name = name
        self._request = request
        self._reply = reply
        self._events = events
        self.fds = fds
        self.reply_fds = reply_fds
        #: The connection becomes the request's stream (a console lease, lxc-autostart's
        #: watch of its caller): never one request among many (`shares_connection`).
        self.own_connection = own_connection

    @property
    def request(self) -> type[Request[Reply]]:
        return cast("type[Request[Reply]]", _message_class(self._request))

    @property
    def reply(self) -> type[Reply]:
        return cast("type[Reply]", _message_class(self._reply))

    @property
    def events(self) -> tuple[type[Event], ...]:
        return tuple(cast("type[Event]", _message_class(name)) for name in self._events)


OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op("ping", "Ping", "Pong"),
        Op("shutdown", "Shutdown", "Done"),
        Op("metrics", "Metrics", "MetricsReply"),
        Op("state", "State", "StateReply"),
        Op("start", "Start", "StartReply", events=("Warned", "Started", "Traced"), fds=(0, 3), reply_fds=1),
        Op("stop", "Stop", "Done", events=("Traced",)),
        Op("signal", "Signal", "Done"),
        Op("console", "Console", "ConsoleReply", events=("Closed",), reply_fds=1, own_connection=True),
        Op("console-resize", "ConsoleResize", "Done"),
        Op("console-log", "ConsoleLog", "ConsoleLogReply"),
        Op("freeze", "Freeze", "Changed"),
        Op("unfreeze", "Unfreeze", "Changed"),
        Op("cgroup", "Cgroup", "CgroupReply"),
        Op("stats", "Stats", "StatsReply"),
        Op("device", "Device", "Done"),
        Op("checkpoint", "Checkpoint", "Done"),
        Op("restore", "Restore", "Restored"),
        Op("start-many", "StartMany", "ManyReply", events=("ContainerDone",), own_connection=True),
        Op("stop-many", "StopMany", "ManyReply", events=("ContainerDone",), own_connection=True),
    )
}
#: The most fds any message carries (the receive buffers are sized for it).
MAX_FDS = max(max(op.fds) for op in OPS.values())

#: Where each message class that is not declared here is declared (see the docstring).
_MODULE_OF: dict[str, str] = {
    name: "runtime.client." + module
    for module, names in (
        ("messages_start", ("Start", "StartReply", "Stop", "Signal", "Started", "Warned", "Traced", "TraceMark")),
        ("messages_state", ("State", "StateReply", "Stats", "StatsReply", "Freeze", "Unfreeze", "Changed",
                            "Cgroup", "CgroupReply", "Metrics", "MetricsReply", "SupervisedFigures")),
        ("messages_console", ("Console", "ConsoleReply", "ConsoleResize", "ConsoleLog", "ConsoleLogReply",
                              "Closed")),
        ("messages_admin", ("Device", "Checkpoint", "Restore", "Restored", "Batch", "ManyReply",
                            "ContainerDone", "StartMany", "StopMany")),
    )
    for name in names
}  # fmt: skip


def _load_message_class(name: str) -> object:
    """A message class declared in one of the messages_* modules: loaded now, then
    kept here (`__getattr__`)."""
    module_name = _MODULE_OF.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # __import__, not importlib.import_module: importlib imports `warnings` (0.3 ms).
    value = getattr(__import__(module_name, None, None, [name]), name)
    globals()[name] = value
    return value


if not TYPE_CHECKING:  # the type checker sees the names themselves (the end of the module)

    def __getattr__(name: str) -> object:
        """PEP 562: asked only for names this module does not have (yet)."""
        return _load_message_class(name)


def _message_class(name: str) -> type[Message]:
    found = globals().get(name)
    return cast("type[Message]", found if found is not None else _load_message_class(name))


def op_of(request: Request[R]) -> Op:
    return OPS[request.OP]


def shares_connection(request: Request[R], fds: int = 0) -> bool:
    """May `request` be one of many in flight on a connection (with an id)? Not when fds
    travel with it (SCM_RIGHTS belong to one line of one request), nor when its
    connection becomes a stream: a console lease, an attached start (signals are
    forwarded on it until the exit), start-many/stop-many (they watch the caller)."""
    if fds or op_of(request).own_connection:
        return False
    return not (request.OP == "start" and getattr(request, "attach", False))


# -- encoding and decoding -------------------------------------------------------------------


def _line(envelope: dict[str, object], body: dict[str, object], request_id: int | None) -> bytes:
    from bus.wire_json import dumps

    if request_id is not None:
        envelope["id"] = request_id
    envelope.update(body)
    return dumps(envelope).encode() + b"\n"


def encode_request(request: Request[R], request_id: int | None = None) -> bytes:
    """The request's line (client side)."""
    return _line({"v": VERSION, "op": op_of(request).name}, request.to_wire(), request_id)


def encode_reply(message: Reply | ErrorReply | Event, request_id: int | None = None) -> bytes:
    """A reply's or an event's line (server side), echoing the request's id."""
    if isinstance(message, Event):
        envelope: dict[str, object] = {"v": VERSION, "event": message.TYPE}
    else:
        envelope = {"v": VERSION, "ok": not isinstance(message, ErrorReply)}
    return _line(envelope, message.to_wire(), request_id)


def request_id_of(data: Mapping[str, object]) -> int | None:
    """The envelope's id when it is a valid one (an error reply echoes it), else None."""
    value = data.get("id")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= ID_MAX:
        return None
    return value


class Incoming:
    """A decoded request with its envelope: the op's row and the id to echo."""

    __slots__ = ("op", "request", "id")

    def __init__(self, op: Op, request: Request[Reply], request_id: int | None) -> None:
        self.op = op
        self.request = request
        self.id = request_id


def decode_request(data: Mapping[str, object], fds: int = 0) -> Incoming:
    """A received request (server side): RequestError (with the id to echo) if the op is
    unknown, a field is bad, or it came with a number of fds its op does not take."""
    request_id = request_id_of(data)
    try:
        if "id" in data and request_id is None:
            raise _fail("id", f"must be an integer between 0 and {ID_MAX}")
        version = data.get("v", VERSION)
        if type(version) is not int or version != VERSION:  # true == 1 and 1.0 == 1 in Python
            shown = _shown(version) if type(version) is int else f"'{_shown(version)}' ({_kind(version)})"
            raise RequestError(f"bad request: protocol version {shown} is not {VERSION}")
        name = data.get("op")
        op = OPS.get(name) if isinstance(name, str) else None
        if op is None:
            raise RequestError(f"unknown request '{_shown(name)}'")
        if fds not in op.fds:
            allowed = " or ".join(str(n) for n in op.fds)
            raise RequestError(f"bad request: '{op.name}' takes {allowed} file descriptors, not {fds}")
        return Incoming(op, op.request.from_wire(data), request_id)
    except RequestError as err:
        err.request_id = request_id
        raise


def decode_reply(op: Op, data: Mapping[str, object]) -> Reply | ErrorReply | Event:
    """A received reply or event (client side) of a request of `op`; ReplyError if the
    line is neither, or does not hold what the protocol says."""
    try:
        if "ok" in data:
            ok = data["ok"]
            if ok is True:
                return op.reply.from_wire(data)
            if ok is False:
                return ErrorReply.from_wire(data)
        elif "event" in data:
            for kind in op.events:
                if data["event"] == kind.TYPE:
                    return kind.from_wire(data)
            raise ReplyError(f"the runtime daemon sent an unknown event for '{op.name}'")
    except RequestError as err:
        raise ReplyError(f"the runtime daemon's reply to '{op.name}' is malformed: {err}") from None
    raise ReplyError(f"the runtime daemon sent a line that is no reply to '{op.name}'")


def result(request: Request[R], reply: Reply | ErrorReply) -> R:
    """The typed final reply of `request`, or RequestFailed (LxcError) for an error reply:
    the one place where an error reply becomes the exception a command exits with."""
    if isinstance(reply, ErrorReply):
        raise reply.failure()
    if not isinstance(reply, op_of(request).reply):
        raise ReplyError(f"the runtime daemon answered '{op_of(request).name}' with {type(reply).__name__}")
    return cast("R", reply)



if TYPE_CHECKING:  # what __getattr__ loads, for the type checker
    from runtime.client.messages_admin import Batch as Batch
    from runtime.client.messages_admin import Checkpoint as Checkpoint
    from runtime.client.messages_admin import ContainerDone as ContainerDone
    from runtime.client.messages_admin import Device as Device
    from runtime.client.messages_admin import ManyReply as ManyReply
    from runtime.client.messages_admin import Restore as Restore
    from runtime.client.messages_admin import Restored as Restored
    from runtime.client.messages_admin import StartMany as StartMany
    from runtime.client.messages_admin import StopMany as StopMany
    from runtime.client.messages_console import Closed as Closed
    from runtime.client.messages_console import Console as Console
    from runtime.client.messages_console import ConsoleLog as ConsoleLog
    from runtime.client.messages_console import ConsoleLogReply as ConsoleLogReply
    from runtime.client.messages_console import ConsoleReply as ConsoleReply
    from runtime.client.messages_console import ConsoleResize as ConsoleResize
    from runtime.client.messages_start import Signal as Signal
    from runtime.client.messages_start import Start as Start
    from runtime.client.messages_start import Started as Started
    from runtime.client.messages_start import StartReply as StartReply
    from runtime.client.messages_start import Stop as Stop
    from runtime.client.messages_start import Traced as Traced
    from runtime.client.messages_start import TraceMark as TraceMark
    from runtime.client.messages_start import Warned as Warned
    from runtime.client.messages_state import Cgroup as Cgroup
    from runtime.client.messages_state import CgroupReply as CgroupReply
    from runtime.client.messages_state import Changed as Changed
    from runtime.client.messages_state import Freeze as Freeze
    from runtime.client.messages_state import Metrics as Metrics
    from runtime.client.messages_state import MetricsReply as MetricsReply
    from runtime.client.messages_state import State as State
    from runtime.client.messages_state import StateReply as StateReply
    from runtime.client.messages_state import Stats as Stats
    from runtime.client.messages_state import StatsReply as StatsReply
    from runtime.client.messages_state import SupervisedFigures as SupervisedFigures
    from runtime.client.messages_state import Unfreeze as Unfreeze
