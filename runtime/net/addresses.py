"""The IP addresses `lxc-info` prints for a running container, read without setns.

What LXC 5 prints (checked against LXC 5.0.2's `lxc-info` on real containers): every
IPv4 address whose label is not `lo` (an address on `lo` labelled `lo:5` is shown),
every IPv6 address that is not link-local (fe80::/10, whatever the kernel's scope:
a site-local fec0:: address is shown) on an interface other than `lo`, a point-to-
point address by its local side, an address held by two interfaces twice, and the
whole list sorted as text (`10.0.0.10` before `10.0.0.9`, `2001:db8::1` before
`9.1.1.1`).

Why not `setns` as LXC does: Python 3.11 has no `os.setns`, and loading ctypes to
call it costs `lxc-info` about a millisecond and a half of its start-up. The kernel
gives both families from the host's side instead:
- IPv6 from /proc/PID/net/if_inet6, which shows the network namespace of that
  process (address, interface name);
- IPv4 from an RTM_GETADDR dump on a host NETLINK_ROUTE socket aimed at the
  container's namespace by its namespace id (IFA_TARGET_NETNSID, Linux 4.20; honoured
  with NETLINK_GET_STRICT_CHK). The id is the host's name for that namespace: a veth
  container's namespace has one already (the kernel gives it when it reports the
  veth's peer); for one without (an `empty` network) the kernel is asked to pick one
  (RTM_NEWNSID, as `ip netns set` does). It lives as long as the namespace and
  changes nothing in the container. Every answer must name that id back (the
  kernel adds IFA_TARGET_NETNSID to each one it honoured it for): an answer about
  our own namespace would be the host's addresses, and ends the read instead. A
  kernel without strict checking (before 4.20) refuses the socket option: no
  addresses rather than the host's. Both need root, as LXC's `lxc-info -i` does.

The pid is the container's init as the runtime record names it. It could exit and
its number be reused by a host process between the record's check and our reads,
which would then show the host's addresses: so /proc/PID is opened once as a
directory (the fd stays bound to that process, not to the number), the process's
start time is checked through it against the record's, and the namespace and
if_inet6 are opened through the same fd. A process that is gone gives None (no
lines), as does anything unreadable. Nothing here can block: netlink dumps come
from the kernel, proc files are read to their end, and the socket has a timeout.

Standard library only, no `socket`/`enum`/`ctypes`: `lxc-info` imports it on its
start-up path.
"""

from __future__ import annotations

import _socket
import sys

from runtime.client import lean_os as os  # not `os`: start-up time

NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_GET_STRICT_CHK = 12
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWNSID, RTM_GETNSID = 88, 90
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_TARGET_NETNSID = 1, 2, 3, 10
NETNSA_NSID, NETNSA_FD = 1, 3
NSID_NOT_ASSIGNED = -1

HEADER_SIZE = 16  # struct nlmsghdr
IFADDRMSG_SIZE = 8  # struct ifaddrmsg
RTGENMSG_SIZE = 4  # struct rtgenmsg, aligned
RTATTR_SIZE = 4  # struct rtattr

# Native-endian integers by hand, not `struct`: one C extension less to load.
_ORDER = sys.byteorder


def _u16(value: int) -> bytes:
    return value.to_bytes(2, _ORDER)


def _u32(value: int) -> bytes:
    return value.to_bytes(4, _ORDER)


def _attr32(kind: int, value: int) -> bytes:
    """An 8-byte rtattr holding a 32-bit integer (negative: two's complement)."""
    return _u16(8) + _u16(kind) + value.to_bytes(4, _ORDER, signed=True)


def _int(data: bytes, offset: int, size: int, signed: bool = False) -> int:
    return int.from_bytes(data[offset : offset + size], _ORDER, signed=signed)


_RTGENMSG = bytes([_socket.AF_UNSPEC]) + bytes(RTGENMSG_SIZE - 1)


