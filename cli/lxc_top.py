"""`lxc-top [-P PATH] [-d DELAY] [-b] [-s n|c|b|m|s|k] [-r] [--iterations N]`: the live view.

As LXC's: one row per active container with its CPU time (used, system, user, in
seconds), block I/O (total, read/write), memory and, where the host accounts it,
kernel memory; a TOTAL row; refreshed every DELAY seconds (default 3); sorted by
`-s` (n name, c CPU, b block I/O, m memory, s memory+swap, k kmem; figures
largest first), `-r` reversing the order. In a terminal it redraws in place
(curses) and takes keys: `q` quits, n/c/b/m/s/k sort, `r` reverses. `-b` prints
the table to stdout at every refresh instead, for a file or a pipe.

Beyond LXC: the view follows the lxcpath's monitor bus (starting the daemon if
none runs, as lxc-monitor does), so a container appears the moment it is
STARTING, its State column changes (FROZEN, STOPPING, ABORTING with the reason
the start failed) and it disappears when it is STOPPED, without waiting for the
next refresh; the figures are read from the cgroup files at each refresh (the
ones lxc-info reads). Two columns follow LXC's: CPU % over the last interval and
State. Under the table, the most recent bus events, timestamped. Idle, it
sleeps in one select() on the bus socket and the terminal until the next
refresh. `--iterations N` stops after N refreshes (top's `-n`; LXC has none).

Batch output (`-b`), for parsing: each refresh is a block of the two header lines,
one line per container, the `TOTAL n of m` line, then the bus events since the
last block, each line starting with `@ HH:MM:SS `, then one empty line.

Without a terminal and without `-b`, lxc-top fails as LXC's does ("stdin is not a
tty").
"""

from __future__ import annotations

import os
import select
import sys
import time

from cli.common import LxcArgumentParser, lxcpath_of, run_command, stdout_gone
from cli.log import CommandLog
from cli.options import Namespace
from runtime.client.errors import LxcError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import curses

    from bus.client import Subscription
    from cli.top_model import TopModel

OPTIONS = """\
  -d, --delay     delay in seconds between refreshes (default: 3.0)
  -b, --batch     output designed to capture to a file
  -s, --sort      sort by [n,c,b,m,s,k] (default: n) where
                  n = Name
                  c = CPU use
                  b = Block I/O use
                  m = Memory use
                  s = Memory + Swap use
                  k = Kernel memory use
  -r, --reverse   sort in reverse (descending) order
      --iterations=N  stop after N refreshes (default: run until q or interrupted)
"""


def build_parser() -> LxcArgumentParser:
    parser = LxcArgumentParser(
        "lxc-top", "lxc-top", "monitors the state of the active containers", OPTIONS
    )
    parser.add_argument("-d", "--delay", default="3")
    parser.add_argument("-b", "--batch", action="store_true")
    parser.add_argument("-s", "--sort", default="n")
    parser.add_argument("-r", "--reverse", action="store_true")
    parser.add_argument("--iterations")
    return parser


def options(args: Namespace) -> tuple[float, str, int | None]:
    """(delay, sort key, iterations), LxcError for a bad value."""
    from cli.top_model import SORT_KEYS

    try:
        delay = float(args.delay)
    except ValueError:
        delay = -1.0
    if not 0 < delay < 1e6:
        raise LxcError(f"invalid delay '{args.delay}': a number of seconds above 0")
    sort = str(args.sort)
    if sort not in SORT_KEYS:
        raise LxcError(f"invalid sort key '{sort}': one of {', '.join(SORT_KEYS)}")
    iterations = None
    if args.iterations is not None:
        if not str(args.iterations).isdigit() or int(args.iterations) < 1:
            raise LxcError(f"invalid --iterations '{args.iterations}': a positive number")
        iterations = int(args.iterations)
    return delay, sort, iterations


def subscribe(lxcpath: str) -> Subscription:
    from bus.client import BusClient
    from bus.protocol import BusError
    from cli.lxc_monitor import bus_socket

    try:
        return BusClient(lambda: bus_socket(lxcpath), reconnect_timeout=None).subscribe(".*")
    except BusError as err:
        raise LxcError(f"monitor bus: {err}") from None


def wait(sub: Subscription, extra_fds: list[int], deadline: float) -> list[int]:
    """Sleep until the bus or one of `extra_fds` has something, or the deadline
    (or the bus's next reconnect attempt); returns the ready extra fds."""
    wake = deadline
    retry = sub.next_retry
    if retry is not None:
        wake = min(wake, retry)
    fds = list(extra_fds)
    if sub.fileno() >= 0:
        fds.append(sub.fileno())
    timeout = max(0.0, wake - time.monotonic())
    if not fds:
        time.sleep(timeout)
        return []
    ready, _, _ = select.select(fds, [], [], timeout)
    return [fd for fd in ready if fd in extra_fds]


