"""The monitor bus protocol, sans IO: bytes in, messages out, and the subscription filter.

Why sans IO (after h11): the trio server, the blocking client used by `lxc-monitor`
and `lxc-wait`, and the async client all speak the same protocol; keeping the
protocol free of sockets lets each adapter stay small and lets the tests drive the
protocol without any IO. Standard library only, and no `typing`/`dataclasses`
import, because the client commands load this module at start-up.

Wire format: JSON lines. Every line is one JSON object with `"v": 2` (the protocol
version) and `"type"`; another version is refused. A line is at most MAX_LINE bytes
and nests at most bus.jsonlimit.MAX_DEPTH levels. Messages:

client -> server (once, first line of a connection)
  subscribe  {names: [NAME...] | null, states: [STATE...] | null, since: SEQ | null,
              since_time: UNIX-TIME | null, epoch: STR | null}

server -> client
  state      {seq, time, lxcpath, name, state[, reason]}  a transition (`reason`:
                                                           why, for ABORTING)
  exit       {seq, time, lxcpath, name, status, exit_code, signal}
                                                           init/application exit
  created    {seq, time, lxcpath, name}
  destroyed  {seq, time, lxcpath, name}
  snapshot   {lxcpath, name, state}      last known state of one matching container
  synced     {seq, epoch, replay_complete}   end of replay + snapshot; live follows
  overflow   {message}   the subscriber fell behind and is being disconnected
  error      {message}   the subscription was refused (bad regex, state, access)

`seq` numbers events of one server instance from 1 without gaps; `epoch` names
that instance, so a client can tell a restarted daemon (whose numbering starts
again) from the one it knew. `time` is the Unix time of publication. `status` is
the figure LXC prints: the exit code, or 128+N for an init killed by signal N
(LXC prints 0 there); `exit_code` and `signal` carry the two apart. Both null:
the status is unknown (the init died while no daemon ran, and no process of ours
reaped it); `status` is then 0 and the line says `exited with status [unknown]`.

Who filters (version 2): the server sends every event of the names asked for
(`names`, exact names; null: all names), narrowed by `states`; it never compiles
or runs a subscriber's regex, so a pattern that backtracks for days costs only the
subscriber that gave it. The client matches its regex itself (`Filter`, applied by
`SubscriberState`); a regex that is a plain list of names (`foo|bar`, or
`re.escape(name)`) is also sent as `names`, so `lxc-wait` receives only its own
container's events; such a list is matched as a set, without `re`, which is then
not even imported. Version 1 sent the regex to the server.

Unknown message types decode to `UnknownMessage` rather than failing, so a
newer server can add a type without breaking older clients; an existing type's
meaning never changes.

Errors: `BusProtocolError` is the peer's misuse of the wire (bad JSON, wrong
version, a line too long, a missing field); `InvalidFilter`/`InvalidState` (its
subclasses, also `ValueError`s) reject a subscription's regex or state names.
"""

from __future__ import annotations

from bus.jsonlimit import loads as _loads_bounded
from bus.wire_json import dumps as _dumps

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: `typing` costs the client commands at start-up
    from collections.abc import Iterable
    from re import Pattern

    # One decoded field: (name, (exact wire types, how to say so), default or _REQUIRED).
    _Field = tuple[str, tuple[tuple[type, ...], str], object]

PROTOCOL_VERSION = 2
#: A longer line is refused: no legitimate message comes near it.
MAX_LINE = 64 * 1024

#: LXC's container states, in LXC's order (lxc_state_t).
VALID_STATES: tuple[str, ...] = (
    "STOPPED",
    "STARTING",
    "RUNNING",
    "STOPPING",
    "ABORTING",
    "FREEZING",
    "FROZEN",
    "THAWED",
)


class BusError(Exception):
    """Anything that goes wrong on the monitor bus."""


class BusProtocolError(BusError, ValueError):
    """The peer broke the wire protocol (or a request was invalid); says how."""


class InvalidFilter(BusProtocolError):
    """A subscription's name regex or state list cannot be used."""


class BusConnectionError(BusError, ConnectionError):
    """The bus could not be reached (or reached again within the reconnect timeout)."""