def lxc_ips(pid: int, start_time: int | None) -> list[str] | None:
    """The container's addresses as LXC's `lxc-info -i` lists them (see the module
    docstring); None if the process `pid` is gone, is not the one that started at
    `start_time` (clock ticks, field 22 of /proc/PID/stat; None: not checked), or its
    network cannot be read."""
    try:
        proc = os.open(f"/proc/{int(pid)}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if start_time is not None and _start_time(proc) != start_time:
            return None
        ipv6 = _ipv6(proc)
        ipv4 = _ipv4(proc)
    except (OSError, ValueError, IndexError):
        return None
    finally:
        os.close(proc)
    return sorted(ipv4 + ipv6)


def _read(proc: int, name: str) -> bytes:
    fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _start_time(proc: int) -> int:
    data = _read(proc, "stat")
    # The command name (field 2) may hold spaces and parentheses: split after it.
    return int(data[data.rindex(b")") + 2 :].split()[19])


def parse_if_inet6(text: bytes) -> list[str]:
    """The addresses of /proc/net/if_inet6 text that LXC shows: not on `lo`, not
    link-local (fe80::/10)."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 6 or fields[5] == b"lo" or len(fields[0]) != 32:
            continue
        raw = bytes.fromhex(fields[0].decode("ascii"))
        if raw[0] == 0xFE and raw[1] & 0xC0 == 0x80:
            continue
        found.append(_socket.inet_ntop(_socket.AF_INET6, raw))
    return found


def _ipv6(proc: int) -> list[str]:
    try:
        text = _read(proc, "net/if_inet6")
    except FileNotFoundError:
        return []  # IPv6 disabled in that namespace: no addresses
    return parse_if_inet6(text)


def _ipv4(proc: int) -> list[str]:
    netns = os.open("ns/net", os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc)
    try:
        sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        try:
            sock.settimeout(2)
            sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
            if _same_namespace(netns):
                return _dump_ipv4(sock, None)  # lxc.net.0.type = none: the host's own namespace
            return _dump_ipv4(sock, _nsid(sock, netns))
        finally:
            sock.close()
    finally:
        os.close(netns)


def _same_namespace(netns: int) -> bool:
    mine = os.stat("/proc/self/ns/net")
    theirs = os.fstat(netns)
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


class _Requests:
    """Sequence numbers of the requests sent on one socket."""

    seq = 0


def _request(sock: _socket.socket, kind: int, flags: int, body: bytes) -> int:
    _Requests.seq += 1
    header = _u32(HEADER_SIZE + len(body)) + _u16(kind) + _u16(flags) + _u32(_Requests.seq) + _u32(0)
    sock.sendto(header + body, (0, 0))
    return _Requests.seq


def _replies(sock: _socket.socket, seq: int) -> list[tuple[int, bytes]]:
    """(type, payload) of the replies to request `seq` up to NLMSG_DONE or the ack;
    OSError for an NLMSG_ERROR with an error code."""
    out: list[tuple[int, bytes]] = []
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset + HEADER_SIZE <= len(data):
            length, kind, mseq = _int(data, offset, 4), _int(data, offset + 4, 2), _int(data, offset + 8, 4)
            if length < HEADER_SIZE:
                return out
            payload = data[offset + HEADER_SIZE : offset + length]
            offset += (length + 3) & ~3
            if mseq != seq:
                continue
            if kind == NLMSG_DONE:
                return out
            if kind == NLMSG_ERROR:
                code = _int(payload, 0, 4, signed=True)
                if code:
                    raise OSError(-code, os.strerror(-code))
                return out
            out.append((kind, payload))
            if kind == RTM_NEWNSID:
                return out  # a plain (not dump) answer: one message, no DONE


def _attributes(payload: bytes, offset: int) -> dict[int, bytes]:
    attrs: dict[int, bytes] = {}
    while offset + RTATTR_SIZE <= len(payload):
        length, kind = _int(payload, offset, 2), _int(payload, offset + 2, 2)
        if length < RTATTR_SIZE:
            break
        attrs.setdefault(kind, payload[offset + RTATTR_SIZE : offset + length])
        offset += (length + 3) & ~3
    return attrs


def _get_nsid(sock: _socket.socket, netns: int) -> int:
    body = _RTGENMSG + _attr32(NETNSA_FD, netns)
    for kind, payload in _replies(sock, _request(sock, RTM_GETNSID, NLM_F_REQUEST, body)):
        if kind == RTM_NEWNSID:
            raw = _attributes(payload, RTGENMSG_SIZE).get(NETNSA_NSID)
            if raw is not None and len(raw) >= 4:
                return _int(raw, 0, 4, signed=True)
    return NSID_NOT_ASSIGNED


def _nsid(sock: _socket.socket, netns: int) -> int:
    """The host's id for the namespace `netns`, asking the kernel to pick one if it
    has none yet (another command may do so at the same time: EEXIST is fine)."""
    nsid = _get_nsid(sock, netns)
    if nsid != NSID_NOT_ASSIGNED:
        return nsid
    body = _RTGENMSG + _attr32(NETNSA_FD, netns) + _attr32(NETNSA_NSID, NSID_NOT_ASSIGNED)
    try:
        _replies(sock, _request(sock, RTM_NEWNSID, NLM_F_REQUEST | NLM_F_ACK, body))
    except FileExistsError:
        pass
    nsid = _get_nsid(sock, netns)
    if nsid == NSID_NOT_ASSIGNED:
        raise OSError("the kernel gave the namespace no id")
    return nsid


def _dump_ipv4(sock: _socket.socket, nsid: int | None) -> list[str]:
    """The IPv4 addresses LXC shows, of the namespace `nsid` (None: our own).

    A kernel that honours IFA_TARGET_NETNSID names the namespace in every answer;
    an answer without it would be about our own namespace (the host's), so it ends
    the read with an error rather than print the host's addresses."""
    target = b"" if nsid is None else _attr32(IFA_TARGET_NETNSID, nsid)
    body = bytes([_socket.AF_INET]) + bytes(IFADDRMSG_SIZE - 1) + target
    found = []
    for kind, payload in _replies(sock, _request(sock, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, body)):
        if kind != RTM_NEWADDR:
            continue
        family = payload[0]
        attrs = _attributes(payload, IFADDRMSG_SIZE)
        if nsid is not None:
            named = attrs.get(IFA_TARGET_NETNSID)
            if named is None or len(named) != 4 or _int(named, 0, 4, signed=True) != nsid:
                raise OSError("the kernel answered for another network namespace")
        raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
        if family != _socket.AF_INET or raw is None or len(raw) != 4:
            continue
        if attrs.get(IFA_LABEL, b"").split(b"\0", 1)[0] == b"lo":
            continue
        found.append(_socket.inet_ntop(_socket.AF_INET, raw))
    return found
