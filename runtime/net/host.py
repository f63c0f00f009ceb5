"""The netlink work of a container's network, with pyroute2 (blocking calls).

What is common to every type is here (addresses, flags, gateways, l2proxy, the
order of the work, tear-down in reverse); what a type makes, moves, sets or
removes is in its module of runtime.net.types.

Every function here blocks on netlink and is run in one worker thread per batch
(`trio.to_thread.run_sync`) by `runtime.net.network`: pyroute2 0.9 keeps an asyncio
event loop per thread and object, so each batch opens its `IPRoute`s, uses them and
closes them in the same thread. Two kinds of socket are used:

- `IPRoute()`: the daemon's own (the host's) network namespace: host-side veth
  ends, bridges, parents, host routes, proxy neighbours; new devices are created
  directly in the container's namespace with IFLA_NET_NS_FD, so a container-side
  name only has to be free there (no temporary names, no rename dance);
- `IPRoute(fileno=dup(nl_fd))`: the NETLINK_ROUTE socket the container child opened
  inside its namespace (`runtime.net.handles`): names, addresses, flags, routes
  inside, and giving physical devices back. pyroute2 closes the fd it is given,
  hence the dup.

`NetState` is what exists: it is filled in as each device is made (so a failure
half-way leaves an exact list for `teardown`), and it is the `net` list of the
container's runtime record, so a daemon that restarts can clean up
(`teardown` without a socket inside). Errors are `NetworkError`s naming the key.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from runtime.net import types
from runtime.net.plan import DEVICE_TYPES, DevicePlan, NetworkError, broadcast_of
from runtime.net.types.base import NTF_PROXY, RT_SCOPE_LINK, add_proxy, lookup, reason

log = logging.getLogger("trio-lxc.net")
# pyroute2 logs every netlink message at DEBUG: too much for the daemon's log.
logging.getLogger("pyroute2").setLevel(logging.WARNING)


class NetState:
    """The devices made or moved for one container, in the order they were made.

    Each entry is a JSON-able dict: index, type, inside (name in the container),
    inside_ifindex, host and host_ifindex (veth host side), link (the parent/bridge), phys (the
    moved device's original name, ifindex, mtu and MAC address), proxies
    ([address, device] neighbour proxy entries added on the host), script_down.
    """

    def __init__(self, devices: list[dict[str, Any]] | None = None) -> None:
        self.devices: list[dict[str, Any]] = devices or []

    def host_links(self) -> list[str]:
        return [d["host"] for d in self.devices if d.get("host")]

    def __bool__(self) -> bool:
        return bool(self.devices)


# -- set-up ----------------------------------------------------------------------------


def setup(plans: list[DevicePlan], state: NetState, nsfd: int, nl_fd: int) -> None:
    """Make every device, configure it inside, add the host-side routes.

    Raises NetworkError; whatever was made before the error is in `state`.
    """
    work = [p for p in plans if p.type in DEVICE_TYPES]
    if not work:
        return
    with IPRoute() as host, IPRoute(fileno=os.dup(nl_fd)) as inside:
        for p in work:
            _create(host, p, state, nsfd)
        for p, entry in zip(work, state.devices, strict=True):
            _configure_inside(host, inside, p, entry)
        for p, entry in zip(work, state.devices, strict=True):
            _host_side(host, p, entry)


def _create(host: IPRoute, p: DevicePlan, state: NetState, nsfd: int) -> None:
    """The device of `p.type`, made or moved in by its type (runtime.net.types)."""
    _type_of(p.type).create(host, p, state, nsfd)


def _type_of(name: str | None) -> types.NetType:
    kind = types.get(name)
    if kind is None:  # the key table admits only the registry's names
        raise NetworkError(None, f"unknown network type {name!r}")
    return kind


def _configure_inside(host: IPRoute, inside: IPRoute, p: DevicePlan, entry: dict[str, Any]) -> None:
    index = lookup(inside, p.inside)
    if index is None:
        raise NetworkError(p.key("name"), f"'{p.inside}' is not in the container's namespace")
    entry["inside_ifindex"] = index
    _type_of(p.type).configure_inside(inside, p, index)
    for address in p.dev.ipv4_address:
        broadcast = broadcast_of(address.address, address.prefix, address.broadcast)
        extra = {"broadcast": broadcast} if broadcast else {}
        _add_address(inside, p, index, "ipv4", address, socket.AF_INET, extra)
    for address in p.dev.ipv6_address:
        _add_address(inside, p, index, "ipv6", address, socket.AF_INET6, {})
    if p.up:
        try:
            inside.link("set", index=index, state="up")
        except NetlinkError as err:
            raise NetworkError(p.key("flags"), f"cannot bring '{p.inside}' up: {reason(err)}") from None
    gateways = (("ipv4", socket.AF_INET, p.dev.ipv4_gateway), ("ipv6", socket.AF_INET6, p.dev.ipv6_gateway))
    for family, af, gateway in gateways:
        if gateway is not None:
            _add_gateway(host, inside, p, index, family, af, gateway)


def _add_address(
    inside: IPRoute, p: DevicePlan, index: int, family: str, address: Any, af: int, extra: dict[str, Any]
) -> None:
    try:
        inside.addr(
            "add", index=index, address=address.address, prefixlen=address.prefix, family=af, **extra
        )
    except NetlinkError as err:
        raise NetworkError(
            p.key(f"{family}.address"),
            f"cannot add {address.address}/{address.prefix} to '{p.inside}': {reason(err)}",
        ) from None


def _add_gateway(
    host: IPRoute, inside: IPRoute, p: DevicePlan, index: int, family: str, af: int, gateway: str
) -> None:
    key = p.key(f"{family}.gateway")
    default = "0.0.0.0/0" if af == socket.AF_INET else "::/0"
    if gateway == "dev":
        try:
            inside.route("add", dst=default, oif=index, scope=RT_SCOPE_LINK, family=af)
        except NetlinkError as err:
            raise NetworkError(key, f"cannot add the default route on '{p.inside}': {reason(err)}") from None
        return
    if gateway == "auto":
        gateway = _link_address(host, p, af, key)
    try:
        inside.route("add", dst=default, gateway=gateway, oif=index, family=af)
    except NetlinkError as err:
        if err.code != errno.ENETUNREACH:
            raise NetworkError(key, f"cannot route through {gateway}: {reason(err)}") from None
        # The gateway is outside every subnet of the device: reach it on the link.
        host_len = 32 if af == socket.AF_INET else 128
        try:
            inside.route("add", dst=f"{gateway}/{host_len}", oif=index, scope=RT_SCOPE_LINK, family=af)
            inside.route("add", dst=default, gateway=gateway, oif=index, family=af)
        except NetlinkError as err2:
            raise NetworkError(key, f"cannot route through {gateway}: {reason(err2)}") from None


def _link_address(host: IPRoute, p: DevicePlan, af: int, key: str) -> str:
    """`auto`: the first address of the device's link (the bridge) on the host."""
    index = lookup(host, p.dev.link)
    if index is None:
        raise NetworkError(key, f"'auto' needs '{p.dev.link}', which does not exist")
    for msg in host.get_addr(family=af, index=index):
        if af == socket.AF_INET6 and msg["scope"] != 0:
            continue  # link-local addresses are no gateway for other subnets
        address = msg.get_attr("IFA_ADDRESS")
        if address:
            return str(address)
    version = "IPv4" if af == socket.AF_INET else "IPv6"
    raise NetworkError(key, f"'auto', but '{p.dev.link}' has no {version} address")


def _host_side(host: IPRoute, p: DevicePlan, entry: dict[str, Any]) -> None:
    """Host routes to the container (veth routes, router mode) and neighbour proxies."""
    _type_of(p.type).host_side(host, p, entry)
    if p.dev.l2proxy and p.dev.link:
        link_index = lookup(host, p.dev.link)
        entry["proxies"] = []
        for family, af in (("ipv4", socket.AF_INET), ("ipv6", socket.AF_INET6)):
            for address in getattr(p.dev, f"{family}_address"):
                add_proxy(host, link_index, address.address, af, p.key("l2proxy"))
                entry["proxies"].append([address.address, p.dev.link])


# -- tear-down ---------------------------------------------------------------------------


def teardown(state: NetState, nl_fd: int | None) -> list[str]:
    """Give back and remove everything in `state`, last made first; the problems met.

    nl_fd: the netlink socket inside the container's namespace, needed to give
    physical devices back (None: the container died unwatched and its namespace is
    gone: virtual devices went with it, a real NIC the kernel gave back under its
    container name or `devN` is put right, runtime.net.types.phys).
    Never raises: every step is tried.
    """
    problems: list[str] = []
    host_ns = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with IPRoute() as host:
            inside = IPRoute(fileno=os.dup(nl_fd)) if nl_fd is not None else None
            try:
                for entry in reversed(state.devices):
                    _remove_one(host, inside, entry, host_ns, problems)
            finally:
                if inside is not None:
                    inside.close()
    finally:
        os.close(host_ns)
    return problems


def _remove_one(
    host: IPRoute, inside: IPRoute | None, entry: dict[str, Any], host_ns: int, problems: list[str]
) -> None:
    _remove_proxies(host, entry, problems)
    kind = types.get(entry.get("type"))
    if kind is not None:
        kind.remove(host, inside, entry, host_ns, problems)


def _remove_proxies(host: IPRoute, entry: dict[str, Any], problems: list[str]) -> None:
    for address, device in entry.get("proxies") or []:
        index = lookup(host, device)
        if index is None:
            continue
        af = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            host.neigh("del", dst=address, ifindex=index, flags=NTF_PROXY, family=af)
        except NetlinkError as err:
            if err.code not in (errno.ENOENT, errno.ESRCH):
                problems.append(f"lxc.net.{entry.get('index')}.l2proxy: {reason(err)}")
