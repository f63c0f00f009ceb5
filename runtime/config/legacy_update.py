"""Rewrite a pre-3.0 LXC config to LXC 5's key names (what `lxc-update-config` does).

The facts follow LXC's own script: every old name in keys.LEGACY_KEYS becomes its
new one, `lxc.rootfs = V` becomes `lxc.rootfs.path = DRIVER:V` (DRIVER from the
last `lxc.rootfs.backend`, else `dir`), `lxc.limit.*` becomes `lxc.prlimit.*`,
`lxc.rootfs.backend`, `lxc.pivotdir` and `lxc.kmsg` lines are dropped, and the
`lxc.network.*` keys become indexed `lxc.net.N.*`: a numbered one keeps its index,
an unnumbered block gets the next index at each `lxc.network.type`. Commented-out
keys are renamed too, as LXC's script does, so a user re-enabling one gets a key
that still parses.

Unlike LXC's sed script, a bare `ipv4`/`ipv6` becomes `ipv4.address`/`ipv6.address`
whether numbered or not (LXC 5 knows no `lxc.net.N.ipv4`), and a rootfs value that
already names its driver (`overlay:...`) gets no second prefix.
Pure text processing: lines that are not keys are kept byte for byte.
"""

from __future__ import annotations

import re

from runtime.config.keys import LEGACY_KEYS

_LINE = re.compile(r"^(?P<lead>[ \t]*#*[ \t]*)(?P<key>lxc\.[A-Za-z0-9_.\-]+)(?P<rest>[ \t]*=.*)$")
_NUMBERED_NET = re.compile(r"^lxc\.network\.(\d+)(?:\.(.*))?$")
_DROPPED = frozenset(key for key, new in LEGACY_KEYS.items() if not new.startswith("lxc."))
_RENAMED = {key: new for key, new in LEGACY_KEYS.items() if new.startswith("lxc.")}
#: Drivers a rootfs value may already name (`lvm:/dev/vg/lv`).
_DRIVERS = ("dir", "overlay", "overlayfs", "aufs", "btrfs", "zfs", "lvm", "loop", "nbd", "rbd")
_BARE_ADDRESS = {"ipv4": "ipv4.address", "ipv6": "ipv6.address"}


def _backend(lines: list[str]) -> str:
    """The driver the last `lxc.rootfs.backend` names (commented or not), else `dir`."""
    driver = "dir"
    for line in lines:
        match = _LINE.match(line)
        if match and match["key"] == "lxc.rootfs.backend":
            value = match["rest"].split("=", 1)[1].strip()
            word = re.match(r"[A-Za-z0-9]*", value)
            driver = word.group(0) if word and word.group(0) else "dir"
    return driver


def _net_sub(sub: str) -> str:
    return _BARE_ADDRESS.get(sub, sub)


def update_text(text: str) -> str:
    """The config text with every pre-3.0 key rewritten (see the module docstring)."""
    lines = text.split("\n")
    driver = _backend(lines)
    index = -1
    out: list[str] = []
    for line in lines:
        match = _LINE.match(line)
        if not match:
            out.append(line)
            continue
        lead, key, rest = match["lead"], match["key"], match["rest"]
        if key in _DROPPED:
            continue
        new = key
        if key == "lxc.rootfs":
            new = "lxc.rootfs.path"
            eq, value = rest.split("=", 1)
            spaces = value[: len(value) - len(value.lstrip(" \t"))]
            bare = value.lstrip(" \t")
            if bare and not bare.startswith(tuple(f"{d}:" for d in _DRIVERS)):
                rest = f"{eq}={spaces}{driver}:{bare}"
        elif key in _RENAMED:
            new = _RENAMED[key]
        elif key.startswith("lxc.limit."):
            new = "lxc.prlimit." + key[len("lxc.limit.") :]
        elif key == "lxc.network":
            new = "lxc.net"
        elif key.startswith("lxc.network."):
            numbered = _NUMBERED_NET.match(key)
            if numbered:
                sub = numbered.group(2)
                new = f"lxc.net.{numbered.group(1)}" + (f".{_net_sub(sub)}" if sub else "")
            else:
                sub = key[len("lxc.network.") :]
                if sub == "type":
                    index += 1
                new = f"lxc.net.{max(index, 0)}.{_net_sub(sub)}"
        out.append(f"{lead}{new}{rest}")
    return "\n".join(out)
