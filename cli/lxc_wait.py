"""`lxc-wait -n NAME -s 'STATE|STATE' [-t SECONDS]`: wait until a container is in a state.

Returns 0 as soon as the container is in one of the states, at once if it already
is; 1 when the timeout passes first. Already there: the daemon's runtime record
says so (it is written before each transition is published), and nothing else is
asked, no bus connection, no daemon started (`already_in`). Otherwise it
subscribes to the lxcpath's monitor bus for the one name and reads the snapshot,
then live events: the server takes the snapshot and starts queueing live events
for us in one step, so a transition can never fall between the look and the
wait. A container the bus knows nothing of counts as STOPPED, as in LXC.

`-t SECONDS` (fractions allowed) is honoured to the millisecond, from the moment
the command starts: LXC polls once a second and gives up after N-1 seconds. `-t 0`
checks once; a negative value (the default, -1) waits for ever. Reading the
snapshot itself is not cut short by the timeout, so `-t 0` still answers from the
current state. If the daemon restarts meanwhile, lxc-wait reconnects and decides
again from the new daemon's snapshot (or from the events it missed, when the
daemon still has them).

Errors use LXC's wording: a missing -s is `could not parse command line`, an
unknown state `NAME: invalid state 'FOO'`, both exit 1. `TRIO_LXC_BUS_SOCKET`
points the command at a bus socket of one's own (see cli.lxc_monitor).
"""

from __future__ import annotations

import sys
import time

from cli.common import LxcArgumentParser, load_rcfile, lxcpath_of, require_name, run_command
from cli.log import CommandLog
from cli.options import Namespace
from runtime.client import lean_os as os  # not `os`: start-up time
from runtime.client.errors import LxcError

#: A bus socket of one's own (cli.lxc_monitor.BUS_SOCKET_ENV).
BUS_SOCKET_ENV = "TRIO_LXC_BUS_SOCKET"

OPTIONS = """\
  -n, --name=NAME   NAME of the container
  -s, --state=STATE ORed states to wait for
                    STOPPED, STARTING, RUNNING, STOPPING,
                    ABORTING, FREEZING, FROZEN, THAWED
  -t, --timeout=TMO Seconds to wait for state changes
  --rcfile=FILE     Load configuration file FILE
"""


def build_parser() -> LxcArgumentParser:
    parser = LxcArgumentParser(
        "lxc-wait",
        "lxc-wait --name=NAME --state=STATE",
        "waits for NAME container state to reach STATE",
        OPTIONS,
    )
    parser.add_argument("-n", "--name")
    parser.add_argument("-s", "--state")
    parser.add_argument("-t", "--timeout")
    parser.add_argument("--rcfile")
    return parser


def parse_timeout(text: str | None) -> float | None:
    """Seconds, or None for no timeout (absent or negative); ValueError if not a number."""
    if text is None:
        return None
    value = float(text)
    if value != value:  # nan
        raise ValueError(text)
    return None if value < 0 or value == float("inf") else value


#: LXC's state names (bus.protocol.VALID_STATES, which costs the bus's message
#: classes to import; tests/test_start_config_refusal.py checks they agree).
STATES = frozenset(
    {"STOPPED", "STARTING", "RUNNING", "STOPPING", "ABORTING", "FREEZING", "FROZEN", "THAWED"}
)


def already_in(lxcpath: str, name: str, text: str) -> bool:
    """Whether the daemon's record shows NAME in one of the states of `text` already.

    Only for valid state names (an invalid one is reported by the bus path) and a
    valid container name, and not with a bus socket of one's own (TRIO_LXC_BUS_SOCKET:
    that bus is the authority then)."""
    wanted = text.split("|")
    if not STATES.issuperset(wanted) or os.environ.get(BUS_SOCKET_ENV):
        return False
    from runtime.client.errors import InvalidName
    from runtime.client.lxcpath import validate_name

    try:
        validate_name(name)
    except InvalidName:
        return False
    from runtime.client.status import recorded_state

    state = recorded_state(lxcpath, name)
    return state is not None and state in wanted


def could_not_parse() -> int:
    sys.stderr.write("lxc-wait: could not parse command line\n")
    return 1


def body(args: Namespace, log: CommandLog) -> int:
    start = time.monotonic()
    name = require_name(PARSER, args)
    load_rcfile(args)
    if not args.state:
        return could_not_parse()
    try:
        timeout = parse_timeout(args.timeout)
    except ValueError:
        return could_not_parse()
    lxcpath = lxcpath_of(args)
    if already_in(lxcpath, name, str(args.state)):
        return 0
    from bus.protocol import InvalidState, parse_states

    try:
        states = parse_states(str(args.state))
    except InvalidState as err:
        raise LxcError(str(err)) from None
    from cli.lxc_monitor import bus_locator
    from runtime.client.state_wait import wait_for

    return wait_for(bus_locator(lxcpath), name, states, timeout, start)


PARSER = build_parser()


def main(argv: list[str] | None = None) -> int:
    return run_command(PARSER, body, argv)
