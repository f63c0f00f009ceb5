"""A child forked to wait at a gate until its parent has done its part.

lxc-unshare and lxc-usernsexec both need a process that first makes its new
namespaces, then stops while the parent does from outside what only the outside
can do (write the id maps, move interfaces in), and only then goes on. Two pipes
carry that: the child writes one byte on `ready` once it has unshared, the parent
writes one on `go` when it is done (or closes it, and the child gives up).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn


def fork_gated(child: Callable[[int, int], NoReturn]) -> tuple[int, int, int]:
    """Fork; the child runs `child(ready_w, go_r)`, which must never return.

    The parent gets (pid, ready_r, go_w) and owns both fds: it reads the child's
    byte from ready_r and writes its own on go_w. Both pipes are close-on-exec.
    """
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.close(go_w)
        try:
            child(ready_w, go_r)
        finally:
            os._exit(1)  # a child that returned or raised never runs the parent's code
    os.close(ready_w)
    os.close(go_r)
    return pid, ready_r, go_w
