"""Host memory per running container, broken down by what holds it, ours and LXC's.

PSS (proportional set size: a page shared by k processes counts 1/k to each) of
every host-side process that exists for the containers, divided by N:
- ours: the lxcpath's daemon (its size before the run, ~17 MiB at -OO without
  ssl, idna, bz2, lzma or pickle (runtime.daemon.deferred_modules), and what it
  grew by during it: the start path's lazy imports, the supervisors' objects (~20
  KiB of Python objects per running container: the supervisor's task and one
  console task, cgroup paths, terminals, the typed config), and what the
  allocator keeps of the starts' transient memory once the daemon gave the free
  heap back (runtime.daemon.heap_trim)), the spawner (~10.3 MiB: the interpreter,
  attrs and the modules of the container child, and the ~60 KB image of the
  application containers' init; no cattrs, logging or pathlib), and each
  container's processes (its init and what that init started; a system container
  runs its own init as pid 1, an application container the static trio-lxc-init,
  ~64 KiB of PSS each with musl: bench/memory.py does not start those);
- LXC: one `[lxc monitor]` per container, and each container's processes.
Kernel memory (cgroups, namespaces, page tables of the mounts) is in neither.

Like with like: the busybox templates differ in their inittab (ours offers a
getty on every tty, LXC's on tty1 only), so `same_inittab` gives both rootfs the
same one before anything is measured; the breakdown then shows what the
runtime itself costs per container.

Used by bench/report.py; runnable alone: `.venv/bin/python -m runtime.tools.subreaper --
.venv/bin/python bench/memory.py PID...` prints the PSS of those processes and
their descendants.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from many import descendants, pss_kib  # bench/ is on sys.path when run as a script

#: The inittab both busybox rootfs get in the bench: LXC's template's (one getty).
INITTAB = (
    "::sysinit:/etc/init.d/rcS\n"
    "tty1::respawn:/bin/getty -L tty1 115200 vt100\n"
    "console::askfirst:/bin/sh\n"
)


def same_inittab(rootfs: str) -> None:
    """Give a busybox rootfs the inittab of LXC's template (compare like with like)."""
    Path(rootfs, "etc", "inittab").write_text(INITTAB)


def children_of(pid: int) -> list[int]:
    """Direct children of `pid` (from every task's children list)."""
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            found.extend(
                int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
            )
    except OSError:
        pass
    return found


def ours_breakdown(daemon_pid: int, idle_daemon_kib: int, n: int) -> dict[str, float]:
    """KiB per container: daemon share, its growth for N supervisors, spawner, containers."""
    spawners = children_of(daemon_pid)
    daemon = pss_kib([daemon_pid])
    spawner = pss_kib(spawners)
    inits = [c for s in spawners for c in children_of(s)]
    containers = pss_kib(descendants(inits))
    extra = [p for p in descendants([daemon_pid]) if p not in set(spawners) | {daemon_pid}]
    other = pss_kib([p for p in extra if p not in set(descendants(inits))])
    return {
        "daemon (idle share)": idle_daemon_kib / n,
        "daemon (growth during the run)": (daemon - idle_daemon_kib) / n,
        "spawner (share)": spawner / n,
        "container processes (init and children)": containers / n,
        "other host processes": other / n,
        "processes per container": len(descendants(inits)) / n,
    }


def lxc_breakdown(monitor_pids: list[int], n: int) -> dict[str, float]:
    """KiB per container: the monitors, and the containers' processes."""
    inits = [c for m in monitor_pids for c in children_of(m)]
    return {
        "monitor": pss_kib(monitor_pids) / n,
        "container processes (init and children)": pss_kib(descendants(inits)) / n,
        "processes per container": len(descendants(inits)) / n,
    }


def total(breakdown: dict[str, float]) -> float:
    """KiB per container: the sum of the parts (without the process count)."""
    return sum(v for k, v in breakdown.items() if k != "processes per container")


def main() -> int:
    pids = [int(a) for a in sys.argv[1:]]
    every = descendants(pids)
    print(f"{len(every)} processes, PSS {pss_kib(every)} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
