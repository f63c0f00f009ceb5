"""The table of every LXC 5 configuration key: its type, how it accumulates, its checker.

One table drives parsing (validation, list versus scalar, clearing), the typed model
(each key's model field), the writer (which keys exist and in which order) and
`lxc-info -c KEY`. A key is found by `lookup()`, which also knows the prefixed
families (`lxc.cgroup.*`, `lxc.net.N.*`, ...) and refuses pre-3.0 keys with the name
that replaced them. Each key also declares what becomes of it at start: the
function that applies it, or that the start refuses or warns about it (KeySpec),
so no key can be parsed and silently dropped (tests/test_key_table.py).

Standard library only: the client commands import this on their start-up path.
"""

from __future__ import annotations

from runtime.config import names
from runtime.config import values as v
from runtime.net import types as net_types

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the client commands import this module
    from typing import TypedDict, Unpack

    class _Effect(TypedDict, total=False):
        """What becomes of a key at start (KeySpec's keyword arguments)."""

        applied_by: str
        refused: str
        warned: str
        lsm: str
        quiet: tuple[str, ...]

SCALAR = "scalar"
LIST = "list"


class KeySpec:
    """One key (or one family of keys sharing a prefix).

    kind: SCALAR keys keep their last value; LIST keys accumulate one entry per line
    and an empty value clears them. `field` is the attribute of the typed model.

    Every key declares what becomes of it, exactly one of (`tests/test_key_table.py`
    walks the table and holds each declaration to its word):
    - `applied_by`: the dotted path of the function that makes the key take effect
      (it reads the key's model field, or the key by name);
    - `refused`: why a start that sets the key fails, naming it
      (`runtime.config.unsupported`);
    - `warned`: why the key has no effect; a start that sets it warns, naming it;
    - `lsm`: an AppArmor/SELinux key: warned about where that LSM is off (LXC then
      ignores it too), refused where it is enforced.
    `quiet`: values of a refused or warned key that ask for nothing we do not do
    (LXC's default): they pass without a word. A boolean `0` always does.
    """

    __slots__ = ("name", "kind", "check", "field", "applied_by", "refused", "warned", "lsm", "quiet")

    def __init__(
        self,
        name: str,
        kind: str,
        check: v.Checker,
        field: str,
        *,
        applied_by: str | None = None,
        refused: str | None = None,
        warned: str | None = None,
        lsm: str | None = None,
        quiet: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.kind = kind
        self.check = check
        self.field = field
        self.applied_by = applied_by
        self.refused = refused
        self.warned = warned
        self.lsm = lsm
        self.quiet = quiet

    def __repr__(self) -> str:
        return f"KeySpec({self.name!r}, {self.kind})"


def _scalar(name: str, check: v.Checker = v.text, **effect: Unpack[_Effect]) -> KeySpec:
    return KeySpec(name, SCALAR, check, _field_name(name), **effect)


def _list(name: str, check: v.Checker = v.text, **effect: Unpack[_Effect]) -> KeySpec:
    return KeySpec(name, LIST, check, _field_name(name), **effect)


def _field_name(key: str) -> str:
    return key.removeprefix("lxc.").replace(".", "_").replace("-", "_")


_NO_APPARMOR = "AppArmor is not supported by trio-lxc yet"
_NO_SELINUX = "SELinux is not supported by trio-lxc yet"
_NO_SECCOMP_NOTIFY = "seccomp notification (a proxy for the notify action) is not supported yet"
_NO_MONITOR = (
    "trio-lxc has no per-container monitor process (one daemon supervises every "
    "container, and a daemon crash does not kill them), so there is nothing to apply it to"
)

_AUTOSTART = "runtime.tools.autostart.read_settings"  # lxc-autostart reads them
_SPAWN = "runtime.spawn."
_PROCESS = "runtime.spawn.process."
_TERMINALS = "runtime.daemon.console.terminals.ContainerTerminals."

#: Keys matched exactly, in the order the writer emits them.
EXACT_KEYS: tuple[KeySpec, ...] = (
    _scalar("lxc.arch", v.architecture, applied_by=_SPAWN + "personality.apply_arch"),
    _scalar("lxc.uts.name", v.hostname, applied_by=_SPAWN + "child._setup_and_run"),
    _scalar("lxc.rootfs.path", applied_by=_SPAWN + "mounts.MountContext.__init__"),
    _scalar("lxc.rootfs.mount", v.absolute_path, applied_by=_SPAWN + "mounts.setup_root"),
    _scalar("lxc.rootfs.options", applied_by=_SPAWN + "mounts.apply_rootfs_options"),
    _scalar("lxc.rootfs.managed", v.boolean, applied_by="runtime.storage.store.rootfs_is_managed"),
    _scalar("lxc.mount.fstab", applied_by=_SPAWN + "mounts.read_fstab"),
    _list("lxc.mount.auto", v.mount_auto, applied_by=_SPAWN + "child._setup_and_run"),
    _list("lxc.mount.entry", v.mount_entry, applied_by=_SPAWN + "child._setup_filesystem"),
    _scalar("lxc.cgroup.dir", applied_by="runtime.cgroups.layout.relative_paths"),
    _scalar("lxc.cgroup.dir.container", applied_by="runtime.cgroups.layout.relative_paths"),
    _scalar("lxc.cgroup.dir.container.inner", applied_by="runtime.cgroups.layout.relative_paths"),
    _scalar("lxc.cgroup.dir.monitor", refused=_NO_MONITOR),
    _scalar("lxc.cgroup.dir.monitor.pivot", refused=_NO_MONITOR),
    _scalar("lxc.cgroup.relative", v.boolean, applied_by="runtime.cgroups.layout.plan"),
    _scalar("lxc.init.cmd", applied_by="runtime.spawn.start_spec.pid1_argv"),
    _scalar("lxc.init.cwd", applied_by=_PROCESS + "change_directory"),
    _scalar("lxc.init.uid", v.uid, applied_by=_PROCESS + "switch_ids"),
    _scalar("lxc.init.gid", v.uid, applied_by=_PROCESS + "switch_ids"),
    _list("lxc.init.groups", applied_by=_PROCESS + "_group_ids"),
    _scalar("lxc.execute.cmd", applied_by="runtime.spawn.start_spec.pid1_argv"),
    _scalar("lxc.tty.max", v.number, applied_by=_TERMINALS + "_allocate"),
    _scalar("lxc.tty.dir", applied_by=_SPAWN + "devices.bind_terminals"),
    _scalar("lxc.pty.max", v.number, applied_by=_SPAWN + "devices.mount_devpts"),
    _scalar("lxc.console.path", applied_by=_TERMINALS + "_open_device_peer"),
    _scalar("lxc.console.logfile", applied_by=_TERMINALS + "_allocate"),
    _scalar("lxc.console.rotate", v.boolean, applied_by=_TERMINALS + "_allocate"),
    _scalar("lxc.console.size", v.byte_size, applied_by=_TERMINALS + "_allocate"),
    _scalar("lxc.console.buffer.size", v.byte_size, applied_by=_TERMINALS + "__init__"),
    _scalar("lxc.console.buffer.logfile", applied_by=_TERMINALS + "__init__"),
    _scalar("lxc.signal.halt", v.signal_number, applied_by="runtime.daemon.stop_signal.halt_signal"),
    _scalar("lxc.signal.reboot", v.signal_number, applied_by="runtime.daemon.stop_signal.reboot_signal"),
    _scalar("lxc.signal.stop", v.signal_number, applied_by="runtime.daemon.stop_signal.stop_signal"),
    _scalar("lxc.start.auto", v.boolean, applied_by=_AUTOSTART),
    _scalar("lxc.start.delay", v.number, applied_by=_AUTOSTART),
    _scalar("lxc.start.order", v.signed_number, applied_by=_AUTOSTART),
    _list("lxc.group", applied_by="cli.lxc_ls.Row.groups"),
    _list("lxc.idmap", v.idmap, applied_by="runtime.userns.apply.map_child"),
    _list("lxc.cap.drop", v.capabilities, applied_by=_PROCESS + "capabilities_to_drop"),
    _list("lxc.cap.keep", v.capabilities, applied_by=_PROCESS + "capabilities_to_drop"),
    _list("lxc.environment", v.environment, applied_by=_PROCESS + "environment"),
    _scalar("lxc.hook.version", v.boolean, applied_by="runtime.hooks.plan.version1"),
    _scalar("lxc.log.file", applied_by="runtime.daemon.container_log.open_handlers"),
    _scalar("lxc.log.level", v.log_level, applied_by="runtime.daemon.container_log.level_of"),
    _scalar(
        "lxc.log.syslog",
        v.one_of(v.SYSLOG_FACILITIES, "syslog facility"),
        applied_by="runtime.daemon.container_log.open_handlers",
    ),
    _scalar("lxc.autodev", v.boolean, applied_by=_SPAWN + "child._setup_filesystem"),
    _scalar("lxc.autodev.tmpfs.size", v.number, applied_by=_SPAWN + "devices.mount_autodev"),
    _list("lxc.namespace.clone", v.namespaces, applied_by=_SPAWN + "namespaces.plan"),
    _list("lxc.namespace.keep", v.namespaces, applied_by=_SPAWN + "namespaces.plan"),
    _scalar("lxc.no_new_privs", v.boolean, applied_by=_PROCESS + "set_no_new_privs"),
    _scalar("lxc.seccomp.profile", applied_by="runtime.seccomp.start.compile_for"),
    _scalar("lxc.seccomp.allow_nesting", v.boolean, applied_by=_SPAWN + "seccomp_load.apply"),
    _scalar("lxc.seccomp.notify.proxy", refused=_NO_SECCOMP_NOTIFY),
    _scalar("lxc.seccomp.notify.cookie", refused=_NO_SECCOMP_NOTIFY),
    _scalar("lxc.apparmor.profile", lsm="apparmor", refused=_NO_APPARMOR, quiet=("unconfined",)),
    _scalar("lxc.apparmor.allow_incomplete", v.boolean, lsm="apparmor", refused=_NO_APPARMOR),
    _scalar("lxc.apparmor.allow_nesting", v.boolean, lsm="apparmor", refused=_NO_APPARMOR),
    _list("lxc.apparmor.raw", lsm="apparmor", refused=_NO_APPARMOR),
    _scalar("lxc.selinux.context", lsm="selinux", refused=_NO_SELINUX),
    _scalar("lxc.selinux.context.keyring", lsm="selinux", refused=_NO_SELINUX),
    _scalar("lxc.ephemeral", v.boolean, applied_by="runtime.daemon.ephemeral.destroy_if_ephemeral"),
    _scalar("lxc.keyring.session", v.boolean, applied_by=_SPAWN + "keyring.new_session_keyring"),
    _scalar("lxc.monitor.unshare", v.boolean, refused=_NO_MONITOR),
    _scalar("lxc.monitor.signal.pdeath", v.signal_number, refused=_NO_MONITOR, quiet=("SIGKILL",)),
    _scalar("lxc.time.offset.boot", v.time_offset, applied_by=_SPAWN + "namespaces._set_time_offsets"),
    _scalar(
        "lxc.time.offset.monotonic", v.time_offset, applied_by=_SPAWN + "namespaces._set_time_offsets"
    ),
    _scalar("lxc.sched.core", v.boolean, applied_by=_SPAWN + "schedcore.create_cookie"),
)

#: Families of keys: (prefix, spec). The part after the prefix is the family member.
HOOK_TYPES = (
    "pre-start", "pre-mount", "mount", "autodev", "start-host", "start", "stop",
    "post-stop", "clone", "destroy",
)  # fmt: skip

PREFIX_KEYS: tuple[tuple[str, KeySpec], ...] = (
    ("lxc.cgroup2.", KeySpec("lxc.cgroup2.", LIST, v.cgroup_setting, "cgroup2",
                             applied_by="runtime.cgroups.settings.route")),
    ("lxc.cgroup.", KeySpec("lxc.cgroup.", LIST, v.cgroup_setting, "cgroup",
                            applied_by="runtime.cgroups.settings.route")),
    ("lxc.prlimit.", KeySpec("lxc.prlimit.", SCALAR, v.prlimit, "prlimit",
                             applied_by=_PROCESS + "apply_prlimits")),
    ("lxc.sysctl.", KeySpec("lxc.sysctl.", SCALAR, v.text, "sysctl",
                            applied_by=_PROCESS + "apply_sysctls")),
    ("lxc.proc.", KeySpec("lxc.proc.", SCALAR, v.text, "proc", applied_by=_PROCESS + "apply_proc")),
    ("lxc.namespace.share.", KeySpec("lxc.namespace.share.", SCALAR, v.text, "namespace_share",
                                     applied_by=_SPAWN + "namespaces.plan")),
    ("lxc.hook.", KeySpec("lxc.hook.", LIST, v.text, "hook",
                           applied_by="runtime.hooks.plan.commands")),
)  # fmt: skip

#: Sub-keys of one network device, `lxc.net.N.<sub>`, in the order the writer emits them.
_HOST = "runtime.net.host."
_VETH = "runtime.net.types.veth.Veth.create"


def _net_key(key: net_types.NetKey) -> KeySpec:
    """A network type's own key (runtime.net.types) as a table entry."""
    effect = {"applied_by": key.applied_by} if key.applied_by else {"refused": key.refused}
    return (_list if key.many else _scalar)(key.sub, key.check, **effect)


NET_KEYS: tuple[KeySpec, ...] = (
    _scalar("type", v.one_of(net_types.NAMES, "network type"), applied_by=_HOST + "_create"),
    _scalar("flags", v.net_flags, applied_by="runtime.net.plan.DevicePlan.up"),
    _scalar("link", v.interface_name, applied_by=_VETH),
    _scalar("name", v.interface_name, applied_by="runtime.net.plan._assign_names"),
    _scalar("hwaddr", v.hwaddr, applied_by=_VETH),
    _scalar("mtu", v.number, applied_by=_VETH),
    _list("ipv4.address", v.ipv4_address, applied_by=_HOST + "_configure_inside"),
    _scalar("ipv4.gateway", v.gateway(4), applied_by=_HOST + "_configure_inside"),
    _list("ipv6.address", v.ipv6_address, applied_by=_HOST + "_configure_inside"),
    _scalar("ipv6.gateway", v.gateway(6), applied_by=_HOST + "_configure_inside"),
    _scalar("script.up", applied_by="runtime.net.network.ContainerNetwork._setup"),
    _scalar("script.down", applied_by="runtime.net.network.ContainerNetwork._setup"),
    _scalar("l2proxy", v.boolean, applied_by=_HOST + "_host_side"),
    # The types' own keys (veth.*, macvlan.mode, ipvlan.*, vlan.id): runtime.net.types.
    *(_net_key(key) for key in net_types.keys()),
)  # fmt: skip

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
