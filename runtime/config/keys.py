"""The table of every LXC 5 configuration key: its type, how it accumulates, its checker.

One table drives parsing (validation, list versus scalar, clearing), the typed model
(each key's model field), the writer (which keys exist and in which order) and
`lxc-info -c KEY`. A key is found by `lookup()`, which also knows the prefixed
families (`lxc.cgroup.*`, `lxc.net.N.*`, ...) and refuses pre-3.0 keys with the name
that replaced them.

Standard library only: the client commands import this on their start-up path.
"""

from __future__ import annotations

from runtime.config import names
from runtime.config import values as v

SCALAR = "scalar"
LIST = "list"


class KeySpec:
    """One key (or one family of keys sharing a prefix).

    kind: SCALAR keys keep their last value; LIST keys accumulate one entry per line
    and an empty value clears them. `field` is the attribute of the typed model.
    `unsupported` says why the runtime does not apply the key yet: it is still
    accepted, kept and written back, and a start refuses it (or only warns, for an
    LSM key on a host without that LSM): `runtime.config.unsupported`.
    """

    __slots__ = ("name", "kind", "check", "field", "unsupported")

    def __init__(
        self, name: str, kind: str, check: v.Checker, field: str, unsupported: str | None = None
    ) -> None:
        self.name = name
        self.kind = kind
        self.check = check
        self.field = field
        self.unsupported = unsupported

    def __repr__(self) -> str:
        return f"KeySpec({self.name!r}, {self.kind})"


def _scalar(name: str, check: v.Checker = v.text, unsupported: str | None = None) -> KeySpec:
    return KeySpec(name, SCALAR, check, _field_name(name), unsupported)


def _list(name: str, check: v.Checker = v.text, unsupported: str | None = None) -> KeySpec:
    return KeySpec(name, LIST, check, _field_name(name), unsupported)


def _field_name(key: str) -> str:
    return key.removeprefix("lxc.").replace(".", "_").replace("-", "_")


_NO_APPARMOR = "AppArmor is not supported by trio-lxc yet"
_NO_SELINUX = "SELinux is not supported by trio-lxc yet"
_NO_USERNS = "user namespaces (unprivileged containers) are not supported yet"
_NO_SECCOMP = "seccomp is not supported yet"
_NO_SECCOMP_NOTIFY = "seccomp notification is not supported yet"

