"""`lxc.net.N.type = veth`: a pair, one end in the container, the other on the host.

The host end is `lxc.net.N.veth.pair` or a fresh `vethXXXXXX` (with a `fe:` MAC, so
a bridge keeps the address of its own first port, as LXC does) and joins the bridge
`link`; with `veth.mode = router` it joins nothing and the host routes the
container's addresses to it (and answers ARP/NDP for the container's gateway).
The container end is born inside the namespace under its final name
(IFLA_NET_NS_FD). At stop the host end is deleted (the container end goes with it).
"""

from __future__ import annotations

import errno

from runtime.config import values as v
from runtime.net.types.base import (
    RT_SCOPE_LINK,
    TYPES,
    DeviceType,
    NetKey,
    add_proxy,
    kernel_error,
    lookup,
    reason,
)

TYPE_CHECKING = False  # `typing` costs config parsing milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any

    from pyroute2 import IPRoute

    from runtime.net.host import NetState
    from runtime.net.plan import DevicePlan

_NO_BRIDGE_VLAN = "bridge VLAN membership is not supported yet"
_CREATE = TYPES + "veth.Veth.create"
_HOST_SIDE = TYPES + "veth.Veth.host_side"


class Veth(DeviceType):
    name = "veth"
    auto_gateway = True
    kernel_feature = "veth (CONFIG_VETH)"
    keys = (
        NetKey("veth.pair", v.interface_name, applied_by=_CREATE),
        NetKey("veth.mode", v.one_of(("bridge", "router"), "veth mode"),
               applied_by="runtime.net.plan.DevicePlan.router"),
        NetKey("veth.ipv4.route", v.route(4), many=True, applied_by=_HOST_SIDE),
        NetKey("veth.ipv6.route", v.route(6), many=True, applied_by=_HOST_SIDE),
        NetKey("veth.vlan.id", v.vlan_id, refused=_NO_BRIDGE_VLAN),
        NetKey("veth.vlan.tagged.id", v.vlan_ids, many=True, refused=_NO_BRIDGE_VLAN),
        NetKey("veth.n_rxqueues", v.queue_count, applied_by=_CREATE),
        NetKey("veth.n_txqueues", v.queue_count, applied_by=_CREATE),
    )  # fmt: skip

    def assign_host(self, p: DevicePlan, hosts: dict[str, DevicePlan]) -> None:
        from runtime.net.plan import NetworkError, random_hwaddr, veth_name

        if p.dev.veth_pair:
            if p.dev.veth_pair in hosts:
                raise NetworkError(
                    p.key("veth.pair"),
                    f"'{p.dev.veth_pair}' is also the host side of {hosts[p.dev.veth_pair].key()}",
                )
            p.host = p.dev.veth_pair
        else:
            p.host = veth_name()
        hosts[p.host] = p
        p.host_hwaddr = random_hwaddr()

    def create(self, host: IPRoute, p: DevicePlan, state: NetState, nsfd: int) -> None:
        """The pair (queues, MTU and MACs as configured), its host end on the bridge `link`."""
        from pyroute2.netlink.exceptions import NetlinkError

        from runtime.net.plan import NetworkError, veth_name

        assert p.host is not None and p.inside is not None
        while lookup(host, p.host) is not None:
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
            if err.code == errno.EEXIST and lookup(host, p.host) is not None:
                raise NetworkError(p.key("veth.pair"), f"'{p.host}' already exists on the host") from None
            raise kernel_error(self, p, err, "veth pair") from None
        state.devices.append(
            {"index": p.index, "type": "veth", "host": p.host, "inside": p.inside, "link": p.dev.link,
             "script_down": p.dev.script_down}
        )  # fmt: skip
        host_index = lookup(host, p.host)
        if host_index is None:
            raise NetworkError(p.key("veth.pair"), f"'{p.host}' vanished right after it was made")
        state.devices[-1]["host_ifindex"] = host_index
        if bridge is not None:
            try:
                host.link("set", index=host_index, master=bridge, state="up")
            except NetlinkError as err:
                raise NetworkError(
                    p.key("link"), f"cannot attach '{p.host}' to '{p.dev.link}': {reason(err)}"
                ) from None
        else:
            host.link("set", index=host_index, state="up")

    def host_side(self, host: IPRoute, p: DevicePlan, entry: dict[str, Any]) -> None:
        """veth.ipvX.route, and in router mode the container's addresses and a proxy
        for its gateway, through the host end."""
        import socket

        from pyroute2.netlink.exceptions import NetlinkError

        from runtime.net.plan import NetworkError

        assert p.host is not None
        host_index = lookup(host, p.host)
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
                    p.key(sub), f"cannot add the host route {dst} via '{p.host}': {reason(err)}"
                ) from None
        if p.router and host_index is not None:
            for family, af in (("ipv4", socket.AF_INET), ("ipv6", socket.AF_INET6)):
                gateway = getattr(p.dev, f"{family}_gateway")
                if gateway and gateway not in ("auto", "dev"):
                    add_proxy(host, host_index, gateway, af, p.key(f"{family}.gateway"))

    def remove(
        self, host: IPRoute, inside: IPRoute | None, entry: dict[str, Any], host_ns: int,
        problems: list[str],
    ) -> None:  # fmt: skip
        from pyroute2.netlink.exceptions import NetlinkError

        index = lookup(host, entry.get("host", ""))
        # The name may have been taken by another device since ours went away with
        # its namespace: only the ifindex we made is ours to remove.
        if index is not None and entry.get("host_ifindex") not in (None, index):
            index = None
        if index is not None:
            try:
                host.link("del", index=index)
            except NetlinkError as err:
                if err.code != errno.ENODEV:
                    key = f"lxc.net.{entry.get('index')}"
                    problems.append(f"{key}: cannot remove '{entry.get('host')}': {reason(err)}")

    def host_device(self, entry: dict[str, Any]) -> str | None:
        """The host end of the pair."""
        host = entry.get("host")
        return str(host) if host else None


TYPE = Veth()
