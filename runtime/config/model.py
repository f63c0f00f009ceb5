"""The typed container configuration: attrs classes built from the key table.

`runtime.config.parser` gives a `RawConfig` (text values, validated); the runtime
wants typed values (`cfg.tty_max == 4`, `cfg.mount_entry[0].target`,
`cfg.net[0].ipv4_address[0].prefix`). This module turns one into the other and back.

The key table (`runtime.config.keys`) is the one place a key is declared, as LXC's
confile.c is: parse, write-back and `lxc-info -c` follow it. `ContainerConfig` and
`NetDevice` are written out here, one attribute per table entry, named by the entry's
`field` and typed by its checker's return annotation, so that a type checker and a
reader see every attribute; `_check_against_table()` holds them to the table at
import, so a key added to the table without its attribute (or with another type)
fails at once, saying which line to add. `describe()` prints the list.

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
a small attrs class here (`_STRUCTURED`); `runtime.config.plain` does the
dict-to-class step (and the plain form the spawner receives the model in): cattrs
is not loaded by the daemon nor the spawner (`converter`, cattrs' own, is imported on
first use, for tests that compare the two).

Writing back (`to_settings`) formats each typed value as text that parses to the same
typed value. It does not always give the original text (`SIGPWR` and `30` are the same
signal; `10.0.0.1` comes back as `10.0.0.1/8`): what is preserved is the model, i.e.
`from_raw(parse(render(to_settings(cfg)))) == cfg`. Signals are written by name and
time offsets with the largest exact unit, so the written file stays readable.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from types import GenericAlias

import attrs

from runtime.config import keys, plain
from runtime.config import values as v
from runtime.config.parser import RawConfig, parse_file, parse_text

if typing.TYPE_CHECKING:
    import cattrs

__all__ = [
    "ContainerConfig",
    "IdMap",
    "IpAddress",
    "MountEntry",
    "NetDevice",
    "PrLimit",
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
_FORMATTERS: dict[Callable[..., object], Callable[[int], str]] = {
    v.signal_number: _format_signal,
    v.time_offset: _format_time_offset,
    v.byte_size: _format_byte_size,
}


def format_value(spec: keys.KeySpec, value: object) -> str:
    """The text of one typed value (one list element) of the key `spec`."""
    special = _FORMATTERS.get(spec.check)
    if special is not None and isinstance(value, int):
        return special(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, MountEntry | IdMap | PrLimit | IpAddress):
        return value.to_text()
    raise TypeError(f"{spec.name}: cannot write a {type(value).__name__} value back as text")


# -- the classes, checked against the table ----------------------------------------


class _FieldPlan:
    """How one table entry maps to a model attribute (computed once at import)."""

    __slots__ = ("spec", "element", "flatten")

    def __init__(self, spec: keys.KeySpec) -> None:
        self.spec = spec
        returned = _STRUCTURED.get(spec.check) or typing.get_type_hints(spec.check)["return"]
        #: The checker returns a list for one line: the model holds the elements.
        self.flatten = typing.get_origin(returned) is list
        self.element: type = typing.get_args(returned)[0] if self.flatten else returned

    @property
    def is_list(self) -> bool:
        return self.spec.kind == keys.LIST or self.flatten

    def field_type(self, family: bool = False) -> object:
        """The attribute's type: `T | None`, `list[T]`, or for a family a dict of those."""
        value_type = GenericAlias(list, (self.element,)) if self.is_list else self.element
        if family:
            return GenericAlias(dict, (str, value_type))
        return value_type if self.is_list else self.element | None

    def convert(self, text: str) -> list[object]:
        """The typed element(s) of one line of text."""
        typed = self.spec.check(text)
        return list(typed) if self.flatten and isinstance(typed, list) else [typed]


_TOP_PLANS = tuple(_FieldPlan(spec) for spec in keys.EXACT_KEYS)
_FAMILY_PLANS = tuple((prefix, _FieldPlan(spec)) for prefix, spec in keys.PREFIX_KEYS)
_NET_PLANS = tuple(_FieldPlan(spec) for spec in keys.NET_KEYS)
_TOP_BY_KEY = {plan.spec.name: plan for plan in _TOP_PLANS}
_FAMILY_BY_PREFIX = dict(_FAMILY_PLANS)
_NET_BY_KEY = {plan.spec.name: plan for plan in _NET_PLANS}


