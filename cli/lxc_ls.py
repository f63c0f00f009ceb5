"""`lxc-ls`: list containers, as names, one per line, or in LXC's fancy columns.

Fast path: a plain listing reads only directory entries; configs are parsed only
when a column or filter needs them (--fancy, -g).

Beyond LXC: `--format json` prints a JSON array, one object per container that the
filters select (-F is then ignored: every field is in it). Raw units: bytes.

    name, state        as the NAME and STATE columns
    pid                the init's host pid, null when not running
    autostart          lxc.start.auto as an integer (0 when unset)
    groups             [lxc.group values]
    interfaces         interface names inside the container, lo included ([] stopped)
    ipv4, ipv6         addresses as the IPV4/IPV6 columns, as lists
    unprivileged       true when it runs (or, stopped, would run) in a user namespace
    memory_bytes, swap_bytes   the RAM and SWAP columns in bytes (null: not running
                       or not accounted)
    cgroups            {hierarchy: directory} ({} when not running)
"""

from __future__ import annotations

import sys

from cli.common import LxcArgumentParser, lxcpath_of, run_command
from cli.log import CommandLog
from cli.options import Namespace
from runtime.client import lean_os as os  # not `os`: start-up time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re

    from runtime.config.parser import RawConfig

OPTIONS = """\
  -1, --line         show one entry per line
  -f, --fancy        use a fancy, column-based output
  -F, --fancy-format comma separated list of columns to show in the fancy output
                     valid columns are: NAME, STATE, PID, RAM, SWAP, AUTOSTART,
                     GROUPS, INTERFACE, IPV4 and IPV6, UNPRIVILEGED
  --active           list only active containers
  --running          list only running containers
  --frozen           list only frozen containers
  --stopped          list only stopped containers
  --defined          list only defined containers
  --nesting=NUM      list nested containers up to NUM (default is 5) levels of nesting
  --filter=REGEX     filter container names by regular expression
  -g --groups        comma separated list of groups a container must have to be displayed
  --format=FMT       text (LXC's output, the default) or json (an array of objects)
"""

ALL_COLUMNS = (
    "NAME", "STATE", "PID", "RAM", "SWAP", "AUTOSTART", "GROUPS", "INTERFACE", "IPV4",
    "IPV6", "UNPRIVILEGED",
)  # fmt: skip
DEFAULT_COLUMNS = ("NAME", "STATE", "AUTOSTART", "GROUPS", "IPV4", "IPV6", "UNPRIVILEGED")


def build_parser() -> LxcArgumentParser:
    parser = LxcArgumentParser(
        "lxc-ls",
        "lxc-ls [-P lxcpath] [-1] [-f] [-F columns] [--active] [--running] [--frozen] "
        "[--stopped] [-g groups] [--filter regex] [FILTER]",
        "list containers",
        OPTIONS,
    )
    parser.add_argument("-1", "--line", action="store_true")
    parser.add_argument("-f", "--fancy", action="store_true")
    parser.add_argument("-F", "--fancy-format")
    parser.add_argument("--active", action="store_true")
    parser.add_argument("--running", action="store_true")
    parser.add_argument("--frozen", action="store_true")
    parser.add_argument("--stopped", action="store_true")
    parser.add_argument("--defined", action="store_true")
    parser.add_argument("--nesting", nargs="?", const="5")
    parser.add_argument("--filter", dest="filter_option")
    parser.add_argument("-g", "--groups")
    parser.add_argument("--format", default="text")
    parser.add_argument("filters", nargs="*")
    return parser


