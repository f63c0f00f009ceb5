"""`lxc.net.N.type = none`: the container stays in the host's network namespace.

The child does not unshare it (runtime.spawn.namespaces), so no other device can
go with it: the planner refuses `none` beside any other `lxc.net.N`.
"""

from __future__ import annotations

from runtime.net.types.base import NetType

TYPE_CHECKING = False  # `typing` costs config parsing milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any


class NoNetwork(NetType):
    name = "none"
    new_netns = False

    def check_device(self, key: str, dev: Any, devices: list[Any]) -> None:
        from runtime.net.plan import NetworkError

        if len(devices) > 1:
            raise NetworkError(
                f"{key}.type",
                "'none' shares the host's network namespace and cannot be combined "
                "with other network devices",
            )


TYPE = NoNetwork()