@attrs.define(kw_only=True)
class NetDevice:
    """One `lxc.net.N` device: `index` is N, then one attribute per `lxc.net.N.*` key."""

    index: int
    type: str | None = None  # lxc.net.N.type
    flags: str | None = None  # lxc.net.N.flags
    link: str | None = None  # lxc.net.N.link
    name: str | None = None  # lxc.net.N.name
    hwaddr: str | None = None  # lxc.net.N.hwaddr
    mtu: int | None = None  # lxc.net.N.mtu
    ipv4_address: list[IpAddress] = attrs.field(factory=list)  # lxc.net.N.ipv4.address
    ipv4_gateway: str | None = None  # lxc.net.N.ipv4.gateway
    ipv6_address: list[IpAddress] = attrs.field(factory=list)  # lxc.net.N.ipv6.address
    ipv6_gateway: str | None = None  # lxc.net.N.ipv6.gateway
    script_up: str | None = None  # lxc.net.N.script.up
    script_down: str | None = None  # lxc.net.N.script.down
    l2proxy: bool | None = None  # lxc.net.N.l2proxy
    veth_pair: str | None = None  # lxc.net.N.veth.pair
    veth_mode: str | None = None  # lxc.net.N.veth.mode
    veth_ipv4_route: list[str] = attrs.field(factory=list)  # lxc.net.N.veth.ipv4.route
    veth_ipv6_route: list[str] = attrs.field(factory=list)  # lxc.net.N.veth.ipv6.route
    veth_vlan_id: int | None = None  # lxc.net.N.veth.vlan.id
    veth_vlan_tagged_id: list[int] = attrs.field(factory=list)  # lxc.net.N.veth.vlan.tagged.id
    veth_n_rxqueues: int | None = None  # lxc.net.N.veth.n_rxqueues
    veth_n_txqueues: int | None = None  # lxc.net.N.veth.n_txqueues
    macvlan_mode: str | None = None  # lxc.net.N.macvlan.mode
    ipvlan_mode: str | None = None  # lxc.net.N.ipvlan.mode
    ipvlan_isolation: str | None = None  # lxc.net.N.ipvlan.isolation
    vlan_id: int | None = None  # lxc.net.N.vlan.id


