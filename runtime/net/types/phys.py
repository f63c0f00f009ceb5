"""`lxc.net.N.type = phys`: a host device moved into the container and given back at stop.

The device `link` is moved and renamed in one request (under `name`, else its own
name); its original name, ifindex, MTU and MAC go into the record, so that at stop
(or after a daemon restart) it comes back as it was. A real NIC the kernel returns
by itself when the namespace dies (under its inside name or `devN`) is put right
too; a virtual device dies with the namespace. One device cannot be given twice.
"""

from __future__ import annotations

from runtime.net.types.base import DeviceType, lookup, reason

TYPE_CHECKING = False  # `typing` costs config parsing milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any

    from pyroute2 import IPRoute

    from runtime.net.host import NetState
    from runtime.net.plan import DevicePlan


class Phys(DeviceType):
    name = "phys"
    needs_link = True
    removed_inside = True

    def default_name(self, dev: Any) -> str | None:
        """A moved device keeps its own name."""
        return str(dev.link) if dev.link else None

    def check_among(self, p: DevicePlan, plans: list[DevicePlan]) -> None:
        from runtime.net.plan import NetworkError

        others = [q for q in plans if q.type == "phys" and q is not p and q.dev.link == p.dev.link]
        if others:
            raise NetworkError(p.key("link"), f"'{p.dev.link}' is also given to {others[0].key()}")

    def create(self, host: IPRoute, p: DevicePlan, state: NetState, nsfd: int) -> None:
        from pyroute2.netlink.exceptions import NetlinkError

        from runtime.net.plan import NetworkError

        index = lookup(host, p.dev.link)
        if index is None:
            raise NetworkError(p.key("link"), f"device '{p.dev.link}' does not exist")
        original = link_info(host, index)
        try:
            host.link("set", index=index, net_ns_fd=nsfd, ifname=p.inside)
        except NetlinkError as err:
            raise NetworkError(
                p.key("link"), f"cannot move '{p.dev.link}' into the container: {reason(err)}"
            ) from None
        state.devices.append(
            {"index": p.index, "type": "phys", "inside": p.inside, "link": p.dev.link,
             "phys": original, "script_down": p.dev.script_down}
        )  # fmt: skip

    def configure_inside(self, inside: IPRoute, p: DevicePlan, index: int) -> None:
        """The configured hwaddr and mtu, on the device as it came in."""
        from pyroute2.netlink.exceptions import NetlinkError

        from runtime.net.plan import NetworkError

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
                raise NetworkError(p.key(sub), f"cannot set it on '{p.inside}': {reason(err)}") from None

    def remove(
        self, host: IPRoute, inside: IPRoute | None, entry: dict[str, Any], host_ns: int,
        problems: list[str],
    ) -> None:  # fmt: skip
        """Move the device back under its own name (the kernel picks one if that is
        taken), then restore its MTU and MAC."""
        from pyroute2.netlink.exceptions import NetlinkError

        if inside is None:
            restore_returned(host, entry, problems)
            return
        key = f"lxc.net.{entry.get('index')}"
        original = entry.get("phys") or {}
        index = entry.get("inside_ifindex") or lookup(inside, entry.get("inside", ""))
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
                problems.append(f"{key}: cannot give '{name}' back to the host: {reason(err)}")
                return
        restore_returned(host, entry, problems)


def link_info(ipr: IPRoute, index: int) -> dict[str, Any]:
    """What a device was before we moved it: name, ifindex, mtu, MAC, kind."""
    msg = ipr.get_links(index)[0]
    info = msg.get_attr("IFLA_LINKINFO")
    return {
        "name": msg.get_attr("IFLA_IFNAME"),
        "ifindex": index,
        "mtu": msg.get_attr("IFLA_MTU"),
        "address": msg.get_attr("IFLA_ADDRESS"),
        "kind": info.get_attr("IFLA_INFO_KIND") if info is not None else None,
    }


def restore_returned(host: IPRoute, entry: dict[str, Any], problems: list[str]) -> None:
    """A physical device back on the host: its name, MTU and MAC address as before."""
    import re

    from pyroute2.netlink.exceptions import NetlinkError

    original = entry.get("phys") or {}
    name = original.get("name")
    index = original.get("ifindex")
    # The kernel keeps the ifindex when it is free: find the device by it first.
    current = None
    if isinstance(index, int):
        try:
            current = link_info(host, index)
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
        found = lookup(host, name)
        current = link_info(host, found) if found is not None else None
    if current is None:
        return  # a virtual device dies with the namespace; nothing to restore
    changes: dict[str, Any] = {}
    if name and current["name"] != name and lookup(host, name) is None:
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
        problems.append(f"lxc.net.{entry.get('index')}: cannot restore '{name}': {reason(err)}")


TYPE = Phys()
