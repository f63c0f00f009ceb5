"""The options of `-B` stores on lxc-create and lxc-copy (LXC's names and defaults).

Only `--fstype` and `--fssize` (loop) and `--dir` (dir) act; the others belong to
stores this host cannot build (`unavailable`) and are refused with the store,
never silently ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: LXC's default size of a new block-device rootfs: 1 GiB.
DEFAULT_FSSIZE = 1 << 30
DEFAULT_FSTYPE = "ext4"

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


@dataclass(frozen=True)
class StoreOptions:
    """What a new rootfs is made with. `foreign`: options given that only a store
    this host cannot build takes (`--lvname` ...), to refuse by name."""

    fstype: str = DEFAULT_FSTYPE
    fssize: int = DEFAULT_FSSIZE
    dir: str | None = None
    foreign: tuple[str, ...] = ()


def parse_size(text: str) -> int:
    """`--fssize` as LXC reads it: a number with an optional unit (B, K, M, G, T;
    a trailing `B`/`iB` allowed: `500M`, `2G`, `1GB`). ValueError when malformed."""
    match = re.fullmatch(r"\s*(\d+)\s*([bkmgt]?)(?:i?b)?\s*", text.lower())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"invalid size '{text}' (a number with an optional unit: 500M, 2G)")
    return int(match.group(1)) * _UNITS[match.group(2)]