class BusOverflow(BusConnectionError):
    """This subscriber fell behind and was disconnected (raised only without reconnect)."""


class BusRefused(BusError):
    """The server refused the subscription; the message says why."""


class BusTimeout(BusError, TimeoutError):
    """The deadline passed before the next message arrived."""


class InvalidState(InvalidFilter):
    """A state name that is not one of VALID_STATES (`.state` holds it)."""

    def __init__(self, state: str) -> None:
        super().__init__(f"invalid state '{state}'")
        self.state = state


# --------------------------------------------------------------------------- filter


def check_state(state: str) -> str:
    """Return `state` if it is one of LXC's state names (case matters, as in LXC)."""
    if state not in VALID_STATES:
        raise InvalidState(state)
    return state


def parse_states(text: str) -> frozenset[str]:
    """`'RUNNING|STOPPED'` (lxc-wait's -s) -> the set of states; InvalidState if one is unknown."""
    return frozenset(check_state(part) for part in text.split("|"))


#: What `re.escape` puts a backslash before (`escape` below does the same).
_ESCAPED = {c: "\\" + chr(c) for c in b"()[]{}?*+-|^$\\.&~# \t\n\r\v\f"}
#: Characters with a meaning in a regex: a regex with one unescaped is no name list.
_SPECIAL = frozenset("\\.^$*+?{}[]|()")
_ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def escape(name: str) -> str:
    """`re.escape(name)`, without importing `re` (lxc-wait subscribes with it)."""
    return name.translate(_ESCAPED)


def literal_names(regex: str) -> frozenset[str] | None:
    """The names a regex matches in full when it is a plain list of them (`foo|bar`,
    alternatives of ordinary characters or backslash-escaped punctuation, as
    `re.escape` writes them), else None. One pass, no `re`: the commands that
    subscribe to one name (lxc-wait) never import it."""
    names: list[str] = []
    current: list[str] = []
    chars = iter(regex)
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped is None or escaped in _ALNUM:
                return None
            current.append(escaped)
        elif char == "|":
            if not current:
                return None
            names.append("".join(current))
            current = []
        elif char in _SPECIAL:
            return None
        else:
            current.append(char)
    if not current:
        return None
    names.append("".join(current))
    return frozenset(names)
#: Names whose match result a Filter remembers (there are few names; bounded anyway).
_CACHE_SIZE = 4096


class Filter:
    """Which events a subscriber wants: names matching a regex, optionally only some states.

    Used in the subscriber's own process, never in the server (see the module
    docstring). The regex must match the whole name: `foo|bar` means `^(foo|bar)$`
    and does not match `foobaz` (LXC builds `^foo|bar$`, which does). The regex is
    compiled as given, so an unbalanced one is an error rather than being silently
    wrapped. The state set, when given, narrows `state` events and snapshot items;
    exit, created and destroyed events are filtered by name only.
    """

    __slots__ = ("regex", "states", "_names", "_pattern", "_cache")

    def __init__(self, regex: str = ".*", states: Iterable[str] | None = None) -> None:
        if not isinstance(regex, str):
            raise InvalidFilter(f"the name regex must be a string, not {type(regex).__name__}")
        # A plain list of names is matched as a set, and `re` is not even imported.
        self._names = literal_names(regex)
        self._pattern: Pattern[str] | None = None
        if self._names is None:
            import re

            try:
                self._pattern = re.compile(regex)
            except re.error as err:
                raise InvalidFilter(f"invalid regex '{regex}': {err}") from None
            except (RecursionError, OverflowError, MemoryError, ValueError):
                # Thousands of nested groups exhaust the compiler's recursion.
                raise InvalidFilter(f"invalid regex '{_shorten(regex)}': too complex") from None
        self.regex = regex
        self._cache: dict[str, bool] = {}
        if states is None:
            self.states: frozenset[str] | None = None
        else:
            if isinstance(states, str):
                raise InvalidFilter("states must be a list of state names, not a string")
            self.states = frozenset(check_state(s) for s in states)

    def exact_names(self) -> list[str] | None:
        """The names the regex matches when it is a plain list of them, else None."""
        return None if self._names is None else sorted(self._names)

    def matches_name(self, name: str) -> bool:
        if self._names is not None:
            return name in self._names
        cache = self._cache
        ok = cache.get(name)
        if ok is None:
            if len(cache) >= _CACHE_SIZE:
                cache.clear()
            assert self._pattern is not None
            ok = cache[name] = self._pattern.fullmatch(name) is not None
        return ok

    def matches_state(self, state: str) -> bool:
        return self.states is None or state in self.states

    def matches(self, message: Message) -> bool:
        """Whether a (state, exit, created, destroyed or snapshot) message passes the filter."""
        name = getattr(message, "name", None)
        if name is None or not self.matches_name(name):
            return False
        state = getattr(message, "state", None)
        return state is None or self.matches_state(state)

    def __repr__(self) -> str:
        states = sorted(self.states) if self.states is not None else None
        return f"Filter({self.regex!r}, {states!r})"


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else f"{text[:limit]}..."


