"""Give the C heap's free pages back to the kernel once a burst of starts is over.

Why: a start allocates transient memory in the daemon (request and spawn
messages, resolved configs, trio's per-task state); with many containers started
at once, that peak stays mapped after the starts are done: glibc's malloc only
returns the top of its heap by itself, and the freed chunks in the middle stay
counted in the daemon's PSS. Measured with 100 containers started at once, about
1 MiB of the daemon's private memory (10 KiB per container) is free heap that
`malloc_trim(0)` gives back (README, "Speed": memory per container).

When: `QUIET` seconds after the daemon's start-up and after the last start or
stop ended, once per burst, so a burst pays nothing while it runs and a lone start
pays one trim (well under a millisecond for the daemon's heap). Not glibc (no
`malloc_trim`): nothing is done.
"""

from __future__ import annotations

import trio

from runtime.kernel import linux

#: Seconds without a start or stop ending before the heap is trimmed.
QUIET = 0.3


class HeapTrimmer:
    """`poke()` when a start or stop ended; `run` trims once the daemon is quiet."""

    def __init__(self, quiet: float = QUIET) -> None:
        self.quiet = quiet
        self._poked = trio.Event()
        self._poked.set()  # the start-up's own garbage (imports, re-adoption) first
        #: How many times the heap was trimmed (for tests and the log).
        self.trims = 0

    def poke(self) -> None:
        self._poked.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await self._poked.wait()
            while self._poked.is_set():  # wait for a quiet interval after the last poke
                self._poked = trio.Event()
                await trio.sleep(self.quiet)
            linux.malloc_trim()
            self.trims += 1
