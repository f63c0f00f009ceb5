"""Read and write a supervised container's cgroup keys, read its figures: the
daemon's side of `Runtime.cgroup_get/set`, `lxc-device` and `op_stats`.

The supervisor owns the cgroups (`supervisor.cgroups`, from STARTING once they are
made to STOPPING until removed); these functions only read that public state. A
key a request names is checked first (runtime.config.names): any local root
process may ask, so it must be a plain cgroup file name, and a write never one
that moves processes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from runtime.daemon import lifecycle as lc
from runtime.daemon.op_reply import FAILED, NOT_RUNNING, UNKNOWN_KEY, OpError

if TYPE_CHECKING:
    from runtime.cgroups import ContainerCgroups

#: States in which keys and figures can be read: the cgroups exist and hold the
#: container (from STARTING, once they are made, to STOPPING, until removed).
LIVE = (lc.STARTING, lc.RUNNING, lc.FREEZING, lc.FROZEN, lc.THAWED, lc.STOPPING)


class CgroupOwner(Protocol):
    """What these functions read of a supervisor."""

    @property
    def name(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def pid(self) -> int | None: ...

    @property
    def cgroups(self) -> ContainerCgroups | None: ...


def live_cgroups(supervisor: CgroupOwner | None, name: str = "container") -> ContainerCgroups:
    """The container's cgroups while they hold it; OpError(NOT_RUNNING) otherwise."""
    if supervisor is None or supervisor.state not in LIVE or supervisor.cgroups is None:
        raise OpError(NOT_RUNNING, f"{supervisor.name if supervisor else name} is not running")
    return supervisor.cgroups


def cgroup_get(supervisor: CgroupOwner | None, key: str) -> str:
    """The key's file content as the kernel gives it (newline included)."""
    from runtime.cgroups import CgroupError, CgroupUnknownKey

    cgroups = live_cgroups(supervisor)
    try:
        return str(cgroups.get(key))
    except CgroupUnknownKey as err:
        raise OpError(UNKNOWN_KEY, str(err)) from None
    except CgroupError as err:
        raise OpError(FAILED, str(err)) from None


def cgroup_set(supervisor: CgroupOwner | None, key: str, value: str) -> None:
    from runtime.cgroups import CgroupError, CgroupSettingError, CgroupUnknownKey

    cgroups = live_cgroups(supervisor)
    try:
        cgroups.set(key, value)
    except CgroupUnknownKey as err:
        raise OpError(UNKNOWN_KEY, str(err)) from None
    except CgroupSettingError as err:
        raise OpError(FAILED, err.reason) from None
    except CgroupError as err:
        raise OpError(FAILED, str(err)) from None


def stats(supervisor: CgroupOwner | None) -> dict[str, int | None]:
    """The figures of `runtime.client.cgroup_files` (cpu_ns, blkio_bytes, ...)."""
    return dict(live_cgroups(supervisor).stats())
