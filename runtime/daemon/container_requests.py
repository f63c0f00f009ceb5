"""The daemon's answers to freeze, unfreeze, cgroup and stats requests, typed.

Why apart from runtime/freezer.py: the freezer does the work on a supervisor;
this module turns a typed request (runtime.control_protocol) into that work and
its outcome into a typed reply. A failure the user caused is an ErrorReply with
a `kind` (the commands word LXC's message from it: lxc-freeze says `Failed to
freeze ...: REASON` only for `failed`); a bug is logged and answered the same
way, so one bad request never takes the daemon's control server down. device
and checkpoint requests answer through `answer` too (runtime/device.py,
runtime/checkpoint_ops.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from runtime import freezer
from runtime.control_protocol import (
    Cgroup,
    CgroupReply,
    Changed,
    ErrorReply,
    Freeze,
    Reply,
    Stats,
    StatsReply,
    Unfreeze,
)
from runtime.freezer import FAILED, UNKNOWN_KEY, FreezerError
from runtime.supervisor import Supervisor

log = logging.getLogger("trio-lxc.freezer")

Answer = TypeVar("Answer", bound=Reply)


async def answer(work: Callable[[], Awaitable[Answer]]) -> Answer | ErrorReply:
    """`work`'s reply, or the ErrorReply for its FreezerError (or its bug)."""
    try:
        return await work()
    except FreezerError as err:
        return ErrorReply(error=str(err), exit_code=1, kind=err.kind)
    except Exception as err:  # noqa: BLE001 - see the module docstring
        log.exception("container request failed")
        return ErrorReply(error=f"internal error: {err}", exit_code=1, kind=FAILED)


async def freeze(supervisors: Mapping[str, Supervisor], request: Freeze) -> Changed | ErrorReply:
    async def work() -> Changed:
        return Changed(changed=await freezer.freeze(supervisors.get(request.name)))

    return await answer(work)


async def unfreeze(supervisors: Mapping[str, Supervisor], request: Unfreeze) -> Changed | ErrorReply:
    async def work() -> Changed:
        return Changed(changed=await freezer.unfreeze(supervisors.get(request.name)))

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
            raise FreezerError(UNKNOWN_KEY, f"key {problem}")
        if request.value is None:
            return CgroupReply(value=freezer.cgroup_get(supervisor, request.key))
        freezer.cgroup_set(supervisor, request.key, request.value)
        return CgroupReply()

    return await answer(work)


async def stats(supervisors: Mapping[str, Supervisor], request: Stats) -> StatsReply | ErrorReply:
    async def work() -> StatsReply:
        supervisor = supervisors.get(request.name)
        figures = freezer.stats(supervisor)
        assert supervisor is not None  # freezer.stats refused a missing one
        return StatsReply(state=supervisor.state, pid=supervisor.pid, stats=figures)

    return await answer(work)
