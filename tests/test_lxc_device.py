"""lxc-device on real busybox containers: a veth end in and out, a device node in and out.

The veth pair is made by the test and removed at the end (also on failure); the
container is stopped by the `runtime` fixture's clean-up.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from conftest import Cli
from pyroute2 import IPRoute


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


#: LXC's usual device list: nothing but the basic nodes, so a new rule shows.
RESTRICTED = """\
lxc.cgroup.devices.deny = a
lxc.cgroup.devices.allow = c *:* m
lxc.cgroup.devices.allow = b *:* m
lxc.cgroup.devices.allow = c 1:3 rwm
lxc.cgroup.devices.allow = c 1:5 rwm
lxc.cgroup.devices.allow = c 1:8 rwm
lxc.cgroup.devices.allow = c 1:9 rwm
lxc.cgroup.devices.allow = c 5:0 rwm
lxc.cgroup.devices.allow = c 5:1 rwm
lxc.cgroup.devices.allow = c 5:2 rwm
lxc.cgroup.devices.allow = c 136:* rwm
"""


def started(cli: Cli, tmp_path: Path, extra: str = "") -> str:
    name = unique("dv")
    conf = tmp_path / f"{name}.conf"
    conf.write_text("lxc.net.0.type = empty\n" + extra)
    assert cli("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf)).returncode == 0
    result = cli("lxc-start", "-n", name)
    assert result.returncode == 0, result.stderr
    return name


def attach(cli: Cli, name: str, *command: str):  # noqa: ANN201
    return cli("lxc-attach", "-n", name, "--", *command)



def host_has(name: str) -> bool:
    with IPRoute() as ipr:
        return bool(ipr.link_lookup(ifname=name))


def test_veth_end_moves_in_and_out(runtime: Cli, tmp_path: Path, veth: tuple[str, str]) -> None:
    end, _peer = veth
    name = started(runtime, tmp_path)
    added = runtime("lxc-device", "-n", name, "add", end, "eth7")
    assert (added.returncode, added.stdout, added.stderr) == (0, "", "")
    assert not host_has(end)
    assert "eth7" in attach(runtime, name, "cat", "/proc/net/dev").stdout
    back = end[:-1] + "r"
    removed = runtime("lxc-device", "-n", name, "del", "eth7", back)
    assert removed.returncode == 0, removed.stderr
    assert host_has(back)
    assert "eth7" not in attach(runtime, name, "cat", "/proc/net/dev").stdout
    missing = runtime("lxc-device", "-n", name, "add", "nosuchif0")
    assert missing.returncode == 1 and f"Failed to add nosuchif0 to {name}." in missing.stderr


def test_del_moves_back_only_what_add_moved_in(runtime: Cli, tmp_path: Path) -> None:
    name = started(runtime, tmp_path)
    made = attach(runtime, name, "ip", "link", "add", "eth8", "type", "veth", "peer", "name", "eth9")
    if made.returncode != 0:
        made = attach(runtime, name, "ip", "link", "add", "dummy0", "type", "dummy")
        assert made.returncode == 0 or "not found" in made.stderr, made.stderr
    inside = attach(runtime, name, "cat", "/proc/net/dev").stdout
    own = "eth8" if "eth8" in inside else "dummy0" if "dummy0" in inside else "lo"
    back = unique("dv")
    refused = runtime("lxc-device", "-n", name, "del", own, back)
    assert refused.returncode == 1 and f"'{own}' was not added by lxc-device" in refused.stderr
    assert not host_has(back)
    assert own in attach(runtime, name, "cat", "/proc/net/dev").stdout


def test_device_node_is_made_and_allowed(runtime: Cli, tmp_path: Path) -> None:
    device = "/dev/loop-control"
    if not os.path.exists(device):
        pytest.skip(f"{device} is missing on this host")
    name = started(runtime, tmp_path, RESTRICTED)
    pid = int(runtime("lxc-info", "-n", name, "-pH").stdout)
    cgroup = Path(f"/proc/{pid}/cgroup").read_text()
    devices = [line.split(":", 2)[2] for line in cgroup.splitlines() if ":devices:" in line]
    rules = Path(f"/sys/fs/cgroup/devices{devices[0]}/devices.list") if devices else None
    if rules is not None:
        assert "c 10:237 rwm" not in rules.read_text()
    added = runtime("lxc-device", "-n", name, "add", device)
    assert added.returncode == 0, added.stderr
    listing = attach(runtime, name, "ls", "-l", device).stdout
    assert listing.startswith("c") and "10," in listing and "237" in listing
    if rules is not None:  # the v1 devices hierarchy: the rule is in its list
        assert "c 10:237 rwm" in rules.read_text()
    removed = runtime("lxc-device", "-n", name, "del", device)
    assert removed.returncode == 0, removed.stderr
    assert attach(runtime, name, "ls", device).returncode != 0
    if rules is not None:
        assert "c 10:237 rwm" not in rules.read_text()


def test_node_paths_do_not_follow_the_containers_symlinks(runtime: Cli, tmp_path: Path) -> None:
    device = "/dev/loop-control"
    if not os.path.exists(device):
        pytest.skip(f"{device} is missing on this host")
    name = started(runtime, tmp_path)
    made = attach(runtime, name, "sh", "-c", "mkdir -p /tmp/real && ln -s /tmp/real /tmp/link")
    assert made.returncode == 0, made.stderr
    added = runtime("lxc-device", "-n", name, "add", device, "/tmp/link/lc")
    assert added.returncode == 1 and "'link' in the container is not a directory" in added.stderr
    assert attach(runtime, name, "ls", "/tmp/real").stdout == ""
    nested = runtime("lxc-device", "-n", name, "add", device, "/tmp/new/dir/lc")
    assert nested.returncode == 0, nested.stderr
    assert attach(runtime, name, "ls", "/tmp/new/dir/lc").returncode == 0
    assert runtime("lxc-device", "-n", name, "del", device, "/tmp/new/dir/lc").returncode == 0


def test_refusals(runtime: Cli, tmp_path: Path) -> None:
    stopped = unique("dv")
    conf = tmp_path / "c.conf"
    conf.write_text("lxc.net.0.type = empty\n")
    assert runtime("lxc-create", "-n", stopped, "-t", "busybox", "-f", str(conf)).returncode == 0
    result = runtime("lxc-device", "-n", stopped, "add", "lo")
    assert result.returncode == 1 and f"Container {stopped} is not running" in result.stderr
    name = started(runtime, tmp_path)
    assert "no command given" in runtime("lxc-device", "-n", name).stderr
    assert "use add or del" in runtime("lxc-device", "-n", name, "move", "lo").stderr
    plain = tmp_path / "plain"
    plain.write_text("")
    bad = runtime("lxc-device", "-n", name, "add", str(plain))
    assert bad.returncode == 1 and "neither a network interface nor a device node" in bad.stderr
