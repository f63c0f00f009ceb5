"""The `lxc.idmap` lines of a container, checked as a set before anything is made.

Why check here and not only let the kernel refuse the write to uid_map: a kernel
refusal comes after the cgroups and the child exist, says only EINVAL, and a set
without a mapping for container root would "work" and leave the init running as
the overflow uid. So the set is checked as LXC requires it, up front, and a bad
set fails the start with one line naming `lxc.idmap` and where it was set:

- both a `u` and a `g` line (LXC refuses a container with only one kind);
- container uid 0 and gid 0 mapped (the init becomes the mapped root);
- within a kind, no two lines overlap, neither on the container side nor on the
  host side (the kernel refuses that too);
- at most `KERNEL_MAX_LINES` lines of a kind (the kernel's limit since 4.15);
- every range ends below 2^32 - 1 (the id -1 means "no id" and cannot be mapped).

`b` lines (accepted by the value checker, as lxc-usernsexec's `-m b:...`) count
as both kinds. Standard library only: the container child imports this.
"""

from __future__ import annotations

from collections.abc import Iterable

from runtime.client.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig
    from runtime.config.parser import RawConfig

KEY = "lxc.idmap"
#: The most extents a uid_map or gid_map accepts (Linux 4.15 and later).
KERNEL_MAX_LINES = 340
#: One past the largest id a map may cover: (uid_t)-1 is never a valid id.
ID_LIMIT = 0xFFFFFFFF


class IdRange:
    """One extent of one kind: container ids [ns_id, ns_id + count) -> host ids."""

    __slots__ = ("kind", "ns_id", "host_id", "count")

    def __init__(self, kind: str, ns_id: int, host_id: int, count: int) -> None:
        self.kind = kind
        self.ns_id = ns_id
        self.host_id = host_id
        self.count = count

    def line(self) -> str:
        """The extent as the kernel's uid_map/gid_map wants it."""
        return f"{self.ns_id} {self.host_id} {self.count}\n"

    def __repr__(self) -> str:
        return f"IdRange({self.kind!r}, {self.ns_id}, {self.host_id}, {self.count})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdRange) and (
            self.kind, self.ns_id, self.host_id, self.count
        ) == (other.kind, other.ns_id, other.host_id, other.count)

    def __hash__(self) -> int:
        return hash((self.kind, self.ns_id, self.host_id, self.count))


class IdMaps:
    """The uid and gid extents of a container, validated (`check` / `from_config`)."""

    __slots__ = ("uid", "gid")

    def __init__(self, uid: list[IdRange], gid: list[IdRange]) -> None:
        self.uid = uid
        self.gid = gid

    def text(self, kind: str) -> str:
        """The whole uid_map ("u") or gid_map ("g") text, written in one write(2)."""
        return "".join(r.line() for r in (self.uid if kind == "u" else self.gid))

    def host_uid(self, ns_id: int) -> int | None:
        return _to_host(self.uid, ns_id)

    def host_gid(self, ns_id: int) -> int | None:
        return _to_host(self.gid, ns_id)

    def ns_uid(self, host_id: int) -> int | None:
        return _to_ns(self.uid, host_id)

    def ns_gid(self, host_id: int) -> int | None:
        return _to_ns(self.gid, host_id)

    @property
    def root_uid(self) -> int:
        """The host uid of container root (always mapped in a checked set)."""
        uid = self.host_uid(0)
        assert uid is not None
        return uid

    @property
    def root_gid(self) -> int:
        gid = self.host_gid(0)
        assert gid is not None
        return gid

    def __repr__(self) -> str:
        return f"IdMaps(uid={self.uid!r}, gid={self.gid!r})"


def _to_host(ranges: list[IdRange], ns_id: int) -> int | None:
    for r in ranges:
        if r.ns_id <= ns_id < r.ns_id + r.count:
            return r.host_id + ns_id - r.ns_id
    return None


def _to_ns(ranges: list[IdRange], host_id: int) -> int | None:
    for r in ranges:
        if r.host_id <= host_id < r.host_id + r.count:
            return r.ns_id + host_id - r.host_id
    return None


def _overlap(a_start: int, a_count: int, b_start: int, b_count: int) -> bool:
    return a_start < b_start + b_count and b_start < a_start + a_count


