"""runtime.config.plain gives the model the plain form cattrs gave it, and reads it back.

The daemon and the spawner no longer load cattrs (memory: README, "Speed"); what
the spawner receives must still decode to exactly the config the daemon resolved.
The corpus is every real config at hand: conf-examples/, the configs Debian's lxc
package ships, and every config text written in the tests (string constants of
tests/*.py that parse as a config), plus one that sets the keys none of those sets.
For each: the plain form equals cattrs' unstructured form, decoding it (after a
JSON round trip, as on the wire) gives an equal model, cattrs' decoding gives the
same, and `from_raw` (now plain) agrees with cattrs structuring the same fields.
"""

from __future__ import annotations

import ast
import glob
import json
import os
from functools import cache
from pathlib import Path

import pytest

from runtime.config import model, plain
from runtime.config.parser import RawConfig, parse_file, parse_text
from runtime.spawn import start_spec

ROOT = Path(__file__).resolve().parent.parent

#: The keys no other corpus config sets (so each field shape is decoded at least once).
REST = """
lxc.rootfs.mount = /mnt/rootfs
lxc.rootfs.managed = 0
lxc.cgroup.dir.monitor.pivot = pivot
lxc.console.logfile = /tmp/console.log
lxc.console.buffer.logfile = /tmp/buffer.log
lxc.time.offset.monotonic = 5s
lxc.net.0.type = veth
lxc.net.0.ipv6.address = fd00::2/64
lxc.net.0.ipv6.gateway = auto
lxc.net.0.script.down = /bin/true
lxc.net.0.l2proxy = 1
lxc.net.0.veth.ipv4.route = 10.1.0.0/16
lxc.net.0.veth.ipv6.route = fd01::/64
lxc.net.0.veth.vlan.id = 5
lxc.net.0.veth.vlan.tagged.id = 6,7
lxc.net.3.type = ipvlan
lxc.net.3.link = eth0
lxc.net.3.ipvlan.mode = l3
lxc.net.3.ipvlan.isolation = bridge
lxc.prlimit.nofile = 1024:unlimited
lxc.idmap = u 0 100000 65536
lxc.mount.entry = /a\\040b mnt/a\\040b none bind,create=dir 0 0
"""


@cache
def corpus() -> dict[str, RawConfig]:
    """Every config at hand, by where it comes from."""
    found: dict[str, RawConfig] = {"REST": parse_text(REST, "REST")}
    files = sorted(glob.glob(str(ROOT / "conf-examples" / "*.conf")))
    files += sorted(glob.glob("/usr/share/lxc/config/**/*.conf", recursive=True))
    for path in files:
        found[os.path.relpath(path, ROOT)] = parse_file(path)
    for path in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            if "lxc." not in node.value or "=" not in node.value:
                continue
            try:
                raw = parse_text(node.value, path.name)
                model.from_raw(raw)
            except Exception:  # noqa: BLE001 - not a config (or one a test refuses on purpose)
                continue
            found.setdefault(f"{path.name}:{node.lineno}", raw)
    return found


def test_the_corpus_is_the_tests_configs_and_the_examples() -> None:
    names = corpus()
    assert sum(1 for n in names if n.startswith("conf-examples/")) >= 5
    assert sum(1 for n in names if ".py:" in n) >= 200


@pytest.mark.parametrize("where", sorted(corpus()))
def test_plain_form_is_cattrs_form_and_reads_back(where: str) -> None:
    raw = corpus()[where]
    cfg = model.from_raw(raw)
    assert cfg == model.converter.structure(model.typed_fields(raw), model.ContainerConfig)
    data = plain.unstructure(cfg)
    assert data == model.converter.unstructure(cfg)
    wire = json.loads(json.dumps(data))
    assert plain.structure(wire, model.ContainerConfig) == cfg
    assert model.converter.structure(wire, model.ContainerConfig) == cfg


def test_a_start_spec_crosses_the_wire_unchanged() -> None:
    raw = corpus()["REST"]
    args = start_spec.StartArgs(name="c1", mode=start_spec.APPLICATION, command=("/bin/true",))
    spec = start_spec.StartSpec(
        args=args, lxcpath="/var/lib/lxc", argv=("/bin/true",), config=model.from_raw(raw),
        seccomp_bpf=b"\x06\x00\x00\x00\x00\x00\xff\x7f",
    )  # fmt: skip
    wire = json.loads(json.dumps(start_spec.to_wire(spec)))
    assert start_spec.from_wire(wire) == spec


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tty_max": "4"}, "ContainerConfig.tty_max: expected int, got str"),
        ({"tty_max": True}, "ContainerConfig.tty_max: expected int, got bool"),
        ({"autodev": 1}, "ContainerConfig.autodev: expected bool, got int"),
        ({"cap_drop": "sys_time"}, "ContainerConfig.cap_drop: expected a list, got str"),
        ({"cgroup": {"devices.allow": [5]}}, "ContainerConfig.cgroup['devices.allow'][0]: expected str"),
        ({"no_such_key": 1}, "ContainerConfig: unknown key 'no_such_key'"),
        ({"net": [{"type": "veth"}]}, "ContainerConfig.net[0]: 'index' is missing"),
        ({"idmap": [{"kind": "u", "ns_id": 0, "host_id": 1}]}, "ContainerConfig.idmap[0]: 'range' is missing"),
    ],
)  # fmt: skip
def test_what_is_not_the_model_is_refused_naming_where(
    change: dict[str, object], message: str
) -> None:
    data = plain.unstructure(model.loads("lxc.tty.max = 4\n"))
    assert isinstance(data, dict)
    data.update(change)
    with pytest.raises(plain.PlainError) as caught:
        plain.structure(data, model.ContainerConfig)
    assert str(caught.value).startswith(message)
    wire = {"name": "c1", "mode": "system", "command": [], "defines": [], "lxcpath": "/l",
            "argv": ["/sbin/init"], "config": data}  # fmt: skip
    with pytest.raises(start_spec.WireError, match="malformed start spec"):
        start_spec.from_wire(wire)
