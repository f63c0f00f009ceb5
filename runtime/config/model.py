"""The typed container configuration: attrs classes built from the key table.

`runtime.config.parser` gives a `RawConfig` (text values, validated); the runtime
wants typed values (`cfg.tty_max == 4`, `cfg.mount_entry[0].target`,
`cfg.net[0].ipv4_address[0].prefix`). This module turns one into the other and back.

Why the classes are made from the table instead of written out: the key table
(`runtime.config.keys`) is the one place a key is declared, as LXC's confile.c is.
`ContainerConfig` and `NetDevice` get one attribute per table entry, named by the
entry's `field`, typed by its checker's return annotation, so adding a key to the
table is the only change needed: parse, model, write-back and `lxc-info -c` follow.
The price is that a static type checker cannot see the generated attributes; the
field list is `attrs.fields(ContainerConfig)` and `describe()` prints it.

How a key becomes a field:
- a SCALAR key is `T | None`, None when unset;
- a LIST key is `list[T]`, empty when unset; a checker that returns a list for one
  line (capabilities, namespaces, mount.auto tokens, VLAN ids) is flattened, as LXC
  does, so `lxc.cap.drop = a b` and two lines `a`, `b` give the same model;
- a family (`lxc.cgroup.*`, `lxc.prlimit.*`, `lxc.hook.*`, ...) is a dict from the
  member (`devices.allow`, `nofile`, `pre-start`) to `T` or `list[T]`, in the order
  the members first appeared (cgroup settings are applied in that order);
- `lxc.net.N.*` becomes `net: list[NetDevice]`, sorted by N, each keeping its `index`
  so that a config with sparse indices writes back the same keys.
A checker returning a dict (fstab line, id map, resource limit, IP address) is given
a small attrs class here (`_STRUCTURED`); cattrs does the dict-to-class step.

Writing back (`to_settings`) formats each typed value as text that parses to the same
typed value. It does not always give the original text (`SIGPWR` and `30` are the same
signal; `10.0.0.1` comes back as `10.0.0.1/8`): what is preserved is the model, i.e.
`from_raw(parse(render(to_settings(cfg)))) == cfg`. Signals are written by name and
time offsets with the largest exact unit, so the written file stays readable.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

import attrs
import cattrs

from runtime.config import keys
from runtime.config import values as v
from runtime.config.parser import RawConfig, parse_file, parse_text

__all__ = [
    "ContainerConfig",
    "IdMap",
    "IpAddress",
    "MountEntry",
    "NetDevice",
    "PrLimit",
    "converter",
    "describe",
    "format_value",
    "from_raw",
    "load",
    "loads",
    "to_settings",
]

UNLIMITED = -1


# -- structured values ------------------------------------------------------------


def _fstab_escape(field: str) -> str:
    """Escape what would split an fstab field (and the backslash) as `\\ooo`.

    The checker turns `\\ooo` back into the character, so the round trip is exact.
    A whitespace character above U+00FF cannot be written in three octal digits.
    """
    if not field:
        raise ValueError("an fstab field cannot be empty")
    out = []
    for ch in field:
        if ch == "\\" or ch.isspace():
            if ord(ch) > 0o377:
                raise ValueError(f"cannot write {ch!r} in an fstab field")
            out.append(f"\\{ord(ch):03o}")
        else:
            out.append(ch)
    return "".join(out)


@attrs.define
class MountEntry:
    """One `lxc.mount.entry`: an fstab line, with escapes (`\\040`) already decoded."""

    source: str
    target: str
    fstype: str
    options: str = "defaults"
    freq: int = 0
    passno: int = 0

    def to_text(self) -> str:
        return " ".join(
            (
                _fstab_escape(self.source),
                _fstab_escape(self.target),
                self.fstype,
                self.options,
                str(self.freq),
                str(self.passno),
            )
        )


@attrs.define
class IdMap:
    """One `lxc.idmap`: `kind` is u (uids), g (gids) or b (both)."""

    kind: str
    ns_id: int
    host_id: int
    range: int

    def to_text(self) -> str:
        return f"{self.kind} {self.ns_id} {self.host_id} {self.range}"


@attrs.define
class PrLimit:
    """One `lxc.prlimit.RESOURCE`: soft and hard limits, -1 (UNLIMITED) for unlimited."""

    soft: int
    hard: int

    def to_text(self) -> str:
        soft, hard = (
            "unlimited" if limit == UNLIMITED else str(limit) for limit in (self.soft, self.hard)
        )
        return soft if soft == hard else f"{soft}:{hard}"


@attrs.define
class IpAddress:
    """One `lxc.net.N.ipv4.address` / `ipv6.address`; the prefix is always explicit.

    `broadcast` is None when not given (IPv6 has none): the runtime computes it.
    """

    address: str
    prefix: int
    broadcast: str | None = None

    def to_text(self) -> str:
        text = f"{self.address}/{self.prefix}"
        return f"{text} {self.broadcast}" if self.broadcast else text


#: Checkers that return a dict, and the class that holds their result.
_STRUCTURED: dict[Callable[..., object], type] = {
    v.mount_entry: MountEntry,
    v.idmap: IdMap,
    v.prlimit: PrLimit,
    v.ipv4_address: IpAddress,
    v.ipv6_address: IpAddress,
}


# -- value formatting ---------------------------------------------------------------


def _signal_names() -> dict[int, str]:
    """Number to name from the checker's own table (the numbering it assumes on every
    host, so what is written reads back to the same number); the first name listed for
    a number (ABRT before IOT) is the one written."""
    names: dict[int, str] = {}
    for name, num in v._SIGNAL_NUMBERS.items():
        names.setdefault(num, "SIG" + name)
    return names


_SIGNAL_NAMES = _signal_names()
_SIGRTMIN, _SIGRTMAX = v._SIGRTMIN, v._SIGRTMAX


def _format_signal(num: int) -> str:
    if num in _SIGNAL_NAMES:
        return _SIGNAL_NAMES[num]
    if num == _SIGRTMAX:
        return "SIGRTMAX"
    if _SIGRTMIN <= num < _SIGRTMAX:
        return "SIGRTMIN" if num == _SIGRTMIN else f"SIGRTMIN+{num - _SIGRTMIN}"
    return str(num)


_TIME_UNITS = (("h", 3600 * 10**9), ("m", 60 * 10**9), ("s", 10**9), ("ms", 10**6), ("us", 10**3))


def _format_time_offset(nanoseconds: int) -> str:
    """The largest unit that divides exactly; a bare number would mean seconds."""
    if nanoseconds == 0:
        return "0s"
    for unit, scale in _TIME_UNITS:
        if nanoseconds % scale == 0:
            return f"{nanoseconds // scale}{unit}"
    return f"{nanoseconds}ns"


def _format_byte_size(size: int) -> str:
    return "auto" if size == -1 else str(size)


#: Checkers whose typed value needs its own way back to text (the default is by type).
_FORMATTERS: dict[Callable[..., object], Callable[[Any], str]] = {
    v.signal_number: _format_signal,
    v.time_offset: _format_time_offset,
    v.byte_size: _format_byte_size,
}


def format_value(spec: keys.KeySpec, value: object) -> str:
    """The text of one typed value (one list element) of the key `spec`."""
    special = _FORMATTERS.get(spec.check)
    if special is not None:
        return special(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | str):
        return str(value)
    to_text = getattr(value, "to_text", None)
    if to_text is not None:
        return to_text()
    raise TypeError(f"{spec.name}: cannot write a {type(value).__name__} value back as text")


# -- building the classes from the table ------------------------------------------


class _FieldPlan:
    """How one table entry maps to a model attribute (computed once at import)."""

    __slots__ = ("spec", "element", "flatten")

    def __init__(self, spec: keys.KeySpec) -> None:
        self.spec = spec
        returned = _STRUCTURED.get(spec.check) or typing.get_type_hints(spec.check)["return"]
        #: The checker returns a list for one line: the model holds the elements.
        self.flatten = typing.get_origin(returned) is list
        self.element: Any = typing.get_args(returned)[0] if self.flatten else returned

    @property
    def is_list(self) -> bool:
        return self.spec.kind == keys.LIST or self.flatten

    def attribute(self, family: bool = False) -> Any:
        """The attrs field: `T | None`, `list[T]`, or for a family a dict of those."""
        element = self.element
        if family:
            value_type = list[element] if self.is_list else element
            return attrs.field(type=dict[str, value_type], factory=dict)
        if self.is_list:
            return attrs.field(type=list[element], factory=list)
        return attrs.field(type=element | None, default=None)

    def convert(self, text: str) -> list[object]:
        """The typed element(s) of one line of text."""
        typed = self.spec.check(text)
        return list(typed) if self.flatten else [typed]


_TOP_PLANS = tuple(_FieldPlan(spec) for spec in keys.EXACT_KEYS)
_FAMILY_PLANS = tuple((prefix, _FieldPlan(spec)) for prefix, spec in keys.PREFIX_KEYS)
_NET_PLANS = tuple(_FieldPlan(spec) for spec in keys.NET_KEYS)
_TOP_BY_KEY = {plan.spec.name: plan for plan in _TOP_PLANS}
_FAMILY_BY_PREFIX = dict(_FAMILY_PLANS)
_NET_BY_KEY = {plan.spec.name: plan for plan in _NET_PLANS}


def _make_class(name: str, doc: str, fields: dict[str, Any]) -> type:
    cls = attrs.make_class(name, fields, kw_only=True, slots=True)
    cls.__doc__ = doc
    cls.__module__ = __name__
    return cls


def _net_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {"index": attrs.field(type=int)}
    for plan in _NET_PLANS:
        if plan.spec.field in fields:
            raise RuntimeError(f"key table: two net keys use the field {plan.spec.field!r}")
        fields[plan.spec.field] = plan.attribute()
    return fields


NetDevice: type = _make_class(
    "NetDevice",
    "One `lxc.net.N` device: `index` is N, then one attribute per `lxc.net.N.*` key.",
    _net_fields(),
)


def _config_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    plans = [(plan, False) for plan in _TOP_PLANS] + [(plan, True) for _, plan in _FAMILY_PLANS]
    for plan, family in plans:
        if plan.spec.field in fields or plan.spec.field == "net":
            raise RuntimeError(f"key table: two keys use the field {plan.spec.field!r}")
        fields[plan.spec.field] = plan.attribute(family)
    fields["net"] = attrs.field(type=list[NetDevice], factory=list)
    return fields


ContainerConfig: type = _make_class(
    "ContainerConfig",
    "A container's configuration, typed: one attribute per key of the key table,"
    " one dict per key family, and `net`, the network devices sorted by index.",
    _config_fields(),
)

#: Structures the intermediate dicts of `from_raw` into the classes (and can
#: unstructure a model into plain data for records on disk).
converter = cattrs.Converter()


# -- public functions ---------------------------------------------------------------


def from_raw(raw: RawConfig) -> Any:
    """The typed `ContainerConfig` of a parsed configuration.

    Each value is converted by its key's checker (the parser already accepted it, so
    this does not fail for a RawConfig built by the parser).
    """
    top: dict[str, Any] = {}
    families: dict[str, dict[str, Any]] = {}
    nets: dict[int, dict[str, Any]] = {}
    for entry in raw.entries():
        resolved = keys.lookup(entry.key)
        spec = resolved.spec
        if resolved.net_index is not None:
            plan = _NET_BY_KEY[spec.name]
            target = nets.setdefault(resolved.net_index, {"index": resolved.net_index})
            _put(target, plan.spec.field, plan, entry.value)
        elif resolved.member is not None:
            plan = _FAMILY_BY_PREFIX[spec.name]
            members = families.setdefault(plan.spec.field, {})
            _put(members, resolved.member, plan, entry.value)
        else:
            plan = _TOP_BY_KEY[spec.name]
            _put(top, plan.spec.field, plan, entry.value)
    top.update(families)
    top["net"] = [nets[index] for index in sorted(nets)]
    return converter.structure(top, ContainerConfig)


def _put(target: dict[str, Any], name: str, plan: _FieldPlan, text: str) -> None:
    typed = plan.convert(text)
    if plan.is_list:
        target.setdefault(name, []).extend(typed)
    else:
        target[name] = typed[0]


def to_settings(cfg: Any) -> list[tuple[str, str]]:
    """(key, value text) pairs for `cfg`, in table order, ready for `writer.render`.

    Top-level keys first (one pair per list element; a key whose single line holds
    several words, like `lxc.cap.drop`, gets one pair with them all), then the families
    (`lxc.cgroup.devices.allow = ...`) member by member, then `lxc.net.N.*` per device.
    """
    settings: list[tuple[str, str]] = []
    for plan in _TOP_PLANS:
        _emit(settings, plan.spec.name, plan, getattr(cfg, plan.spec.field))
    for prefix, plan in _FAMILY_PLANS:
        for member, value in getattr(cfg, plan.spec.field).items():
            _emit(settings, prefix + member, plan, value)
    for device in cfg.net:
        for plan in _NET_PLANS:
            key = f"lxc.net.{device.index}.{plan.spec.name}"
            _emit(settings, key, plan, getattr(device, plan.spec.field))
    return settings


def _emit(settings: list[tuple[str, str]], key: str, plan: _FieldPlan, value: Any) -> None:
    if value is None:
        return
    if plan.flatten:
        # One line for what one line gave: `lxc.cap.drop = sys_time sys_module`.
        if value:
            text = " ".join(format_value(plan.spec, item) for item in value)
            settings.append((key, text))
    elif plan.is_list:
        settings.extend((key, format_value(plan.spec, item)) for item in value)
    else:
        settings.append((key, format_value(plan.spec, value)))


def load(path: str) -> Any:
    """Parse a config file (with its includes) into a `ContainerConfig`."""
    return from_raw(parse_file(path))


def loads(text: str, file: str = "<string>") -> Any:
    """Parse config text into a `ContainerConfig`."""
    return from_raw(parse_text(text, file))


def describe() -> list[tuple[str, str, str]]:
    """(key, attribute, type) of every model attribute, for documentation and tests."""
    rows = [(p.spec.name, p.spec.field, str(p.attribute().type)) for p in _TOP_PLANS]
    rows += [
        (prefix + "*", plan.spec.field, str(plan.attribute(True).type))
        for prefix, plan in _FAMILY_PLANS
    ]
    rows += [
        (f"lxc.net.N.{p.spec.name}", f"net[].{p.spec.field}", str(p.attribute().type))
        for p in _NET_PLANS
    ]
    return rows