class Selection:
    """What the server sends a subscriber: exact names (or all) and states (or all).

    Set lookups only: the server never runs a subscriber's regex.
    """

    __slots__ = ("names", "states")

    def __init__(self, names: Iterable[str] | None = None, states: Iterable[str] | None = None) -> None:
        self.names = None if names is None else frozenset(names)
        self.states = None if states is None else frozenset(check_state(s) for s in states)

    def wants(self, name: str, state: str | None) -> bool:
        """Whether an event about `name` (a `state` event when state is given) goes out."""
        if self.names is not None and name not in self.names:
            return False
        return state is None or self.states is None or state in self.states

    def matches(self, message: Message) -> bool:
        name = getattr(message, "name", None)
        return name is not None and self.wants(name, getattr(message, "state", None))


# --------------------------------------------------------------------------- LXC's lines


def exit_status(exit_code: int | None, signal: int | None) -> int:
    """The figure `exited with status [N]` shows: the exit code, or 128+N for signal N."""
    if signal is not None:
        return 128 + signal
    return exit_code if exit_code is not None else 0


def format_state_line(name: str, state: str) -> str:
    """LXC's lxc-monitor line for a transition (no newline)."""
    return f"'{name}' changed state to [{state}]"


def format_exit_line(name: str, status: int) -> str:
    """LXC's lxc-monitor line for the exit of a container's init or application."""
    return f"'{name}' exited with status [{status}]"


# --------------------------------------------------------------------------- messages

# Field kinds for decoding: the exact types a value may have on the wire (bool is
# not an int here), and how to say so. An exact type test per field keeps decoding
# cheap: a subscriber process decodes every event.
_NONE = type(None)
_STR = ((str,), "a string")
_OPT_STR = ((str, _NONE), "a string or null")
_INT = ((int,), "an integer")
_OPT_INT = ((int, _NONE), "an integer or null")
_NUM = ((int, float), "a number")
_OPT_NUM = ((int, float, _NONE), "a number or null")
_OPT_BOOL = ((bool, _NONE), "true, false or null")
_OPT_STR_LIST = ((list, _NONE), "a list of strings or null")


_REQUIRED = object()
_SLOT_NAMES: dict[type, tuple[str, ...]] = {}


class Message:
    """Base of all messages: fields in `__slots__`, the wire type in TYPE.

    FIELDS lists (name, kind, default) for decoding; a field whose default is
    _REQUIRED must be present on the wire.
    """

    __slots__ = ()
    TYPE = ""
    FIELDS: tuple[_Field, ...] = ()

    def to_wire(self) -> dict[str, object]:
        """The JSON object for this message, version and type included."""
        data: dict[str, object] = {"v": PROTOCOL_VERSION, "type": self.TYPE}
        for name, _kind, _default in self.FIELDS:
            data[name] = getattr(self, name)
        return data

    @classmethod
    def from_wire(cls, data: dict[str, object]) -> Message:
        kwargs = {}
        for name, (types, what), default in cls.FIELDS:
            value = data.get(name, _REQUIRED)
            if value is _REQUIRED:
                if default is _REQUIRED:
                    raise BusProtocolError(f"'{cls.TYPE}' message without field '{name}'")
                value = default
            elif type(value) not in types or (
                type(value) is list and not all(type(item) is str for item in value)
            ):
                raise BusProtocolError(f"field '{name}' must be {what}")
            kwargs[name] = value
        return cls(**kwargs)

    def _names(self) -> tuple[str, ...]:
        """Every slot of the message's class, base classes first."""
        cls = type(self)
        names = _SLOT_NAMES.get(cls)
        if names is None:
            collected: list[str] = []
            for klass in reversed(cls.__mro__):
                collected.extend(klass.__dict__.get("__slots__", ()))
            names = _SLOT_NAMES[cls] = tuple(collected)
        return names

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._names())

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Message)
            and type(other) is type(self)
            and other._values() == self._values()
        )

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._names())
        return f"{type(self).__name__}({fields})"


