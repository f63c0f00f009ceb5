"""Addresses, interfaces and link statistics for `lxc-info` and `lxc-ls` (clients).

Standard library only (clients never import pyroute2): the client enters the
container's network namespace just long enough to open a NETLINK_ROUTE socket
(`setns` there and straight back; a netlink socket stays in the namespace it was
made in), then dumps links and addresses with a few lines of struct code. That
costs one socket and two small dumps, about a millisecond, and shows exactly what
the kernel has: addresses added inside the container later are listed too. It
needs root, as LXC's `lxc-info -i` does; without it nothing is shown.

What LXC shows, and so what is returned here: `lxc-info -i` lists the IPv4 then the
IPv6 addresses of every interface but `lo`, leaving out IPv6 link-local ones;
`lxc-ls` shows the same per family, and the interface names (with `lo`) sorted.
`Link:` lines name the veth's host side (or the `link` of other types) with its
byte counters from /sys/class/net, seen from the container's side (TX is what the
host side received).
"""

from __future__ import annotations

import _socket  # not `socket`, which imports `enum` and `selectors`: start-up time
import os
import struct

# The host-side links moved to runtime.net.link_stats; re-exported for their callers.
from runtime.net.link_stats import host_links, human_size, link_bytes, link_lines, read_record

__all__ = ["NetView", "host_links", "human_size", "link_bytes", "link_lines", "read_record", "view"]

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_GETLINK = 16, 18
RTM_NEWADDR, RTM_GETADDR = 20, 22
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
IFLA_IFNAME = 3
IFA_ADDRESS, IFA_LOCAL = 1, 2
RT_SCOPE_UNIVERSE = 0

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTATTR = struct.Struct("=HH")


class NetView:
    """What a container's network namespace holds: interfaces and addresses."""

    __slots__ = ("links", "addresses")

    def __init__(self, links: dict[int, str], addresses: list[tuple[str, int, str, int]]) -> None:
        #: ifindex -> name
        self.links = links
        #: (interface, family, address, scope), in the kernel's order
        self.addresses = addresses

    def interfaces(self) -> list[str]:
        return sorted(self.links.values())

    def ips(self, family: int | None = None) -> list[str]:
        """IPv4 then IPv6 addresses of every interface but lo (no IPv6 link-local)."""
        out = []
        for want in (_socket.AF_INET, _socket.AF_INET6):
            if family is not None and family != want:
                continue
            for ifname, fam, address, scope in self.addresses:
                if fam != want or ifname == "lo":
                    continue
                if fam == _socket.AF_INET6 and scope != RT_SCOPE_UNIVERSE:
                    continue
                out.append(address)
        return out


def view(pid: int) -> NetView | None:
    """The network of the process `pid` (a container's init); None if unreadable."""
    try:
        sock = _socket_in(pid)
    except OSError:
        return None
    try:
        links = {index: name for index, name in _dump_links(sock)}
        addresses = [
            (links.get(index, str(index)), family, address, scope)
            for index, family, address, scope in _dump_addresses(sock)
        ]
    except OSError:
        return None
    finally:
        sock.close()
    return NetView(links, addresses)


def _socket_in(pid: int) -> _socket.socket:
    target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if os.fstat(target).st_ino == os.stat("/proc/self/ns/net").st_ino:
            return _netlink_socket()  # the host's own namespace (lxc.net.0.type = none)
        from runtime.kernel import linux

        home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            linux.setns(target, linux.CLONE_NEWNET)
            try:
                return _netlink_socket()
            finally:
                linux.setns(home, linux.CLONE_NEWNET)
        finally:
            os.close(home)
    finally:
        os.close(target)


def _netlink_socket() -> _socket.socket:
    sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    sock.settimeout(2)
    return sock


def _dump(sock: _socket.socket, kind: int, body: bytes) -> list[tuple[int, bytes]]:
    """Send one dump request; (message type, payload) of every reply."""
    seq = 1
    header = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
    sock.sendto(header + body, (0, 0))
    out: list[tuple[int, bytes]] = []
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset + _NLMSGHDR.size <= len(data):
            length, mtype, _flags, mseq, _pid = _NLMSGHDR.unpack_from(data, offset)
            if length < _NLMSGHDR.size:
                return out
            payload = data[offset + _NLMSGHDR.size : offset + length]
            offset += (length + 3) & ~3
            if mseq != seq:
                continue
            if mtype == NLMSG_DONE:
                return out
            if mtype == NLMSG_ERROR:
                code = struct.unpack_from("=i", payload)[0]
                if code:
                    raise OSError(-code, os.strerror(-code))
                return out
            out.append((mtype, payload))


def _attributes(payload: bytes, offset: int) -> dict[int, bytes]:
    attrs: dict[int, bytes] = {}
    while offset + _RTATTR.size <= len(payload):
        length, kind = _RTATTR.unpack_from(payload, offset)
        if length < _RTATTR.size:
            break
        attrs.setdefault(kind, payload[offset + _RTATTR.size : offset + length])
        offset += (length + 3) & ~3
    return attrs


def _dump_links(sock: _socket.socket) -> list[tuple[int, str]]:
    links = []
    for mtype, payload in _dump(sock, RTM_GETLINK, _IFINFOMSG.pack(0, 0, 0, 0, 0)):
        if mtype != RTM_NEWLINK:
            continue
        _family, _type, index, _flags, _change = _IFINFOMSG.unpack_from(payload)
        name = _attributes(payload, _IFINFOMSG.size).get(IFLA_IFNAME, b"").split(b"\0", 1)[0]
        links.append((index, name.decode(errors="replace")))
    return links


def _dump_addresses(sock: _socket.socket) -> list[tuple[int, int, str, int]]:
    found = []
    for mtype, payload in _dump(sock, RTM_GETADDR, _IFADDRMSG.pack(0, 0, 0, 0, 0)):
        if mtype != RTM_NEWADDR:
            continue
        family, _prefix, _flags, scope, index = _IFADDRMSG.unpack_from(payload)
        attrs = _attributes(payload, _IFADDRMSG.size)
        raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
        if raw is None or family not in (_socket.AF_INET, _socket.AF_INET6):
            continue
        found.append((index, family, _socket.inet_ntop(family, raw), scope))
    return found

