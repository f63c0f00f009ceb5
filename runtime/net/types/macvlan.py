"""`lxc.net.N.type = macvlan`: a MAC-addressed device on the host's `link`.

`macvlan.mode` (private, vepa, bridge, passthru; private when unset) is the
kernel's; the device is born inside the container's namespace.
"""

from __future__ import annotations

from runtime.config import values as v
from runtime.net.types.base import TYPES, NetKey, OnParent

TYPE_CHECKING = False  # `typing` costs config parsing milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any

    from runtime.net.plan import DevicePlan

_MODES = ("private", "vepa", "bridge", "passthru")


class Macvlan(OnParent):
    name = "macvlan"
    auto_gateway = True
    kernel_feature = "macvlan (CONFIG_MACVLAN)"
    keys = (
        NetKey("macvlan.mode", v.one_of(_MODES, "macvlan mode"),
               applied_by=TYPES + "macvlan.Macvlan.link_options"),
    )  # fmt: skip

    def link_options(self, p: DevicePlan) -> dict[str, Any]:
        return {"macvlan_mode": p.dev.macvlan_mode or "private"}


TYPE = Macvlan()
