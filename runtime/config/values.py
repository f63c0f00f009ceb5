"""Value checkers for container configuration keys.

Each checker takes the raw text of one value and returns its typed form (int, bool,
str, list, dict) or raises `ValueError` with the reason in words a user can act on
("'abc' is not a number"). The parser calls them to validate every line as it is
read; the typed model (`runtime.config.model`) calls the same ones to convert, so a
value is judged the same way everywhere.

Standard library only: the client commands import this module on their start-up path.
"""

from __future__ import annotations

# `re` and `ipaddress` are imported inside the checkers that need them: the client
# commands import this module and must start fast, and most values need neither
# (nor `collections.abc`, ~2 ms: the alias is for annotations only).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Checker = Callable[[str], object]

CAPABILITIES = (
    "chown dac_override dac_read_search fowner fsetid kill setgid setuid setpcap "
    "linux_immutable net_bind_service net_broadcast net_admin net_raw ipc_lock ipc_owner "
    "sys_module sys_rawio sys_chroot sys_ptrace sys_pacct sys_admin sys_boot sys_nice "
    "sys_resource sys_time sys_tty_config mknod lease audit_write audit_control setfcap "
    "mac_override mac_admin syslog wake_alarm block_suspend audit_read perfmon bpf "
    "checkpoint_restore"
).split()

NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")

PRLIMIT_RESOURCES = (
    "as core cpu data fsize locks memlock msgqueue nice nofile nproc rss rtprio rttime "
    "sigpending stack"
).split()

ARCHITECTURES = (
    "x86 i386 i486 i586 i686 athlon linux32 x86_64 amd64 linux64 arm armel armhf armv7l "
    "armv7a armv8l arm64 aarch64 powerpc ppc powerpc64 ppc64 ppc64le ppc64el s390x mips "
    "mipsel mips64 mips64el riscv64 loongarch64"
).split()

LOG_LEVELS = ("trace", "debug", "info", "notice", "warn", "error", "crit", "alert", "fatal")

SYSLOG_FACILITIES = (
    "daemon local0 local1 local2 local3 local4 local5 local6 local7 user auth authpriv "
    "cron kern lpr mail news syslog uucp"
).split()

_SIGNAL_NUMBERS = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7,
    "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14,
    "TERM": 15, "STKFLT": 16, "CHLD": 17, "CLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20,
    "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27,
    "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
}  # fmt: skip
_SIGRTMIN, _SIGRTMAX = 34, 64


def _is_digits(text: str) -> bool:
    """ASCII digits only: `str.isdigit` also takes `²` (which int() refuses) and `٣`
    (which LXC's strtoul does not read)."""
    return text.isdigit() and text.isascii()


def number(text: str) -> int:
    """A non-negative decimal integer."""
    if not _is_digits(text):
        raise ValueError(f"'{text}' is not a number")
    return int(text)


#: The most queues the kernel gives a device (net/core/dev.c's limit for veth).
MAX_QUEUES = 4096


def queue_count(text: str) -> int:
    """A number of device queues, 1..MAX_QUEUES (lxc.net.N.veth.n_rxqueues/n_txqueues)."""
    count = number(text)
    if not 1 <= count <= MAX_QUEUES:
        raise ValueError(f"'{text}' is not a queue count (1 to {MAX_QUEUES})")
    return count


def signed_number(text: str) -> int:
    """A decimal integer that may be negative (oom_score_adj, start order)."""
    if not _is_digits(text.removeprefix("-").removeprefix("+")) or text[:2] in ("+-", "-+"):
        raise ValueError(f"'{text}' is not a number")
    return int(text, 10)


def boolean(text: str) -> bool:
    """LXC's booleans are 0 or 1."""
    if text not in ("0", "1"):
        raise ValueError(f"'{text}' must be 0 or 1")
    return text == "1"


def text(value: str) -> str:
    """Any non-empty text."""
    return value


def absolute_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"'{value}' is not an absolute path")
    return value


def one_of(choices: tuple[str, ...] | list[str], what: str) -> Checker:
    """A checker for one word out of a fixed set."""

    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"invalid {what} '{value}' (expected one of: {', '.join(choices)})")
        return value

    return check


def signal_number(value: str) -> int:
    """A signal by number, `SIGNAME`, `NAME` or `SIGRTMIN+N`/`SIGRTMAX-N`, any case."""
    if not value.isascii():
        raise ValueError(f"'{value}' is not a signal name or number")
    if value.isdigit():
        num = int(value)
        if 1 <= num <= _SIGRTMAX:
            return num
        raise ValueError(f"'{value}' is not a valid signal number")
    name = value.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name in _SIGNAL_NUMBERS:
        return _SIGNAL_NUMBERS[name]
    import re

    match = re.fullmatch(r"RT(MIN|MAX)(?:([+-])(\d+))?", name)
    if match:
        base = _SIGRTMIN if match.group(1) == "MIN" else _SIGRTMAX
        offset = int(match.group(3) or 0) * (1 if match.group(2) != "-" else -1)
        if _SIGRTMIN <= base + offset <= _SIGRTMAX:
            return base + offset
    raise ValueError(f"'{value}' is not a signal name or number")


