"""The daemon's answers to freeze, unfreeze, cgroup and stats requests, typed.

Why apart from the work: each supervisor owns its freezer (`supervisor.freezer`,
runtime/daemon/freezer.py) and its cgroups (read through runtime/daemon/cgroup_ops.py); this
module turns a typed request (runtime.client.control_protocol) into that work and its
outcome into a typed reply. A failure the user caused is an ErrorReply with a
`kind` (the commands word LXC's message from it: lxc-freeze says `Failed to
freeze ...: REASON` only for `failed`); a bug is logged and answered the same way
(runtime.daemon.op_reply.answer), so one bad request never takes the daemon's control
server down.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from runtime.client.control_protocol import (
    Cgroup,
    CgroupReply,
    Changed,
    ErrorReply,
    Freeze,
    Stats,
    StatsReply,
    Unfreeze,
)
from runtime.daemon import cgroup_ops
from runtime.daemon.op_reply import NOT_RUNNING, UNKNOWN_KEY, OpError, answer

if TYPE_CHECKING:
    from runtime.daemon.freezer import Freezer
    from runtime.daemon.supervisor import Supervisor


def _freezer(supervisors: Mapping[str, Supervisor], name: str) -> Freezer:
    supervisor = supervisors.get(name)
    if supervisor is None:
        raise OpError(NOT_RUNNING, f"{name} is not running")
    return supervisor.freezer


async def freeze(supervisors: Mapping[str, Supervisor], request: Freeze) -> Changed | ErrorReply:
    async def work() -> Changed:
        return Changed(changed=await _freezer(supervisors, request.name).freeze())

    return await answer(work)


async def unfreeze(supervisors: Mapping[str, Supervisor], request: Unfreeze) -> Changed | ErrorReply:
    async def work() -> Changed:
        return Changed(changed=await _freezer(supervisors, request.name).unfreeze())

    return await answer(work)


async def cgroup(supervisors: Mapping[str, Supervisor], request: Cgroup) -> CgroupReply | ErrorReply:
    """A key read (no value) or written."""
    from runtime.config.names import cgroup_file_problem

    async def work() -> CgroupReply:
        supervisor = supervisors.get(request.name)
        # Any local root process may ask: the key must be a plain cgroup file name,
        # and a write never one that moves processes (runtime.config.names).
        problem = cgroup_file_problem(request.key, write=request.value is not None)
        if problem is not None:
            raise OpError(UNKNOWN_KEY, f"key {problem}")
        if request.value is None:
            return CgroupReply(value=cgroup_ops.cgroup_get(supervisor, request.key))
        cgroup_ops.cgroup_set(supervisor, request.key, request.value)
        return CgroupReply()

    return await answer(work)


async def stats(supervisors: Mapping[str, Supervisor], request: Stats) -> StatsReply | ErrorReply:
    async def work() -> StatsReply:
        supervisor = supervisors.get(request.name)
        figures = cgroup_ops.stats(supervisor)
        assert supervisor is not None  # cgroup_ops.stats refused a missing one
        return StatsReply(state=supervisor.state, pid=supervisor.pid, stats=figures)

    return await answer(work)
