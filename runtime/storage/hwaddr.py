"""MAC addresses written into a container's config when it is created or copied.

`lxc.net.N.hwaddr` may be a template (`00:16:3e:xx:xx:xx`): every `x` stands for a
random hex digit. LXC fills the templates of the config lines it writes at
`lxc-create` (from `-f` or the default config) and at `lxc-copy`, so each container
gets one fixed address instead of a new one at every start; scripts and DHCP
reservations depend on that. The filling rule itself (the first octet's second
digit stays even, so the address is never multicast) is the one the network setup
uses at start for templates left in included files: `runtime.net.plan.fill_hwaddr`.

Only the container's own lines are filled: an included file is shared by many
containers and is not ours to rewrite (its templates are filled at each start).

Standard library only: `lxc-create` and `lxc-copy` import it on their start-up path.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable

from runtime.net.plan import fill_hwaddr

__all__ = ["fill_config_lines", "is_template", "renewed"]

_HWADDR_KEY = re.compile(r"lxc\.net\.\d+\.hwaddr")


def is_template(value: str) -> bool:
    """Whether `value` has digits left for LXC's random filling (`x` or `X`)."""
    return "x" in value.lower()


def fill_config_lines(lines: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """`(key, value)` config lines with every `lxc.net.N.hwaddr` template filled."""
    return [
        (key, fill_hwaddr(value) if _HWADDR_KEY.fullmatch(key) and is_template(value) else value)
        for key, value in lines
    ]


def renewed(current: str) -> str:
    """The address a copy gets instead of `current`: a template filled, a fixed
    address given three new random octets after its vendor part (`00:16:3e`)."""
    if is_template(current):
        return fill_hwaddr(current)
    octets = current.split(":")[:3]
    octets += [f"{random.randrange(256):02x}" for _ in range(3)]
    return ":".join(octets)
