"""`lxc.net.N.type = empty`: a network namespace of the container's own with only `lo`.

Nothing is made on the host; the container child brings `lo` up in the new
namespace (runtime.spawn.child), as it does for every type but `none`.
"""

from __future__ import annotations

from runtime.net.types.base import NetType


class Empty(NetType):
    name = "empty"


TYPE = Empty()
