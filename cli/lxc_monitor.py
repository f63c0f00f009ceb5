"""`lxc-monitor [-P PATH]... [-n REGEX] [-Q] [--format text|json] [--since SEQ|TIME]`.

Prints LXC's lines as the containers whose names match REGEX change state, one per
event, flushed at once (it is used in pipes):

    'foo' changed state to [RUNNING]
    'foo' exited with status [0]

Like LXC: the default regex is `.*`; several `-P` are watched at once; only live
changes are printed (a subscription's initial snapshot is not shown as changes);
`-Q/--quit` exits at once (there is no separate lxc-monitord to stop: the bus lives
in the lxcpath's runtime daemon, which exits by itself when idle).

The regex is matched here, in lxc-monitor's own process, as in LXC: the daemon
sends the events of every container (or, for a plain `foo|bar`, of those names
only) and never runs a regex it was given, so a pattern that backtracks for
ever slows only the monitor that asked for it.

Differences from LXC, on purpose: the regex must match the whole name
(`-n 'foo|bar'` does not match `foobaz`); `exited with status [N]` shows 128+N
for an init killed by signal N (LXC shows 0). The monitor keeps running across
daemon restarts: it reconnects, replays what it missed when the daemon still has
it (a restarted daemon replays every event it published before the monitor came
back, so a container started meanwhile is shown in full), and otherwise prints a `changed state` line for every container whose state
differs in the new daemon's snapshot from the last one it printed.

Beyond LXC: `--format json` prints one JSON object a line, the bus messages
themselves without the version field, with `lxcpath` set to the -P path
(absolute): `state` {seq, time, name, state}, `exit` {seq, time, name, status,
exit_code, signal}, `created`/`destroyed` {seq, time, name}. In JSON the initial
snapshot IS printed, as `snapshot` {name, state} lines followed by one `synced`
{seq, epoch} line, and a reconnect shows as `reconnected` {reason} followed by the
new snapshot: a program reading the JSON wants the state it starts from, and the
marker tells it apart from a change. `--since SEQ` replays events after that
sequence number, `--since @TIME` (or any number with a '.') those at or after
that Unix time, from the daemon's ring of recent events, before going live.

Finding the bus: `bus_socket(lxcpath)` asks runtime.client.daemon_start for the socket
(starting the lxcpath's daemon if needed). The environment variable
`TRIO_LXC_BUS_SOCKET` overrides that with a fixed socket path, for tests and for
a bus served by a program of one's own; `{digest}` in it is replaced by the
lxcpath's run-directory digest (runtime.client.rundir.path_digest), so several -P can
be pointed at several servers.
"""

from __future__ import annotations

import os
import sys

from cli.common import LxcArgumentParser, load_rcfile, run_command, stdout_gone
from cli.log import CommandLog
from cli.options import Namespace
from runtime.client.errors import LxcError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from bus.client import Subscription
    from bus.protocol import Message

BUS_SOCKET_ENV = "TRIO_LXC_BUS_SOCKET"

OPTIONS = """\
  -n, --name=NAME   NAME of the container
                    NAME may be a regular expression
  -Q, --quit        tell lxc-monitord to quit (nothing to do here: exits at once)
      --format=FMT  text (LXC's lines, the default) or json (one object a line)
      --since=SEQ|@TIME
                    first replay the events after sequence number SEQ, or
                    published at or after Unix time TIME
  --rcfile=FILE     Load configuration file FILE
"""


def bus_socket(lxcpath: str) -> str:
    """The monitor bus socket of an lxcpath, its daemon started if need be.

    `TRIO_LXC_BUS_SOCKET` overrides it (see the module docstring).
    """
    override = os.environ.get(BUS_SOCKET_ENV)
    if override:
        if "{digest}" in override:
            from runtime.client.rundir import path_digest

            return override.replace("{digest}", path_digest(os.path.abspath(lxcpath)))
        return override
    try:
        from runtime.client.daemon_start import bus_socket as daemon_bus_socket
    except ModuleNotFoundError as err:
        if err.name != "runtime.client.daemon_start":
            raise
        raise LxcError(
            "the runtime daemon is not available in this build "
            f"(set {BUS_SOCKET_ENV} to a bus socket to use one directly)"
        ) from None
    return daemon_bus_socket(lxcpath, autostart=True)


def build_parser() -> LxcArgumentParser:
    parser = LxcArgumentParser(
        "lxc-monitor",
        "lxc-monitor --name=NAME",
        "monitors the state of the NAME container",
        OPTIONS,
    )
    parser.add_argument("-n", "--name")
    parser.add_argument("-Q", "--quit", action="store_true")
    parser.add_argument("--format", default="text")
    parser.add_argument("--since")
    parser.add_argument("--rcfile")  # checked (LXC's lxc-monitor ignores it: cli.common.load_rcfile)
    return parser


def parse_since(text: str | None) -> tuple[int | None, float | None]:
    """`--since` -> (sequence number, Unix time); one of them or neither."""
    if text is None:
        return None, None
    value = text.strip()
    if value.isdigit():
        return int(value), None
    try:
        return None, float(value.removeprefix("@"))
    except ValueError:
        raise LxcError(
            f"invalid --since '{text}': a sequence number, or a Unix time as @TIME"
        ) from None