@attrs.define(kw_only=True)
class ContainerConfig:
    """A container's configuration, typed: one attribute per key of the key table,
    one dict per key family, and `net`, the network devices sorted by index."""

    arch: str | None = None  # lxc.arch
    uts_name: str | None = None  # lxc.uts.name
    rootfs_path: str | None = None  # lxc.rootfs.path
    rootfs_mount: str | None = None  # lxc.rootfs.mount
    rootfs_options: str | None = None  # lxc.rootfs.options
    rootfs_managed: bool | None = None  # lxc.rootfs.managed
    mount_fstab: str | None = None  # lxc.mount.fstab
    mount_auto: list[str] = attrs.field(factory=list)  # lxc.mount.auto
    mount_entry: list[MountEntry] = attrs.field(factory=list)  # lxc.mount.entry
    cgroup_dir: str | None = None  # lxc.cgroup.dir
    cgroup_dir_container: str | None = None  # lxc.cgroup.dir.container
    cgroup_dir_container_inner: str | None = None  # lxc.cgroup.dir.container.inner
    cgroup_dir_monitor: str | None = None  # lxc.cgroup.dir.monitor
    cgroup_dir_monitor_pivot: str | None = None  # lxc.cgroup.dir.monitor.pivot
    cgroup_relative: bool | None = None  # lxc.cgroup.relative
    init_cmd: str | None = None  # lxc.init.cmd
    init_cwd: str | None = None  # lxc.init.cwd
    init_uid: int | None = None  # lxc.init.uid
    init_gid: int | None = None  # lxc.init.gid
    init_groups: list[str] = attrs.field(factory=list)  # lxc.init.groups
    execute_cmd: str | None = None  # lxc.execute.cmd
    tty_max: int | None = None  # lxc.tty.max
    tty_dir: str | None = None  # lxc.tty.dir
    pty_max: int | None = None  # lxc.pty.max
    console_path: str | None = None  # lxc.console.path
    console_logfile: str | None = None  # lxc.console.logfile
    console_rotate: bool | None = None  # lxc.console.rotate
    console_size: int | None = None  # lxc.console.size
    console_buffer_size: int | None = None  # lxc.console.buffer.size
    console_buffer_logfile: str | None = None  # lxc.console.buffer.logfile
    signal_halt: int | None = None  # lxc.signal.halt
    signal_reboot: int | None = None  # lxc.signal.reboot
    signal_stop: int | None = None  # lxc.signal.stop
    start_auto: bool | None = None  # lxc.start.auto
    start_delay: int | None = None  # lxc.start.delay
    start_order: int | None = None  # lxc.start.order
    group: list[str] = attrs.field(factory=list)  # lxc.group
    idmap: list[IdMap] = attrs.field(factory=list)  # lxc.idmap
    cap_drop: list[str] = attrs.field(factory=list)  # lxc.cap.drop
    cap_keep: list[str] = attrs.field(factory=list)  # lxc.cap.keep
    environment: list[str] = attrs.field(factory=list)  # lxc.environment
    hook_version: bool | None = None  # lxc.hook.version
    log_file: str | None = None  # lxc.log.file
    log_level: str | None = None  # lxc.log.level
    log_syslog: str | None = None  # lxc.log.syslog
    autodev: bool | None = None  # lxc.autodev
    autodev_tmpfs_size: int | None = None  # lxc.autodev.tmpfs.size
    namespace_clone: list[str] = attrs.field(factory=list)  # lxc.namespace.clone
    namespace_keep: list[str] = attrs.field(factory=list)  # lxc.namespace.keep
    no_new_privs: bool | None = None  # lxc.no_new_privs
    seccomp_profile: str | None = None  # lxc.seccomp.profile
    seccomp_allow_nesting: bool | None = None  # lxc.seccomp.allow_nesting
    seccomp_notify_proxy: str | None = None  # lxc.seccomp.notify.proxy
    seccomp_notify_cookie: str | None = None  # lxc.seccomp.notify.cookie
    apparmor_profile: str | None = None  # lxc.apparmor.profile
    apparmor_allow_incomplete: bool | None = None  # lxc.apparmor.allow_incomplete
    apparmor_allow_nesting: bool | None = None  # lxc.apparmor.allow_nesting
    apparmor_raw: list[str] = attrs.field(factory=list)  # lxc.apparmor.raw
    selinux_context: str | None = None  # lxc.selinux.context
    selinux_context_keyring: str | None = None  # lxc.selinux.context.keyring
    ephemeral: bool | None = None  # lxc.ephemeral
    keyring_session: bool | None = None  # lxc.keyring.session
    monitor_unshare: bool | None = None  # lxc.monitor.unshare
    monitor_signal_pdeath: int | None = None  # lxc.monitor.signal.pdeath
    time_offset_boot: int | None = None  # lxc.time.offset.boot
    time_offset_monotonic: int | None = None  # lxc.time.offset.monotonic
    sched_core: bool | None = None  # lxc.sched.core
    cgroup2: dict[str, list[str]] = attrs.field(factory=dict)  # lxc.cgroup2.*
    cgroup: dict[str, list[str]] = attrs.field(factory=dict)  # lxc.cgroup.*
    prlimit: dict[str, PrLimit] = attrs.field(factory=dict)  # lxc.prlimit.*
    sysctl: dict[str, str] = attrs.field(factory=dict)  # lxc.sysctl.*
    proc: dict[str, str] = attrs.field(factory=dict)  # lxc.proc.*
    namespace_share: dict[str, str] = attrs.field(factory=dict)  # lxc.namespace.share.*
    hook: dict[str, list[str]] = attrs.field(factory=dict)  # lxc.hook.*
    net: list[NetDevice] = attrs.field(factory=list)


def _check_against_table() -> None:
    """Hold the written-out classes to the key table: one attribute per key, of the
    type its checker gives (a key added to the table without its attribute, or with a
    wrong type, fails every import instead of being silently dropped or mis-typed)."""
    expected: list[tuple[type, str, str, object]] = [
        (ContainerConfig, plan.spec.name, plan.spec.field, plan.field_type())
        for plan in _TOP_PLANS
    ]
    expected += [
        (ContainerConfig, prefix + "*", plan.spec.field, plan.field_type(True))
        for prefix, plan in _FAMILY_PLANS
    ]
    expected += [(ContainerConfig, "lxc.net.N", "net", list[NetDevice])]
    expected += [(NetDevice, "lxc.net.N", "index", int)]
    expected += [
        (NetDevice, f"lxc.net.N.{plan.spec.name}", plan.spec.field, plan.field_type())
        for plan in _NET_PLANS
    ]
    for model_class in (NetDevice, ContainerConfig):
        attrs.resolve_types(model_class)
        wanted: set[str] = set()
        for owner, key, field, _ in expected:
            if owner is model_class and field in wanted:
                raise RuntimeError(f"key table: {key} uses the field {field!r} of another key")
            if owner is model_class:
                wanted.add(field)
        for extra in attrs.fields_dict(model_class).keys() - wanted:
            raise RuntimeError(
                f"{model_class.__name__}.{extra}: no key of the key table has this field"
            )
    for owner, key, field, field_type in expected:
        declared = attrs.fields_dict(owner).get(field)
        if declared is None:
            raise RuntimeError(f"{key}: {owner.__name__} has no attribute {field}: {field_type}")
        if declared.type != field_type:
            raise RuntimeError(
                f"{key}: {owner.__name__}.{field} is {declared.type}, its checker gives"
                f" {field_type}"
            )