def capabilities(value: str) -> list[str]:
    """Space-separated capability names (without CAP_), numbers, or `none` for keep."""
    caps = value.split()
    for cap in caps:
        if not cap.isascii():
            raise ValueError(f"invalid capability '{cap}'")
        name = cap.lower().removeprefix("cap_")
        if name in CAPABILITIES or name == "none" or (cap.isdigit() and int(cap) < 64):
            continue
        raise ValueError(f"invalid capability '{cap}'")
    return caps


def namespaces(value: str) -> list[str]:
    """Namespace names for lxc.namespace.clone/keep (space or comma separated)."""
    names = value.replace(",", " ").split()
    for ns in names:
        if ns not in NAMESPACES:
            raise ValueError(f"invalid namespace '{ns}' (expected: {', '.join(NAMESPACES)})")
    return names


def log_level(value: str) -> str:
    if _is_digits(value) and int(value) <= 8:
        return value
    if value.lower() not in LOG_LEVELS:
        raise ValueError(f"invalid log level '{value}'")
    return value


def architecture(value: str) -> str:
    if value not in ARCHITECTURES:
        raise ValueError(f"unsupported architecture '{value}'")
    return value


def hostname(value: str) -> str:
    if len(value.encode("utf-8", "surrogateescape")) > 64:
        raise ValueError(f"'{value}' is longer than 64 bytes")
    return value


def interface_name(value: str) -> str:
    """What the kernel takes as a network device name: at most 15 bytes, not `.` or
    `..`, no `/`, `:` or whitespace (it names a directory of /sys/class/net)."""
    if (
        len(value.encode("utf-8", "surrogateescape")) > 15
        or value in (".", "..")
        or "/" in value
        or ":" in value
        or any(ch.isspace() for ch in value)
    ):
        raise ValueError(
            f"'{value}' is not a valid interface name (at most 15 bytes, no '/', ':' or spaces)"
        )
    return value


def hwaddr(value: str) -> str:
    """A MAC address; `x` digits are filled at random when the container starts."""
    octets = value.split(":")
    hex_digits = set("0123456789abcdefABCDEFx")
    if len(octets) != 6 or any(len(o) != 2 or not set(o) <= hex_digits for o in octets):
        raise ValueError(f"'{value}' is not a MAC address (like 00:16:3e:xx:xx:xx)")
    return value


def byte_size(value: str) -> int:
    """A size such as `4096`, `64kB`, `1MB`, `2G`, or `auto` (returned as -1)."""
    import re

    if value == "auto":
        return -1
    match = re.fullmatch(r"(\d+)\s*([kKmMgG]?)[bB]?", value, re.ASCII)
    if not match:
        raise ValueError(f"'{value}' is not a size (like 1024, 64kB or 1MB)")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[match.group(2).lower()]
    return int(match.group(1)) * scale


def time_offset(value: str) -> int:
    """A clock offset with a unit (h, m, s, ms, us, ns); returned in nanoseconds."""
    import re

    match = re.fullmatch(r"(-?\d+)\s*(h|m|s|ms|us|ns)?", value, re.ASCII)
    if not match:
        raise ValueError(f"'{value}' is not a time offset (like 10s, -5m, 1h)")
    unit = {"h": 3600 * 10**9, "m": 60 * 10**9, "s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
    return int(match.group(1)) * unit[match.group(2) or "s"]


def ipv4_address(value: str) -> dict[str, object]:
    """`ADDR[/PREFIX] [BROADCAST]`; without a prefix LXC takes the address class's (8/16/24)."""
    import ipaddress

    parts = value.split()
    if not 1 <= len(parts) <= 2:
        raise ValueError(f"'{value}' is not an IPv4 address ('ADDRESS/PREFIX [BROADCAST]')")
    try:
        if "/" in parts[0]:
            iface = ipaddress.IPv4Interface(parts[0])
            address, prefix = iface.ip, iface.network.prefixlen
        else:
            address = ipaddress.IPv4Address(parts[0])
            first = int(address) >> 24
            prefix = 8 if first < 128 else 16 if first < 192 else 24 if first < 224 else 32
        broadcast = str(ipaddress.IPv4Address(parts[1])) if len(parts) == 2 else None
    except ValueError:
        raise ValueError(f"'{value}' is not an IPv4 address with prefix") from None
    return {"address": str(address), "prefix": prefix, "broadcast": broadcast}


def ipv6_address(value: str) -> dict[str, object]:
    """`ADDR[/PREFIX]`; without a prefix LXC takes /64."""
    import ipaddress

    try:
        iface = ipaddress.IPv6Interface(value if "/" in value else f"{value}/64")
    except ValueError:
        raise ValueError(f"'{value}' is not an IPv6 address with prefix") from None
    return {"address": str(iface.ip), "prefix": iface.network.prefixlen, "broadcast": None}


def gateway(version: int) -> Checker:
    """`auto`, `dev`, or an address of the given IP version."""

    def check(value: str) -> str:
        if value in ("auto", "dev"):
            return value
        import ipaddress

        try:
            addr = ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"'{value}' is not an IPv{version} address, 'auto' or 'dev'") from None
        if addr.version != version:
            raise ValueError(f"'{value}' is not an IPv{version} address")
        return value

    return check


