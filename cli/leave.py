"""A command's exit without the interpreter's tear-down: `leave(main())`.

Why: after its last reply a command has nothing left to do, yet a normal exit
makes CPython finalize: every module's globals cleared, every object freed, the
garbage collector run, the allocator's arenas given back, about 3 ms of CPU for
an `lxc-execute` (as much as the daemon's whole clean-up of the container); LXC's
C tools just exit. The launchers (runtime.tools.launchers) end with this instead
of `sys.exit(main())`: what an exit must still do is done here, in CPython's
order (the non-daemon threads waited for, then the atexit functions, then the
standard streams flushed), and then `os._exit`.

When that cannot be done the same way, the normal exit is taken: a status that
is not an int (sys.exit prints a string), a stream that cannot be flushed (the
interpreter reports it and exits 120, as before). Standard library only.
"""

from __future__ import annotations

import sys

from runtime.client import lean_os as os  # not `os`: start-up time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn


def leave(status: int | str | None) -> NoReturn:
    """Exit with `status` (an int, or what sys.exit takes) at once."""
    if status is None:
        status = 0
    if not isinstance(status, int) or isinstance(status, bool):
        sys.exit(status)
    threading = sys.modules.get("threading")
    if threading is not None:
        # CPython's own shutdown joins the non-daemon threads first (private, but
        # the one definition of that wait; it returns at once when there are none)
        shutdown = getattr(threading, "_shutdown", None)
        if shutdown is not None:
            shutdown()
    import atexit  # built in: no file is read

    atexit._run_exitfuncs()  # what logging, weakref.finalize, tempfile registered
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        sys.exit(status)  # the interpreter's own exit reports it, as before
    os._exit(status & 0xFF)  # what the kernel keeps of sys.exit's status too