class TextOutput:
    """LXC's lines for live events; after a reconnect, lines for what changed meanwhile."""

    def __init__(self) -> None:
        self.known: dict[str, dict[str, str]] = {}
        self.fresh: dict[str, dict[str, str] | None] = {}

    def lines(self, lxcpath: str, message: Message) -> list[str]:
        from bus.protocol import (
            DestroyedEvent,
            ExitEvent,
            Reconnected,
            SnapshotItem,
            StateEvent,
            Synced,
        )

        known = self.known.setdefault(lxcpath, {})
        if isinstance(message, StateEvent):
            known[message.name] = message.state
            return [message.line()]
        if isinstance(message, ExitEvent):
            return [message.line()]
        if isinstance(message, DestroyedEvent):
            known.pop(message.name, None)
            return []
        fresh = self.fresh.get(lxcpath)
        if isinstance(message, Reconnected):
            self.fresh[lxcpath] = {}
        elif isinstance(message, SnapshotItem):
            if fresh is None:
                known[message.name] = message.state  # the first snapshot: not printed
            else:
                fresh[message.name] = message.state
        elif isinstance(message, Synced) and fresh is not None:
            self.fresh[lxcpath] = None
            out = []
            for name, state in fresh.items():
                if state != known.get(name, "STOPPED"):
                    out.append(f"'{name}' changed state to [{state}]")
                known[name] = state
            return out
        return []


def json_line(lxcpath: str, message: Message) -> str | None:
    """The JSON line for a message, or None for one this version does not print."""
    import json

    from bus.protocol import UnknownMessage

    if isinstance(message, UnknownMessage):
        return None
    data = message.to_wire()
    del data["v"]
    data["lxcpath"] = lxcpath
    return json.dumps(data)


def monitor(subscriptions: dict[Subscription, str], fmt: str) -> int:
    """Print events from every subscription until interrupted."""
    from bus.client import iter_many
    from bus.sched import prefer_short_slice

    # Runs of ~50 us per event: a short slice gets the CPU ahead of long bursts (bus.sched).
    prefer_short_slice()
    text = TextOutput() if fmt == "text" else None
    out = sys.stdout
    for sub, message in iter_many(list(subscriptions)):
        lxcpath = subscriptions[sub]
        if text is not None:
            lines = text.lines(lxcpath, message)
        else:
            line = json_line(lxcpath, message)
            lines = [] if line is None else [line]
        if lines:
            out.write("".join(line + "\n" for line in lines))
            out.flush()
    return 0


def body(args: Namespace, log: CommandLog) -> int:
    if args.quit:
        return 0
    load_rcfile(args)  # a file that does not load is an error, not silently ignored
    fmt = str(args.format)
    if fmt not in ("text", "json"):
        raise LxcError(f"invalid --format '{fmt}': text or json")
    since, since_time = parse_since(args.since)
    regex = ".*" if args.name is None else str(args.name)

    from bus.client import BusClient
    from bus.protocol import BusError, BusProtocolError, Filter, InvalidFilter
    from runtime.client.lxcpath import default_lxcpath

    try:
        Filter(regex)
    except InvalidFilter as err:
        raise LxcError(str(err)) from None
    paths = [os.path.abspath(p) for p in (args.lxcpath or [default_lxcpath()])]
    subscriptions: dict[Subscription, str] = {}
    try:
        for path in dict.fromkeys(paths):
            client = BusClient(_locator(path), reconnect_timeout=None)
            try:
                sub = client.subscribe(regex, since=since, since_time=since_time)
            except BusError as err:
                raise LxcError(f"{path}: {err}") from None
            subscriptions[sub] = path
        return monitor(subscriptions, fmt)
    except BusProtocolError as err:
        raise LxcError(f"monitor bus: {err}") from None
    except BrokenPipeError:
        return stdout_gone()
    finally:
        for sub in subscriptions:
            sub.close()


def _locator(lxcpath: str) -> Callable[[], str]:
    """`bus_socket` for one lxcpath, called at every (re)connect (it restarts the daemon)."""
    return bus_locator(lxcpath)


def bus_locator(lxcpath: str) -> Callable[[], str]:
    """A bus locator that tries the lxcpath's bus socket once before asking for a daemon.

    `bus_socket` first connects to the daemon's control socket to learn whether it
    runs: one more connection for the client and for the daemon on every command. A
    daemon that runs has its bus socket in place, so the first call only returns that
    path when the file is there; the connect that fails on a stale socket (the daemon
    gone) is retried through `bus_socket`, which starts a daemon.
    """
    calls = 0

    def locate() -> str:
        nonlocal calls
        calls += 1
        if calls == 1 and not os.environ.get(BUS_SOCKET_ENV):
            try:
                from runtime.client.daemon_start import bus_socket_path
            except ModuleNotFoundError:
                return bus_socket(lxcpath)  # says that this build has no daemon
            path = bus_socket_path(lxcpath)
            if os.path.exists(path):
                return path
        return bus_socket(lxcpath)

    return locate


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), body, argv)