def drain(sub: Subscription, model: TopModel) -> bool:
    """Apply what the bus has (without blocking); True if the table changed."""
    changed = False
    for message in sub.poll():
        changed = model.apply(message) or changed
    return changed


def run_batch(sub: Subscription, model: TopModel, delay: float, iterations: int | None) -> int:
    out = sys.stdout
    # The snapshot first, so the first block already lists every active container.
    deadline = time.monotonic() + 5
    while not model.synced and time.monotonic() < deadline:
        wait(sub, [], deadline)
        drain(sub, model)
    count = 0
    while True:
        drain(sub, model)
        model.sample()
        lines = model.table() + [f"@ {line}" for line in model.unprinted]
        model.unprinted.clear()
        out.write("\n".join(lines) + "\n\n")
        out.flush()
        count += 1
        if iterations is not None and count >= iterations:
            return 0
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            wait(sub, [], deadline)
            drain(sub, model)


def run_live(sub: Subscription, model: TopModel, delay: float, iterations: int | None) -> int:
    import curses
    import signal

    # A terminal resize (SIGWINCH) must wake the select() below: a self-pipe.
    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    resized = [False]

    def on_winch(signum: int, frame: object) -> None:
        resized[0] = True

    def main(screen: curses.window) -> int:
        try:
            curses.curs_set(0)  # no cursor blinking over the table
        except curses.error:
            pass  # a terminal without cursor control
        screen.nodelay(True)
        count = 0
        drain(sub, model)
        model.sample()
        next_sample = time.monotonic() + delay
        while True:
            if resized[0]:
                resized[0] = False
                size = os.get_terminal_size(sys.stdout.fileno())
                curses.resizeterm(size.lines, size.columns)
            draw(screen, model)
            ready = wait(sub, [sys.stdin.fileno(), wake_read], next_sample)
            if wake_read in ready:
                try:
                    os.read(wake_read, 512)
                except BlockingIOError:
                    pass
            if sys.stdin.fileno() in ready:
                while True:
                    key = screen.getch()
                    if key == -1:
                        break
                    char = chr(key) if 0 <= key < 256 else ""
                    if char == "q":
                        return 0
                    if char == "r":
                        model.reverse = not model.reverse
                    elif char in ("n", "c", "b", "m", "s", "k"):
                        model.sort = char
            drain(sub, model)
            if time.monotonic() >= next_sample:
                model.sample()
                next_sample = time.monotonic() + delay
                count += 1
                if iterations is not None and count >= iterations:
                    return 0

    previous_handler = signal.signal(signal.SIGWINCH, on_winch)
    previous_fd = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    try:
        return curses.wrapper(main)
    except curses.error as err:
        raise LxcError(f"cannot set up the terminal: {err}") from None
    finally:
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGWINCH, previous_handler)
        os.close(wake_read)
        os.close(wake_write)


def draw(screen: curses.window, model: TopModel) -> None:
    """The table, then as many recent events as fit."""
    import curses

    height, width = screen.getmaxyx()
    screen.erase()
    table = model.table()
    lines: list[tuple[str, int]] = [(line, curses.A_BOLD if i < 2 else 0) for i, line in enumerate(table)]
    status = "bus: live" if model.synced else "bus: connecting..."
    order = f"sort {model.sort}{' reversed' if model.reverse else ''}"
    lines.append(("", 0))
    lines.append((f"Events ({status}; {order}; q quits)", curses.A_BOLD))
    room = max(0, height - len(lines))
    lines.extend((line, 0) for line in list(model.events)[-room:] if room)
    for y, (text, attr) in enumerate(lines[:height]):
        try:
            screen.addnstr(y, 0, text, max(0, width - 1), attr)
        except curses.error:
            pass
    screen.refresh()


def body(args: Namespace, log: CommandLog) -> int:
    from cli.top_model import TopModel

    delay, sort, iterations = options(args)
    if not args.batch and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise LxcError("stdin is not a tty (use -b for batch output)")
    lxcpath = os.path.abspath(lxcpath_of(args))
    model = TopModel(lxcpath, sort, bool(args.reverse))
    sub = subscribe(lxcpath)
    try:
        if args.batch:
            return run_batch(sub, model, delay, iterations)
        return run_live(sub, model, delay, iterations)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        return stdout_gone()
    finally:
        sub.close()


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), body, argv)