class Subscribe(Message):
    """The one request: which names and states to receive, and from where to replay."""

    __slots__ = ("names", "states", "since", "since_time", "epoch")
    TYPE = "subscribe"
    FIELDS = (
        ("names", _OPT_STR_LIST, None),
        ("states", _OPT_STR_LIST, None),
        ("since", _OPT_INT, None),
        ("since_time", _OPT_NUM, None),
        ("epoch", _OPT_STR, None),
    )

    def __init__(
        self,
        names: list[str] | None = None,
        states: list[str] | None = None,
        since: int | None = None,
        since_time: float | None = None,
        epoch: str | None = None,
    ) -> None:
        self.names = None if names is None else sorted(names)
        self.states = None if states is None else sorted(states)
        self.since = since
        self.since_time = since_time
        self.epoch = epoch

    @classmethod
    def from_wire(cls, data: dict[str, object]) -> Message:
        message = super().from_wire(data)
        assert isinstance(message, Subscribe)
        since_time = message.since_time
        if since_time is not None and since_time != since_time:  # NaN never compares
            raise BusProtocolError("field 'since_time' must be a number, not NaN")
        return message

    def selection(self) -> Selection:
        """What the server sends for this request; InvalidState if a state is unknown."""
        return Selection(self.names, self.states)

    @classmethod
    def for_filter(
        cls,
        flt: Filter,
        since: int | None = None,
        since_time: float | None = None,
    ) -> Subscribe:
        """The request a client sends for a Filter it applies itself."""
        states = None if flt.states is None else sorted(flt.states)
        return cls(flt.exact_names(), states, since, since_time)


class Event(Message):
    """A published event: numbered (`seq`) and timed (`time`, Unix seconds)."""

    __slots__ = ()
    seq: int
    time: float
    name: str
    lxcpath: str | None


