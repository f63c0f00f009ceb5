"""Which containers `lxc-autostart` acts on, in which order, in which batches.

LXC's rules (lxc-autostart(1), checked against LXC 5.0.2's own output):
- A container is a candidate when `lxc.start.auto = 1` (`-A`: whatever it says).
- Groups: `-g A,B -g ,C` is one list, in order, duplicates dropped; an empty entry
  is the NULL group (containers without `lxc.group`). Without `-g` only the NULL
  group is selected. The groups are passes in the order given: the `onboot` group
  of `-g onboot,` is handled entirely before the NULL group. A container is handled
  in the first pass whose group it belongs to, never twice. `-a` ignores groups.
  An `lxc.group` value may hold several groups separated by blanks.
- Within a pass: `lxc.start.order` ascending (lower first), then the name; for
  `-s` (shutdown) and `-k` (kill) the whole list is reversed, so what started last
  stops first.
- Start acts on stopped containers and waits `lxc.start.delay` seconds after each;
  reboot, shutdown and kill act on running ones. `-L` prints `NAME DELAY` for start
  and reboot, `NAME` for shutdown and kill.

Where we differ on purpose: containers of one order value in one pass form a batch
that the daemon starts (or stops) concurrently in one request (LXC goes one by one);
the next batch waits for the longest `lxc.start.delay` of the batch before it, and
nothing waits after the last batch. A group named on the command line matches a
container's group exactly (LXC 5.0.2 compares only the length of the container's
group name, so its `-g webserver` also selects a container in group `web`).

Standard library only: the command imports this on its start-up path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from runtime.client.errors import ConfigError
from runtime.client.lxcpath import ContainerPaths, list_names
from runtime.config.parser import RawConfig, parse_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runtime.client.control_protocol import Batch

START, REBOOT, SHUTDOWN, KILL = "start", "reboot", "shutdown", "kill"
ACTIONS = (START, REBOOT, SHUTDOWN, KILL)
#: The group LXC's boot service starts first (lxc-autostart(1)).
ONBOOT = "onboot"


class Settings:
    """One container's autostart keys, read from its config."""

    __slots__ = ("name", "auto", "delay", "order", "groups")

    def __init__(self, name: str, auto: bool, delay: int, order: int, groups: tuple[str, ...]) -> None:
        self.name = name
        self.auto = auto
        self.delay = delay
        self.order = order
        self.groups = groups

    def __repr__(self) -> str:
        return (
            f"Settings({self.name!r}, auto={self.auto}, delay={self.delay}, "
            f"order={self.order}, groups={self.groups!r})"
        )


def read_settings(name: str, raw: RawConfig) -> Settings:
    """lxc.start.auto, lxc.start.delay, lxc.start.order and lxc.group of a config.

    The parser has checked the values already (boolean, unsigned, signed number);
    unset means 0 and no group, as in LXC."""
    groups: list[str] = []
    for value in raw.get_all("lxc.group"):
        groups.extend(value.split())
    return Settings(
        name,
        auto=raw.get("lxc.start.auto") == "1",
        delay=int(raw.get("lxc.start.delay") or 0),
        order=int(raw.get("lxc.start.order") or 0),
        groups=tuple(groups),
    )


def group_list(arguments: Iterable[str]) -> list[str]:
    """Each `-g` argument split on commas, joined in order, duplicates dropped
    ("" is the NULL group); [""] when no -g was given."""
    found: list[str] = []
    given = False
    for argument in arguments:
        given = True
        for group in argument.split(","):
            if group not in found:
                found.append(group)
    return found if given else [""]


def in_group(settings: Settings, group: str) -> bool:
    """Whether a pass for `group` ("" is the NULL group) takes this container."""
    if group == "":
        return not settings.groups
    return group in settings.groups


class Selection:
    """What the command acts on: passes (one per group, in order) of containers
    already in action order, plus the containers whose config does not load."""

    def __init__(self) -> None:
        self.passes: list[list[Settings]] = []
        self.broken: list[tuple[str, ConfigError]] = []

    def containers(self) -> list[Settings]:
        return [item for one_pass in self.passes for item in one_pass]


def load_all(lxcpath: str) -> tuple[list[Settings], list[tuple[str, ConfigError]]]:
    """The settings of every container defined in lxcpath, and those that fail to load."""
    loaded: list[Settings] = []
    broken: list[tuple[str, ConfigError]] = []
    for name in list_names(lxcpath):
        try:
            raw = parse_file(ContainerPaths(lxcpath, name).config)
        except ConfigError as err:
            broken.append((name, err))
            continue
        except OSError:
            continue  # removed meanwhile
        loaded.append(read_settings(name, raw))
    return loaded, broken


def select(
    containers: Sequence[Settings],
    *,
    action: str,
    groups: Sequence[str],
    all_groups: bool,
    ignore_auto: bool,
) -> list[list[Settings]]:
    """The passes of LXC's loop: per group, the containers it takes, in action order."""
    reverse = action in (SHUTDOWN, KILL)
    ordered = sorted(containers, key=lambda s: (s.order, s.name), reverse=reverse)
    left = [s for s in ordered if ignore_auto or s.auto]
    passes: list[list[Settings]] = []
    for group in groups:
        taken = [s for s in left if all_groups or in_group(s, group)]
        left = [s for s in left if s not in taken]
        passes.append(taken)
    return passes


def batches(one_pass: Sequence[Settings]) -> list[list[Settings]]:
    """Consecutive containers of one order value: started (stopped) together."""
    found: list[list[Settings]] = []
    for settings in one_pass:
        if found and found[-1][0].order == settings.order:
            found[-1].append(settings)
        else:
            found.append([settings])
    return found


def plan(passes: Sequence[Sequence[Settings]], action: str = START) -> list[Batch]:
    """The batches of a start-many/stop-many request: names, then the seconds to wait
    after them: for start and reboot the longest lxc.start.delay of the batch (LXC
    waits after each start or reboot, never after a shutdown or kill), and nothing
    after the last batch."""
    from runtime.client.control_protocol import Batch

    found = [batch for one_pass in passes for batch in batches(one_pass)]
    waits = action in (START, REBOOT)
    return [
        Batch(
            names=tuple(s.name for s in batch),
            delay=max(s.delay for s in batch) if waits and i < len(found) - 1 else 0,
        )
        for i, batch in enumerate(found)
    ]


def list_line(action: str, settings: Settings) -> str:
    """`-L`: LXC prints the delay for start and reboot only."""
    if action in (START, REBOOT):
        return f"{settings.name} {settings.delay}"
    return settings.name
