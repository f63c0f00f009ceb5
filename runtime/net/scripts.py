"""`lxc.net.N.script.up` / `script.down`: LXC's network hooks, run on the host.

As lxc.container.conf(5) describes them: `script.up` runs after the device has been
made and configured, `script.down` before it is destroyed. With
`lxc.hook.version = 0` (the default) the script gets the arguments
`NAME net up|down TYPE [DEVICE]` (DEVICE: the veth's host side, or the parent
`link` of a macvlan/ipvlan/vlan/phys device); with version 1 it gets none. Either
way the environment has LXC_NAME, LXC_CONFIG_FILE, LXC_ROOTFS_PATH (when set),
LXC_HOOK_TYPE, LXC_HOOK_SECTION=net, LXC_HOOK_VERSION, LXC_NET_TYPE,
LXC_NET_PARENT (veth, macvlan, ipvlan, vlan, phys with a link) and LXC_NET_PEER
(veth: the host side). The value is a shell command line, like LXC's (which runs
it with `sh -c`); the arguments are appended as positional parameters.

A failing `script.up` aborts the start with its status and the last line it wrote
on stderr; a failing `script.down` is logged. Standard output goes to the daemon's
log at debug level.
"""

from __future__ import annotations

import logging
import os
import subprocess
from typing import TYPE_CHECKING, Any

import trio

from runtime.net.plan import NetworkError

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

log = logging.getLogger("trio-lxc.net")

SCRIPT_TIMEOUT = 60.0


def script_environment(
    *, name: str, hook: str, net_type: str, config: ContainerConfig, config_path: str | None,
    parent: str | None, peer: str | None,
) -> dict[str, str]:  # fmt: skip
    env = dict(os.environ)
    env.update(
        {
            "LXC_NAME": name,
            "LXC_HOOK_TYPE": hook,
            "LXC_HOOK_SECTION": "net",
            "LXC_HOOK_VERSION": "1" if config.hook_version else "0",
            "LXC_NET_TYPE": net_type,
        }
    )
    if config_path:
        env["LXC_CONFIG_FILE"] = config_path
    rootfs = config.rootfs_path
    if rootfs:
        env["LXC_ROOTFS_PATH"] = rootfs
    if parent:
        env["LXC_NET_PARENT"] = parent
    if peer:
        env["LXC_NET_PEER"] = peer
    return env


def script_argv(script: str, *, name: str, hook: str, net_type: str, device: str | None, version1: bool) -> list[str]:
    if version1:
        return ["/bin/sh", "-c", script]
    args = [name, "net", hook, net_type] + ([device] if device else [])
    return ["/bin/sh", "-c", script + ' "$@"', "sh", *args]


async def run_script(
    entry: dict[str, Any], hook: str, *, name: str, config: ContainerConfig, config_path: str | None
) -> None:
    """Run the device's script.up or script.down; NetworkError if it fails."""
    script = entry.get(f"script_{hook}")
    if not script:
        return
    from runtime.net import types

    net_type = str(entry.get("type"))
    kind = types.get(net_type)
    peer = entry.get("host") or None  # a veth's host end, LXC_NET_PEER
    parent = entry.get("link") or None
    device = kind.host_device(entry) if kind is not None else parent
    version1 = bool(config.hook_version)
    argv = script_argv(script, name=name, hook=hook, net_type=net_type, device=device, version1=version1)
    env = script_environment(
        name=name, hook=hook, net_type=net_type, config=config, config_path=config_path,
        parent=parent, peer=peer,
    )  # fmt: skip
    key = f"lxc.net.{entry.get('index')}.script.{hook}"
    log.debug("%s: running %s", name, argv)
    try:
        with trio.fail_after(SCRIPT_TIMEOUT):
            result = await trio.run_process(
                argv, env=env, stdin=subprocess.DEVNULL, capture_stdout=True,
                capture_stderr=True, check=False,
            )  # fmt: skip
    except trio.TooSlowError:
        raise NetworkError(key, f"'{script}' did not finish within {SCRIPT_TIMEOUT:g} s") from None
    except OSError as err:
        raise NetworkError(key, f"cannot run '{script}': {err}") from None
    for line in result.stdout.decode(errors="replace").splitlines():
        log.debug("%s: %s: %s", name, key, line)
    if result.returncode != 0:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        detail = f": {lines[-1]}" if lines else ""
        raise NetworkError(key, f"'{script}' exited with status {result.returncode}{detail}")
