"""Errors of the control-group layer.

They derive from `runtime.client.errors.LxcError` so a command can print them as they are:
each message is one line that names what failed (the config key, the file, the
hierarchy) and why (the kernel's reason), because "failed to set up cgroups" alone
leaves the user guessing which of twenty settings was wrong.
"""

from __future__ import annotations

from runtime.client.errors import LxcError

__all__ = ["CgroupBusy", "CgroupError", "CgroupSettingError", "CgroupUnknownKey"]


class CgroupError(LxcError):
    """A control-group operation failed (no hierarchy, a kernel refusal, ...)."""


class CgroupBusy(CgroupError):
    """The cgroup still holds processes: a container of that name is running, or a
    stop has not finished. Nothing was changed."""


class CgroupSettingError(CgroupError):
    """An `lxc.cgroup.*` / `lxc.cgroup2.*` setting could not be applied.

    `key` is the full config key (`lxc.cgroup.memory.limit_in_bytes`), so the caller
    can point at the config line; the message starts with it.
    """

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}")


class CgroupUnknownKey(CgroupError):
    """`get`/`set` of a key that no hierarchy of the container has a file for."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"unknown cgroup key {key!r}: no hierarchy of the container has it")
