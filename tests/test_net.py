"""Container networking end to end, as root, with real devices made by each test.

Every test makes its own bridges and veth pairs (unique `nt…` names, 10.213.X.0/24
subnets) through the `links` fixture, which stops the test's containers and then
deletes every device it made, also when the test fails. Traffic goes only between
the test's bridge/veth ends and its containers.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Cli, cleanup_runtime, create_busybox, kill_daemon, unique
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

EXAMPLES = Path(__file__).resolve().parent.parent / "conf-examples"
BUSYBOX = "/bin/busybox"


class Links:
    """Host devices for one test; every one is removed at the end."""

    def __init__(self) -> None:
        self.tag = "nt" + uuid.uuid4().hex[:6]
        self.made: list[str] = []
        #: A /24 of 10.213.0.0/16 for this test (several tests' bridges may coexist).
        self.subnet = random.randint(64, 254)

    def name(self, suffix: str) -> str:
        name = f"{self.tag}{suffix}"
        assert len(name) <= 15
        return name

    def ip(self, host: int) -> str:
        return f"10.213.{self.subnet}.{host}"

    def bridge(self, suffix: str = "br", address: int | None = 1) -> str:
        name = self.name(suffix)
        with IPRoute() as ipr:
            ipr.link("add", ifname=name, kind="bridge")
            self.made.append(name)
            index = ipr.link_lookup(ifname=name)[0]
            if address is not None:
                ipr.addr("add", index=index, address=self.ip(address), prefixlen=24)
            ipr.link("set", index=index, state="up")
        return name

    def veth(self, suffix: str, up: bool = True) -> tuple[str, str]:
        a, b = self.name(suffix + "a"), self.name(suffix + "b")
        with IPRoute() as ipr:
            ipr.link("add", ifname=a, kind="veth", peer={"ifname": b})
            self.made.append(a)
            if up:
                for name in (a, b):
                    ipr.link("set", index=ipr.link_lookup(ifname=name)[0], state="up")
        return a, b

    def cleanup(self) -> None:
        with IPRoute() as ipr:
            for link in ipr.get_links():
                name = link.get_attr("IFLA_IFNAME")
                if name in self.made or name.startswith(self.tag):
                    try:
                        ipr.link("del", index=link["index"])
                    except NetlinkError as err:
                        if err.code != errno.ENODEV:
                            raise


def host_links() -> dict[str, dict[str, object]]:
    with IPRoute() as ipr:
        return {
            link.get_attr("IFLA_IFNAME"): {
                "mtu": link.get_attr("IFLA_MTU"),
                "address": link.get_attr("IFLA_ADDRESS"),
                "master": link.get_attr("IFLA_MASTER"),
                "index": link["index"],
            }
            for link in ipr.get_links()
        }


@pytest.fixture
def links(runtime: Cli, lxcpath: Path, lxc_env: dict[str, str]) -> Iterator[Links]:
    made = Links()
    try:
        yield made
    finally:
        # Containers first (they hold devices), then the devices themselves.
        cleanup_runtime(lxcpath, Path(lxc_env["TRIO_LXC_RUNDIR"]), runtime.names)
        made.cleanup()


def create(cli: Cli, tmp_path: Path, config: str, prefix: str = "n") -> str:
    """A busybox container with `config` (its network); returns its name."""
    return create_busybox(cli, tmp_path, config, prefix)


def veth_config(links: Links, bridge: str, host: int, pair: str | None = None, extra: str = "") -> str:
    lines = [
        "lxc.net.0.type = veth",
        "lxc.net.0.flags = up",
        f"lxc.net.0.link = {bridge}",
        "lxc.net.0.hwaddr = 00:16:3e:xx:xx:xx",
        f"lxc.net.0.ipv4.address = {links.ip(host)}/24",
        "lxc.net.0.ipv4.gateway = auto",
    ]
    if pair:
        lines.append(f"lxc.net.0.veth.pair = {pair}")
    return "\n".join(lines) + "\n" + extra


def host_ping(address: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BUSYBOX, "ping", "-c1", "-W2", address], capture_output=True, text=True, timeout=20
    )


def record_of(cli: Cli, name: str) -> dict[str, object]:
    from runtime.client.rundir import records_dir

    return json.loads(Path(records_dir(str(cli.lxcpath)), name + ".json").read_text())


# -- veth on a bridge ----------------------------------------------------------------------


def test_veth_container_and_bridge_ping_each_other(runtime: Cli, links: Links, tmp_path: Path) -> None:
    bridge = links.bridge()
    pair = links.name("h0")
    name = create(runtime, tmp_path, veth_config(links, bridge, 2, pair=pair))
    started = runtime("lxc-start", "-n", name)
    assert started.returncode == 0, started.stderr
    here = host_links()
    assert here[pair]["master"] == here[bridge]["index"]
    assert host_ping(links.ip(2)).returncode == 0  # the bridge reaches the container
    info = runtime("lxc-info", "-n", name, "-iH")
    assert info.stdout.split() == [links.ip(2)]
    full = runtime("lxc-info", "-n", name).stdout
    assert f"Link:           {pair}\n TX bytes:" in full
    assert "Total bytes:" in full
    fancy = runtime("lxc-ls", "-f", "-F", "NAME,INTERFACE,IPV4,IPV6").stdout.splitlines()
    assert fancy[1].split(None, 1)[1].split() == ["eth0,", "lo", links.ip(2), "-"]
    stopped = runtime("lxc-stop", "-n", name, "-k")
    assert stopped.returncode == 0, stopped.stderr
    assert pair not in host_links()


def test_execute_pings_the_bridge_with_real_broadcast_and_gateway(
    runtime: Cli, links: Links, tmp_path: Path
) -> None:
    bridge = links.bridge()
    name = create(runtime, tmp_path, veth_config(links, bridge, 3))
    script = (
        f"ping -c1 -W2 {links.ip(1)} >/dev/null && echo pinged; ip -4 -o addr show dev eth0; "
        "ip route; cat /sys/class/net/eth0/address"
    )
    result = runtime("lxc-execute", "-n", name, "--", "sh", "-c", script)
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    assert "pinged" in out
    assert f"inet {links.ip(3)}/24 brd 10.213.{links.subnet}.255" in out  # LXC: brd 0.0.0.255
    assert f"default via {links.ip(1)} dev eth0" in out
    mac = out.split()[-1]
    assert mac.startswith("00:16:3e:") and "x" not in mac
    # The generated host side (vethXXXXXX) is gone with the container.
    left = host_links()
    assert [n for n, link in left.items() if link["master"] == left[bridge]["index"]] == []


def test_two_containers_on_one_bridge_reach_each_other(runtime: Cli, links: Links, tmp_path: Path) -> None:
    bridge = links.bridge()
    server = create(runtime, tmp_path, veth_config(links, bridge, 10, pair=links.name("s")))
    client = create(runtime, tmp_path, veth_config(links, bridge, 11, pair=links.name("c")))
    assert runtime("lxc-start", "-n", server).returncode == 0
    result = runtime("lxc-execute", "-n", client, "--", "ping", "-c1", "-W2", links.ip(10))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 packets received" in result.stdout
    assert runtime("lxc-stop", "-n", server, "-k").returncode == 0
    left = host_links()
    assert links.name("s") not in left and links.name("c") not in left


def test_router_mode_routes_to_the_container(runtime: Cli, links: Links, tmp_path: Path) -> None:
    pair = links.name("r")
    config = "\n".join(
        [
            "lxc.net.0.type = veth",
            "lxc.net.0.veth.mode = router",
            f"lxc.net.0.veth.pair = {pair}",
            "lxc.net.0.flags = up",
            f"lxc.net.0.ipv4.address = {links.ip(5)}/32",
            f"lxc.net.0.veth.ipv4.route = 10.213.{links.subnet}.128/25",
        ]
    )
    name = create(runtime, tmp_path, config + "\n")
    assert runtime("lxc-start", "-n", name).returncode == 0
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=pair)[0]
        routes = {
            (r.get_attr("RTA_DST"), r["dst_len"]) for r in ipr.get_routes(family=2, oif=index)
        }
    assert (links.ip(5), 32) in routes
    assert (f"10.213.{links.subnet}.128", 25) in routes
    assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
    assert pair not in host_links()


# -- macvlan, vlan, phys, empty --------------------------------------------------------------


def test_macvlan_example_on_a_veth_parent(runtime: Cli, links: Links) -> None:
    parent, _ = links.veth("m")
    result = runtime(
        "lxc-execute", "-n", unique("mv"), "-f", str(EXAMPLES / "lxc-macvlan.conf"),
        "-s", f"lxc.net.0.link={parent}", "--",
        BUSYBOX, "sh", "-c", "busybox ip -o link show dev eth0; busybox ip -o addr show dev eth0; hostname",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "link/ether 4a:49:43:49:79:bd" in lines[0] and "UP" in lines[0]
    assert "inet 10.2.3.4/24 brd 10.2.3.255" in result.stdout
    assert "inet6 2003:db8:1:0:214:1234:fe0b:3596/64" in result.stdout
    assert lines[-1] == "alpha"
    assert set(host_links()) >= {parent}


def test_macvlan_bridge_mode_containers_talk(runtime: Cli, links: Links, tmp_path: Path) -> None:
    parent, _ = links.veth("p")
    config = "\n".join(
        [
            "lxc.net.0.type = macvlan",
            "lxc.net.0.macvlan.mode = bridge",
            f"lxc.net.0.link = {parent}",
            "lxc.net.0.flags = up",
            "lxc.net.0.ipv4.address = {address}/24",
        ]
    )
    server = create(runtime, tmp_path, config.format(address=links.ip(20)) + "\n")
    client = create(runtime, tmp_path, config.format(address=links.ip(21)) + "\n")
    assert runtime("lxc-start", "-n", server).returncode == 0
    result = runtime("lxc-execute", "-n", client, "--", "ping", "-c1", "-W2", links.ip(20))
    assert result.returncode == 0, result.stdout + result.stderr


def _kernel_has_vlan(parent: str) -> bool:
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=parent)[0]
        probe = parent[:-1] + "v"
        try:
            ipr.link("add", ifname=probe, kind="vlan", link=index, vlan_id=7)
        except NetlinkError as err:
            if err.code == errno.EOPNOTSUPP:
                return False
            raise
        ipr.link("del", ifname=probe)
        return True


def test_vlan_example(runtime: Cli, links: Links) -> None:
    parent, _ = links.veth("v")
    argv = [
        "lxc-execute", "-n", unique("vl"), "-f", str(EXAMPLES / "lxc-vlan.conf"),
        "-s", f"lxc.net.0.link={parent}", "--", BUSYBOX, "sh", "-c",
        "cat /proc/net/vlan/eth0 2>/dev/null | head -1; busybox ip -o addr show dev eth0",
    ]  # fmt: skip
    if _kernel_has_vlan(parent):
        result = runtime(*argv)
        assert result.returncode == 0, result.stderr
        assert "VID: 1234" in result.stdout
        assert "inet 10.2.3.4/24" in result.stdout
        return
    result = runtime(*argv)
    assert result.returncode == 1
    assert "lxc.net.0.type: the kernel lacks vlan (802.1q" in result.stderr
    assert set(host_links()) >= {parent}
    pytest.skip("the kernel has no 8021q (vlan) support: checked the error a user gets instead")


def test_phys_device_is_given_back_at_stop(runtime: Cli, links: Links, tmp_path: Path) -> None:
    inner, outer = links.veth("f")
    with IPRoute() as ipr:
        ipr.addr("add", index=ipr.link_lookup(ifname=outer)[0], address=links.ip(1), prefixlen=24)
    before = host_links()[inner]
    config = "\n".join(
        [
            "lxc.net.0.type = phys",
            f"lxc.net.0.link = {inner}",
            "lxc.net.0.name = eth7",
            "lxc.net.0.flags = up",
            "lxc.net.0.mtu = 1280",
            "lxc.net.0.hwaddr = 4a:49:43:49:79:ff",
            f"lxc.net.0.ipv4.address = {links.ip(2)}/24",
        ]
    )
    name = create(runtime, tmp_path, config + "\n")
    assert runtime("lxc-start", "-n", name).returncode == 0
    assert inner not in host_links()
    assert host_ping(links.ip(2)).returncode == 0
    assert runtime("lxc-ls", "-f", "-F", "INTERFACE").stdout.split()[1:] == ["eth7,", "lo"]
    assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
    after = host_links()
    assert inner in after
    assert after[inner]["mtu"] == before["mtu"] and after[inner]["address"] == before["address"]


def test_phys_example(runtime: Cli, links: Links) -> None:
    inner, _ = links.veth("x")
    before = host_links()[inner]
    result = runtime(
        "lxc-execute", "-n", unique("ph"), "-f", str(EXAMPLES / "lxc-phys.conf"),
        "-s", f"lxc.net.0.link={inner}", "--", BUSYBOX, "sh", "-c",
        "busybox ip -o link show dev eth0; busybox ip -o -4 addr show dev eth0; hostname",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "link/ether 4a:49:43:49:79:ff" in result.stdout
    assert "inet 10.2.3.6/24 brd 10.2.3.255" in result.stdout
    assert result.stdout.split()[-1] == "gamma"
    after = host_links()[inner]
    assert after["address"] == before["address"] and after["mtu"] == before["mtu"]


def test_phys_given_back_after_a_daemon_restart(runtime: Cli, links: Links, tmp_path: Path) -> None:
    inner, _ = links.veth("d")
    config = f"lxc.net.0.type = phys\nlxc.net.0.link = {inner}\nlxc.net.0.flags = up\n"
    bridge = links.bridge()
    pair = links.name("dh")
    config += veth_config(links, bridge, 4, pair=pair).replace("lxc.net.0.", "lxc.net.1.")
    name = create(runtime, tmp_path, config)
    assert runtime("lxc-start", "-n", name).returncode == 0
    assert inner not in host_links() and pair in host_links()
    kill_daemon(runtime)
    result = runtime("lxc-stop", "-n", name, "-k")  # a new daemon re-adopts, then stops
    assert result.returncode == 0, result.stderr
    left = host_links()
    assert inner in left and pair not in left


def test_empty_netns_example_has_only_lo(runtime: Cli) -> None:
    result = runtime(
        "lxc-execute", "-n", unique("em"), "-f", str(EXAMPLES / "lxc-empty-netns.conf"), "--",
        BUSYBOX, "sh", "-c", "busybox ip -o link",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("1: lo: <LOOPBACK,UP")


def test_veth_example(runtime: Cli, links: Links) -> None:
    bridge = links.bridge(address=None)
    with IPRoute() as ipr:
        ipr.addr("add", index=ipr.link_lookup(ifname=bridge)[0], address="10.2.3.1", prefixlen=24)
    result = runtime(
        "lxc-execute", "-n", unique("ve"), "-f", str(EXAMPLES / "lxc-veth.conf"),
        "-s", f"lxc.net.0.link={bridge}", "--", BUSYBOX, "sh", "-c", "busybox ip route; hostname",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "default via 10.2.3.1 dev eth0" in result.stdout
    assert result.stdout.split()[-1] == "beta"


# -- hooks -------------------------------------------------------------------------------------


def test_script_up_and_down_get_lxc_arguments(runtime: Cli, links: Links, tmp_path: Path) -> None:
    bridge = links.bridge()
    pair = links.name("s")
    log = tmp_path / "hooks.log"
    script = tmp_path / "hook.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$* | $LXC_NAME $LXC_HOOK_TYPE $LXC_NET_TYPE $LXC_NET_PARENT $LXC_NET_PEER" >> {log}\n'
    )
    script.chmod(0o755)
    extra = f"lxc.net.0.script.up = {script}\nlxc.net.0.script.down = {script}\n"
    name = create(runtime, tmp_path, veth_config(links, bridge, 6, pair=pair, extra=extra))
    assert runtime("lxc-execute", "-n", name, "--", "true").returncode == 0
    assert log.read_text().splitlines() == [
        f"{name} net up veth {pair} | {name} up veth {bridge} {pair}",
        f"{name} net down veth {pair} | {name} down veth {bridge} {pair}",
    ]


def test_failing_script_up_aborts_and_leaves_nothing(runtime: Cli, links: Links, tmp_path: Path) -> None:
    bridge = links.bridge()
    pair = links.name("s")
    extra = "lxc.net.0.script.up = echo no way >&2; exit 3\n"
    name = create(runtime, tmp_path, veth_config(links, bridge, 7, pair=pair, extra=extra))
    result = runtime("lxc-start", "-n", name)
    assert result.returncode == 1
    assert "lxc.net.0.script.up:" in result.stderr and "status 3: no way" in result.stderr
    assert pair not in host_links()
    assert runtime("lxc-info", "-n", name, "-sH").stdout.strip() == "STOPPED"


# -- errors name the key, and nothing is left ------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            "lxc.net.0.type = veth\nlxc.net.0.link = {tag}nobr\n",
            "lxc.net.0.link: bridge '{tag}nobr' does not exist",
        ),
        (
            "lxc.net.0.type = veth\nlxc.net.0.name = eth0\nlxc.net.1.type = veth\nlxc.net.1.name = eth0\n",
            "lxc.net.1.name: 'eth0' is also the name of lxc.net.0",
        ),
        (
            "lxc.net.0.type = veth\nlxc.net.0.veth.pair = {tag}hx\nlxc.net.0.flags = up\n"
            "lxc.net.0.ipv4.address = 10.213.1.2/24\nlxc.net.0.ipv4.address = 10.213.1.2/24\n",
            "lxc.net.0.ipv4.address: cannot add 10.213.1.2/24 to 'eth0': File exists",
        ),
        (
            "lxc.net.0.type = veth\nlxc.net.0.ipv4.address = 10.213.1.2/24\nlxc.net.0.ipv4.gateway = 10.213.1.1\n",
            "lxc.net.0.ipv4.gateway: a gateway needs the interface up",
        ),
        (
            "lxc.net.0.type = macvlan\nlxc.net.0.link = {tag}gone\n",
            "lxc.net.0.link: device '{tag}gone' does not exist",
        ),
        ("lxc.net.0.type = phys\n", "lxc.net.0.link: a phys device needs a parent device on the host"),
        (
            "lxc.net.0.type = none\nlxc.net.1.type = veth\n",
            "lxc.net.0.type: 'none' shares the host's network namespace",
        ),
    ],
)
def test_network_errors_abort_the_start(
    runtime: Cli, links: Links, tmp_path: Path, config: str, message: str
) -> None:
    before = set(host_links())
    name = create(runtime, tmp_path, config.format(tag=links.tag))
    result = runtime("lxc-start", "-n", name)
    assert result.returncode == 1
    assert message.format(tag=links.tag) in result.stderr
    assert runtime("lxc-info", "-n", name, "-sH").stdout.strip() == "STOPPED"
    assert set(host_links()) <= before


def test_veth_pair_name_taken_on_the_host(runtime: Cli, links: Links, tmp_path: Path) -> None:
    taken, _ = links.veth("t", up=False)
    name = create(runtime, tmp_path, f"lxc.net.0.type = veth\nlxc.net.0.veth.pair = {taken}\n")
    result = runtime("lxc-start", "-n", name)
    assert result.returncode == 1
    assert f"lxc.net.0.veth.pair: '{taken}' already exists on the host" in result.stderr
    assert taken in host_links()


def test_record_names_the_host_side(runtime: Cli, links: Links, tmp_path: Path) -> None:
    bridge = links.bridge()
    name = create(runtime, tmp_path, veth_config(links, bridge, 8))
    assert runtime("lxc-start", "-n", name).returncode == 0
    net = record_of(runtime, name)["net"]
    assert isinstance(net, list) and net[0]["type"] == "veth"
    host_side = net[0]["host"]
    assert host_side.startswith("veth") and len(host_side) == 10 and host_side in host_links()
    assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
    deadline = time.monotonic() + 2
    while host_side in host_links() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host_side not in host_links()


def test_dead_container_cleaned_up_by_the_next_daemon(runtime: Cli, links: Links, tmp_path: Path) -> None:
    bridge = links.bridge()
    pair = links.name("z")
    name = create(runtime, tmp_path, veth_config(links, bridge, 9, pair=pair))
    assert runtime("lxc-start", "-n", name).returncode == 0
    pid = int(runtime("lxc-info", "-n", name, "-pH").stdout)
    kill_daemon(runtime)
    os.kill(pid, signal.SIGKILL)  # dies with no daemon watching
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}/ns").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    # The next daemon cleans up what is left, and the same veth.pair name is free again.
    again = runtime("lxc-start", "-n", name)
    assert again.returncode == 0, again.stderr
    assert pair in host_links()
    assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
    assert pair not in host_links()


# -- units: planning, formats (no devices) ------------------------------------------------------


def test_hwaddr_templates_are_filled_and_unicast() -> None:
    from runtime.net.plan import fill_hwaddr

    for _ in range(50):
        mac = fill_hwaddr("xx:16:3e:xX:xx:xx")
        assert len(mac) == 17 and set(mac) <= set("0123456789abcdef:")
        assert int(mac[:2], 16) & 1 == 0  # never multicast
        assert mac[2:9] == ":16:3e:"


def test_names_default_to_the_next_free_eth_and_phys_keeps_its_own() -> None:
    from runtime.config.model import loads
    from runtime.net.plan import plan

    config = loads(
        "lxc.net.0.type = veth\n"
        "lxc.net.1.type = macvlan\nlxc.net.1.link = p0\nlxc.net.1.name = eth0\n"
        "lxc.net.2.type = phys\nlxc.net.2.link = ph9\n"
        "lxc.net.3.type = empty\n"
    )
    plans = plan(config, own_netns=True)
    assert [p.inside for p in plans] == ["eth1", "eth0", "ph9", None]
    assert plans[0].host and plans[0].host.startswith("veth") and len(plans[0].host) == 10
    assert plans[0].host_hwaddr and plans[0].host_hwaddr.startswith("fe:")


def test_a_device_needs_its_own_namespace() -> None:
    from runtime.config.model import loads
    from runtime.net.plan import NetworkError, plan

    with pytest.raises(NetworkError, match=r"^lxc\.net\.0\.type: a veth device needs"):
        plan(loads("lxc.net.0.type = veth\n"), own_netns=False)
    assert plan(loads("lxc.net.0.type = none\n"), own_netns=False)[0].inside is None


def test_broadcast_is_the_networks_own() -> None:
    from runtime.net.plan import broadcast_of

    assert broadcast_of("10.213.7.2", 24, None) == "10.213.7.255"
    assert broadcast_of("10.213.7.2", 24, "255.255.255.255") == "255.255.255.255"
    assert broadcast_of("10.213.7.2", 31, None) is None


def test_ipv6_address_without_prefix_is_64() -> None:
    from runtime.config.model import loads

    config = loads("lxc.net.0.type = veth\nlxc.net.0.ipv6.address = 2003:db8::2\n")
    assert config.net[0].ipv6_address[0].prefix == 64


def test_sizes_and_link_lines_as_lxc_prints_them(tmp_path: Path) -> None:
    from runtime.net.info import host_links, human_size

    assert [human_size(n) for n in (0, 90, 1536, 3 << 20)] == ["0 bytes", "90 bytes", "1.50 KiB", "3.00 MiB"]
    assert human_size(1536, humanize=False) == "1536"
    record = {"net": [
        {"index": 1, "type": "macvlan", "link": "p0"},
        {"index": 0, "type": "veth", "host": "vethabc", "link": "br0"},
        {"index": 2, "type": "empty"},
    ]}  # fmt: skip
    assert host_links(record) == ["vethabc", "p0"]


def test_script_arguments_follow_the_hook_version() -> None:
    from runtime.net.scripts import script_argv

    argv = script_argv("/x.sh -v", name="c", hook="up", net_type="veth", device="vethA", version1=False)
    assert argv == ["/bin/sh", "-c", '/x.sh -v "$@"', "sh", "c", "net", "up", "veth", "vethA"]
    assert script_argv("/x.sh", name="c", hook="down", net_type="veth", device="v", version1=True) == [
        "/bin/sh", "-c", "/x.sh",
    ]  # fmt: skip
