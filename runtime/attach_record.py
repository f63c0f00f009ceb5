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
- `no_new_privs`: lxc.no_new_privs;
- `seccomp` / `seccomp_allow_nesting`: the compiled lxc.seccomp.profile (BPF,
  base64; runtime.seccomp) that every attached process loads, and
  lxc.seccomp.allow_nesting.
"""

from __future__ import annotations

import base64
from typing import Any


def encode_bpf(bpf: bytes | None) -> str | None:
    """A seccomp program as JSON carries it (the record, the spawn request)."""
    return base64.b64encode(bpf).decode("ascii") if bpf else None


def decode_bpf(record: dict[str, object]) -> bytes | None:
    """The seccomp program a runtime record keeps (a re-adopting daemon keeps it)."""
    settings = record.get("attach")
    text = settings.get("seccomp") if isinstance(settings, dict) else None
    return base64.b64decode(text) if isinstance(text, str) and text else None


def fields(config: Any, seccomp_bpf: bytes | None = None) -> dict[str, object]:
    """The record's `attach` entry for a typed ContainerConfig."""
    return {
        "environment": [str(item) for item in getattr(config, "environment", None) or []],
        "cap_drop": [str(cap) for cap in getattr(config, "cap_drop", None) or []],
        "cap_keep": [str(cap) for cap in getattr(config, "cap_keep", None) or []],
        "uid": getattr(config, "init_uid", None),
        "gid": getattr(config, "init_gid", None),
        "no_new_privs": bool(getattr(config, "no_new_privs", None)),
        "seccomp": encode_bpf(seccomp_bpf),
        "seccomp_allow_nesting": bool(getattr(config, "seccomp_allow_nesting", None)),
    }