class Row:
    """One container as lxc-ls shows it; the config is parsed only if asked for."""

    def __init__(self, lxcpath: str, name: str) -> None:
        from runtime.client.status import container_status

        self.lxcpath = lxcpath
        self.name = name
        self.status = container_status(lxcpath, name)
        self._config: RawConfig | None = None
        self.config_error: str | None = None

    @property
    def config(self) -> RawConfig | None:
        """The parsed RawConfig, or None if it does not parse (the reason is kept)."""
        if self._config is None and self.config_error is None:
            from runtime.client.errors import ConfigError
            from runtime.config.parser import parse_file

            try:
                self._config = parse_file(os.path.join(self.lxcpath, self.name, "config"))
            except ConfigError as err:
                self.config_error = str(err)
        return self._config

    def groups(self) -> list[str]:
        config = self.config
        return config.get_all("lxc.group") if config is not None else []

    def cell(self, column: str) -> str:
        config = self.config
        if column == "NAME":
            return self.name
        if column == "STATE":
            return self.status.state
        if column == "PID":
            return str(self.status.pid) if self.status.pid else "-"
        if column == "AUTOSTART":
            value = config.get("lxc.start.auto") if config is not None else None
            return value or "0"
        if column == "GROUPS":
            return ", ".join(self.groups()) or "-"
        if column == "UNPRIVILEGED":
            return self.unprivileged_cell()
        if column in ("RAM", "SWAP"):
            return self.memory_cell(column)
        if column in ("INTERFACE", "IPV4", "IPV6"):
            return self.net_cell(column)
        return "-"

    def unprivileged_cell(self) -> str:
        """`true` only for a container that really runs in a user namespace of its own.

        A running one is asked directly: its init's user namespace against ours (a
        config's lxc.idmap says nothing about what was applied). A stopped one is
        reported from its config, as LXC does, but only when its lxc.idmap set is
        one a start would apply (`runtime.userns.maps`): a set the start refuses
        would never run unprivileged.
        """
        if self.status.pid:
            try:
                theirs = os.stat(f"/proc/{self.status.pid}/ns/user")
                ours = os.stat("/proc/self/ns/user")
            except OSError:
                return "false"
            return (
                "true" if (theirs.st_dev, theirs.st_ino) != (ours.st_dev, ours.st_ino) else "false"
            )
        config = self.config
        if config is None:
            return "false"
        from runtime.client.errors import ConfigError
        from runtime.userns.maps import check_raw

        try:
            return "true" if check_raw(config) is not None else "false"
        except ConfigError:
            return "false"

    def net_cell(self, column: str) -> str:
        """Interfaces (with lo, sorted) or addresses (LXC's choice: no lo, no IPv6
        link-local), read inside the container's network namespace; `-` if none."""
        if not self.status.pid:
            return "-"
        if not hasattr(self, "_net"):
            from runtime.net import info as netinfo

            self._net = netinfo.view(self.status.pid)
        if self._net is None:
            return "-"
        if column == "INTERFACE":
            values = self._net.interfaces()
        else:
            import socket

            values = self._net.ips(socket.AF_INET if column == "IPV4" else socket.AF_INET6)
        return ", ".join(values) or "-"

    def json_object(self) -> dict[str, object]:
        """The `--format json` object (fields: see the module docstring)."""
        config = self.config
        auto = config.get("lxc.start.auto") if config is not None else None
        pid = self.status.pid
        net_lists: dict[str, list[str]] = {"interfaces": [], "ipv4": [], "ipv6": []}
        if pid:
            import socket

            from runtime.net import info as netinfo

            net = netinfo.view(pid)
            if net is not None:
                net_lists = {
                    "interfaces": net.interfaces(),
                    "ipv4": net.ips(socket.AF_INET),
                    "ipv6": net.ips(socket.AF_INET6),
                }
        memory = swap = None
        if pid and self.status.cgroups:
            from runtime.client.cgroup_files import figures

            values = figures(self.status.cgroups, ("memory_bytes", "swap_bytes"))
            memory, swap = values["memory_bytes"], values["swap_bytes"]
        return {
            "name": self.name,
            "state": self.status.state,
            "pid": pid,
            "autostart": int(auto) if auto and auto.strip().isdigit() else 0,
            "groups": self.groups(),
            **net_lists,
            "unprivileged": self.unprivileged_cell() == "true",
            "memory_bytes": memory,
            "swap_bytes": swap,
            "cgroups": dict(self.status.cgroups) if pid else {},
        }

    def memory_cell(self, column: str) -> str:
        """RAM / SWAP in MiB with two decimals and LXC's `MB` suffix (`0.55MB`), read
        from the cgroup files named in the runtime record; `-` when not running."""
        if not self.status.pid or not self.status.cgroups:
            return "-"
        from runtime.client.cgroup_files import figures

        figure = "memory_bytes" if column == "RAM" else "swap_bytes"
        value = figures(self.status.cgroups, (figure,))[figure]
        return "-" if value is None else f"{value / (1 << 20):.2f}MB"


