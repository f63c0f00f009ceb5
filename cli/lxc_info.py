"""`lxc-info -n NAME [-s] [-p] [-i] [-S] [-H] [-c KEY]...`: LXC's report on one container.

The container's state comes from its runtime record (runtime.client.status): no
round trip to the daemon. The config is checked so that a broken config is
reported as LXC does ("Failed to load config"); when nothing it is made of changed
since the last check that passed, a stamp spares the parse (runtime.client.config_stamp,
which also keeps what `-c KEY` printed; `--rcfile` and `--format json` always parse).
Resource figures (CPU, BlkIO, memory) come from the container's cgroup files, `Link:`
lines from the host-side devices in sysfs, addresses from the kernel without entering
the container's namespace (runtime.net.addresses), in LXC's order; all only for a
running container.
"""

from __future__ import annotations

import sys

from cli.common import LxcArgumentParser, lxcpath_of, require_name, run_command
from cli.log import CommandLog
from cli.options import Namespace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runtime.client.status import ContainerStatus
    from runtime.config.parser import RawConfig

OPTIONS = """\
  -n, --name=NAME       NAME of the container
  -c, --config=KEY      show configuration variable KEY from running container
  -i, --ips             shows the IP addresses
  -p, --pid             shows the process id of the init container
  -S, --stats           shows usage stats
  -H, --no-humanize     shows stats as raw numbers, not humanized
  -s, --state           shows the state of the container
  --rcfile=FILE         Load configuration file FILE
      --format=FMT      text (LXC's lines, the default) or json (one object)
"""

def build_parser() -> LxcArgumentParser:
    parser = LxcArgumentParser(
        "lxc-info",
        "lxc-info --name=NAME",
        "display some information about a container with the identifier NAME",
        OPTIONS,
    )
    parser.add_argument("-n", "--name")
    parser.add_argument("-c", "--config", action="append", default=[])
    parser.add_argument("-i", "--ips", action="store_true")
    parser.add_argument("-p", "--pid", action="store_true")
    parser.add_argument("-S", "--stats", action="store_true")
    parser.add_argument("-H", "--no-humanize", action="store_true", dest="raw")
    parser.add_argument("-s", "--state", action="store_true")
    parser.add_argument("--rcfile")
    parser.add_argument("--format", default="text")
    return parser


def field(label: str, value: str, raw: bool) -> str:
    """`State:          RUNNING`, or just `RUNNING` with -H."""
    return value if raw else f"{label + ':':<16}{value}"


def humanize(value: int) -> str:
    """A byte count in LXC's units: bytes up to 1 KiB, then KiB, MiB or GiB with
    two decimals. LXC adds 5 bytes (KiB) or 5243 bytes (MiB) before cutting to
    hundredths, which rounds to the nearest hundredth; GiB hundredths are cut."""
    if value > 1 << 30:
        return f"{value >> 30}.{(value & ((1 << 30) - 1)) // 10737419:02d} GiB"
    if value > 1 << 20:
        hundredths = (value + 5243) * 100 >> 20
        return f"{hundredths // 100}.{hundredths % 100:02d} MiB"
    if value > 1 << 10:
        hundredths = (value + 5) * 100 >> 10
        return f"{hundredths // 100}.{hundredths % 100:02d} KiB"
    return f"{value} bytes"


def stats_lines(cgroups: dict[str, str], raw: bool) -> list[str]:
    """`CPU use:`, `BlkIO use:`, `Memory use:`, `KMem use:` from the container's
    cgroup files (their paths are in the runtime record: no daemon round trip);
    a figure the host does not account has no line, as in LXC."""
    from runtime.client.cgroup_files import figures

    values = figures(cgroups, ("cpu_ns", "blkio_bytes", "memory_bytes", "kmem_bytes"))
    lines = []
    cpu = values["cpu_ns"]
    if cpu is not None:
        lines.append(field("CPU use", str(cpu) if raw else f"{cpu / 1e9:.2f} seconds", False))
    for label, key in (
        ("BlkIO use", "blkio_bytes"),
        ("Memory use", "memory_bytes"),
        ("KMem use", "kmem_bytes"),
    ):
        value = values[key]
        if value is not None:
            lines.append(field(label, str(value) if raw else humanize(value), False))
    return lines


#: The list keys whose values LXC's `lxc-info -c` prints with no newline after the
#: last one (LXC 5.0.2 checked; its other list keys end each value with one).
UNTERMINATED_LISTS = ("ipv4.address", "ipv6.address", "veth.ipv4.route", "veth.ipv6.route")