def route(version: int) -> Checker:
    """A route for lxc.net.N.veth.ipvX.route: a network with prefix."""

    def check(value: str) -> str:
        import ipaddress

        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(f"'{value}' is not an IPv{version} network") from None
        if net.version != version:
            raise ValueError(f"'{value}' is not an IPv{version} network")
        return value

    return check


def vlan_id(value: str) -> int:
    num = number(value)
    if num > 4094:
        raise ValueError(f"'{value}' is not a VLAN id (0-4094)")
    return num


def vlan_ids(value: str) -> list[int]:
    return [vlan_id(part) for part in value.replace(",", " ").split()]


def net_flags(value: str) -> str:
    if value != "up":
        raise ValueError(f"invalid flags '{value}' (only 'up' is known)")
    return value


def mount_entry(value: str) -> dict[str, object]:
    """An fstab line: `SOURCE TARGET FSTYPE [OPTIONS [FREQ [PASSNO]]]`."""
    fields = value.split()
    if len(fields) < 3 or len(fields) > 6:
        raise ValueError(f"'{value}' is not an fstab line (SOURCE TARGET TYPE OPTIONS 0 0)")
    for extra in fields[4:]:
        number(extra)
    source, target = _unescape_octal(fields[0]), _unescape_octal(fields[1])
    if "\x00" in source or "\x00" in target:
        raise ValueError(f"'{value}' has a NUL (\\000) in a path")
    return {
        "source": source,
        "target": target,
        "fstype": fields[2],
        "options": fields[3] if len(fields) > 3 else "defaults",
        "freq": int(fields[4]) if len(fields) > 4 else 0,
        "passno": int(fields[5]) if len(fields) > 5 else 0,
    }


def _unescape_octal(field: str) -> str:
    """fstab writes a space in a path as \\040 (and tab, newline, backslash likewise)."""
    if "\\" not in field:
        return field
    import re

    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


#: Every lxc.mount.auto option but `shmounts:HOST[:CONTAINER]` (a set, not a regex:
#: every container's config has this key, and `re` costs a command milliseconds).
_MOUNT_AUTO_OPTIONS = frozenset(
    ("proc", "proc:mixed", "proc:rw", "sys", "sys:ro", "sys:rw", "sys:mixed",
     "cgroup2", "cgroup2:ro", "cgroup2:force", "cgroup2:ro:force")
    + tuple(
        kind + mode + force
        for kind in ("cgroup", "cgroup-full")
        for mode in ("", ":mixed", ":ro", ":rw")
        for force in ("", ":force")
    )
)  # fmt: skip


def _mount_auto_option(token: str) -> bool:
    if token in _MOUNT_AUTO_OPTIONS:
        return True
    # shmounts:HOST or shmounts:HOST:CONTAINER, neither empty (a token holds no space).
    kind, _, paths = token.partition(":")
    parts = paths.split(":")
    return kind == "shmounts" and len(parts) <= 2 and all(parts)


def mount_auto(value: str) -> list[str]:
    tokens = value.split()
    for token in tokens:
        if not _mount_auto_option(token):
            raise ValueError(f"invalid lxc.mount.auto option '{token}'")
    return tokens


def idmap(value: str) -> dict[str, object]:
    """`u|g|b NSID HOSTID RANGE`."""
    fields = value.split()
    if len(fields) != 4 or fields[0] not in ("u", "g", "b"):
        raise ValueError(f"'{value}' is not 'u|g|b NSID HOSTID RANGE'")
    ns_id, host_id, count = (number(f) for f in fields[1:])
    if count == 0:
        raise ValueError("the range of an id map must not be 0")
    return {"kind": fields[0], "ns_id": ns_id, "host_id": host_id, "range": count}


def prlimit(value: str) -> dict[str, object]:
    """`LIMIT` or `SOFT:HARD`, each a number or `unlimited`."""
    parts = value.split(":")
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"'{value}' is not 'LIMIT' or 'SOFT:HARD'")
    limits = [-1 if p == "unlimited" else number(p) for p in parts]
    return {"soft": limits[0], "hard": limits[-1]}


def environment(value: str) -> str:
    """`NAME=VALUE`, or `NAME` alone to pass the caller's value through."""
    name = value.split("=", 1)[0]
    if not name or name[0].isdigit() or not name.replace("_", "a").isalnum() or not name.isascii():
        raise ValueError(f"'{name}' is not a valid environment variable name")
    return value


def cgroup_setting(value: str) -> str:
    return value


def uid(value: str) -> int:
    return number(value)