def parse_line(value: str) -> list[IdRange]:
    """`u|g|b NSID HOSTID RANGE` -> its extents (two for b); ValueError if malformed."""
    fields = value.split()
    if len(fields) != 4 or fields[0] not in ("u", "g", "b"):
        raise ValueError(f"'{value}' is not 'u|g NSID HOSTID RANGE'")
    try:
        ns_id, host_id, count = (int(f, 10) for f in fields[1:])
    except ValueError:
        raise ValueError(f"'{value}': the ids and the range must be decimal numbers") from None
    if min(ns_id, host_id, count) < 0:
        raise ValueError(f"'{value}': ids and range must not be negative")
    if count == 0:
        raise ValueError(f"'{value}': the range must not be 0")
    if ns_id + count > ID_LIMIT or host_id + count > ID_LIMIT:
        raise ValueError(f"'{value}': the range goes past the largest id ({ID_LIMIT - 1})")
    kinds = ("u", "g") if fields[0] == "b" else (fields[0],)
    return [IdRange(kind, ns_id, host_id, count) for kind in kinds]


def validate(lines: Iterable[tuple[str, object]]) -> IdMaps | None:
    """Check a set of (value, where) lines; None for no lines at all.

    Raises `MapError(where, reason)` for the first line that breaks a rule
    (`where` is whatever the caller attached to the line, e.g. a config Entry).
    """
    uid: list[IdRange] = []
    gid: list[IdRange] = []
    last: object = None
    for value, where in lines:
        last = where
        try:
            extents = parse_line(value)
        except ValueError as err:
            raise MapError(where, str(err)) from None
        for extent in extents:
            bucket = uid if extent.kind == "u" else gid
            for other in bucket:
                if _overlap(extent.ns_id, extent.count, other.ns_id, other.count):
                    raise MapError(
                        where,
                        f"'{value}' overlaps '{other.kind} {other.ns_id} {other.host_id} "
                        f"{other.count}' in the container's ids",
                    )
                if _overlap(extent.host_id, extent.count, other.host_id, other.count):
                    raise MapError(
                        where,
                        f"'{value}' overlaps '{other.kind} {other.ns_id} {other.host_id} "
                        f"{other.count}' in the host's ids",
                    )
            bucket.append(extent)
            if len(bucket) > KERNEL_MAX_LINES:
                raise MapError(
                    where,
                    f"more than {KERNEL_MAX_LINES} {_NAMES[extent.kind]} map lines "
                    "(the kernel's limit)",
                )
    if not uid and not gid:
        return None
    for kind, bucket in (("u", uid), ("g", gid)):
        if not bucket:
            raise MapError(
                last,
                f"no {_NAMES[kind]} map: a user namespace needs both 'u' and 'g' lines",
            )
        if _to_host(bucket, 0) is None:
            raise MapError(
                last,
                f"container {_NAMES[kind]} 0 is not mapped: the container's root must "
                "map to a host id",
            )
    return IdMaps(uid, gid)


_NAMES = {"u": "uid", "g": "gid"}


class MapError(Exception):
    """A bad lxc.idmap set; `where` locates the line to blame."""

    def __init__(self, where: object, reason: str) -> None:
        super().__init__(reason)
        self.where = where
        self.reason = reason


def check_raw(raw: RawConfig) -> IdMaps | None:
    """Validate the lxc.idmap entries of a parsed config (`RawConfig`).

    ConfigError naming the file, line and `lxc.idmap` for a bad set (also one that
    maps the container's root to host root: lxc-usernsexec may, a container not);
    None when no map is configured.
    """
    entries = [e for e in raw.entries() if e.key == KEY and e.value.strip()]
    try:
        checked = validate((e.value, e) for e in entries)
        for entry in entries:  # a container's user namespace that protects nothing
            if any(x.ns_id == 0 and x.host_id == 0 for x in parse_line(entry.value)):
                raise MapError(entry, f"'{entry.value.strip()}': container root would be host root")
        return checked
    except MapError as err:
        from runtime.config.parser import Entry  # loaded already: `raw` is a RawConfig

        where = err.where
        assert isinstance(where, Entry)  # what the lines above attach to each value
        raise ConfigError(where.file, where.line, KEY, err.reason) from None


def from_config(config: ContainerConfig | None) -> IdMaps | None:
    """The maps of a typed `ContainerConfig` (its `idmap` list); MapError if bad.

    The daemon already refused a bad set with `check_raw`; the child and the
    client commands use this form.
    """
    idmap = config.idmap if config is not None else []
    lines: list[tuple[str, object]] = [(item.to_text(), item) for item in idmap]
    return validate(lines)
