"""The host-side links of a container's network devices and their byte counters.

`lxc-info -S` prints, for each device, the host side of a veth (or the `link` of
other types) with the bytes /sys/class/net counts on it, seen from the container's
side. Everything comes from the runtime record and sysfs: no namespace is entered
and no socket opened, so this module imports nothing but `os` (`lxc-info` loads it
on its start-up path; runtime.net.info, which needs `struct` and `_socket` for
its netlink dumps, re-exports it for its older callers).
"""

from __future__ import annotations

from runtime.client import lean_os as os  # not `os`: start-up time


def host_links(record: dict[str, object] | None) -> list[str]:
    """The host-side device of each network device, in config order, as LXC lists them.

    veth: its host side; other types: their `link`. LXC stops at the first device
    without one (an `empty` device), and so does this.
    """
    entries = record.get("net") if isinstance(record, dict) else None
    if not isinstance(entries, list):
        return []
    names = []
    for entry in sorted((e for e in entries if isinstance(e, dict)), key=lambda e: int(e.get("index", 0))):
        name = entry.get("host") if entry.get("type") == "veth" else entry.get("link")
        if not name:
            break
        names.append(str(name))
    return names


def link_bytes(ifname: str) -> tuple[int, int] | None:
    """(rx_bytes, tx_bytes) of a host device, None if it is gone."""
    values = []
    for counter in ("rx_bytes", "tx_bytes"):
        try:
            with open(f"/sys/class/net/{ifname}/statistics/{counter}", "rb") as handle:
                values.append(int(handle.read()))
        except (OSError, ValueError):
            return None
    return values[0], values[1]


def human_size(size: int, humanize: bool = True) -> str:
    """LXC's sizes: `90 bytes`, `1.50 KiB`, ...; the bare number with -H."""
    if not humanize:
        return str(size)
    units = ("bytes", "KiB", "MiB", "GiB", "TiB")
    value = float(size)
    unit = 0
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    return f"{size} bytes" if unit == 0 else f"{value:.2f} {units[unit]}"


def link_lines(record: dict[str, object] | None, humanize: bool = True) -> list[str]:
    """`Link:`, ` TX bytes:`, ` RX bytes:`, ` Total bytes:` for each host-side device."""
    lines = []
    for name in host_links(record):
        counters = link_bytes(name)
        if counters is None:
            continue
        host_rx, host_tx = counters
        lines.append(f"{'Link:':<15} {name}")
        # From the container's side: what the host side received, the container sent.
        lines.append(f"{' TX bytes:':<15} {human_size(host_rx, humanize)}")
        lines.append(f"{' RX bytes:':<15} {human_size(host_tx, humanize)}")
        lines.append(f"{' Total bytes:':<15} {human_size(host_rx + host_tx, humanize)}")
    return lines


def read_record(lxcpath: str, name: str) -> dict[str, object] | None:
    """The container's runtime record (None when it has none)."""
    from runtime.client.rundir import records_dir

    try:
        with open(os.path.join(records_dir(lxcpath), name + ".json"), encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return None
    from bus.wire_json import loads  # the standard library's decoder, without `re`

    try:
        record = loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None
