"""What a container's network devices will be, checked before anything is made.

`plan(config, own_netns)` turns the typed `lxc.net.N.*` devices into `DevicePlan`s:
every name and MAC address resolved (LXC's `xx` templates filled at random, the
default `ethN` names chosen, a `vethXXXXXX` host-side name generated), and every
mistake that can be seen without asking the kernel reported as a `NetworkError`
naming the key (`lxc.net.1.name: 'eth0' is also the name of lxc.net.0`).

Standard library only: nothing here touches a socket, so it is cheap and testable
without root. The kernel's own answers (a missing bridge, a name taken on the host,
a link type the kernel lacks) are checked where the devices are made
(`runtime.net.host`), with the same kind of error.
"""

from __future__ import annotations

import ipaddress
import string
from random import SystemRandom
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig, NetDevice

from runtime.net import types

#: Types that make or move a device into the container's network namespace.
DEVICE_TYPES = types.names_where("makes_device")
#: Types whose device sits on a parent (`link`) on the host.
NEEDS_LINK = types.names_where("needs_link")
#: Types for which `ipvX.gateway = auto` means the address of `link`.
AUTO_GATEWAY = types.names_where("auto_gateway")
#: The type keys a start refuses, with why (`lxc.net.N.veth.vlan.id`, ...).
REFUSED = tuple(key for key in types.keys() if key.refused)

_ALNUM = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"
#: os.urandom, as `secrets` uses it; `secrets` itself would load OpenSSL (through hmac)
#: into the spawner, ~5 MiB of memory for nothing.
_RANDOM = SystemRandom()


class NetworkError(Exception):
    """A network device cannot be set up; `str()` names the key and the reason."""

    def __init__(self, key: str | None, reason: str) -> None:
        super().__init__(f"{key}: {reason}" if key else reason)
        self.key = key
        self.reason = reason


class DevicePlan:
    """One `lxc.net.N` device with its names and MAC address resolved.

    dev: the typed `NetDevice` (addresses, gateways, routes, scripts, modes).
    inside: the device's name in the container (None for empty/none).
    host: the veth's host-side name (None for other types).
    hwaddr: the container side's MAC address, None to keep the kernel's.
    host_hwaddr: the veth host side's MAC address (fe:xx:xx:xx:xx:xx, so that a
        bridge keeps the MAC address of its own first port, as LXC does).
    """

    __slots__ = ("dev", "inside", "host", "hwaddr", "host_hwaddr")

    def __init__(
        self,
        dev: NetDevice,
        inside: str | None = None,
        host: str | None = None,
        hwaddr: str | None = None,
        host_hwaddr: str | None = None,
    ) -> None:
        self.dev = dev
        self.inside = inside
        self.host = host
        self.hwaddr = hwaddr
        self.host_hwaddr = host_hwaddr

    @property
    def index(self) -> int:
        return int(self.dev.index)

    @property
    def type(self) -> str:
        return str(self.dev.type)

    def key(self, sub: str | None = None) -> str:
        """`lxc.net.N` or `lxc.net.N.<sub>`."""
        return f"lxc.net.{self.index}" + (f".{sub}" if sub else "")

    @property
    def up(self) -> bool:
        return self.dev.flags == "up"

    @property
    def router(self) -> bool:
        return self.type == "veth" and self.dev.veth_mode == "router"

    def __repr__(self) -> str:
        return (
            f"DevicePlan({self.key()}, type={self.type!r}, inside={self.inside!r}, "
            f"host={self.host!r}, hwaddr={self.hwaddr!r})"
        )


def fill_hwaddr(template: str) -> str:
    """LXC's MAC templates: every `x` becomes a random hex digit.

    The second digit of the first octet, when random, is even, so the address is
    never a multicast one.
    """
    out = []
    for position, char in enumerate(template):
        if char in "xX":
            digit = _RANDOM.randrange(16)
            out.append(_HEX[digit & 0x0E] if position == 1 else _HEX[digit])
        else:
            out.append(char.lower())
    return "".join(out)


def random_hwaddr(first: int = 0xFE) -> str:
    return ":".join([f"{first:02x}"] + [f"{_RANDOM.randrange(256):02x}" for _ in range(5)])


def veth_name() -> str:
    """A host-side veth name as LXC makes them: `veth` and six random characters."""
    return "veth" + "".join(_RANDOM.choice(_ALNUM) for _ in range(6))


