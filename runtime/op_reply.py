"""How a daemon operation on one container fails, and its reply line.

Freeze, thaw, cgroup keys, figures, devices and checkpoints answer the same way:
a failure the user caused is `ok: false` with a `kind` (the commands word LXC's
message from it); a bug is logged and answered the same way, so one bad request
never takes the daemon's control server down.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

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


def failure(kind: str, error: str) -> dict[str, object]:
    return {"ok": False, "kind": kind, "error": error, "exit_code": 1}


async def answer(work: Callable[[], Awaitable[dict[str, object]]]) -> dict[str, object]:
    """The final reply of `work`: its own, or the failure it raised."""
    try:
        return await work()
    except OpError as err:
        return failure(err.kind, str(err))
    except Exception as err:  # noqa: BLE001 - see the module docstring
        log.exception("container operation failed")
        return failure(FAILED, f"internal error: {err}")
