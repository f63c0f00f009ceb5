"""The Python API: python3-lxc's reach, for scripts and for trio programs.

- `Container(name, lxcpath=None)`: one container, blocking calls (no trio needed);
- `AsyncContainer(name, lxcpath=None)`: the same methods as coroutines, for trio;
- `list_containers(active=True, defined=True, lxcpath=None)`: names;
- `events(pattern, states)`: the monitor bus, `for` or `async for`;
- `Runtime(lxcpath)`: a trio handle for many containers at once;
- python3-lxc's constants and `attach_run_command` / `attach_run_shell`.

A script written for python3-lxc ports by changing `import lxc` into
`import runtime.api as lxc` (see README, "Python API", for what differs). The
default lxcpath is the commands' (`lxc.lxcpath` of /etc/lxc/lxc.conf, else
/var/lib/lxc).
"""

from __future__ import annotations

from runtime.api.acontainer import AsyncContainer
from runtime.api.attach import (
    LXC_ATTACH_CLEAR_ENV,
    LXC_ATTACH_DEFAULT,
    LXC_ATTACH_DROP_CAPABILITIES,
    LXC_ATTACH_KEEP_ENV,
    LXC_ATTACH_LSM_EXEC,
    LXC_ATTACH_LSM_NOW,
    LXC_ATTACH_MOVE_TO_CGROUP,
    LXC_ATTACH_REMOUNT_PROC_SYS,
    LXC_ATTACH_SET_PERSONALITY,
    attach_run_command,
    attach_run_shell,
)
from runtime.api.base import (
    LXC_CLONE_KEEPBDEVTYPE,
    LXC_CLONE_KEEPMACADDR,
    LXC_CLONE_KEEPNAME,
    LXC_CLONE_MAYBE_SNAPSHOT,
    LXC_CLONE_SNAPSHOT,
    LXC_CREATE_QUIET,
)
from runtime.api.config_items import InvalidKey
from runtime.api.container import Container
from runtime.api.events import events
from runtime.api.listing import list_containers
from runtime.api.runtime_handle import Runtime
from runtime.client.errors import LxcError
from runtime.client.lxcpath import default_lxcpath
from runtime.kernel.linux import (
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
)

#: python3-lxc's name for the default lxcpath (read when the module is imported).
default_config_path = default_lxcpath()

__all__ = [
    "CLONE_NEWCGROUP", "CLONE_NEWIPC", "CLONE_NEWNET", "CLONE_NEWNS", "CLONE_NEWPID",
    "CLONE_NEWUSER", "CLONE_NEWUTS", "LXC_ATTACH_CLEAR_ENV", "LXC_ATTACH_DEFAULT",
    "LXC_ATTACH_DROP_CAPABILITIES", "LXC_ATTACH_KEEP_ENV", "LXC_ATTACH_LSM_EXEC",
    "LXC_ATTACH_LSM_NOW", "LXC_ATTACH_MOVE_TO_CGROUP", "LXC_ATTACH_REMOUNT_PROC_SYS",
    "LXC_ATTACH_SET_PERSONALITY", "LXC_CLONE_KEEPBDEVTYPE", "LXC_CLONE_KEEPMACADDR",
    "LXC_CLONE_KEEPNAME", "LXC_CLONE_MAYBE_SNAPSHOT", "LXC_CLONE_SNAPSHOT", "LXC_CREATE_QUIET",
    "AsyncContainer", "Container", "InvalidKey", "LxcError", "Runtime", "attach_run_command",
    "attach_run_shell", "default_config_path", "events", "list_containers",
]  # fmt: skip
