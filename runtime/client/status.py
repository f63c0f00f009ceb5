"""What state a container is in, as the commands see it without asking the daemon.

The runtime daemon writes one record per live container (`<rundir>/containers/
<name>.json`: state, init pid and the pid's start time from /proc/PID/stat) on
every transition. A record whose process is gone, or whose pid now belongs to
another process (different start time), means the container is STOPPED. No record
at all means STOPPED too, unless LXC itself runs it in the same lxcpath (its monitor
and command socket, see runtime.client.lxc_native): then it is shown as LXC would show it,
and `lxc_monitor` says so, for the commands that must leave it alone.
"""

from __future__ import annotations

from runtime.client import lean_os as os  # not `os`: start-up time
from runtime.client.rundir import records_dir

STOPPED = "STOPPED"


class ContainerStatus:
    """The state of one container and, when it runs, its init's host pid and its
    cgroup directories (hierarchy key -> the directory holding its limits and
    figures; see runtime.client.cgroup_files). `lxc_monitor`: the pid of LXC's monitor when
    LXC itself, not trio-lxc, runs the container. `start_time`: the init's start time
    as the record gives it (field 22 of /proc/PID/stat), for readers that open
    /proc/PID later and must know it is still that process. `record`: the runtime
    record it was read from (its network devices, ...), None for LXC's own."""

    __slots__ = ("state", "pid", "cgroups", "lxc_monitor", "start_time", "record")

    def __init__(
        self,
        state: str = STOPPED,
        pid: int | None = None,
        cgroups: dict[str, str] | None = None,
        lxc_monitor: int | None = None,
        start_time: int | None = None,
        record: dict[str, object] | None = None,
    ) -> None:
        self.state = state
        self.pid = pid
        self.cgroups = cgroups or {}
        self.lxc_monitor = lxc_monitor
        self.start_time = start_time
        self.record = record

    @property
    def running(self) -> bool:
        return self.state != STOPPED


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (clock ticks since boot), None if the pid is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after it.
    fields = data[data.rindex(b")") + 2 :].split()
    return int(fields[19])


def container_status(lxcpath: str, name: str) -> ContainerStatus:
    """The container's state from its runtime record, else LXC's if LXC runs it,
    else STOPPED."""
    status = _recorded_status(lxcpath, name)
    if status.running:
        return status
    from runtime.client.lxc_native import find

    run = find(lxcpath, name)
    if run is None:
        return status
    return ContainerStatus(run.state, run.pid, run.cgroups, lxc_monitor=run.monitor)


def recorded_state(lxcpath: str, name: str) -> str | None:
    """The state the daemon's record of NAME gives, STOPPED without a record (LXC's
    own containers are not looked for: the bus does not know them either). The daemon
    writes it before it publishes each transition (runtime.daemon.supervisor) and
    removes it at STOPPED. None for a stale record (its init died unnoticed, e.g.
    while no daemon ran): only a daemon may bury that container (an ephemeral one is
    destroyed then), so the caller must ask one."""
    status = _recorded_status(lxcpath, name)
    if status.state == STOPPED and os.path.lexists(os.path.join(records_dir(lxcpath), name + ".json")):
        return None
    return status.state


def _recorded_status(lxcpath: str, name: str) -> ContainerStatus:
    """The container's state from its runtime record, STOPPED if none is valid."""
    path = os.path.join(records_dir(lxcpath), name + ".json")
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return ContainerStatus()
    from bus.wire_json import loads  # the standard library's decoder, without `re`

    try:
        record = loads(text)
        if not isinstance(record, dict):
            return ContainerStatus()
        state = str(record["state"])
        pid = record.get("pid")
        if pid is None:
            # Between STARTING and the init's first breath: the record names the
            # daemon that supervises the start instead.
            owner, owner_start = int(record["daemon_pid"]), int(record["daemon_start_time"])
            alive = process_start_time(owner) == owner_start
            return ContainerStatus(state, None) if alive else ContainerStatus()
        start_time = int(record["pid_start_time"])
    except (ValueError, KeyError, TypeError):
        return ContainerStatus()
    if process_start_time(int(pid)) != start_time:
        return ContainerStatus()
    cgroups = record.get("cgroup_limits") or record.get("cgroups")
    return ContainerStatus(
        state,
        int(pid),
        cgroups if isinstance(cgroups, dict) else None,
        start_time=start_time,
        record=record,
    )
