"""`lxc.net.N.type = ipvlan`: an IP-addressed device on the host's `link`, sharing its MAC.

`ipvlan.mode` (l3 when unset, l3s, l2) and `ipvlan.isolation` (bridge when unset,
private, vepa) are the kernel's, numbered as linux/if_link.h numbers them.
"""

from __future__ import annotations

from runtime.config import values as v
from runtime.net.types.base import TYPES, NetKey, OnParent

TYPE_CHECKING = False  # `typing` costs config parsing milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any

    from runtime.net.plan import DevicePlan

#: IPVLAN_MODE_* and IPVLAN_F_* of linux/if_link.h.
MODES = {"l2": 0, "l3": 1, "l3s": 2}
ISOLATION = {"bridge": 0, "private": 1, "vepa": 2}
_OPTIONS = TYPES + "ipvlan.Ipvlan.link_options"


class Ipvlan(OnParent):
    name = "ipvlan"
    auto_gateway = True
    kernel_feature = "ipvlan (CONFIG_IPVLAN)"
    keys = (
        NetKey("ipvlan.mode", v.one_of(("l3", "l3s", "l2"), "ipvlan mode"), applied_by=_OPTIONS),
        NetKey("ipvlan.isolation", v.one_of(("bridge", "private", "vepa"), "ipvlan isolation"),
               applied_by=_OPTIONS),
    )  # fmt: skip

    def link_options(self, p: DevicePlan) -> dict[str, Any]:
        return {
            "ipvlan_mode": MODES[p.dev.ipvlan_mode or "l3"],
            "ipvlan_flags": ISOLATION[p.dev.ipvlan_isolation or "bridge"],
        }


TYPE = Ipvlan()
