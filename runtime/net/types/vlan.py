"""`lxc.net.N.type = vlan`: an 802.1Q device with `vlan.id` on the host's `link`."""

from __future__ import annotations

from runtime.config import values as v
from runtime.net.types.base import TYPES, NetKey, OnParent

TYPE_CHECKING = False  # `typing` costs config parsing milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any

    from runtime.net.plan import DevicePlan


class Vlan(OnParent):
    name = "vlan"
    kernel_feature = "vlan (802.1q, CONFIG_VLAN_8021Q, module 8021q)"
    keys = (NetKey("vlan.id", v.vlan_id, applied_by=TYPES + "vlan.Vlan.link_options"),)

    def link_options(self, p: DevicePlan) -> dict[str, Any]:
        return {"vlan_id": p.dev.vlan_id or 0}


TYPE = Vlan()
