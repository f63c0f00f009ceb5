"""What a network type (`lxc.net.N.type`) declares, and the defaults.

A type is an object with:

- `name` and `keys`: its own `lxc.net.N.<sub>` keys (`NetKey`: value checker,
  scalar or list, what applies it or why it is refused); runtime.config.keys adds
  them to the key table, so the parser, the writer and the typed model know them;
- flags the planning and the spawn read: whether the container gets a network
  namespace of its own (`new_netns`: all but `none`), whether a device is made or
  moved into it (`makes_device`), whether it needs a parent on the host
  (`needs_link`), whether `ipvX.gateway = auto` means something for it;
- checks against the other devices (`check_device` on the config's devices,
  `check_among` once every name is resolved) and the names it resolves before
  anything is made (`default_name`, `assign_host`);
- host-side work in the daemon's netlink worker thread (runtime.net.host): `create`
  (make or move the device into the container's namespace, record it in the
  NetState), `configure_inside` (what only this type sets inside, before the
  common addresses, flags and routes), `host_side` (routes and proxies on the
  host), `remove` (give back or delete, at stop or after a daemon restart);
- `host_device`: the host-side device its scripts and statistics name.

Why this shape: one module per type holds all of that, so adding a type is a
module and a line in the registry (runtime.net.types.NAMES), not a hunk in the key
table, the planner, the netlink code and the spawn.

Standard library only, and cheap (no dataclasses, socket or re at import): the key
table, and so every command that parses a config, imports the types. pyroute2 is imported by the host-side methods, which only ever
run in the daemon's worker threads, where runtime.net.host has imported it already.
"""

from __future__ import annotations

import errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: `typing` (and the `re` it imports) costs every
    # command that parses a config (lxc-info among them) milliseconds at start-up
    from collections.abc import Callable
    from typing import Any

    from pyroute2 import IPRoute

    from runtime.net.host import NetState
    from runtime.net.plan import DevicePlan, NetworkError

#: Where a key takes effect: the dotted path of a type module's function.
TYPES = "runtime.net.types."
#: A neighbour entry that is a proxy (linux/neighbour.h NTF_PROXY).
NTF_PROXY = 0x08
#: Routes to a device's own link (rtnetlink.h RT_SCOPE_LINK).
RT_SCOPE_LINK = 253


class NetKey:
    """One `lxc.net.N.<sub>` key a type owns (see runtime.config.keys.KeySpec).

    A plain class, not a NamedTuple: `typing` is not imported at start-up."""

    __slots__ = ("sub", "check", "many", "applied_by", "refused")

    def __init__(
        self,
        sub: str,
        check: Callable[[str], object],
        many: bool = False,  # a list key (one entry per line) rather than a scalar
        applied_by: str | None = None,
        refused: str | None = None,
    ) -> None:
        self.sub = sub
        self.check = check
        self.many = many
        self.applied_by = applied_by
        self.refused = refused

    def __repr__(self) -> str:
        return f"NetKey({self.sub!r}, many={self.many}, applied_by={self.applied_by!r})"


class NetType:
    """A type without a device of its own (the defaults; `empty` is exactly this)."""

    name: str = ""
    keys: tuple[NetKey, ...] = ()
    #: The container gets a network namespace of its own (the child unshares it).
    new_netns = True
    #: A device is made in, or moved into, the container's namespace by the daemon.
    makes_device = False
    #: The device sits on a parent device on the host (`lxc.net.N.link`).
    needs_link = False
    #: `lxc.net.N.ipvX.gateway = auto` takes the address of `link`.
    auto_gateway = False
    #: At stop, the daemon needs a netlink socket inside the namespace for it.
    removed_inside = False
    #: What the kernel must have (for "the kernel lacks ... support").
    kernel_feature: str | None = None

    # -- planning (runtime.net.plan, standard library) ---------------------------
    def check_device(self, key: str, dev: Any, devices: list[Any]) -> None:
        """Raise NetworkError when this device cannot go with the others (`devices`,
        every lxc.net.N of the config); first of the checks on a device."""

    def default_name(self, dev: Any) -> str | None:
        """The container-side name when `lxc.net.N.name` is not set (None: next ethN)."""
        return None

    def assign_host(self, p: DevicePlan, hosts: dict[str, DevicePlan]) -> None:
        """Resolve host-side names (`hosts`: the names taken so far, by plan)."""

    def check_among(self, p: DevicePlan, plans: list[DevicePlan]) -> None:
        """Raise NetworkError when `p`, named, cannot go with the other planned devices."""

    # -- the daemon's netlink worker thread (runtime.net.host) --------------------
    def create(self, host: IPRoute, p: DevicePlan, state: NetState, nsfd: int) -> None:
        """Make or move the device into the namespace `nsfd`; append it to `state`."""

    def configure_inside(self, inside: IPRoute, p: DevicePlan, index: int) -> None:
        """What this type sets on its device inside, before addresses and flags."""

    def host_side(self, host: IPRoute, p: DevicePlan, entry: dict[str, Any]) -> None:
        """Routes and proxy entries on the host for this device."""

    def remove(
        self, host: IPRoute, inside: IPRoute | None, entry: dict[str, Any], host_ns: int,
        problems: list[str],
    ) -> None:  # fmt: skip
        """Give back or delete the device of `entry`; append what went wrong to `problems`."""

    def host_device(self, entry: dict[str, Any]) -> str | None:
        """The host device a script or a statistic names for this device: its parent."""
        link = entry.get("link")
        return str(link) if link else None


