"""The netlink work of a container's network, with pyroute2 (blocking calls).

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
(`cleanup_dead`). Errors are `NetworkError`s naming the key.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import socket
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from runtime.net.plan import DEVICE_TYPES, DevicePlan, NetworkError, broadcast_of

log = logging.getLogger("trio-lxc.net")
# pyroute2 logs every netlink message at DEBUG: too much for the daemon's log.
logging.getLogger("pyroute2").setLevel(logging.WARNING)

NTF_PROXY = 0x08
RT_SCOPE_LINK = 253
IPVLAN_MODES = {"l2": 0, "l3": 1, "l3s": 2}
IPVLAN_FLAGS = {"bridge": 0, "private": 1, "vepa": 2}
#: What the kernel needs for each link type (for "the kernel lacks ..." errors).
KERNEL_FEATURE = {
    "veth": "veth (CONFIG_VETH)",
    "macvlan": "macvlan (CONFIG_MACVLAN)",
    "ipvlan": "ipvlan (CONFIG_IPVLAN)",
    "vlan": "vlan (802.1q, CONFIG_VLAN_8021Q, module 8021q)",
}


class NetState:
    """The devices made or moved for one container, in the order they were made.

    Each entry is a JSON-able dict: index, type, inside (name in the container),
    inside_ifindex, host and host_ifindex (veth host side), link (the parent/bridge), phys (the
    moved device's original name, ifindex, mtu and MAC address), proxies
    ([address, device] neighbour proxy entries added on the host), script_down.
    """

    def __init__(self, devices: list[dict[str, Any]] | None = None) -> None:
        self.devices: list[dict[str, Any]] = devices or []

    def to_record(self) -> list[dict[str, Any]]:
        return [dict(d) for d in self.devices]

    def host_links(self) -> list[str]:
        return [d["host"] for d in self.devices if d.get("host")]

    def __bool__(self) -> bool:
        return bool(self.devices)


def _reason(err: BaseException) -> str:
    if isinstance(err, NetlinkError):
        return os.strerror(err.code) if err.code else str(err)
    if isinstance(err, OSError) and err.errno:
        return os.strerror(err.errno)
    return str(err)


def _lookup(ipr: IPRoute, name: str | None) -> int | None:
    """The index of the host device `name` (None: no such device, or no name)."""
    if name is None:
        return None
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


def _link_info(ipr: IPRoute, index: int) -> dict[str, Any]:
    msg = ipr.get_links(index)[0]
    return {
        "name": msg.get_attr("IFLA_IFNAME"),
        "ifindex": index,
        "mtu": msg.get_attr("IFLA_MTU"),
        "address": msg.get_attr("IFLA_ADDRESS"),
        "kind": _kind(msg),
    }


def _kind(msg: Any) -> str | None:
    info = msg.get_attr("IFLA_LINKINFO")
    return info.get_attr("IFLA_INFO_KIND") if info is not None else None


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
    if p.type == "veth":
        _create_veth(host, p, state, nsfd)
    elif p.type == "phys":
        _move_phys(host, p, state, nsfd)
    else:
        _create_on_parent(host, p, state, nsfd)


def _kernel_error(p: DevicePlan, err: NetlinkError, what: str) -> NetworkError:
    if err.code == errno.EOPNOTSUPP:
        feature = KERNEL_FEATURE.get(p.type, p.type)
        return NetworkError(p.key("type"), f"the kernel lacks {feature} support")
    if err.code == errno.EEXIST:
        return NetworkError(
            p.key("name"), f"'{p.inside}' already exists in the container's network namespace"
        )
    return NetworkError(p.key("type"), f"cannot create the {what}: {_reason(err)}")


def _create_veth(host: IPRoute, p: DevicePlan, state: NetState, nsfd: int) -> None:
    from runtime.net.plan import veth_name

    assert p.host is not None and p.inside is not None
    while _lookup(host, p.host) is not None:
        if p.dev.veth_pair:
            raise NetworkError(p.key("veth.pair"), f"'{p.host}' already exists on the host")
        p.host = veth_name()
    bridge = None
    mtu = p.dev.mtu
    if p.dev.link and not p.router:
        try:
            found = host.get_links(ifname=p.dev.link)
        except NetlinkError as err:
            if err.code != errno.ENODEV:
                raise
            found = ()
        if not found:
            raise NetworkError(p.key("link"), f"bridge '{p.dev.link}' does not exist")
        bridge = found[0]["index"]
        if mtu is None:
            mtu = found[0].get_attr("IFLA_MTU")
    peer: dict[str, Any] = {"ifname": p.inside, "net_ns_fd": nsfd}
    extra: dict[str, Any] = {}
    if p.hwaddr:
        peer["address"] = p.hwaddr
    if p.host_hwaddr:
        extra["address"] = p.host_hwaddr
    if mtu:
        peer["mtu"] = extra["mtu"] = mtu
    # lxc.net.N.veth.n_rxqueues / n_txqueues: both ends get that many queues, as in LXC.
    if p.dev.veth_n_rxqueues:
        peer["num_rx_queues"] = extra["num_rx_queues"] = p.dev.veth_n_rxqueues
    if p.dev.veth_n_txqueues:
        peer["num_tx_queues"] = extra["num_tx_queues"] = p.dev.veth_n_txqueues
    try:
        host.link("add", ifname=p.host, kind="veth", peer=peer, **extra)
    except NetlinkError as err:
        if err.code == errno.EEXIST and _lookup(host, p.host) is not None:
            raise NetworkError(p.key("veth.pair"), f"'{p.host}' already exists on the host") from None
        raise _kernel_error(p, err, "veth pair") from None
    state.devices.append(
        {"index": p.index, "type": "veth", "host": p.host, "inside": p.inside, "link": p.dev.link,
         "script_down": p.dev.script_down}
    )  # fmt: skip
    host_index = _lookup(host, p.host)
    if host_index is None:
        raise NetworkError(p.key("veth.pair"), f"'{p.host}' vanished right after it was made")
    state.devices[-1]["host_ifindex"] = host_index
    if bridge is not None:
        try:
            host.link("set", index=host_index, master=bridge, state="up")
        except NetlinkError as err:
            raise NetworkError(
                p.key("link"), f"cannot attach '{p.host}' to '{p.dev.link}': {_reason(err)}"
            ) from None
    else:
        host.link("set", index=host_index, state="up")


def _create_on_parent(host: IPRoute, p: DevicePlan, state: NetState, nsfd: int) -> None:
    parent = _lookup(host, p.dev.link)
    if parent is None:
        raise NetworkError(p.key("link"), f"device '{p.dev.link}' does not exist")
    spec: dict[str, Any] = {"ifname": p.inside, "kind": p.type, "link": parent, "net_ns_fd": nsfd}
    if p.type == "macvlan":
        spec["macvlan_mode"] = p.dev.macvlan_mode or "private"
    elif p.type == "vlan":
        spec["vlan_id"] = p.dev.vlan_id or 0
    elif p.type == "ipvlan":
        spec["ipvlan_mode"] = IPVLAN_MODES[p.dev.ipvlan_mode or "l3"]
        spec["ipvlan_flags"] = IPVLAN_FLAGS[p.dev.ipvlan_isolation or "bridge"]
    if p.hwaddr:
        spec["address"] = p.hwaddr
    if p.dev.mtu:
        spec["mtu"] = p.dev.mtu
    try:
        host.link("add", **spec)
    except NetlinkError as err:
        if err.code == errno.EBUSY:
            raise NetworkError(
                p.key("link"), f"'{p.dev.link}' cannot take a {p.type} device: {_reason(err)}"
            ) from None
        raise _kernel_error(p, err, f"{p.type} device") from None
    state.devices.append(
        {"index": p.index, "type": p.type, "inside": p.inside, "link": p.dev.link,
         "script_down": p.dev.script_down}
    )  # fmt: skip


def _move_phys(host: IPRoute, p: DevicePlan, state: NetState, nsfd: int) -> None:
    index = _lookup(host, p.dev.link)
    if index is None:
        raise NetworkError(p.key("link"), f"device '{p.dev.link}' does not exist")
    original = _link_info(host, index)
    try:
        host.link("set", index=index, net_ns_fd=nsfd, ifname=p.inside)
    except NetlinkError as err:
        raise NetworkError(
            p.key("link"), f"cannot move '{p.dev.link}' into the container: {_reason(err)}"
        ) from None
    state.devices.append(
        {"index": p.index, "type": "phys", "inside": p.inside, "link": p.dev.link,
         "phys": original, "script_down": p.dev.script_down}
    )  # fmt: skip


def _configure_inside(host: IPRoute, inside: IPRoute, p: DevicePlan, entry: dict[str, Any]) -> None:
    index = _lookup(inside, p.inside)
    if index is None:
        raise NetworkError(p.key("name"), f"'{p.inside}' is not in the container's namespace")
    entry["inside_ifindex"] = index
    if p.type == "phys":
        changes: dict[str, Any] = {}
        if p.hwaddr:
            changes["address"] = p.hwaddr
        if p.dev.mtu:
            changes["mtu"] = p.dev.mtu
        if changes:
            try:
                inside.link("set", index=index, **changes)
            except NetlinkError as err:
                sub = "hwaddr" if "address" in changes else "mtu"
                raise NetworkError(p.key(sub), f"cannot set it on '{p.inside}': {_reason(err)}") from None
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
            raise NetworkError(p.key("flags"), f"cannot bring '{p.inside}' up: {_reason(err)}") from None
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
            f"cannot add {address.address}/{address.prefix} to '{p.inside}': {_reason(err)}",
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
            raise NetworkError(key, f"cannot add the default route on '{p.inside}': {_reason(err)}") from None
        return
    if gateway == "auto":
        gateway = _link_address(host, p, af, key)
    try:
        inside.route("add", dst=default, gateway=gateway, oif=index, family=af)
    except NetlinkError as err:
        if err.code != errno.ENETUNREACH:
            raise NetworkError(key, f"cannot route through {gateway}: {_reason(err)}") from None
        # The gateway is outside every subnet of the device: reach it on the link.
        host_len = 32 if af == socket.AF_INET else 128
        try:
            inside.route("add", dst=f"{gateway}/{host_len}", oif=index, scope=RT_SCOPE_LINK, family=af)
            inside.route("add", dst=default, gateway=gateway, oif=index, family=af)
        except NetlinkError as err2:
            raise NetworkError(key, f"cannot route through {gateway}: {_reason(err2)}") from None


def _link_address(host: IPRoute, p: DevicePlan, af: int, key: str) -> str:
    """`auto`: the first address of the device's link (the bridge) on the host."""
    index = _lookup(host, p.dev.link)
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
    if p.type == "veth":
        host_index = _lookup(host, p.host)
        routes = [(r, "veth.ipv4.route", socket.AF_INET) for r in p.dev.veth_ipv4_route]
        routes += [(r, "veth.ipv6.route", socket.AF_INET6) for r in p.dev.veth_ipv6_route]
        if p.router:
            routes += [(f"{a.address}/32", "ipv4.address", socket.AF_INET) for a in p.dev.ipv4_address]
            routes += [(f"{a.address}/128", "ipv6.address", socket.AF_INET6) for a in p.dev.ipv6_address]
        for dst, sub, af in routes:
            try:
                host.route("add", dst=dst, oif=host_index, scope=RT_SCOPE_LINK, family=af)
            except NetlinkError as err:
                raise NetworkError(
                    p.key(sub), f"cannot add the host route {dst} via '{p.host}': {_reason(err)}"
                ) from None
        if p.router:
            gateways = (
                ("ipv4", socket.AF_INET, p.dev.ipv4_gateway),
                ("ipv6", socket.AF_INET6, p.dev.ipv6_gateway),
            )
            for family, af, gateway in gateways:
                if gateway and gateway not in ("auto", "dev"):
                    _add_proxy(host, p, host_index, gateway, af, p.key(f"{family}.gateway"))
    if p.dev.l2proxy and p.dev.link:
        link_index = _lookup(host, p.dev.link)
        entry["proxies"] = []
        addresses = (
            (socket.AF_INET, p.dev.ipv4_address),
            (socket.AF_INET6, p.dev.ipv6_address),
        )
        for af, family_addresses in addresses:
            for address in family_addresses:
                _add_proxy(host, p, link_index, address.address, af, p.key("l2proxy"))
                entry["proxies"].append([address.address, p.dev.link])


def _add_proxy(host: IPRoute, p: DevicePlan, index: int | None, address: str, af: int, key: str) -> None:
    try:
        host.neigh("add", dst=address, ifindex=index, flags=NTF_PROXY, family=af)
    except NetlinkError as err:
        raise NetworkError(key, f"cannot add a neighbour proxy for {address}: {_reason(err)}") from None


# -- tear-down ---------------------------------------------------------------------------


def teardown(state: NetState, nl_fd: int | None) -> list[str]:
    """Give back and remove everything in `state`, last made first; the problems met.

    nl_fd: the netlink socket inside the container's namespace, needed to give
    physical devices back (None: they are left to the kernel, see cleanup_dead).
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
    key = f"lxc.net.{entry.get('index')}"
    _remove_proxies(host, entry, problems)
    kind = entry.get("type")
    if kind == "phys":
        if inside is None:
            _restore_returned(host, entry, problems)
            return
        original = entry.get("phys") or {}
        index = entry.get("inside_ifindex") or _lookup(inside, entry.get("inside", ""))
        if index is None:
            problems.append(f"{key}: '{entry.get('inside')}' is gone from the container")
            return
        name = original.get("name") or entry.get("link")
        try:
            inside.link("set", index=index, state="down")
            inside.link("set", index=index, net_ns_fd=host_ns, ifname=name)
        except NetlinkError as err:
            try:  # the name was taken on the host meanwhile: let the kernel pick one
                inside.link("set", index=index, net_ns_fd=host_ns, ifname="dev%d")
                problems.append(f"{key}: '{name}' is taken on the host; the device came back under another name")
            except NetlinkError:
                problems.append(f"{key}: cannot give '{name}' back to the host: {_reason(err)}")
                return
        _restore_returned(host, entry, problems)
    elif kind == "veth":
        index = _lookup(host, entry.get("host", ""))
        # The name may have been taken by another device since ours went away with
        # its namespace: only the ifindex we made is ours to remove.
        if index is not None and entry.get("host_ifindex") not in (None, index):
            index = None
        if index is not None:
            try:
                host.link("del", index=index)
            except NetlinkError as err:
                if err.code != errno.ENODEV:
                    problems.append(f"{key}: cannot remove '{entry.get('host')}': {_reason(err)}")
    elif inside is not None and entry.get("inside_ifindex"):
        # macvlan/ipvlan/vlan: gone with the namespace anyway, but at once is better
        # (a passthru macvlan's parent is free again for the next start).
        try:
            inside.link("del", index=entry["inside_ifindex"])
        except NetlinkError:
            pass


def _remove_proxies(host: IPRoute, entry: dict[str, Any], problems: list[str]) -> None:
    for address, device in entry.get("proxies") or []:
        index = _lookup(host, device)
        if index is None:
            continue
        af = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            host.neigh("del", dst=address, ifindex=index, flags=NTF_PROXY, family=af)
        except NetlinkError as err:
            if err.code not in (errno.ENOENT, errno.ESRCH):
                problems.append(f"lxc.net.{entry.get('index')}.l2proxy: {_reason(err)}")


def _restore_returned(host: IPRoute, entry: dict[str, Any], problems: list[str]) -> None:
    """A physical device back on the host: its name, MTU and MAC address as before."""
    original = entry.get("phys") or {}
    name = original.get("name")
    index = original.get("ifindex")
    # The kernel keeps the ifindex when it is free: find the device by it first.
    current = None
    if isinstance(index, int):
        try:
            current = _link_info(host, index)
        except NetlinkError:
            current = None
        # An ifindex can be reused: only a device of the same kind under one of
        # the names it can have come back with is ours.
        names = {name, entry.get("inside")}
        if current is not None and (
            current["kind"] != original.get("kind")
            or not (current["name"] in names or re.fullmatch(r"dev\d+", current["name"] or ""))
        ):
            current = None
    if current is None and name:
        found = _lookup(host, name)
        current = _link_info(host, found) if found is not None else None
    if current is None:
        return  # a virtual device dies with the namespace; nothing to restore
    changes: dict[str, Any] = {}
    if name and current["name"] != name and _lookup(host, name) is None:
        changes["ifname"] = name
    if original.get("mtu") and current["mtu"] != original["mtu"]:
        changes["mtu"] = original["mtu"]
    if original.get("address") and current["address"] != original["address"]:
        changes["address"] = original["address"]
    if not changes:
        return
    try:
        if "ifname" in changes:
            host.link("set", index=current["ifindex"], state="down")
        host.link("set", index=current["ifindex"], **changes)
    except NetlinkError as err:
        problems.append(f"lxc.net.{entry.get('index')}: cannot restore '{name}': {_reason(err)}")


def cleanup_dead(state: NetState) -> list[str]:
    """After a container died with no daemon watching: what is left on the host.

    The namespace is gone, so veth pairs and virtual devices are gone with it; a
    real physical device was given back by the kernel under its container name
    (or `devN`), which is undone here. Proxy entries on host devices are removed.
    """
    return teardown(state, None)