def broadcast_of(address: str, prefix: int, given: str | None) -> str | None:
    """The broadcast address to set: the one given, else the network's own.

    LXC sets `0.0.0.255` for 10.213.7.2/24 when no broadcast is given (it ORs the
    host mask into 0); we set the network's real broadcast, 10.213.7.255. /31 and
    /32 networks have none.
    """
    if given:
        return given
    if prefix >= 31:
        return None
    network = ipaddress.IPv4Network(f"{address}/{prefix}", strict=False)
    return str(network.broadcast_address)


def plan(config: ContainerConfig, own_netns: bool) -> list[DevicePlan]:
    """The devices of `config`, resolved and checked (see the module docstring).

    own_netns: the container has a network namespace of its own (not the host's,
    not one shared with another container or kept with lxc.namespace.keep).
    """
    devices = list(config.net)
    plans: list[DevicePlan] = []
    for dev in devices:
        key = f"lxc.net.{dev.index}"
        if dev.type is None:
            raise NetworkError(f"{key}.type", "not set (every lxc.net.N needs a type)")
        kind = types.get(dev.type)
        if kind is not None:
            kind.check_device(key, dev, devices)
        if dev.type in DEVICE_TYPES and not own_netns:
            raise NetworkError(
                f"{key}.type",
                f"a {dev.type} device needs the container's own network namespace "
                "(it is shared or kept: lxc.namespace.share.net / lxc.namespace.keep)",
            )
        if dev.type in NEEDS_LINK and not dev.link:
            raise NetworkError(f"{key}.link", f"a {dev.type} device needs a parent device on the host")
        _check_unsupported(dev, key)
        _check_gateways(dev, key)
        plans.append(DevicePlan(dev))
    _assign_names(plans)
    for p in plans:
        if p.type in DEVICE_TYPES:
            p.hwaddr = fill_hwaddr(p.dev.hwaddr) if p.dev.hwaddr else None
    return plans


def _check_unsupported(dev: NetDevice, key: str) -> None:
    """A key the table refuses, set on any device (the start refuses it first)."""
    for spec in REFUSED:
        value = getattr(dev, spec.sub.replace(".", "_"))
        if (value if spec.many else value is not None):
            raise NetworkError(f"{key}.{spec.sub}", str(spec.refused))


def _check_gateways(dev: NetDevice, key: str) -> None:
    for family, gateway in (("ipv4", dev.ipv4_gateway), ("ipv6", dev.ipv6_gateway)):
        if gateway is None:
            continue
        gkey = f"{key}.{family}.gateway"
        if dev.type not in DEVICE_TYPES:
            raise NetworkError(gkey, f"a {dev.type} device has no interface to route through")
        if dev.flags != "up":
            raise NetworkError(
                gkey, "a gateway needs the interface up (set lxc.net.N.flags = up)"
            )
        if gateway == "auto":
            if dev.type not in AUTO_GATEWAY:
                names = ", ".join(AUTO_GATEWAY[:-1]) + " and " + AUTO_GATEWAY[-1]
                raise NetworkError(gkey, f"'auto' is only available for {names}, not {dev.type}")
            if not dev.link:
                raise NetworkError(gkey, "'auto' takes the address of lxc.net.N.link, which is not set")


def _assign_names(plans: list[DevicePlan]) -> None:
    """Container-side names: given, else the phys device's own, else the next free ethN."""
    taken: dict[str, DevicePlan] = {}
    hosts: dict[str, DevicePlan] = {}
    for p in plans:
        if p.type not in DEVICE_TYPES:
            continue
        kind = types.get(p.type)
        name = p.dev.name or (kind.default_name(p.dev) if kind is not None else None)
        if name is None:
            continue
        sub = "name" if p.dev.name else "link"
        if name == "lo":
            raise NetworkError(p.key(sub), "'lo' is the container's loopback device")
        if name in taken:
            raise NetworkError(p.key(sub), f"'{name}' is also the name of {taken[name].key()}")
        taken[name] = p
        p.inside = name
    counter = 0
    for p in plans:
        if p.type not in DEVICE_TYPES or p.inside is not None:
            continue
        while f"eth{counter}" in taken:
            counter += 1
        p.inside = f"eth{counter}"
        taken[p.inside] = p
    for p in plans:  # host-side names (veth), then checks among the named devices (phys)
        kind = types.get(p.type)
        if kind is not None:
            kind.assign_host(p, hosts)
    for p in plans:
        kind = types.get(p.type)
        if kind is not None:
            kind.check_among(p, plans)
