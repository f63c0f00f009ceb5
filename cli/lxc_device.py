"""`lxc-device -n NAME add|del DEVICE [NAME_IN_CONTAINER]`: hand a running container a device.

A host network interface moves into the container's network namespace (or back
out with `del`), or a host device node is made inside the container with its
devices-cgroup permission; the daemon does the work (runtime/daemon/device.py). LXC's
lines: `Container NAME is not running`, `Error: no command given (Please see
--help output)`, `Failed to add DEV to NAME.`, all exit 1; success prints nothing.
"""

from __future__ import annotations

from cli.common import LxcArgumentParser, load_rcfile, lxcpath_of, require_name, run_command
from cli.log import CommandLog
from cli.options import REMAINDER, Namespace

OPTIONS = """\
  -n, --name=NAME      NAME of the container
  --rcfile=FILE        Load configuration file FILE
"""


def build_parser() -> LxcArgumentParser:
    parser = LxcArgumentParser(
        "lxc-device", "lxc-device --name=NAME -- add|del DEV",
        "attach or detach DEV to or from container.", OPTIONS,
    )  # fmt: skip
    parser.add_argument("-n", "--name")
    parser.add_argument("--rcfile")
    parser.add_argument("words", nargs=REMAINDER)
    return parser


def body(args: Namespace, log: CommandLog) -> int:
    from runtime.client.control_protocol import Device, RequestError, RequestFailed
    from runtime.client.daemon_client import open_connection
    from runtime.client.errors import LxcError
    from runtime.client.lxcpath import validate_name
    from runtime.client.status import container_status

    name = require_name(PARSER, args)
    validate_name(name)
    load_rcfile(args)
    lxcpath = lxcpath_of(args)
    words = list(args.words)
    if words[:1] == ["--"]:
        words = words[1:]
    if not container_status(lxcpath, name).running:
        raise LxcError(f"Container {name} is not running")
    if len(words) < 2:
        raise LxcError("Error: no command given (Please see --help output)")
    action, device = words[0], words[1]
    target = words[2] if len(words) > 2 else None
    if action not in ("add", "del"):
        raise LxcError("Error: Please use add or del (Please see --help output)")
    failed = f"Failed to add {device} to {name}." if action == "add" else f"Failed to del {device} from {name}."
    try:
        request = Device(name=name, action=action, device=device, target=target)
        connection = open_connection(lxcpath)
        try:
            connection.call(request)
        finally:
            connection.close()
    except (RequestError, RequestFailed) as err:  # refused here or by the daemon: same line
        reason = str(err)
        raise LxcError(f"{failed} {reason}" if reason else failed) from None
    return 0


PARSER = build_parser()


def main(argv: list[str] | None = None) -> int:
    return run_command(PARSER, body, argv)
