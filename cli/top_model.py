"""What lxc-top shows, without a terminal: the containers the bus announced, their
figures, the order, and the lines of the table and of the recent events.

Kept apart from cli.lxc_top (which owns the terminal and the wait loop) so the
batch and the live view print exactly the same lines, and so the layout can be
tested without a terminal. Standard library only: a client command imports it.

The table is LXC's: a two-line header, one row per active container, a TOTAL
row. Columns, as LXC prints them: Container Name (18, left), CPU Used / Sys /
User in seconds (12 each, two decimals), BlkIO Total(Read/Write) (36), Mem Used
(10), and KMem Used (10) only when the host accounts kernel memory (cgroup v1).
Sizes are LXC's `%6.2f UNIT` with binary units (two blanks for bytes). Beyond
LXC, two columns follow: CPU % over the last interval (of one CPU, so it may
exceed 100 on several), and the State from the bus (ABORTING with its reason).
"""

from __future__ import annotations

import time
from collections import deque

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from bus.protocol import Message

#: Sort keys of `-s` and of the live view's keys (LXC's letters).
SORT_KEYS = {
    "n": "name",
    "c": "cpu_ns",
    "b": "blkio_bytes",
    "m": "memory_bytes",
    "s": "memsw_bytes",
    "k": "kmem_bytes",
}
#: How many recent bus events are kept for the view.
EVENTS_KEPT = 50
_UNITS = ("  ", "KiB", "MiB", "GiB", "TiB", "PiB")


def size(value: int | None) -> str:
    """LXC's humanized size: `%6.2f` and a binary unit (`  0.00   `, ` 12.50 MiB`)."""
    if value is None:
        return "-"
    amount = float(value)
    unit = 0
    while amount >= 1024 and unit < len(_UNITS) - 1:
        amount /= 1024
        unit += 1
    return f"{amount:6.2f} {_UNITS[unit]}"


def seconds(ns: int | None) -> str:
    return "-" if ns is None else f"{ns / 1e9:.2f}"


class Row:
    """One container: its state from the bus, its figures from the last sample."""

    __slots__ = ("name", "state", "reason", "figures", "cpu_percent", "_last")

    def __init__(self, name: str, state: str) -> None:
        self.name = name
        self.state = state
        self.reason: str | None = None
        self.figures: dict[str, int | None] = {}
        self.cpu_percent: float | None = None
        #: (monotonic time, cpu_ns) of the previous sample, for CPU %.
        self._last: tuple[float, int] | None = None

    def sample(self, lxcpath: str, now: float) -> None:
        """Read the figures from the container's cgroup files (runtime record paths)."""
        from runtime.client.container_figures import cgroup_figures
        from runtime.client.status import container_status

        status = container_status(lxcpath, name=self.name)
        self.figures = cgroup_figures(status.cgroups) if status.pid else {}
        cpu = self.figures.get("cpu_ns")
        if cpu is not None and self._last is not None and now > self._last[0]:
            self.cpu_percent = max(0.0, (cpu - self._last[1]) / 1e9 / (now - self._last[0]) * 100)
        if cpu is not None:
            self._last = (now, cpu)

    def key(self, field: str) -> int:
        """The figure `field` for sorting (by name: the caller sorts by `name`)."""
        if field == "memsw_bytes":
            return (self.figures.get("memory_bytes") or 0) + (self.figures.get("swap_bytes") or 0)
        return self.figures.get(field) or 0

    def state_text(self) -> str:
        return f"{self.state}: {self.reason}" if self.reason else self.state