class StateEvent(Event):
    """A container changed state: `'name' changed state to [STATE]`."""

    __slots__ = ("seq", "time", "lxcpath", "name", "state", "reason")
    TYPE = "state"
    FIELDS = (
        ("seq", _INT, _REQUIRED),
        ("time", _NUM, _REQUIRED),
        ("lxcpath", _OPT_STR, None),
        ("name", _STR, _REQUIRED),
        ("state", _STR, _REQUIRED),
        ("reason", _OPT_STR, None),
    )

    def __init__(
        self,
        seq: int,
        time: float,
        name: str,
        state: str,
        lxcpath: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.seq = seq
        self.time = time
        self.lxcpath = lxcpath
        self.name = name
        self.state = state
        #: Why, when there is something to say (ABORTING: the start's failure).
        self.reason = reason

    def to_wire(self) -> dict[str, object]:
        data = super().to_wire()
        if self.reason is None:
            del data["reason"]  # optional: the line stays as older clients know it
        return data

    def line(self) -> str:
        return format_state_line(self.name, self.state)


class ExitEvent(Event):
    """The container's init (or lxc-execute's application) exited."""

    __slots__ = ("seq", "time", "lxcpath", "name", "status", "exit_code", "signal")
    TYPE = "exit"
    FIELDS = (
        ("seq", _INT, _REQUIRED),
        ("time", _NUM, _REQUIRED),
        ("lxcpath", _OPT_STR, None),
        ("name", _STR, _REQUIRED),
        ("status", _INT, _REQUIRED),
        ("exit_code", _OPT_INT, None),
        ("signal", _OPT_INT, None),
    )

    def __init__(
        self,
        seq: int,
        time: float,
        name: str,
        status: int,
        exit_code: int | None = None,
        signal: int | None = None,
        lxcpath: str | None = None,
    ) -> None:
        self.seq = seq
        self.time = time
        self.lxcpath = lxcpath
        self.name = name
        self.status = status
        self.exit_code = exit_code
        self.signal = signal

    def line(self) -> str:
        if self.exit_code is None and self.signal is None:
            return f"'{self.name}' exited with status [unknown]"
        return format_exit_line(self.name, self.status)


class _NamedEvent(Event):
    """An event about a container that carries nothing but its name."""

    __slots__ = ("seq", "time", "lxcpath", "name")
    FIELDS = (
        ("seq", _INT, _REQUIRED),
        ("time", _NUM, _REQUIRED),
        ("lxcpath", _OPT_STR, None),
        ("name", _STR, _REQUIRED),
    )

    def __init__(self, seq: int, time: float, name: str, lxcpath: str | None = None) -> None:
        self.seq = seq
        self.time = time
        self.lxcpath = lxcpath
        self.name = name


class CreatedEvent(_NamedEvent):
    """A container was defined in the lxcpath."""

    __slots__ = ()
    TYPE = "created"


class DestroyedEvent(_NamedEvent):
    """A container was removed from the lxcpath."""

    __slots__ = ()
    TYPE = "destroyed"


class SnapshotItem(Message):
    """On subscribe: the last known state of one matching container (not a transition)."""

    __slots__ = ("lxcpath", "name", "state")
    TYPE = "snapshot"
    FIELDS = (("lxcpath", _OPT_STR, None), ("name", _STR, _REQUIRED), ("state", _STR, _REQUIRED))

    def __init__(self, name: str, state: str, lxcpath: str | None = None) -> None:
        self.lxcpath = lxcpath
        self.name = name
        self.state = state


class Synced(Message):
    """End of the replay and snapshot: every later event is live, starting at seq+1.

    `replay_complete` is None when no replay was asked for, True when the ring held
    every event since the requested point, False when some were gone and the
    snapshot is all there is. A request naming another server's epoch (a client
    reconnecting after a daemon restart) gets this server's whole ring, complete
    when none of it was evicted yet.
    """

    __slots__ = ("seq", "epoch", "replay_complete")
    TYPE = "synced"
    FIELDS = (
        ("seq", _INT, _REQUIRED),
        ("epoch", _STR, _REQUIRED),
        ("replay_complete", _OPT_BOOL, None),
    )

    def __init__(self, seq: int, epoch: str, replay_complete: bool | None = None) -> None:
        self.seq = seq
        self.epoch = epoch
        self.replay_complete = replay_complete


class Overflow(Message):
    """The subscriber's queue filled up: it is being disconnected and should resubscribe."""

    __slots__ = ("message",)
    TYPE = "overflow"
    FIELDS = (("message", _STR, ""),)

    def __init__(self, message: str = "") -> None:
        self.message = message


class Error(Message):
    """The server refused the subscription; `message` says why."""

    __slots__ = ("message",)
    TYPE = "error"
    FIELDS = (("message", _STR, _REQUIRED),)

    def __init__(self, message: str) -> None:
        self.message = message


class UnknownMessage(Message):
    """A message type this version does not know (kept, so clients can skip it)."""

    __slots__ = ("type", "data")

    def __init__(self, type: str, data: dict[str, object]) -> None:  # noqa: A002
        self.type = type
        self.data = data

    def to_wire(self) -> dict[str, object]:
        return dict(self.data)


class Reconnected(Message):
    """Client-side marker, never on the wire: the connection was lost and remade.

    What follows is a fresh replay (when the server could give one), snapshot and
    `Synced`; `reason` is 'overflow' or 'disconnected'.
    """

    __slots__ = ("reason",)
    TYPE = "reconnected"

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def to_wire(self) -> dict[str, object]:
        return {"v": PROTOCOL_VERSION, "type": self.TYPE, "reason": self.reason}


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.TYPE: cls
    for cls in (
        Subscribe,
        StateEvent,
        ExitEvent,
        CreatedEvent,
        DestroyedEvent,
        SnapshotItem,
        Synced,
        Overflow,
        Error,
    )
}


