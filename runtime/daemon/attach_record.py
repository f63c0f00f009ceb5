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
from typing import TYPE_CHECKING

from runtime.storage.spec import container_trees

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig


def encode_bpf(bpf: bytes | None) -> str | None:
    """A seccomp program as JSON carries it (the record, the spawn request)."""
    return base64.b64encode(bpf).decode("ascii") if bpf else None


def decode_bpf(record: dict[str, object]) -> bytes | None:
    """The seccomp program a runtime record keeps (a re-adopting daemon keeps it)."""
    settings = record.get("attach")
    text = settings.get("seccomp") if isinstance(settings, dict) else None
    return base64.b64decode(text) if isinstance(text, str) and text else None


def fields(config: ContainerConfig, seccomp_bpf: bytes | None = None) -> dict[str, object]:
    """The record's `attach` entry for a typed ContainerConfig."""
    return {
        "environment": list(config.environment),
        "cap_drop": list(config.cap_drop),
        "cap_keep": list(config.cap_keep),
        "uid": config.init_uid,
        "gid": config.init_gid,
        "no_new_privs": bool(config.no_new_privs),
        "seccomp": encode_bpf(seccomp_bpf),
        "seccomp_allow_nesting": bool(config.seccomp_allow_nesting),
        # The host directories it can change: `lxc-attach -L FILE` follows no symlink there.
        "trees": list(container_trees(config.rootfs_path, config.rootfs_mount)),
    }