#: Keys matched exactly, in the order the writer emits them.
EXACT_KEYS: tuple[KeySpec, ...] = (
    _scalar("lxc.arch", v.architecture),
    _scalar("lxc.uts.name", v.hostname),
    _scalar("lxc.rootfs.path"),
    _scalar("lxc.rootfs.mount", v.absolute_path),
    _scalar("lxc.rootfs.options"),
    _scalar("lxc.rootfs.managed", v.boolean),
    _scalar("lxc.mount.fstab"),
    _list("lxc.mount.auto", v.mount_auto),
    _list("lxc.mount.entry", v.mount_entry),
    _scalar("lxc.cgroup.dir"),
    _scalar("lxc.cgroup.dir.container"),
    _scalar("lxc.cgroup.dir.container.inner"),
    _scalar("lxc.cgroup.dir.monitor"),
    _scalar("lxc.cgroup.dir.monitor.pivot"),
    _scalar("lxc.cgroup.relative", v.boolean),
    _scalar("lxc.init.cmd"),
    _scalar("lxc.init.cwd"),
    _scalar("lxc.init.uid", v.uid),
    _scalar("lxc.init.gid", v.uid),
    _list("lxc.init.groups"),
    _scalar("lxc.execute.cmd"),
    _scalar("lxc.tty.max", v.number),
    _scalar("lxc.tty.dir"),
    _scalar("lxc.pty.max", v.number),
    _scalar("lxc.console.path"),
    _scalar("lxc.console.logfile"),
    _scalar("lxc.console.rotate", v.boolean),
    _scalar("lxc.console.size", v.byte_size),
    _scalar("lxc.console.buffer.size", v.byte_size),
    _scalar("lxc.console.buffer.logfile"),
    _scalar("lxc.signal.halt", v.signal_number),
    _scalar("lxc.signal.reboot", v.signal_number),
    _scalar("lxc.signal.stop", v.signal_number),
    _scalar("lxc.start.auto", v.boolean),
    _scalar("lxc.start.delay", v.number),
    _scalar("lxc.start.order", v.signed_number),
    _list("lxc.group"),
    _list("lxc.idmap", v.idmap, unsupported=_NO_USERNS),
    _list("lxc.cap.drop", v.capabilities),
    _list("lxc.cap.keep", v.capabilities),
    _list("lxc.environment", v.environment),
    _scalar("lxc.hook.version", v.boolean),
    _scalar("lxc.log.file"),
    _scalar("lxc.log.level", v.log_level),
    _scalar("lxc.log.syslog", v.one_of(v.SYSLOG_FACILITIES, "syslog facility")),
    _scalar("lxc.autodev", v.boolean),
    _scalar("lxc.autodev.tmpfs.size", v.number),
    _list("lxc.namespace.clone", v.namespaces),
    _list("lxc.namespace.keep", v.namespaces),
    _scalar("lxc.no_new_privs", v.boolean),
    _scalar("lxc.seccomp.profile", unsupported=_NO_SECCOMP),
    _scalar("lxc.seccomp.allow_nesting", v.boolean, unsupported=_NO_SECCOMP),
    _scalar("lxc.seccomp.notify.proxy", unsupported=_NO_SECCOMP_NOTIFY),
    _scalar("lxc.seccomp.notify.cookie", unsupported=_NO_SECCOMP_NOTIFY),
    _scalar("lxc.apparmor.profile", unsupported=_NO_APPARMOR),
    _scalar("lxc.apparmor.allow_incomplete", v.boolean, unsupported=_NO_APPARMOR),
    _scalar("lxc.apparmor.allow_nesting", v.boolean, unsupported=_NO_APPARMOR),
    _list("lxc.apparmor.raw", unsupported=_NO_APPARMOR),
    _scalar("lxc.selinux.context", unsupported=_NO_SELINUX),
    _scalar("lxc.selinux.context.keyring", unsupported=_NO_SELINUX),
    _scalar("lxc.ephemeral", v.boolean),
    _scalar("lxc.keyring.session", v.boolean),
    _scalar("lxc.monitor.unshare", v.boolean),
    _scalar("lxc.monitor.signal.pdeath", v.signal_number),
    _scalar("lxc.time.offset.boot", v.time_offset),
    _scalar("lxc.time.offset.monotonic", v.time_offset),
    _scalar("lxc.sched.core", v.boolean),
)

#: Families of keys: (prefix, spec). The part after the prefix is the family member.
HOOK_TYPES = (
    "pre-start", "pre-mount", "mount", "autodev", "start-host", "start", "stop",
    "post-stop", "clone", "destroy",
)  # fmt: skip

PREFIX_KEYS: tuple[tuple[str, KeySpec], ...] = (
    ("lxc.cgroup2.", KeySpec("lxc.cgroup2.", LIST, v.cgroup_setting, "cgroup2")),
    ("lxc.cgroup.", KeySpec("lxc.cgroup.", LIST, v.cgroup_setting, "cgroup")),
    ("lxc.prlimit.", KeySpec("lxc.prlimit.", SCALAR, v.prlimit, "prlimit")),
    ("lxc.sysctl.", KeySpec("lxc.sysctl.", SCALAR, v.text, "sysctl")),
    ("lxc.proc.", KeySpec("lxc.proc.", SCALAR, v.text, "proc")),
    ("lxc.namespace.share.", KeySpec("lxc.namespace.share.", SCALAR, v.text, "namespace_share")),
    ("lxc.hook.", KeySpec("lxc.hook.", LIST, v.text, "hook")),
)

