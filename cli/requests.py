"""Client-side helpers shared by lxc-start, lxc-execute and lxc-stop.

A config is checked here, before the daemon is asked for anything: a bad config
fails the command with LXC's exit code and no state event at all (LXC also fails
while loading the rcfile, before STARTING).
"""

from __future__ import annotations

import _signal  # `signal` without its enums (~2.5 ms of start-up)
import os

from runtime.client.control_protocol import Signal
from runtime.client.daemon_client import Connection
from runtime.client.errors import LxcError

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs ~4 ms at start-up
    from runtime.config.parser import RawConfig

#: Signals a foreground command passes on to its container (lxc-execute, lxc-start -F).
FORWARDED_SIGNALS = (
    _signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT, _signal.SIGUSR1, _signal.SIGUSR2,
)  # fmt: skip


def load_checked(config_path: str, defines: list[str]) -> RawConfig:
    """Parse the config and the -s defines; ConfigError names file, line and key."""
    from runtime.config.parser import apply_define, parse_file  # the key table: not at import

    raw = parse_file(config_path)
    for define in defines:
        apply_define(raw, define)
    return raw


def config_path_for(lxcpath: str, name: str, rcfile: str | None, missing: str) -> str:
    """The config a start uses: -f FILE, else the container's own; LxcError(missing) if none."""
    from runtime.client.lxcpath import ContainerPaths, validate_name

    validate_name(name)
    if rcfile:
        return os.path.abspath(rcfile)
    paths = ContainerPaths(lxcpath, name)
    if paths.is_defined():
        return paths.config
    raise LxcError(missing)


def command_line(command: list[str]) -> list[str]:
    """The command after the options, without the `--` that may introduce it."""
    return command[1:] if command[:1] == ["--"] else list(command)


def command_from(raw: RawConfig, key: str) -> list[str]:
    """lxc.init.cmd / lxc.execute.cmd split into argv (LXC splits on blanks)."""
    value = raw.get(key)
    return value.split() if value else []


def forward_signals(connection: Connection, name: str) -> None:
    """While attached, pass INT/TERM/HUP/QUIT/USR1/USR2 on to the container's init."""

    def handler(signum: int, _frame: object) -> None:
        try:
            connection.tell(Signal(name=name, signal=signum))
        except OSError:
            pass

    for sig in FORWARDED_SIGNALS:
        _signal.signal(sig, handler)