class TopModel:
    """The containers as the bus tells them, and the lines to show for them."""

    def __init__(self, lxcpath: str, sort: str = "n", reverse: bool = False) -> None:
        self.lxcpath = lxcpath
        self.sort = sort
        self.reverse = reverse
        self.rows: dict[str, Row] = {}
        self.events: deque[str] = deque(maxlen=EVENTS_KEPT)
        #: Events not yet printed by the batch output.
        self.unprinted: list[str] = []
        self.synced = False

    # -- the bus ---------------------------------------------------------------------
    def apply(self, message: Message) -> bool:
        """Take one bus message; True if the table changed (redraw now)."""
        from bus.protocol import (
            CreatedEvent,
            DestroyedEvent,
            ExitEvent,
            Reconnected,
            SnapshotItem,
            StateEvent,
            Synced,
        )

        if isinstance(message, SnapshotItem):
            return self._set_state(message.name, message.state, None)
        if isinstance(message, Synced):
            self.synced = True
            return True
        if isinstance(message, Reconnected):
            self.synced = False
            self._note(time.time(), f"bus reconnected ({message.reason})")
            return True
        if isinstance(message, StateEvent):
            reason = getattr(message, "reason", None)
            line = message.line() + (f": {reason}" if reason else "")
            self._note(message.time, line)
            return self._set_state(message.name, message.state, reason)
        if isinstance(message, ExitEvent):
            self._note(message.time, message.line())
            return True
        if isinstance(message, CreatedEvent):
            self._note(message.time, f"'{message.name}' created")
            return True
        if isinstance(message, DestroyedEvent):
            self._note(message.time, f"'{message.name}' destroyed")
            return self.rows.pop(message.name, None) is not None
        return False

    def _set_state(self, name: str, state: str, reason: str | None) -> bool:
        if state == "STOPPED":
            return self.rows.pop(name, None) is not None
        row = self.rows.get(name)
        if row is None:
            row = self.rows[name] = Row(name, state)
            row.sample(self.lxcpath, time.monotonic())
        row.state = state
        row.reason = reason
        return True

    def _note(self, when: float, text: str) -> None:
        line = f"{time.strftime('%H:%M:%S', time.localtime(when))} {text}"
        self.events.append(line)
        self.unprinted.append(line)

    # -- figures and lines -----------------------------------------------------------
    def sample(self) -> None:
        now = time.monotonic()
        for row in self.rows.values():
            row.sample(self.lxcpath, now)

    def ordered(self) -> list[Row]:
        field = SORT_KEYS.get(self.sort, "name")
        rows = sorted(self.rows.values(), key=lambda r: r.name)
        if field != "name":
            # LXC sorts figures largest first; -r turns the order around.
            rows.sort(key=lambda r: r.key(field), reverse=True)
        return rows[::-1] if self.reverse else rows

    def show_kmem(self) -> bool:
        return any(row.figures.get("kmem_bytes") is not None for row in self.rows.values())

    def table(self) -> list[str]:
        """The header, a row per active container, and the TOTAL row."""
        kmem = self.show_kmem()
        head1 = f"{'Container':<18} {'CPU':>12} {'CPU':>12} {'CPU':>12} {'BlkIO':>36} {'Mem':>10}"
        head2 = f"{'Name':<18} {'Used':>12} {'Sys':>12} {'User':>12} {'Total(Read/Write)':>36} {'Used':>10}"
        if kmem:
            head1 += f" {'KMem':>10}"
            head2 += f" {'Used':>10}"
        head1 += f" {'CPU':>7} State"
        head2 += f" {'%':>7}"
        lines = [head1, head2]
        totals = dict.fromkeys(
            ("cpu_ns", "cpu_system_ns", "cpu_user_ns", "blkio_bytes", "blkio_read_bytes",
             "blkio_write_bytes", "memory_bytes", "kmem_bytes"), 0,
        )  # fmt: skip
        percent_total = 0.0
        rows = self.ordered()
        for row in rows:
            lines.append(self._line(row.name[:18], row.figures, kmem, row.cpu_percent, row.state_text()))
            for key in totals:
                totals[key] += row.figures.get(key) or 0
            percent_total += row.cpu_percent or 0.0
        running = sum(1 for row in rows if row.state in ("RUNNING", "FROZEN", "THAWED", "FREEZING"))
        label = f"TOTAL {running} of {len(rows)}"
        lines.append(self._line(label, totals, kmem, percent_total, ""))
        return [line.rstrip() for line in lines]

    @staticmethod
    def _line(
        label: str,
        figures: Mapping[str, int | None],
        kmem: bool,
        percent: float | None,
        state: str,
    ) -> str:
        blkio = (
            "-"
            if figures.get("blkio_bytes") is None
            else f"{size(figures['blkio_bytes'])}({size(figures.get('blkio_read_bytes'))}"
            f"/{size(figures.get('blkio_write_bytes'))})"
        )
        line = (
            f"{label:<18} {seconds(figures.get('cpu_ns')):>12} "
            f"{seconds(figures.get('cpu_system_ns')):>12} {seconds(figures.get('cpu_user_ns')):>12} "
            f"{blkio:>36} {size(figures.get('memory_bytes')):>10}"
        )
        if kmem:
            line += f" {size(figures.get('kmem_bytes')):>10}"
        shown = "-" if percent is None else f"{percent:.1f}"
        return line + f" {shown:>7} {state}"
