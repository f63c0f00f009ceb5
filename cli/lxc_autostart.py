"""`lxc-autostart [-k] [-L] [-r] [-s] [-a] [-A] [-g GROUPS] [-t TIMEOUT]`.

Starts (or with -r reboots, -s shuts down, -k kills) the containers that set
`lxc.start.auto = 1`, group by group, in `lxc.start.order`, waiting
`lxc.start.delay` after each start; `-L` only lists them. Which containers and in
what order is runtime.tools.autostart; the whole set then goes to the daemon in one
request (runtime.daemon.many), which starts the containers of one order value
together. Exit status as LXC's: 1 when every container acted on failed, 2 when
some did, else 0.
"""

from __future__ import annotations

import sys

from cli.common import LxcArgumentParser, lxcpath_of, run_command
from cli.log import CommandLog
from cli.options import Namespace

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: `typing` costs the command's start-up
    from runtime.client.control_protocol import Batch
    from runtime.client.status import ContainerStatus
    from runtime.tools.autostart import Settings

OPTIONS = """\
  -k, --kill        kill the containers instead of starting them
  -L, --list        list all affected containers and wait delay
  -r, --reboot      reboot the containers instead of starting them
  -s, --shutdown    shutdown the containers instead of starting them

  -a, --all         list all auto-started containers (ignore groups)
  -A, --ignore-auto ignore lxc.start.auto and select all matching containers
  -g, --groups      list of groups (comma separated) to select
  -t, --timeout=T   wait T seconds before hard-stopping
"""

#: LXC's default for -t: how long a shutdown waits before it kills.
DEFAULT_TIMEOUT = 60


def build_parser() -> LxcArgumentParser:
    parser = LxcArgumentParser(
        "lxc-autostart", "lxc-autostart", "managed auto-started containers", OPTIONS,
    )  # fmt: skip
    parser.add_argument("-k", "--kill", action="store_true")
    parser.add_argument("-L", "--list", action="store_true")
    parser.add_argument("-r", "--reboot", action="store_true")
    parser.add_argument("-s", "--shutdown", action="store_true")
    parser.add_argument("-a", "--all", action="store_true")
    parser.add_argument("-A", "--ignore-auto", action="store_true")
    parser.add_argument("-g", "--groups", action="append")
    parser.add_argument("-t", "--timeout")
    return parser


class Choices:
    """The parsed options this command reads, typed."""

    def __init__(self, args: Namespace) -> None:
        from runtime.tools import autostart

        values = vars(args)
        # LXC's precedence when several are given: shutdown, kill, reboot, start.
        if values["shutdown"]:
            self.action = autostart.SHUTDOWN
        elif values["kill"]:
            self.action = autostart.KILL
        elif values["reboot"]:
            self.action = autostart.REBOOT
        else:
            self.action = autostart.START
        self.list = bool(values["list"])
        self.all = bool(values["all"])
        self.ignore_auto = bool(values["ignore_auto"])
        self.group_args: list[str] = list(values["groups"] or [])
        self.timeout = DEFAULT_TIMEOUT
        if values["timeout"] is not None:
            try:
                self.timeout = int(values["timeout"], 10)
            except ValueError:
                PARSER.error(f"invalid timeout '{values['timeout']}'")


def body(args: Namespace, log: CommandLog) -> int:
    import os

    from runtime.client.errors import LxcError
    from runtime.client.status import container_status
    from runtime.tools import autostart

    choices = Choices(args)
    action = choices.action
    lxcpath = lxcpath_of(args)
    if not os.path.isdir(lxcpath):
        raise LxcError(f"Failed to list containers in {lxcpath}: no such directory")
    groups = autostart.group_list(choices.group_args)
    if choices.all and choices.group_args:
        log.log("ERROR", "autostart", "Specifying -a (all) with -g (groups) doesn't make sense. All option overrides")
    loaded, broken = autostart.load_all(lxcpath)
    for name, err in broken:  # LXC cannot load it either: it is left alone, said once
        log.warn("autostart", f"{name}: {err}")
    passes = autostart.select(
        loaded, action=action, groups=groups, all_groups=choices.all, ignore_auto=choices.ignore_auto
    )
    wanted_running = action != autostart.START
    attempted = sum(len(one_pass) for one_pass in passes)
    # Start acts on stopped containers, the others on running ones (LXC's is_running).
    statuses = {s.name: container_status(lxcpath, s.name) for p in passes for s in p}
    passes = [[s for s in p if statuses[s.name].running == wanted_running] for p in passes]
    if choices.list:
        for settings in (s for p in passes for s in p):
            sys.stdout.write(autostart.list_line(action, settings) + "\n")
        sys.stdout.flush()
        return 0
    failed = 0
    if wanted_running:  # LXC itself runs some: not ours to stop or reboot (runtime.client.lxc_native)
        failed += _refuse_lxcs_own(lxcpath, action, passes, statuses, log)
        passes = [[s for s in p if statuses[s.name].lxc_monitor is None] for p in passes]
    batches = autostart.plan(passes, action)
    if batches:
        failed += _request(lxcpath, action, choices.timeout, batches, log)
    if failed and failed == attempted:
        return 1
    return 2 if failed else 0


def _refuse_lxcs_own(
    lxcpath: str, action: str, passes: list[list[Settings]], statuses: dict[str, ContainerStatus], log: CommandLog
) -> int:
    from runtime.client.lxc_native import find, refusal

    refused = 0
    for settings in (s for p in passes for s in p):
        if statuses[settings.name].lxc_monitor is None:
            continue
        run = find(lxcpath, settings.name)
        if run is not None:
            log.error("autostart", f"{FAILURE[action]}: {settings.name}: {refusal(lxcpath, settings.name, run)}")
            refused += 1
    return refused


#: How each action names a failure (LXC's words).
FAILURE = {
    "start": "Error starting container",
    "reboot": "Error rebooting container",
    "shutdown": "Error shutting down container",
    "kill": "Error killing container",
}


def _request(lxcpath: str, action: str, timeout: int, batches: list[Batch], log: CommandLog) -> int:
    """Send the plan in one request, report each container as it is done; the count
    of failures."""
    from runtime.client.control_protocol import ContainerDone, Event, StartMany, StopMany, result
    from runtime.client.daemon_client import open_connection

    request: StartMany | StopMany
    if action == "start":
        request = StartMany(batches=tuple(batches))
    else:
        request = StopMany(action=action, timeout=timeout, batches=tuple(batches))
    connection = open_connection(lxcpath)
    failed = 0
    try:
        connection.send(request)
        while True:
            reply = connection.receive()
            if isinstance(reply, Event):
                if not isinstance(reply, ContainerDone):
                    continue
            else:
                result(request, reply)  # the final reply: an error reply is raised
                return failed
            if reply.result == "failed":
                failed += 1
                log.error("autostart", f"{FAILURE[action]}: {reply.name}: {reply.error}")
            else:
                log.info("autostart", f"{reply.name}: {reply.result}")
    finally:
        connection.close()


PARSER = build_parser()


def main(argv: list[str] | None = None) -> int:
    return run_command(PARSER, body, argv)
