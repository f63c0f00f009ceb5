"""What `lxc-attach` needs from a running container, kept in its runtime record.

The daemon writes `"attach": {...}` into the record from the typed config the
container was started with (its file plus any `-s` defines), so `lxc-attach` applies
the settings of the running container, not of a config file edited since, and does
not parse the config at all (parsing and checking it would cost every attach the
import of `re` and the key table):

- `environment`: lxc.environment entries (`NAME=VALUE`, or a bare `NAME`, which
  lxc-attach takes from its own environment, as LXC does);
- `cap_drop` / `cap_keep`: lxc.cap.drop / lxc.cap.keep, by name;
- `uid` / `gid`: lxc.init.uid / lxc.init.gid (the default ids of attached processes);
- `no_new_privs`: lxc.no_new_privs.
"""

from __future__ import annotations

from typing import Any


def fields(config: Any) -> dict[str, object]:
    """The record's `attach` entry for a typed ContainerConfig."""
    return {
        "environment": [str(item) for item in getattr(config, "environment", None) or []],
        "cap_drop": [str(cap) for cap in getattr(config, "cap_drop", None) or []],
        "cap_keep": [str(cap) for cap in getattr(config, "cap_keep", None) or []],
        "uid": getattr(config, "init_uid", None),
        "gid": getattr(config, "init_gid", None),
        "no_new_privs": bool(getattr(config, "no_new_privs", None)),
    }
