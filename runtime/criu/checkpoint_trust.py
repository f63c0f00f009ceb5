"""What a checkpoint directory may be, and what of its saved record a restore trusts.

The directory holds `trio-lxc-record.json`, which a restore turns into the
container's runtime record: the cgroups stop and kill act on, the settings
lxc-attach applies (capabilities, seccomp). Anyone who can write the directory
could plant one; so the directory must be a real directory (not a symlink) owned
by root and not writable by group or others, and a restore recomputes the cgroup
paths and the attach settings from the container's config instead of taking the
saved ones.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Any

from runtime.criu.checkpoint import CheckpointError
from runtime.daemon import attach_record

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig


def check_dir(directory: str) -> None:
    """CheckpointError unless `directory` is a root-owned, non group/world-writable
    directory that is not a symlink (an absent one passes: the dump makes it 0700)."""
    try:
        found = os.lstat(directory)
    except FileNotFoundError:
        return
    except OSError as err:
        raise CheckpointError(f"{directory}: {err.strerror}") from None
    if stat.S_ISLNK(found.st_mode):
        raise CheckpointError(f"{directory} is a symbolic link, not using it")
    if not stat.S_ISDIR(found.st_mode):
        raise CheckpointError(f"{directory} is not a directory")
    if found.st_uid != 0:
        raise CheckpointError(f"{directory} is not owned by root, not using it")
    if found.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CheckpointError(f"{directory} is writable by group or others, not using it")


def _config(record: dict[str, Any], name: str, lxcpath: str) -> ContainerConfig:
    from runtime.config import model
    from runtime.config.parser import apply_define, parse_file

    raw = parse_file(str(record.get("config_path") or os.path.join(lxcpath, name, "config")))
    for define in record.get("defines") or []:
        apply_define(raw, str(define))
    return model.from_raw(raw)


def rebuilt(record: dict[str, Any], name: str, lxcpath: str) -> dict[str, Any]:
    """`record` with its cgroup paths and attach settings computed from the config
    (what a start of `name` would use), not taken from the checkpoint directory."""
    from runtime.cgroups.layout import plan
    from runtime.cgroups.mounts import discover
    from runtime.client.errors import ConfigError
    from runtime.seccomp.start import compile_for

    try:
        config = _config(record, name, lxcpath)
        placements = plan(name, config, discover())
        bpf = compile_for(config, lxcpath, name)
    except (ConfigError, OSError) as err:
        raise CheckpointError(str(err)) from None
    except Exception as err:  # noqa: BLE001 - a cgroup layout error: one line for the user
        raise CheckpointError(f"cannot place the cgroups: {err}") from None
    fresh = {key: value for key, value in record.items() if key not in ("cgroups", "cgroup_limits", "attach")}
    if placements:
        fresh["cgroups"] = {p.hierarchy.key: p.payload for p in placements}
        fresh["cgroup_limits"] = {p.hierarchy.key: p.limit for p in placements}
    fresh["attach"] = attach_record.fields(config, bpf)
    return fresh
