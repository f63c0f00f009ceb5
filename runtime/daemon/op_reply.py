"""How a daemon operation on one container fails, and its reply line.

Freeze, thaw, cgroup keys, figures, devices and checkpoints answer the same way:
a failure the user caused is an ErrorReply with a `kind` (the commands word LXC's
message from it); a bug is logged and answered the same way, so one bad request
never takes the daemon's control server down.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from runtime.client.control_protocol import ErrorReply, Reply

log = logging.getLogger("trio-lxc.ops")

#: The kinds of failure a reply names.
NOT_RUNNING = "not-running"
FAILED = "failed"
UNKNOWN_KEY = "unknown-key"


class OpError(Exception):
    """An operation failed; `kind` is one of the constants above."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


Answer = TypeVar("Answer", bound=Reply)


async def answer(work: Callable[[], Awaitable[Answer]]) -> Answer | ErrorReply:
    """`work`'s reply, or the ErrorReply for the failure it raised (or its bug)."""
    try:
        return await work()
    except OpError as err:
        return ErrorReply(error=str(err), exit_code=1, kind=err.kind)
    except Exception as err:  # noqa: BLE001 - see the module docstring
        log.exception("container operation failed")
        return ErrorReply(error=f"internal error: {err}", exit_code=1, kind=FAILED)
