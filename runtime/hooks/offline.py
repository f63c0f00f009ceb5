"""lxc.hook.clone (run by `lxc-copy`) and lxc.hook.destroy (run by `lxc-destroy`).

Both run in the command's own process, as LXC runs them in its tools, with the
caller's environment (LXC does the same; unlike the daemon, the command has it)
plus LXC's variables (`runtime.hooks.plan`), the caller's working directory, and
the same bound as every hook (`TRIO_LXC_HOOK_TIMEOUT`, default 60 s).

- clone: after the copy is complete under its new name (its config retargeted):
  `LXC_NAME` is the copy, `LXC_SRC_NAME` the original, `LXC_ROOTFS_MOUNT` the
  copy's rootfs; `lxc-copy ... -- ARGS` are passed on (quoted: LXC splits them
  again on blanks). Debian's `/usr/share/lxc/hooks/clonehostname` (set by
  `common.conf`) works. A failure removes the copy and fails the command, naming
  the hook (LXC leaves the half-made copy and prints nothing). Not on `-R`
  (a rename is no clone, as in LXC).
- destroy: before anything is removed; a failure keeps the container and fails
  the command, naming the hook (as LXC, which also refuses).

The config is read with the parser only (no typed model): the commands stay light.
A config that does not parse runs no destroy hook: the container can still be
destroyed (the parse error would otherwise make it impossible).
"""

from __future__ import annotations

import os

from runtime.client.errors import ConfigError, LxcError
from runtime.config.parser import RawConfig, parse_file
from runtime.hooks import blocking, plan


def clone(config_path: str, name: str, src_name: str, args: list[str]) -> None:
    """The copy's clone hooks (its own config names them); LxcError on failure."""
    raw = parse_file(config_path)
    rootfs_value = raw.get("lxc.rootfs.path")
    env = {"LXC_NAME": name, "LXC_SRC_NAME": src_name, "LXC_CONFIG_FILE": config_path}
    if rootfs_value:
        env["LXC_ROOTFS_PATH"] = rootfs_value
        env["LXC_ROOTFS_MOUNT"] = plan.rootfs_directory(rootfs_value) or rootfs_value
    _run(raw, "clone", name, env, args)


def destroy(config_path: str, name: str) -> None:
    """The container's destroy hooks, before it is removed; LxcError on failure."""
    try:
        raw = parse_file(config_path)
    except (ConfigError, OSError):
        return
    env = {"LXC_NAME": name, "LXC_CONFIG_FILE": config_path}
    rootfs = plan.rootfs_directory(raw.get("lxc.rootfs.path"))
    if rootfs:
        env["LXC_ROOTFS_PATH"] = rootfs
        env["LXC_ROOTFS_MOUNT"] = raw.get("lxc.rootfs.mount") or rootfs
    _run(raw, "destroy", name, env, [])


def _run(raw: RawConfig, kind: str, name: str, env: dict[str, str], args: list[str]) -> None:
    commands = raw.get_all(plan.key(kind))
    if not commands:
        return
    timeout = plan.hook_timeout()
    version_1 = raw.get("lxc.hook.version") == "1"
    base = {**os.environ, **env}
    for command in commands:
        argv, full_env = plan.invocation(
            command, kind, name=name, version_1=version_1, env=base, args=args
        )
        outcome = blocking.run(argv, full_env, timeout, cwd=None)
        reason = plan.failure(
            kind, command, outcome.status, outcome.timed_out, timeout, outcome.output
        )
        if reason is not None:
            raise LxcError(reason)