class DeviceType(NetType):
    """A type whose device the daemon makes in (or moves into) the container."""

    makes_device = True


class OnParent(DeviceType):
    """A virtual device on a parent (`link`) on the host, born inside the container's
    namespace (macvlan, ipvlan, vlan); `link_options` is what the kind adds."""

    needs_link = True
    removed_inside = True

    def link_options(self, p: DevicePlan) -> dict[str, Any]:
        """The kind's own attributes of the `link add` request."""
        return {}

    def create(self, host: IPRoute, p: DevicePlan, state: NetState, nsfd: int) -> None:
        """The device on `link`, under its final name inside, with its hwaddr and mtu."""
        from pyroute2.netlink.exceptions import NetlinkError

        from runtime.net.plan import NetworkError

        parent = lookup(host, p.dev.link)
        if parent is None:
            raise NetworkError(p.key("link"), f"device '{p.dev.link}' does not exist")
        spec: dict[str, Any] = {"ifname": p.inside, "kind": p.type, "link": parent, "net_ns_fd": nsfd}
        spec.update(self.link_options(p))
        if p.hwaddr:
            spec["address"] = p.hwaddr
        if p.dev.mtu:
            spec["mtu"] = p.dev.mtu
        try:
            host.link("add", **spec)
        except NetlinkError as err:
            if err.code == errno.EBUSY:
                raise NetworkError(
                    p.key("link"), f"'{p.dev.link}' cannot take a {p.type} device: {reason(err)}"
                ) from None
            raise kernel_error(self, p, err, f"{p.type} device") from None
        state.devices.append(
            {"index": p.index, "type": p.type, "inside": p.inside, "link": p.dev.link,
             "script_down": p.dev.script_down}
        )  # fmt: skip

    def remove(
        self, host: IPRoute, inside: IPRoute | None, entry: dict[str, Any], host_ns: int,
        problems: list[str],
    ) -> None:  # fmt: skip
        """Gone with the namespace anyway, but at once is better (a passthru macvlan's
        parent is free again for the next start)."""
        from pyroute2.netlink.exceptions import NetlinkError

        if inside is not None and entry.get("inside_ifindex"):
            try:
                inside.link("del", index=entry["inside_ifindex"])
            except NetlinkError:
                pass


# -- helpers for the host-side methods ---------------------------------------------------


def lookup(ipr: IPRoute, name: str | None) -> int | None:
    """The ifindex of `name` in `ipr`'s namespace, None if there is none (or no name)."""
    if name is None:
        return None
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


def reason(err: BaseException) -> str:
    """A netlink or OS error as the kernel's words."""
    from pyroute2.netlink.exceptions import NetlinkError

    if isinstance(err, NetlinkError):
        return os.strerror(err.code) if err.code else str(err)
    if isinstance(err, OSError) and err.errno:
        return os.strerror(err.errno)
    return str(err)


def kernel_error(kind: NetType, p: DevicePlan, err: Any, what: str) -> NetworkError:
    """A failed `link add` as the key to blame: the type, the name, or the reason."""
    from runtime.net.plan import NetworkError

    if err.code == errno.EOPNOTSUPP:
        feature = kind.kernel_feature or p.type
        return NetworkError(p.key("type"), f"the kernel lacks {feature} support")
    if err.code == errno.EEXIST:
        return NetworkError(
            p.key("name"), f"'{p.inside}' already exists in the container's network namespace"
        )
    return NetworkError(p.key("type"), f"cannot create the {what}: {reason(err)}")


def add_proxy(host: IPRoute, index: int | None, address: str, af: int, key: str) -> None:
    """A neighbour proxy entry for `address` on the host device `index`."""
    from pyroute2.netlink.exceptions import NetlinkError

    from runtime.net.plan import NetworkError

    try:
        host.neigh("add", dst=address, ifindex=index, flags=NTF_PROXY, family=af)
    except NetlinkError as err:
        raise NetworkError(key, f"cannot add a neighbour proxy for {address}: {reason(err)}") from None
