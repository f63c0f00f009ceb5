"""The network types of `lxc.net.N.type`, one module each, and their registry.

Each module (`veth`, `macvlan`, ...) defines `TYPE`, a `base.NetType` declaring the
type's keys, checks, host-side create/remove and container-side set-up (see
base.py). Adding a type is a module here named as the type, and its name in
`NAMES`; the key table, the planner, the daemon's netlink work and the spawn all
ask this registry.

Standard library only (the key table imports it; see base.py for pyroute2).
"""

from __future__ import annotations

import sys

from runtime.net.types.base import NetKey, NetType

#: Every type, in LXC's order (the order `lxc.net.N.type`'s error lists them in, and
#: the order of the types' keys in the key table and in a written config).
NAMES: tuple[str, ...] = ("empty", "none", "veth", "macvlan", "ipvlan", "vlan", "phys")


def _load(name: str) -> NetType:
    """The type module's TYPE. `__import__`, not importlib.import_module: `importlib`
    (and the `warnings` it imports) costs every command that parses a config ~0.5 ms."""
    module = f"runtime.net.types.{name}"
    __import__(module)
    kind: NetType = sys.modules[module].TYPE
    return kind


TYPES: dict[str, NetType] = {name: _load(name) for name in NAMES}


def get(name: str | None) -> NetType | None:
    """The type called `name` (None for None or an unknown name)."""
    return TYPES.get(name) if name is not None else None


def keys() -> tuple[NetKey, ...]:
    """Every type's own keys, type after type in `NAMES` order."""
    return tuple(key for kind in TYPES.values() for key in kind.keys)


def names_where(flag: str) -> tuple[str, ...]:
    """The names of the types with the boolean attribute `flag` set, in `NAMES` order."""
    return tuple(name for name, kind in TYPES.items() if getattr(kind, flag))


__all__ = ["NAMES", "TYPES", "NetKey", "NetType", "get", "keys", "names_where"]
