"""Everything a live view or a scrape wants to know about one container, in raw units.

lxc-top, lxc-exporter and the `--format json` outputs of lxc-info and lxc-ls all
show the same figures; reading them here once keeps one meaning for each (bytes
and nanoseconds, never humanized). The sources are those lxc-info uses: the
runtime record (state, init pid, cgroup directories, host-side links), the cgroup
files (runtime.client.cgroup_files), and /sys/class/net for link counters. No daemon
round trip: the commands read the files themselves, as LXC's client does.

Standard library only, and cheap: a client command imports it at start-up.

Beyond runtime.client.cgroup_files' figures, the CPU time is split into user and system
(v1 `cpuacct.stat`, in USER_HZ ticks, converted; cgroup2 `cpu.stat`
user_usec/system_usec) and block I/O into read and write (v1 `Read`/`Write`
lines of the throttle statistics; cgroup2 rbytes/wbytes of `io.stat`), because
lxc-top shows both.
"""

from __future__ import annotations

from runtime.client import lean_os as os  # not `os`: start-up time
from runtime.client.cgroup_files import FIGURES, UNIFIED, figures, read_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

#: Clock ticks of cpuacct.stat (USER_HZ: 100 on every Linux architecture that matters).
USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _pairs(text: str | None) -> dict[str, int]:
    """`key value` lines -> {key: value} (non-numeric values skipped)."""
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        words = line.split()
        if len(words) == 2 and words[1].isdigit():
            out[words[0]] = int(words[1])
    return out


def _split_dirs(paths: Mapping[str, str]) -> tuple[dict[str, str], str | None]:
    """(v1 controller -> directory, cgroup2 directory)."""
    v1: dict[str, str] = {}
    v2: str | None = None
    for key, directory in paths.items():
        if key == UNIFIED:
            v2 = directory
        else:
            for controller in key.split(","):
                v1.setdefault(controller, directory)
    return v1, v2


def cpu_split_ns(paths: Mapping[str, str]) -> tuple[int | None, int | None]:
    """(user, system) CPU time in nanoseconds; None where the host does not account it."""
    v1, v2 = _split_dirs(paths)
    if "cpuacct" in v1:
        stat = _pairs(read_text(os.path.join(v1["cpuacct"], "cpuacct.stat")))
        if "user" in stat and "system" in stat:
            tick = 1_000_000_000 // USER_HZ
            return stat["user"] * tick, stat["system"] * tick
    if v2 is not None:
        stat = _pairs(read_text(os.path.join(v2, "cpu.stat")))
        if "user_usec" in stat and "system_usec" in stat:
            return stat["user_usec"] * 1000, stat["system_usec"] * 1000
    return None, None


def blkio_split_bytes(paths: Mapping[str, str]) -> tuple[int | None, int | None]:
    """(read, written) bytes of block I/O, every device summed."""
    v1, v2 = _split_dirs(paths)
    if "blkio" in v1:
        for name in ("blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_service_bytes"):
            text = read_text(os.path.join(v1["blkio"], name))
            if text is None:
                continue
            read = written = 0
            for line in text.splitlines():
                words = line.split()
                if len(words) == 3 and words[2].isdigit():
                    if words[1] == "Read":
                        read += int(words[2])
                    elif words[1] == "Write":
                        written += int(words[2])
            return read, written
    if v2 is not None:
        text = read_text(os.path.join(v2, "io.stat"))
        if text is not None:
            read = written = 0
            for line in text.splitlines():
                for word in line.split()[1:]:
                    key, _, value = word.partition("=")
                    if value.isdigit():
                        if key == "rbytes":
                            read += int(value)
                        elif key == "wbytes":
                            written += int(value)
            return read, written
    return None, None


def link_figures(record: Mapping[str, object] | None) -> list[dict[str, object]]:
    """One {link, tx_bytes, rx_bytes} per host-side device, from the container's side
    (tx: what the container sent, which the host side received)."""
    from runtime.net import link_stats as netinfo

    out: list[dict[str, object]] = []
    for name in netinfo.host_links(dict(record) if record is not None else None):
        counters = netinfo.link_bytes(name)
        if counters is None:
            continue
        host_rx, host_tx = counters
        out.append({"link": name, "tx_bytes": host_rx, "rx_bytes": host_tx})
    return out


def cgroup_figures(paths: Mapping[str, str]) -> dict[str, int | None]:
    """cgroup_files' figures plus cpu_user_ns, cpu_system_ns, blkio_read_bytes,
    blkio_write_bytes (None: not accounted by this host)."""
    values: dict[str, int | None] = dict(figures(paths, FIGURES)) if paths else dict.fromkeys(FIGURES)
    user, system = cpu_split_ns(paths) if paths else (None, None)
    read, written = blkio_split_bytes(paths) if paths else (None, None)
    values.update(
        cpu_user_ns=user, cpu_system_ns=system, blkio_read_bytes=read, blkio_write_bytes=written
    )
    return values