def encode(message: Message) -> bytes:
    """One wire line for a message (compact JSON and a newline)."""
    if isinstance(message, Reconnected):
        raise BusError("Reconnected is a client-side marker and is never sent")
    return (_dumps(message.to_wire()) + "\n").encode()


def decode_line(line: bytes) -> Message:
    """One wire line (without its newline) -> a message; BusProtocolError if it is bad."""
    try:
        data = _loads_bounded(line)
    except ValueError as err:  # UnicodeDecodeError, JSONDecodeError, JsonLimitError
        raise BusProtocolError(f"a line that is not JSON: {err}") from None
    if not isinstance(data, dict):
        raise BusProtocolError("a line that is not a JSON object")
    version = data.get("v")
    if version != PROTOCOL_VERSION:
        raise BusProtocolError(
            f"unsupported protocol version {version!r} (this side speaks {PROTOCOL_VERSION})"
        )
    kind = data.get("type")
    if not isinstance(kind, str):
        raise BusProtocolError("a message without a 'type'")
    cls = MESSAGE_TYPES.get(kind)
    if cls is None:
        return UnknownMessage(kind, data)
    return cls.from_wire(data)


class Decoder:
    """Turns a byte stream into messages; keeps a partial line until its end arrives."""

    __slots__ = ("max_line", "_buffer")

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        """Add received bytes; return every message now complete, in order."""
        buffer = self._buffer
        buffer += data
        messages: list[Message] = []
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            if end - start > self.max_line:
                raise BusProtocolError(f"a line longer than {self.max_line} bytes")
            if end > start:
                messages.append(decode_line(bytes(buffer[start:end])))
            start = end + 1
        if start:
            del buffer[:start]
        if len(buffer) > self.max_line:
            raise BusProtocolError(f"a line longer than {self.max_line} bytes")
        return messages

    @property
    def pending(self) -> int:
        """Bytes of an incomplete line held back."""
        return len(self._buffer)

    def feed_eof(self) -> None:
        """The stream ended: an incomplete last line is an error."""
        if self._buffer.strip():
            size = len(self._buffer)
            self._buffer.clear()
            raise BusProtocolError(
                f"the connection closed in the middle of a message ({size} bytes)"
            )


class SubscriberState:
    """A subscriber's bookkeeping, shared by the blocking and the async client (sans IO).

    It remembers the server's epoch and the last sequence number seen, so that a
    reconnect can ask for a replay of exactly what was missed; it applies the
    subscriber's own Filter (the server only narrows by exact names and states);
    and it sorts incoming messages into "deliver", "the connection is lost"
    (overflow) and "refused".
    """

    __slots__ = ("request", "filter", "epoch", "last_seq", "synced")

    def __init__(self, request: Subscribe, flt: Filter | None = None) -> None:
        self.request = request
        #: Applied to events and snapshot items before they are delivered (None: all).
        self.filter = flt
        self.epoch: str | None = None
        self.last_seq: int | None = None
        #: True between a `Synced` and the next loss of the connection.
        self.synced = False

    def resubscribe_request(self) -> Subscribe:
        """The original request, asking for a replay since the last event seen."""
        base = self.request
        if self.last_seq is None:
            return base
        return Subscribe(base.names, base.states, self.last_seq, None, self.epoch)

    def receive(self, messages: list[Message], deliver: list[Message]) -> bool:
        """Append the messages to deliver; False if the server dropped us (overflow).

        Raises BusRefused for an `error` message.
        """
        flt = self.filter
        for message in messages:
            if isinstance(message, Event):
                self.last_seq = message.seq  # seen, even when filtered out below
                if flt is not None and not flt.matches(message):
                    continue
            elif isinstance(message, SnapshotItem):
                if flt is not None and not flt.matches(message):
                    continue
            elif isinstance(message, Synced):
                self.epoch = message.epoch
                self.last_seq = message.seq
                self.synced = True
            elif isinstance(message, Overflow):
                self.synced = False
                return False
            elif isinstance(message, Error):
                raise BusRefused(message.message)
            deliver.append(message)
        return True
