"""Network figures in the machine-readable outputs, on a real veth container on a
bridge: `lxc-info --format json` (ips, links with byte counts), `lxc-ls --format
json` (interfaces, ipv4) and lxc-exporter's network byte counters.

The `links` fixture (tests/test_net.py) stops the test's containers and deletes
every device the test made, also when it fails; the exporter is ended in `finally`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from conftest import Cli
from test_exporter import exporter, scrape, value  # noqa: F401 - `exporter` is a fixture
from test_net import Links, create, host_ping, links, veth_config  # noqa: F401 - `links` too


def test_network_figures(runtime: Cli, links: Links, tmp_path: Path, exporter: str) -> None:  # noqa: F811
    bridge = links.bridge()
    pair = links.name("p")
    name = create(runtime, tmp_path, veth_config(links, bridge, 2, pair=pair))
    assert runtime("lxc-start", "-n", name).returncode == 0
    address = links.ip(2)
    assert host_ping(address).returncode == 0

    info = json.loads(runtime("lxc-info", "-n", name, "--format", "json").stdout)
    assert info["ips"] == [address]
    [link] = info["links"]
    assert link["link"] == pair and link["rx_bytes"] > 0 and link["tx_bytes"] > 0

    [row] = json.loads(runtime("lxc-ls", "--format", "json").stdout)
    assert row["ipv4"] == [address] and row["interfaces"] == ["eth0", "lo"]

    deadline = time.monotonic() + 15
    while True:
        _text, samples = scrape(exporter)
        received = value(samples, "lxc_container_network_receive_bytes_total", name=name, link=pair)
        sent = value(samples, "lxc_container_network_transmit_bytes_total", name=name, link=pair)
        if received is not None:
            break
        assert time.monotonic() < deadline, "no network figures in the scrape"
        time.sleep(0.2)
    assert received > 0 and sent > 0