def select(rows: list[Row], args: Namespace) -> list[Row]:
    """Apply the state, group and name filters."""
    states = set()
    if args.running or args.active:
        states |= {"RUNNING", "FROZEN", "STARTING", "STOPPING", "ABORTING", "FREEZING", "THAWED"}
    if args.frozen:
        states.add("FROZEN")
    if args.stopped:
        states.add("STOPPED")
    if states:
        rows = [r for r in rows if r.status.state in states]
    if args.groups:
        wanted = {g.strip() for g in args.groups.split(",") if g.strip()}
        rows = [r for r in rows if wanted & set(r.groups())]
    return rows


def name_filter(args: Namespace) -> re.Pattern[str] | None:
    """LXC searches the name for the regex (it is not anchored); several are or-ed."""
    patterns = list(args.filters)
    if args.filter_option:
        patterns.append(args.filter_option)
    if not patterns:
        return None
    import re

    from runtime.client.errors import LxcError

    try:
        return re.compile("|".join(f"(?:{p})" for p in patterns))
    except re.error as err:
        raise LxcError(f"invalid filter regex {patterns!r}: {err}") from None


def print_names(names: list[str], one_per_line: bool) -> None:
    """LXC pads every name to the longest; on a terminal it fills the width in columns."""
    if not names:
        return
    if one_per_line:
        sys.stdout.write("".join(n + "\n" for n in names))
        return
    width = max(len(n) for n in names)
    columns = 1
    if sys.stdout.isatty():
        try:
            term = os.get_terminal_size(sys.stdout.fileno()).columns
        except OSError:
            term = 80
        columns = max(1, term // (width + 1))
    if columns == 1:
        sys.stdout.write("".join(n.ljust(width) + "\n" for n in names))
        return
    for start in range(0, len(names), columns):
        chunk = names[start : start + columns]
        sys.stdout.write("".join(n.ljust(width + 1) for n in chunk) + "\n")


def print_fancy(rows: list[Row], columns: list[str]) -> None:
    """Columns padded to their widest cell, one space apart, as LXC prints them."""
    print_table(columns, [[row.cell(c) for c in columns] for row in rows])


def print_table(columns: list[str], cells: list[list[str]]) -> None:
    if not cells:
        return
    table = [list(columns)] + cells
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    out = []
    for line in table:
        out.append("".join(cell.ljust(widths[i]) + " " for i, cell in enumerate(line)) + "\n")
    sys.stdout.write("".join(out))


def fancy_columns(spec: str | None) -> list[str]:
    if not spec:
        return list(DEFAULT_COLUMNS)
    from runtime.client.errors import LxcError

    columns = [c.strip().upper() for c in spec.split(",") if c.strip()]
    for column in columns:
        if column not in ALL_COLUMNS:
            raise LxcError(f"Invalid key: {column} (valid columns: {', '.join(ALL_COLUMNS)})")
    return columns


def body(args: Namespace, log: CommandLog) -> int:
    from runtime.client.lxcpath import list_names

    if args.format not in ("text", "json"):
        from runtime.client.errors import LxcError

        raise LxcError(f"invalid --format '{args.format}': text or json")
    pattern = name_filter(args)
    # LXC: -F only chooses the columns of --fancy; without -f the listing is names.
    columns = fancy_columns(args.fancy_format) if args.fancy else None
    lxcpath = lxcpath_of(args)
    if args.nesting is not None:  # containers inside containers (cli/ls_nesting.py)
        from cli import ls_nesting

        entries = ls_nesting.collect(lxcpath, args, columns, ls_nesting.levels(args))
        if columns is None:
            print_names([name for name, _level, _cells in entries], args.line)
        else:
            print_table(columns, [[ls_nesting.fancy_name(e) if c == "NAME" else e[2][c] for c in columns] for e in entries])
        return 0
    names = list_names(lxcpath)
    if pattern is not None:
        names = [n for n in names if pattern.search(n)]
    json_output = args.format == "json"
    if columns is None and not json_output and not args.groups and not _state_filtered(args):
        print_names(names, args.line)
        return 0
    rows = select([Row(lxcpath, n) for n in names], args)
    for row in rows:
        if row.config_error:
            log.warn("ls", row.config_error)
    if json_output:
        import json

        sys.stdout.write(json.dumps([row.json_object() for row in rows], indent=2) + "\n")
    elif columns is not None:
        print_fancy(rows, columns)
    else:
        print_names([r.name for r in rows], args.line)
    return 0


def _state_filtered(args: Namespace) -> bool:
    return bool(args.running or args.active or args.frozen or args.stopped)


PARSER = build_parser()


def main(argv: list[str] | None = None) -> int:
    return run_command(PARSER, body, argv)