def config_value(config: RawConfig, key: str) -> str | None:
    """LXC's text for `-c KEY` (runtime.config.items, shared with the Python API,
    which tells a list by its final newline)."""
    from runtime.config.items import config_value as item_text

    value = item_text(config, key)
    parts = key.split(".", 3)
    if len(parts) == 4 and parts[1] == "net" and parts[2].isdigit():
        if int(parts[2]) not in config.net_indices():
            return None  # LXC: a key of a device the config does not have is invalid
    if value and len(parts) == 4 and parts[1] == "net" and parts[3] in UNTERMINATED_LISTS:
        return value.removesuffix("\n")
    return value


def body(args: Namespace, log: CommandLog) -> int:
    from runtime.client.errors import ConfigError, ContainerNotFound, LxcError
    from runtime.client.lxcpath import ContainerPaths, validate_name
    from runtime.client.status import container_status

    name = require_name(PARSER, args)
    if args.format not in ("text", "json"):
        raise LxcError(f"invalid --format '{args.format}': text or json")
    lxcpath = lxcpath_of(args)
    validate_name(name)
    paths = ContainerPaths(lxcpath, name)
    if not paths.is_defined():
        raise ContainerNotFound(f"{name} doesn't exist")
    status = container_status(lxcpath, name)
    answers: list[str | None] = []
    try:
        if args.format == "json" or args.rcfile:
            from runtime.config.parser import parse_file

            config = parse_file(args.rcfile or paths.config)
            answers = [config_value(config, key) for key in args.config]
        elif args.config:
            # -c KEY: the stamp keeps the answers of the last good parse (config_stamp).
            from runtime.client.config_stamp import config_answers

            answers = config_answers(paths.config, lxcpath, name, args.config, config_value, running=status.running)
        else:
            # Only whether it loads matters: a stamp of the last good parse spares it.
            from runtime.client.config_stamp import check_config

            check_config(paths.config, lxcpath, name, running=status.running)
    except ConfigError as err:
        raise ConfigError(err.file, err.line, err.key, f"{err.reason} (Failed to load config for {name})") from None
    if args.format == "json":
        return print_json(lxcpath, name, status, list(zip(args.config, answers, strict=True)))
    show_all = not (args.state or args.pid or args.ips or args.stats or args.config)
    # LXC drops the label with -H only when a single item was asked for (-S counts 5).
    bare = args.raw and args.state + args.pid + args.ips + 5 * args.stats == 1
    out: list[str] = []
    if show_all:
        out.append(field("Name", name, bare))
    if show_all or args.state:
        out.append(field("State", status.state, bare))
    if (show_all or args.pid) and status.pid:
        out.append(field("PID", str(status.pid), bare))
    if (show_all or args.ips) and status.pid:
        from runtime.net.addresses import lxc_ips

        out.extend(field("IP", ip, bare) for ip in lxc_ips(status.pid, status.start_time) or [])
    if (show_all or args.stats) and status.pid:
        out.extend(stats_lines(status.cgroups, args.raw))
        from runtime.net.link_stats import link_lines

        out.extend(link_lines(status.record, not args.raw))
    for key, value in zip(args.config, answers, strict=True):
        if value is None:
            sys.stderr.write(f"{key} invalid\n")
            continue
        if args.raw and len(args.config) == 1:  # LXC: -H with one -c KEY prints the value alone
            out.append(value)
        else:
            out.append(f"{key} = {value}" if value else f"{key} =")
    if out:
        sys.stdout.write("\n".join(out) + "\n")
    return 0


def info_object(
    lxcpath: str, name: str, status: ContainerStatus, config: list[tuple[str, str | None]]
) -> dict[str, object]:
    """The `--format json` object (fields: see the module docstring); `ips` as the
    text output lists them."""
    from runtime.client.container_figures import cgroup_figures, link_figures
    from runtime.net.addresses import lxc_ips

    pid = status.pid
    data: dict[str, object] = {"name": name, "state": status.state, "pid": pid}
    data["ips"] = (lxc_ips(pid, status.start_time) or []) if pid else []
    data.update(cgroup_figures(status.cgroups if pid else {}))
    data["links"] = link_figures(status.record) if pid else []
    data["cgroups"] = dict(status.cgroups) if pid else {}
    data["config"] = {key: None if value is None else value.rstrip("\n") for key, value in config}
    return data


def print_json(
    lxcpath: str, name: str, status: ContainerStatus, config: list[tuple[str, str | None]]
) -> int:
    import json

    sys.stdout.write(json.dumps(info_object(lxcpath, name, status, config), indent=2) + "\n")
    return 0


PARSER = build_parser()


def main(argv: list[str] | None = None) -> int:
    return run_command(PARSER, body, argv)
