"""Scheduler hints that keep an event's trip through the bus short on busy CPUs.

Why (issue 15, measured with bench/bus_runtime.py: 100 containers cycling on 2
CPUs, 50 subscriber processes): the daemon's fan-out of one event costs ~0.3 ms of
CPU (50 non-blocking writes), yet took 2 ms of wall time at the median and 7-9 ms
at p99, preempted 7-30 times in the middle of its 50 writes: every write wakes a
subscriber, the kernel pulls the wakee towards the waker's CPU (Unix sockets wake
their readers "sync") and the wakee preempts the writer. The subscribers then
waited up to 6-7 ms (p99) for a CPU behind the containers' own work. The
subscribers' Python work after waking is only ~50 us; the delay is scheduling.

Two hints, each best effort and harmless where refused:

- `FanoutPriority`: the server runs the loop of writes (and nothing else) as
  SCHED_FIFO, so no wakee preempts it; the woken subscribers run right after. The
  loop is bounded (one non-blocking write per subscriber, at most
  bus.admission.MAX_CONNECTIONS of them, no syscall that can block) and the
  kernel's RT throttling caps it anyway. Only a process allowed to (root, or
  CAP_SYS_NICE, or an RLIMIT_RTPRIO) uses it, only from SCHED_OTHER (an
  administrator's SCHED_BATCH/IDLE or RT choice is left alone), and a refusal
  (EPERM from an RT-less cgroup, say) turns it off for good.
- `prefer_short_slice`: a subscriber asks for a 0.1 ms slice (sched_setattr's
  sched_runtime for SCHED_OTHER, the EEVDF scheduler's latency hint, Linux 6.12
  and later; older kernels ignore it). A task with a shorter slice gets an
  earlier deadline when it wakes, so a subscriber that runs ~50 us per event is
  picked before the containers' long CPU bursts instead of after them. It takes
  no privilege and changes no priority or share of the CPU.

Standard library only (ctypes, loaded by `prefer_short_slice` only).
"""

from __future__ import annotations

import os
import platform

#: The slice a subscriber asks for: the kernel's minimum (0.1 ms).
SHORT_SLICE_NS = 100_000
#: The fan-out's RT priority: the lowest (above every SCHED_OTHER task, below any real RT work).
FANOUT_RT_PRIORITY = 1
#: sched_setattr(2)'s number per machine (asm-generic numbering for the 64-bit ARM and RISC-V).
_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274, "riscv64": 274, "i686": 351, "i386": 351}
#: struct sched_attr, SCHED_ATTR_SIZE_VER0 (48 bytes): size, policy, flags, nice,
#: priority, runtime, deadline, period.
_SCHED_ATTR = "=IIQiIQQQ"


class FanoutPriority:
    """Make a stretch of non-blocking writes run to its end, when the process may."""

    __slots__ = ("enabled",)

    def __init__(self) -> None:
        self.enabled = _starts_from_other()

    def enter(self) -> bool:
        """Become SCHED_FIFO; False (and off from now on) if refused."""
        if not self.enabled:
            return False
        try:
            os.sched_setscheduler(
                0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(FANOUT_RT_PRIORITY)
            )
        except OSError:
            self.enabled = False
            return False
        return True

    def leave(self) -> None:
        """Back to SCHED_OTHER (the kernel keeps the nice value); woken tasks run now."""
        try:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        except OSError:
            self.enabled = False


def _starts_from_other() -> bool:
    """Whether this thread is a plain SCHED_OTHER one, the only policy the hint leaves
    and restores."""
    try:
        return os.sched_getscheduler(0) == os.SCHED_OTHER
    except (AttributeError, OSError):
        return False


def prefer_short_slice(slice_ns: int = SHORT_SLICE_NS) -> bool:
    """Ask the scheduler for a short slice for this thread (a subscriber: brief runs,
    latency matters); keeps the policy and nice value. False if not applied."""
    number = _SCHED_SETATTR.get(platform.machine())
    if number is None or not _starts_from_other():
        return False
    import ctypes
    import struct

    nice = os.getpriority(os.PRIO_PROCESS, 0)
    attr = struct.pack(
        _SCHED_ATTR, struct.calcsize(_SCHED_ATTR), os.SCHED_OTHER, 0, nice, 0, slice_ns, 0, 0
    )
    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(attr, len(attr))
    return int(libc.syscall(number, 0, buffer, 0)) == 0