#: Sub-keys of one network device, `lxc.net.N.<sub>`, in the order the writer emits them.
NET_KEYS: tuple[KeySpec, ...] = (
    _scalar("type", v.one_of(v.NET_TYPES, "network type")),
    _scalar("flags", v.net_flags),
    _scalar("link", v.interface_name),
    _scalar("name", v.interface_name),
    _scalar("hwaddr", v.hwaddr),
    _scalar("mtu", v.number),
    _list("ipv4.address", v.ipv4_address),
    _scalar("ipv4.gateway", v.gateway(4)),
    _list("ipv6.address", v.ipv6_address),
    _scalar("ipv6.gateway", v.gateway(6)),
    _scalar("script.up"),
    _scalar("script.down"),
    _scalar("l2proxy", v.boolean),
    _scalar("veth.pair", v.interface_name),
    _scalar("veth.mode", v.one_of(("bridge", "router"), "veth mode")),
    _list("veth.ipv4.route", v.route(4)),
    _list("veth.ipv6.route", v.route(6)),
    _scalar("veth.vlan.id", v.vlan_id),
    _list("veth.vlan.tagged.id", v.vlan_ids),
    _scalar("macvlan.mode", v.one_of(("private", "vepa", "bridge", "passthru"), "macvlan mode")),
    _scalar("ipvlan.mode", v.one_of(("l3", "l3s", "l2"), "ipvlan mode")),
    _scalar("ipvlan.isolation", v.one_of(("bridge", "private", "vepa"), "ipvlan isolation")),
    _scalar("vlan.id", v.vlan_id),
)

#: Keys that take no value of their own but clear a whole group when given empty.
CLEARING_KEYS = (
    "lxc.net", "lxc.cgroup", "lxc.cgroup2", "lxc.hook", "lxc.prlimit", "lxc.sysctl",
    "lxc.proc", "lxc.namespace.share",
)  # fmt: skip

#: Pre-3.0 keys and what replaced them (LXC 3.0 removed them; LXC 5 refuses them).
LEGACY_KEYS = {
    "lxc.utsname": "lxc.uts.name",
    "lxc.rootfs": "lxc.rootfs.path",
    "lxc.rootfs.backend": "nothing (the backing store is read from lxc.rootfs.path)",
    "lxc.pts": "lxc.pty.max",
    "lxc.tty": "lxc.tty.max",
    "lxc.devttydir": "lxc.tty.dir",
    "lxc.aa_profile": "lxc.apparmor.profile",
    "lxc.aa_allow_incomplete": "lxc.apparmor.allow_incomplete",
    "lxc.se_context": "lxc.selinux.context",
    "lxc.id_map": "lxc.idmap",
    "lxc.haltsignal": "lxc.signal.halt",
    "lxc.rebootsignal": "lxc.signal.reboot",
    "lxc.stopsignal": "lxc.signal.stop",
    "lxc.console": "lxc.console.path",
    "lxc.loglevel": "lxc.log.level",
    "lxc.logfile": "lxc.log.file",
    "lxc.init_cmd": "lxc.init.cmd",
    "lxc.init_uid": "lxc.init.uid",
    "lxc.init_gid": "lxc.init.gid",
    "lxc.mount": "lxc.mount.fstab",
    "lxc.syslog": "lxc.log.syslog",
    "lxc.seccomp": "lxc.seccomp.profile",
    "lxc.kmsg": "nothing (it was removed)",
    "lxc.pivotdir": "nothing (it was removed)",
}

_LEGACY_PREFIXES = {"lxc.network.": "lxc.net.N.", "lxc.limit.": "lxc.prlimit."}
_LEGACY_NET_SUBKEYS = {"veth.pair": "veth.pair", "ipv4": "ipv4.address", "ipv6": "ipv6.address"}

_EXACT = {spec.name: spec for spec in EXACT_KEYS}
_NET = {spec.name: spec for spec in NET_KEYS}


class UnknownKey(Exception):
    """The key is not one LXC 5 knows; the message says so (and what replaced it)."""


