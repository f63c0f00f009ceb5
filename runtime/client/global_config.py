"""The system-wide items `lxc-config` prints, read the way LXC reads /etc/lxc/lxc.conf.

LXC looks a global item up line by line: leading blanks are skipped, a line that
starts with `#` is a comment, the first line whose text starts with the item's
name followed by blanks and `=` wins, and the value is what follows the `=` with
its leading blanks removed (trailing blanks are kept). Items nobody set fall back
to built-in defaults, some of which are "not set" (None).

`lxc.lxcpath` is the one our tools actually use (runtime.client.lxcpath), so `lxc-config`
never disagrees with where `lxc-ls` looks.
"""

from __future__ import annotations

from runtime.client import lean_os as os  # not `os`: start-up time
from runtime.client.lxcpath import (
    default_container_config_path,
    default_lxcpath,
    system_config_path,
)

#: The items, in the order LXC's `lxc-config -l` lists them, with their defaults.
DEFAULTS: dict[str, str | None] = {
    "lxc.default_config": None,  # resolved by default_container_config_path()
    "lxc.lxcpath": None,  # resolved by default_lxcpath()
    "lxc.bdev.lvm.vg": "lxc",
    "lxc.bdev.lvm.thin_pool": "lxc",
    "lxc.bdev.zfs.root": "lxc",
    "lxc.cgroup.use": None,
    "lxc.cgroup.pattern": None,
}


def items() -> list[str]:
    """Every item `lxc-config -l` lists."""
    return list(DEFAULTS)


def _from_file(item: str, path: str) -> str | None:
    """The value of `item` in the config file at `path`, first match wins; None if absent."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            lines = handle.read().split("\n")
    except OSError:
        return None
    for line in lines:
        text = line.lstrip(" \t")
        if text.startswith("#") or not text.startswith(item):
            continue
        rest = text[len(item) :].lstrip(" \t")
        if not rest.startswith("="):
            continue
        value = rest[1:].lstrip(" \t")
        if value:
            return value
    return None


def value(item: str) -> str | None:
    """The item's value (None when not set); KeyError for an item LXC does not know."""
    if item not in DEFAULTS:
        raise KeyError(item)
    if item == "lxc.lxcpath":
        return default_lxcpath()
    if item == "lxc.default_config" and "TRIO_LXC_DEFAULT_CONFIG" in os.environ:
        return default_container_config_path()
    found = _from_file(item, system_config_path())
    if found is not None:
        return found
    if item == "lxc.default_config":
        return default_container_config_path()
    return DEFAULTS[item]