_check_against_table()

_converter: cattrs.Converter | None = None


def __getattr__(name: str) -> cattrs.Converter:
    """`converter`: a cattrs converter, imported on first use (the runtime uses
    `runtime.config.plain`; tests hold the two to the same plain form)."""
    global _converter
    if name != "converter":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _converter is None:
        import cattrs

        _converter = cattrs.Converter()
    return _converter


# -- public functions ---------------------------------------------------------------


def from_raw(raw: RawConfig) -> ContainerConfig:
    """The typed `ContainerConfig` of a parsed configuration.

    Each value is converted by its key's checker (the parser already accepted it, so
    this does not fail for a RawConfig built by the parser).
    """
    return plain.structure(typed_fields(raw), ContainerConfig)


def typed_fields(raw: RawConfig) -> dict[str, object]:
    """The attributes of `from_raw`'s model as one dict: typed values, the checkers'
    dicts for structured ones, `net` as a list of dicts (what `plain` structures)."""
    top: dict[str, object] = {}
    families: dict[str, dict[str, object]] = {}
    nets: dict[int, dict[str, object]] = {}
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
    return top


def _put(target: dict[str, object], name: str, plan: _FieldPlan, text: str) -> None:
    typed = plan.convert(text)
    if plan.is_list:
        known = target.get(name)
        if isinstance(known, list):
            known.extend(typed)
        else:
            target[name] = typed
    else:
        target[name] = typed[0]


def to_settings(cfg: ContainerConfig) -> list[tuple[str, str]]:
    """(key, value text) pairs for `cfg`, in table order, ready for `writer.render`.

    Top-level keys first (one pair per list element; a key whose single line holds
    several words, like `lxc.cap.drop`, gets one pair with them all), then the families
    (`lxc.cgroup.devices.allow = ...`) member by member, then `lxc.net.N.*` per device.
    """
    settings: list[tuple[str, str]] = []
    for plan in _TOP_PLANS:
        _emit(settings, plan.spec.name, plan, getattr(cfg, plan.spec.field))
    for prefix, plan in _FAMILY_PLANS:
        members: dict[str, object] = getattr(cfg, plan.spec.field)
        for member, value in members.items():
            _emit(settings, prefix + member, plan, value)
    for device in cfg.net:
        for plan in _NET_PLANS:
            key = f"lxc.net.{device.index}.{plan.spec.name}"
            _emit(settings, key, plan, getattr(device, plan.spec.field))
    return settings


def _emit(settings: list[tuple[str, str]], key: str, plan: _FieldPlan, value: object) -> None:
    if value is None:
        return
    if plan.flatten and isinstance(value, list):
        # One line for what one line gave: `lxc.cap.drop = sys_time sys_module`.
        if value:
            text = " ".join(format_value(plan.spec, item) for item in value)
            settings.append((key, text))
    elif plan.is_list and isinstance(value, list):
        settings.extend((key, format_value(plan.spec, item)) for item in value)
    else:
        settings.append((key, format_value(plan.spec, value)))


def load(path: str) -> ContainerConfig:
    """Parse a config file (with its includes) into a `ContainerConfig`."""
    return from_raw(parse_file(path))


def loads(text: str, file: str = "<string>") -> ContainerConfig:
    """Parse config text into a `ContainerConfig`."""
    return from_raw(parse_text(text, file))


def describe() -> list[tuple[str, str, str]]:
    """(key, attribute, type) of every model attribute, for documentation and tests."""
    rows = [(p.spec.name, p.spec.field, str(p.field_type())) for p in _TOP_PLANS]
    rows += [
        (prefix + "*", plan.spec.field, str(plan.field_type(True)))
        for prefix, plan in _FAMILY_PLANS
    ]
    rows += [
        (f"lxc.net.N.{p.spec.name}", f"net[].{p.spec.field}", str(p.field_type()))
        for p in _NET_PLANS
    ]
    return rows
