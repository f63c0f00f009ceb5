"""lxc.sched.core = 1: one core-scheduling cookie for the whole container.

Core scheduling (Linux 5.14+, CONFIG_SCHED_CORE) lets only tasks that share a
cookie run on the sibling hyper-threads of one core, which shuts out cross-thread
side channels between the container and everything else. As in LXC, the cookie
is created in the container's child for its thread group before the payload
starts; every process the container forks inherits it. A kernel without core
scheduling cannot give what the key asks for: the start is refused, naming the
key (LXC fails the start too).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from runtime.kernel import linux
from runtime.spawn.errors import SetupError, describe_os_error

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig


def create_cookie(config: ContainerConfig) -> None:
    """PR_SCHED_CORE_CREATE for this thread group when lxc.sched.core = 1."""
    if not config.sched_core:
        return
    try:
        linux.prctl(
            linux.PR_SCHED_CORE, linux.PR_SCHED_CORE_CREATE, 0, linux.PR_SCHED_CORE_SCOPE_THREAD_GROUP
        )
    except OSError as err:
        if err.errno in (errno.EINVAL, errno.ENODEV, errno.ENOSYS):
            raise SetupError(
                "lxc.sched.core",
                "this kernel has no core scheduling (Linux 5.14+ with CONFIG_SCHED_CORE, on SMT "
                "hardware); remove the key or set it to 0",
            ) from None
        raise SetupError(
            "lxc.sched.core", f"cannot create a core scheduling cookie: {describe_os_error(err)}"
        ) from None


def supported() -> bool:
    """Whether this kernel does core scheduling (for tests and lxc-checkconfig)."""
    import ctypes

    cookie = ctypes.c_uint64(0)
    try:
        linux.prctl(
            linux.PR_SCHED_CORE, linux.PR_SCHED_CORE_GET, 0, linux.PR_SCHED_CORE_SCOPE_THREAD_GROUP,
            ctypes.addressof(cookie),
        )  # fmt: skip
    except OSError:
        return False
    return True