class BadMember(UnknownKey):
    """A family key whose member is not a name of that family (`lxc.cgroup.a/../b`):
    `reason` says why, so the error can name the key and give the reason apart."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{names.shown(key)}: {reason}")
        self.key = key
        self.reason = reason


#: The characters of every LXC key (members included: `hugetlb.2MB.max`, `pre-start`).
KEY_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")

#: An `lxc.net.N` index has at most this many digits (LXC reads it as an unsigned int).
_MAX_NET_INDEX_DIGITS = 9


class Resolved:
    """What `lookup` found: the spec, and for families the member or net index."""

    __slots__ = ("spec", "member", "net_index")

    def __init__(
        self, spec: KeySpec, member: str | None = None, net_index: int | None = None
    ) -> None:
        self.spec = spec
        self.member = member
        self.net_index = net_index


def lookup(key: str) -> Resolved:
    """Resolve a full key name to its spec, or raise UnknownKey with a useful message."""
    spec = _EXACT.get(key)
    if spec is not None:
        return Resolved(spec)
    index, sub = _split_net_key(key)
    if index is not None:
        net_spec = _NET.get(sub)
        if net_spec is None:
            raise UnknownKey(f"unknown key '{key}'")
        return Resolved(net_spec, net_index=index)
    for prefix, family in PREFIX_KEYS:
        if key.startswith(prefix) and len(key) > len(prefix):
            member = key[len(prefix) :]
            _check_member(key, prefix, member)
            return Resolved(family, member=member)
    raise UnknownKey(_unknown_message(key))


def _split_net_key(key: str) -> tuple[int | None, str]:
    """`lxc.net.3.ipv4.address` -> (3, 'ipv4.address'); (None, '') if not a net key.

    Plain string work rather than a regex: this runs for every config line and the
    client commands avoid importing `re`.
    """
    if not key.startswith("lxc.net."):
        return None, ""
    index, _, sub = key[8:].partition(".")
    if not index.isdigit() or not index.isascii() or not sub:
        return None, ""
    return _net_index(key, index), sub


def canonical_key(key: str) -> str:
    """The one spelling of a key: `lxc.net.01.type` and `lxc.net.1.type` are the same
    device's key (LXC reads the index as a number), stored as `lxc.net.1.type`.
    Other keys are returned unchanged; UnknownKey for an index out of range."""
    if not key.startswith("lxc.net."):
        return key
    index, dot, sub = key[8:].partition(".")
    if not index.isdigit() or not index.isascii():
        return key
    number = _net_index(key, index)
    return key if str(number) == index else f"lxc.net.{number}{dot}{sub}"


def _net_index(key: str, digits: str) -> int:
    significant = digits.lstrip("0")
    if len(significant) > _MAX_NET_INDEX_DIGITS:
        raise BadMember(key, f"the network index is larger than {'9' * _MAX_NET_INDEX_DIGITS}")
    return int(significant or "0")


def _check_member(key: str, prefix: str, member: str) -> None:
    if prefix == "lxc.prlimit." and member not in v.PRLIMIT_RESOURCES:
        raise UnknownKey(f"unknown key '{key}' (unknown resource limit '{member}')")
    if prefix == "lxc.namespace.share." and member not in v.NAMESPACES:
        raise UnknownKey(f"unknown key '{key}' (unknown namespace '{member}')")
    if prefix == "lxc.hook." and member not in HOOK_TYPES:
        raise UnknownKey(f"unknown key '{key}' (hooks are: {', '.join(HOOK_TYPES)})")
    problem = None
    if prefix in ("lxc.cgroup.", "lxc.cgroup2."):
        problem = names.cgroup_file_problem(member)
    elif prefix == "lxc.sysctl.":
        problem = names.sysctl_problem(member)
    elif prefix == "lxc.proc.":
        problem = names.proc_file_problem(member)
    if problem is not None:
        raise BadMember(key, problem)


def _unknown_message(key: str) -> str:
    if key in LEGACY_KEYS:
        return f"'{key}' is a pre-3.0 key that LXC 5 no longer accepts: use {LEGACY_KEYS[key]}"
    for old, new in _LEGACY_PREFIXES.items():
        if key.startswith(old):
            return f"'{key}' is a pre-3.0 key that LXC 5 no longer accepts: use {new}{key[len(old):]}"
    if key.startswith("lxc.net.") and key[8:9].isalpha():
        return f"unknown key '{key}' (network keys need an index: lxc.net.0.{key[8:]})"
    return f"unknown key '{key}'"


def is_clearing_key(key: str) -> bool:
    """`lxc.net`, `lxc.net.N`, `lxc.cgroup`, ...: only meaningful with an empty value."""
    if key in CLEARING_KEYS:
        return True
    index = key[8:] if key.startswith("lxc.net.") else ""
    return index.isdigit() and index.isascii()
