"""`lxc-info` on its lean path: addresses without setns, the config check spared by a
stamp, and the same output as before (README, "Speed").

Real busybox containers, as root. Addresses are checked against what the kernel
holds inside the container (`ip -o addr` run there through nsenter), filtered and
ordered by LXC 5's rules (runtime.net.addresses): IPv4 by label (not `lo`), IPv6
not link-local and not on `lo`, duplicates kept, sorted as text.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from conftest import Cli, create_busybox
from test_net import Links, links  # noqa: F401  (the fixture: bridges removed after the test)

from runtime.client.rundir import run_dir
from runtime.client.status import process_start_time
from runtime.net.addresses import lxc_ips, parse_if_inet6


def nsenter_ip(pid: int, *args: str) -> str:
    result = subprocess.run(
        ["nsenter", "-t", str(pid), "-n", "ip", *args], capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def expected_ips(pid: int) -> list[str]:
    """LXC's list, computed from `ip -o addr` inside the container's namespace."""
    found = []
    for line in nsenter_ip(pid, "-o", "addr").splitlines():
        words = line.split()
        device, family, address = words[1], words[2], words[3].split("/")[0]
        if family == "inet":
            label = words[words.index("valid_lft") - 1].rstrip("\\")  # `... eth1\ valid_lft`
            if label != "lo":
                found.append(address)
        elif family == "inet6" and device != "lo" and not address.startswith("fe80:"):
            found.append(address)
    return sorted(found)


def running(runtime: Cli, tmp_path: Path, config: str) -> tuple[str, int]:
    name = create_busybox(runtime, tmp_path, config, "inf")
    started = runtime("lxc-start", "-n", name)
    assert started.returncode == 0, started.stderr
    pid = int(runtime("lxc-info", "-n", name, "-pH").stdout)
    return name, pid


def test_addresses_of_a_veth_container_are_the_kernels_in_lxc_order(
    runtime: Cli, links: Links, tmp_path: Path  # noqa: F811
) -> None:
    bridge = links.bridge(address=None)
    config = (
        "lxc.net.0.type = veth\nlxc.net.0.flags = up\n"
        f"lxc.net.0.link = {bridge}\n"
        "lxc.net.0.ipv4.address = 10.214.7.2/24\nlxc.net.0.ipv4.address = 10.214.10.2/24\n"
        "lxc.net.0.ipv6.address = fd42:7::2/64\nlxc.net.0.ipv6.address = fd42:10::2/64\n"
        "lxc.net.1.type = veth\nlxc.net.1.flags = up\n"
        f"lxc.net.1.link = {bridge}\n"
        "lxc.net.1.ipv4.address = 10.214.9.3/24\n"
    )
    name, pid = running(runtime, tmp_path, config)
    # What LXC shows and what it leaves out: a labelled address on lo is shown, lo's
    # own are not, a site-local IPv6 is, an address on two devices twice, a
    # point-to-point one by its local side.
    nsenter_ip(pid, "addr", "add", "127.0.0.5/8", "dev", "lo", "label", "lo:5")
    nsenter_ip(pid, "addr", "add", "fd42:99::1/64", "dev", "lo")
    nsenter_ip(pid, "addr", "add", "fec0::12/64", "dev", "eth0")
    nsenter_ip(pid, "addr", "add", "10.214.9.3/24", "dev", "eth0")
    nsenter_ip(pid, "addr", "add", "10.7.7.7", "peer", "10.7.7.8", "dev", "eth1")
    nsenter_ip(pid, "addr", "add", "9.1.1.1/32", "dev", "eth1")
    want = expected_ips(pid)
    assert "127.0.0.5" in want and "127.0.0.1" not in want and "::1" not in want
    assert "fd42:99::1" not in want and "fec0::12" in want and want.count("10.214.9.3") == 2
    shown = runtime("lxc-info", "-n", name, "-iH")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == want
    full = runtime("lxc-info", "-n", name).stdout.splitlines()
    assert [line.split(None, 1)[1] for line in full if line.startswith("IP:")] == want
    assert full[:3] == [f"Name:           {name}", "State:          RUNNING", f"PID:            {pid}"]
    assert full[3] == f"IP:             {want[0]}"
    assert [line for line in full if line.startswith("Link:")] == [
        f"Link:           {host}" for host in host_sides(runtime, name)
    ]


def host_sides(runtime: Cli, name: str) -> list[str]:
    from runtime.client.status import container_status

    record = container_status(str(runtime.lxcpath), name).record or {}
    entries = record.get("net")
    assert isinstance(entries, list)
    return [str(entry["host"]) for entry in sorted(entries, key=lambda e: int(e["index"]))]


def test_an_empty_network_shows_only_what_is_added_beside_lo(runtime: Cli, tmp_path: Path) -> None:
    name, pid = running(runtime, tmp_path, "lxc.net.0.type = empty\n")
    assert runtime("lxc-info", "-n", name, "-iH").stdout == ""
    nsenter_ip(pid, "addr", "add", "127.0.0.9/8", "dev", "lo", "label", "lo:9")
    assert runtime("lxc-info", "-n", name, "-iH").stdout == "127.0.0.9\n"
    assert runtime("lxc-info", "-n", name, "-i").stdout == "IP:             127.0.0.9\n"


def test_a_pid_that_is_not_the_recorded_process_shows_nothing() -> None:
    start = process_start_time(os.getpid())
    assert start is not None
    assert lxc_ips(os.getpid(), start) is not None  # this process: the host's namespace
    assert lxc_ips(os.getpid(), start + 1) is None  # a reused pid: not read
    child = subprocess.Popen(["sleep", "30"])
    gone_start = process_start_time(child.pid)
    child.kill()
    child.wait()
    assert lxc_ips(child.pid, gone_start) is None


def test_if_inet6_rules() -> None:
    text = (
        b"fe80000000000000580d26fffef449e8 03 40 20 80     eth1\n"
        b"fd420008000000000000000000000012 02 40 00 80     eth0\n"
        b"00000000000000000000000000000001 01 80 10 80       lo\n"
        b"fec00000000000000000000000000012 02 40 40 80     eth0\n"
        b"febf0000000000000000000000000001 02 40 00 80     eth0\n"
        b"fe7f0000000000000000000000000001 02 40 00 80     eth0\n"
    )
    # fe80::/10 ends at febf::; fec0:: (site-local) and fe7f:: are shown.
    assert parse_if_inet6(text) == ["fd42:8::12", "fec0::12", "fe7f::1"]


def test_stopped_container_output(runtime: Cli, tmp_path: Path) -> None:
    name = create_busybox(runtime, tmp_path, "lxc.net.0.type = empty\n", "inf")
    assert runtime("lxc-info", "-n", name).stdout == f"Name:           {name}\nState:          STOPPED\n"
    assert runtime("lxc-info", "-n", name, "-iSpH").stdout == ""
    assert runtime("lxc-info", "-n", name, "-sH").stdout == "STOPPED\n"


# -- the config check ----------------------------------------------------------------------


def aged(path: Path) -> None:
    """Date the file's mtime back (its ctime stays now): a change must be seen even
    when the mtime looks old."""
    past = time.time() - 5
    os.utime(path, (past, past))


def past_margin() -> None:
    """Let the files just written age past the stamp's margin (runtime.client.config_stamp:
    no stamp is written for a file changed less than 0.1 s before the parse)."""
    time.sleep(0.3)


def stamp_of(runtime: Cli, name: str) -> Path:
    return Path(run_dir(str(runtime.lxcpath))) / f"{name}.config-ok"


def test_a_config_broken_after_the_stamp_is_reported_as_before(runtime: Cli, tmp_path: Path) -> None:
    name, _pid = running(runtime, tmp_path, "lxc.net.0.type = empty\n")
    config = runtime.lxcpath / name / "config"
    past_margin()
    assert runtime("lxc-info", "-n", name, "-s").returncode == 0
    assert stamp_of(runtime, name).exists()
    assert runtime("lxc-info", "-n", name, "-sH").stdout == "RUNNING\n"  # through the stamp
    text = config.read_text()
    lines = len(text.splitlines())
    config.write_text(text + "lxc.tty.max = abc\n")
    broken = runtime("lxc-info", "-n", name)
    assert broken.returncode != 0 and broken.stdout == ""
    message = broken.stderr.strip()
    assert len(broken.stderr.splitlines()) == 1
    assert f"{config}:{lines + 1}" in message and "lxc.tty.max" in message
    assert f"(Failed to load config for {name})" in message
    # The same line as the full parse gives (-c always parses).
    assert runtime("lxc-info", "-n", name, "-c", "lxc.uts.name").stderr.strip() == message
    # Same size, a different value: the stamp's times tell it apart.
    config.write_text(text + "lxc.tty.max = 999\n")
    aged(config)
    assert runtime("lxc-info", "-n", name, "-sH").stdout == "RUNNING\n"
    config.write_text(text + "lxc.tty.max = 99x\n")
    aged(config)
    again = runtime("lxc-info", "-n", name, "-sH")
    assert again.returncode != 0 and "'99x'" in again.stderr


def answers_of(runtime: Cli, name: str) -> dict[str, str | None]:
    answers: dict[str, str | None] = json.loads(stamp_of(runtime, name).read_text()).get("answers", {})
    return answers


def test_config_keys_are_answered_from_the_stamp_while_the_files_stay(runtime: Cli, tmp_path: Path) -> None:
    # lxc-info -c KEY: the stamp keeps what a full parse printed; a changed file (or a
    # key not asked before) parses again, and the new answers replace the old.
    name, _pid = running(runtime, tmp_path, "lxc.net.0.type = empty\n")
    config = runtime.lxcpath / name / "config"
    past_margin()
    first = runtime("lxc-info", "-n", name, "-c", "lxc.uts.name", "-c", "lxc.net.7.type")
    assert (first.stdout, first.stderr) == (f"lxc.uts.name = {name}\n", "lxc.net.7.type invalid\n")
    assert answers_of(runtime, name) == {"lxc.uts.name": name, "lxc.net.7.type": None}
    again = runtime("lxc-info", "-n", name, "-c", "lxc.uts.name", "-c", "lxc.net.7.type")
    assert (again.stdout, again.stderr) == (first.stdout, first.stderr)
    assert runtime("lxc-info", "-n", name, "-H", "-c", "lxc.net.0.type").stdout == "empty\n"
    config.write_text(config.read_text().replace(f"lxc.uts.name = {name}", "lxc.uts.name = renamed"))
    aged(config)  # the ctime tells it changed
    assert runtime("lxc-info", "-n", name, "-H", "-c", "lxc.uts.name").stdout == "renamed\n"
    past_margin()
    assert runtime("lxc-info", "-n", name, "-H", "-c", "lxc.uts.name").stdout == "renamed\n"
    assert answers_of(runtime, name) == {"lxc.uts.name": "renamed"}  # the old ones went with the file


def test_kept_answers_are_those_of_the_parse_that_stamps(runtime: Cli, tmp_path: Path, monkeypatch) -> None:
    # A stamp read just before the file changed (a command stalled between the two):
    # the answers it kept are not carried into the new stamp as they were, but given
    # again by the parse the new stamp vouches for.
    from cli.lxc_info import config_value
    from runtime.client import config_stamp

    name, _pid = running(runtime, tmp_path, "lxc.net.0.type = empty\n")
    config = runtime.lxcpath / name / "config"
    past_margin()
    lxcpath = str(runtime.lxcpath)
    assert config_stamp.config_answers(str(config), lxcpath, name, ["lxc.uts.name"], config_value, running=True) == [name]
    stale = config_stamp._load(config_stamp.stamp_path(lxcpath, name), str(config))
    assert stale is not None and stale["answers"] == {"lxc.uts.name": name}
    config.write_text(config.read_text().replace(f"lxc.uts.name = {name}", "lxc.uts.name = renamed"))
    aged(config)
    past_margin()
    monkeypatch.setattr(config_stamp, "_load", lambda stamp, path: stale)
    assert config_stamp.config_answers(str(config), lxcpath, name, ["lxc.tty.max"], config_value, running=True)
    assert answers_of(runtime, name)["lxc.uts.name"] == "renamed"
    monkeypatch.undo()
    assert runtime("lxc-info", "-n", name, "-H", "-c", "lxc.uts.name").stdout == "renamed\n"


def test_includes_are_part_of_the_stamp(runtime: Cli, tmp_path: Path) -> None:
    extra = tmp_path / "extra.conf"
    extra.write_text("lxc.tty.max = 2\n")
    conf_d = tmp_path / "later.d"
    aged(extra)
    name, _pid = running(
        runtime, tmp_path, f"lxc.net.0.type = empty\nlxc.include = {extra}\nlxc.include = {conf_d}/\n"
    )
    past_margin()
    assert runtime("lxc-info", "-n", name, "-s").returncode == 0
    assert stamp_of(runtime, name).exists()
    extra.write_text("lxc.tty.max = two\n")
    broken = runtime("lxc-info", "-n", name, "-s")
    assert broken.returncode != 0 and f"{extra}:1" in broken.stderr and "lxc.tty.max" in broken.stderr
    extra.write_text("lxc.tty.max = 2\n")
    aged(extra)
    past_margin()
    before = stamp_of(runtime, name).read_text()
    assert runtime("lxc-info", "-n", name, "-s").returncode == 0
    assert stamp_of(runtime, name).read_text() != before  # a fresh stamp, the dir still absent
    assert f'"{conf_d}/"' in stamp_of(runtime, name).read_text()
    # A directory that did not exist when the stamp was made, then appears.
    conf_d.mkdir()
    (conf_d / "bad.conf").write_text("lxc.no.such.key = 1\n")
    appeared = runtime("lxc-info", "-n", name, "-s")
    assert appeared.returncode != 0 and "bad.conf:1" in appeared.stderr


def test_a_forged_or_foreign_stamp_is_not_trusted(runtime: Cli, tmp_path: Path) -> None:
    name, _pid = running(runtime, tmp_path, "lxc.net.0.type = empty\n")
    config = runtime.lxcpath / name / "config"
    config.write_text(config.read_text() + "lxc.bogus.key = 1\n")
    stamp_of(runtime, name).write_text('{"version": 1, "config": "/elsewhere", "entries": []}')
    assert runtime("lxc-info", "-n", name, "-s").returncode != 0
    stamp_of(runtime, name).write_text("not json")
    assert runtime("lxc-info", "-n", name, "-s").returncode != 0
