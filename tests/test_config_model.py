"""Tests of the typed model (runtime.config.model) and the writer (runtime.config.writer)."""

from __future__ import annotations

import ipaddress
import os
import re
import stat

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.client.errors import ConfigError
from runtime.config import keys, model, writer
from runtime.config import values as v
from runtime.config.parser import RawConfig, parse_file, parse_text
from runtime.net.types import NAMES as NET_TYPE_NAMES

BUSYBOX_LIKE = """\
# Template used to create this container: /usr/share/lxc/templates/lxc-busybox
lxc.rootfs.path = dir:/var/lib/lxc/bb/rootfs
lxc.uts.name = bb
lxc.arch = x86_64
lxc.tty.max = 1
lxc.pty.max = 1
lxc.cap.drop = sys_module mac_admin mac_override sys_time
lxc.signal.halt = SIGUSR1
lxc.signal.stop = sigkill
lxc.signal.reboot = SIGRTMIN+2
lxc.mount.auto = cgroup:mixed proc:mixed sys:mixed
lxc.mount.entry = shm /dev/shm tmpfs defaults 0 0
lxc.mount.entry = /lib lib none ro,bind 0 0
lxc.mount.entry = /home/with\\040space home/x none bind,create=dir
lxc.init.cmd = "/sbin/init --debug"
lxc.start.order = -3
lxc.console.size = 64kB
lxc.console.buffer.size = auto
lxc.time.offset.boot = 90m
lxc.idmap = u 0 100000 65536
lxc.idmap = g 0 100000 65536
lxc.environment = PATH=/bin:/sbin
lxc.namespace.clone = net,ipc pid
lxc.cgroup.devices.deny = a
lxc.cgroup.devices.allow = c 1:3 rwm
lxc.cgroup.devices.allow = c 1:5 rwm
lxc.cgroup2.memory.max = 256M
lxc.prlimit.nofile = 1024:4096
lxc.prlimit.core = unlimited
lxc.sysctl.net.ipv4.ip_forward = 1
lxc.hook.pre-start = /usr/local/bin/prepare
lxc.hook.pre-start = /usr/local/bin/prepare-more
lxc.hook.post-stop = /usr/local/bin/cleanup
lxc.net.0.type = veth
lxc.net.0.link = lxcbr0
lxc.net.0.flags = up
lxc.net.0.hwaddr = 00:16:3e:xx:xx:xx
lxc.net.0.name = eth0
lxc.net.0.mtu = 1500
lxc.net.0.ipv4.address = 10.0.3.15/24 10.0.3.255
lxc.net.0.ipv4.address = 172.16.0.2
lxc.net.0.ipv4.gateway = 10.0.3.1
lxc.net.0.ipv6.address = 2001:db8::0:15/64
lxc.net.0.veth.pair = vethbb0
lxc.net.0.veth.vlan.tagged.id = 10,20 30
lxc.net.2.type = empty
"""


# -- from_raw on a realistic config ---------------------------------------------


def test_from_raw_busybox_like_config():
    cfg = model.from_raw(parse_text(BUSYBOX_LIKE))
    assert cfg.rootfs_path == "dir:/var/lib/lxc/bb/rootfs"
    assert cfg.uts_name == "bb"
    assert cfg.tty_max == 1 and cfg.pty_max == 1
    assert cfg.cap_drop == ["sys_module", "mac_admin", "mac_override", "sys_time"]
    assert (cfg.signal_halt, cfg.signal_stop, cfg.signal_reboot) == (10, 9, 36)
    assert cfg.mount_auto == ["cgroup:mixed", "proc:mixed", "sys:mixed"]
    assert cfg.mount_entry[0] == model.MountEntry("shm", "/dev/shm", "tmpfs", "defaults", 0, 0)
    assert cfg.mount_entry[1].options == "ro,bind"
    assert cfg.mount_entry[2].source == "/home/with space"
    assert cfg.mount_entry[2].freq == 0
    assert cfg.init_cmd == "/sbin/init --debug"
    assert cfg.start_order == -3
    assert cfg.console_size == 65536
    assert cfg.console_buffer_size == -1
    assert cfg.time_offset_boot == 90 * 60 * 10**9
    assert cfg.idmap == [
        model.IdMap(kind="u", ns_id=0, host_id=100000, range=65536),
        model.IdMap(kind="g", ns_id=0, host_id=100000, range=65536),
    ]
    assert cfg.environment == ["PATH=/bin:/sbin"]
    assert cfg.namespace_clone == ["net", "ipc", "pid"]
    assert cfg.cgroup == {"devices.deny": ["a"], "devices.allow": ["c 1:3 rwm", "c 1:5 rwm"]}
    assert cfg.cgroup2 == {"memory.max": ["256M"]}
    assert cfg.prlimit == {
        "nofile": model.PrLimit(soft=1024, hard=4096),
        "core": model.PrLimit(soft=model.UNLIMITED, hard=model.UNLIMITED),
    }
    assert cfg.sysctl == {"net.ipv4.ip_forward": "1"}
    assert cfg.hook == {
        "pre-start": ["/usr/local/bin/prepare", "/usr/local/bin/prepare-more"],
        "post-stop": ["/usr/local/bin/cleanup"],
    }
    # unset keys
    assert cfg.log_file is None and cfg.autodev is None and cfg.start_auto is None
    assert cfg.group == [] and cfg.cap_keep == [] and cfg.proc == {}

    assert [dev.index for dev in cfg.net] == [0, 2]
    eth0, empty = cfg.net
    assert isinstance(eth0, model.NetDevice)
    assert (eth0.type, eth0.link, eth0.flags, eth0.name) == ("veth", "lxcbr0", "up", "eth0")
    assert eth0.hwaddr == "00:16:3e:xx:xx:xx"
    assert eth0.mtu == 1500
    assert eth0.ipv4_address == [
        model.IpAddress("10.0.3.15", 24, "10.0.3.255"),
        model.IpAddress("172.16.0.2", 16, None),
    ]
    assert eth0.ipv4_gateway == "10.0.3.1"
    assert eth0.ipv6_address == [model.IpAddress("2001:db8::15", 64, None)]
    assert eth0.veth_pair == "vethbb0"
    assert eth0.veth_vlan_tagged_id == [10, 20, 30]
    assert eth0.veth_ipv4_route == []
    assert empty.type == "empty" and empty.link is None


def test_model_round_trips_through_text():
    cfg = model.loads(BUSYBOX_LIKE)
    text = writer.render_model(cfg, header="written by a test")
    assert text.startswith("# written by a test\n\n")
    assert model.loads(text) == cfg
    # converter: plain data (for records on disk) and back
    data = model.converter.unstructure(cfg)
    assert data["net"][0]["ipv4_address"][0] == {
        "address": "10.0.3.15",
        "prefix": 24,
        "broadcast": "10.0.3.255",
    }
    assert model.converter.structure(data, model.ContainerConfig) == cfg


def test_to_settings_order_and_text():
    cfg = model.loads(BUSYBOX_LIKE)
    pairs = model.to_settings(cfg)
    as_dict: dict[str, list[str]] = {}
    for key, value in pairs:
        as_dict.setdefault(key, []).append(value)
    assert as_dict["lxc.signal.halt"] == ["SIGUSR1"]
    assert as_dict["lxc.signal.stop"] == ["SIGKILL"]
    assert as_dict["lxc.signal.reboot"] == ["SIGRTMIN+2"]
    assert as_dict["lxc.time.offset.boot"] == ["90m"]
    assert as_dict["lxc.console.buffer.size"] == ["auto"]
    assert as_dict["lxc.cap.drop"] == ["sys_module mac_admin mac_override sys_time"]
    assert as_dict["lxc.mount.entry"][2] == "/home/with\\040space home/x none bind,create=dir 0 0"
    assert as_dict["lxc.prlimit.core"] == ["unlimited"]
    assert as_dict["lxc.prlimit.nofile"] == ["1024:4096"]
    assert as_dict["lxc.net.0.ipv4.address"] == ["10.0.3.15/24 10.0.3.255", "172.16.0.2/16"]
    assert as_dict["lxc.net.0.veth.vlan.tagged.id"] == ["10 20 30"]
    assert as_dict["lxc.net.2.type"] == ["empty"]
    keys_in_order = list(dict.fromkeys(key for key, _ in pairs))
    # exact keys in table order, then the families, then the network devices
    table = [spec.name for spec in keys.EXACT_KEYS]
    exact = [key for key in keys_in_order if key in table]
    assert exact == sorted(exact, key=table.index)
    assert keys_in_order.index("lxc.hook.post-stop") < keys_in_order.index("lxc.net.0.type")
    assert keys_in_order[-1] == "lxc.net.2.type"


def test_empty_config():
    cfg = model.from_raw(RawConfig())
    assert cfg == model.ContainerConfig()
    assert model.to_settings(cfg) == []
    assert writer.render_model(cfg) == "\n"


@pytest.mark.parametrize(
    ("given", "number", "written"),
    [
        ("SIGPWR", 30, "SIGPWR"),
        ("pwr", 30, "SIGPWR"),
        ("30", 30, "SIGPWR"),
        ("SIGIOT", 6, "SIGABRT"),
        ("SIGRTMIN", 34, "SIGRTMIN"),
        ("sigrtmax-1", 63, "SIGRTMIN+29"),
        ("64", 64, "SIGRTMAX"),
        ("32", 32, "32"),
    ],
)
def test_signals_are_written_by_name(given, number, written):
    cfg = model.loads(f"lxc.signal.halt = {given}\n")
    assert cfg.signal_halt == number
    assert model.to_settings(cfg) == [("lxc.signal.halt", written)]


@pytest.mark.parametrize(
    ("given", "written"),
    [("0", "0s"), ("-2h", "-2h"), ("120s", "2m"), ("1500ms", "1500ms"), ("7ns", "7ns")],
)
def test_time_offsets_keep_their_unit(given, written):
    cfg = model.loads(f"lxc.time.offset.monotonic = {given}\n")
    assert model.to_settings(cfg) == [("lxc.time.offset.monotonic", written)]


def test_model_is_built_from_the_key_table():
    """The classes are written out (for the type checker); the import-time check
    keeps them equal to the table (see test_model_classes_are_held_to_the_key_table)."""
    fields = {f.name for f in attrs.fields(model.ContainerConfig)}
    for spec in keys.EXACT_KEYS:
        assert spec.field in fields, spec.name
    for _, spec in keys.PREFIX_KEYS:
        assert spec.field in fields, spec.name
    net_fields = {f.name for f in attrs.fields(model.NetDevice)}
    for spec in keys.NET_KEYS:
        assert spec.field in net_fields, spec.name
    # every checker that returns a dict has a class: no attribute is typed as a bare dict
    for key, attribute, type_text in model.describe():
        assert "object" not in type_text, (key, attribute, type_text)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (keys.KeySpec("lxc.new.key", keys.SCALAR, v.number, "new_key"),
         "lxc.new.key: ContainerConfig has no attribute new_key: int | None"),
        (keys.KeySpec("lxc.arch", keys.SCALAR, v.number, "arch"),
         "key table: lxc.arch uses the field 'arch' of another key"),
        (keys.KeySpec("lxc.tty.max", keys.LIST, v.number, "tty_max"),
         "key table: lxc.tty.max uses the field 'tty_max' of another key"),
    ],
    ids=["no-attribute", "same-field", "same-field-other-type"],
)  # fmt: skip
def test_model_classes_are_held_to_the_key_table(monkeypatch, spec, message):
    """A key added to the table without its attribute in the written-out class fails
    the import check, naming the key and the attribute to add."""
    monkeypatch.setattr(model, "_TOP_PLANS", (*model._TOP_PLANS, model._FieldPlan(spec)))
    with pytest.raises(RuntimeError, match=re.escape(message)):
        model._check_against_table()


def test_model_attribute_of_another_type_is_refused(monkeypatch):
    plans = tuple(
        model._FieldPlan(keys.KeySpec(p.spec.name, p.spec.kind, v.number, p.spec.field))
        if p.spec.name == "lxc.uts.name" else p
        for p in model._TOP_PLANS
    )  # fmt: skip
    monkeypatch.setattr(model, "_TOP_PLANS", plans)
    with pytest.raises(RuntimeError, match=r"lxc.uts.name: ContainerConfig.uts_name is str \| None"):
        model._check_against_table()


def test_format_value_refuses_an_unknown_type():
    with pytest.raises(TypeError, match="lxc.uts.name"):
        model.format_value(keys.lookup("lxc.uts.name").spec, object())


def test_mount_entry_escapes_what_would_split_the_line():
    entry = model.MountEntry("/a b\tc\\d", "mnt/é", "none", "bind", 0, 0)
    text = entry.to_text()
    assert text == "/a\\040b\\011c\\134d mnt/é none bind 0 0"
    assert v.mount_entry(text)["source"] == "/a b\tc\\d"
    with pytest.raises(ValueError):
        model.MountEntry("", "x", "none").to_text()


# -- property: render -> parse -> from_raw is the identity ----------------------

_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
TEXT = st.text(
    alphabet=st.characters(exclude_categories=("Cs",), exclude_characters=_LINE_BREAKS + "\x00"),
    min_size=1,
    max_size=12,
)
WORD = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True)
NUMBER = st.integers(0, 2**40).map(str)
IFNAME = st.from_regex(r"[a-z][a-z0-9.-]{0,14}", fullmatch=True)
IPV4 = st.ip_addresses(v=4).map(str)
IPV6 = st.ip_addresses(v=6).map(str)


def _fstab_field(raw: str) -> str:
    return "".join(f"\\{ord(c):03o}" if c in " \t\\" else c for c in raw)


def _upper_or_not(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, word.upper()])


_SIGNAL = st.one_of(
    st.integers(1, 64).map(str),
    st.sampled_from(sorted(v._SIGNAL_NUMBERS)).flatmap(
        lambda name: st.sampled_from([name, "SIG" + name, ("sig" + name).lower()])
    ),
    st.integers(0, 30).map(lambda n: f"SIGRTMIN+{n}"),
    st.integers(0, 30).map(lambda n: f"RTMAX-{n}"),
)
_CAPS = st.lists(
    st.one_of(
        st.sampled_from(v.CAPABILITIES).flatmap(
            lambda c: st.sampled_from([c, c.upper(), "CAP_" + c.upper()])
        ),
        st.integers(0, 63).map(str),
    ),
    min_size=1,
    max_size=4,
).map(" ".join)
_MOUNT = st.builds(
    lambda src, dst, fstype, opts, extra: " ".join(
        [_fstab_field(src), _fstab_field(dst), fstype, *([opts] if opts or extra else []), *extra]
    ),
    st.text(alphabet="ab/ \t\\é1", min_size=1, max_size=8),
    st.text(alphabet="ab/ \t\\é1", min_size=1, max_size=8),
    WORD,
    st.sampled_from(["", "defaults", "bind,ro", "rw,create=dir,optional"]),
    st.lists(NUMBER, max_size=2),
).map(lambda s: s.replace(" ,", " defaults"))
_IDMAP = st.builds(
    lambda k, a, b, c: f"{k} {a} {b} {c}",
    st.sampled_from("ugb"),
    st.integers(0, 2**32),
    st.integers(0, 2**32),
    st.integers(1, 2**32),
)
_PRLIMIT_PART = st.one_of(NUMBER, st.just("unlimited"))
_PRLIMIT = st.one_of(_PRLIMIT_PART, st.tuples(_PRLIMIT_PART, _PRLIMIT_PART).map(":".join))
_IPV4_ADDRESS = st.builds(
    lambda addr, prefix, bcast: (
        addr + (f"/{prefix}" if prefix is not None else "") + (f" {bcast}" if bcast else "")
    ),
    IPV4,
    st.none() | st.integers(0, 32),
    st.none() | IPV4,
)
_IPV6_ADDRESS = st.builds(
    lambda addr, prefix: addr + (f"/{prefix}" if prefix is not None else ""),
    IPV6,
    st.none() | st.integers(0, 128),
)


def _route(version: int) -> st.SearchStrategy[str]:
    return st.ip_addresses(v=version).flatmap(
        lambda a: st.integers(0, a.max_prefixlen).map(
            lambda p: str(ipaddress.ip_network(f"{a}/{p}", strict=False))
        )
    )


#: Strategies by checker, for keys whose checker is a plain function of values.py.
BY_CHECKER = {
    v.text: TEXT,
    v.cgroup_setting: TEXT,
    v.absolute_path: TEXT.map(lambda t: "/" + t),
    v.boolean: st.sampled_from(["0", "1"]),
    v.number: NUMBER,
    v.uid: NUMBER,
    v.signed_number: st.integers(-(2**31), 2**31).map(str),
    v.queue_count: st.integers(1, v.MAX_QUEUES).map(str),
    v.architecture: st.sampled_from(v.ARCHITECTURES),
    v.hostname: TEXT.filter(lambda t: len(t) <= 64),
    v.signal_number: _SIGNAL,
    v.capabilities: _CAPS,
    v.namespaces: st.lists(st.sampled_from(v.NAMESPACES), min_size=1, max_size=4).flatmap(
        lambda ns: st.sampled_from([" ".join(ns), ",".join(ns)])
    ),
    v.log_level: st.one_of(
        st.sampled_from(v.LOG_LEVELS).flatmap(_upper_or_not), st.integers(0, 8).map(str)
    ),
    v.mount_auto: st.lists(
        st.sampled_from(
            ["proc", "proc:mixed", "sys:ro", "sys:mixed", "cgroup:mixed", "cgroup-full:rw:force",
             "cgroup:force", "cgroup2", "cgroup2:ro:force", "shmounts:/a:/b", "shmounts:/x"]
        ),
        min_size=1,
        max_size=3,
    ).map(" ".join),
    v.mount_entry: _MOUNT,
    v.idmap: _IDMAP,
    v.environment: st.builds(
        lambda name, value: name + value,
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True),
        st.one_of(st.just(""), TEXT.map(lambda t: "=" + t)),
    ),
    v.byte_size: st.one_of(
        st.just("auto"),
        NUMBER,
        st.builds(lambda n, u: f"{n}{u}", st.integers(0, 4096), st.sampled_from(
            ["k", "kB", "M", "MB", "G", "gb", "b", "B"])),
    ),
    v.time_offset: st.builds(
        lambda n, u: f"{n}{u}",
        st.integers(-(10**6), 10**6),
        st.sampled_from(["", "h", "m", "s", "ms", "us", "ns"]),
    ),
    v.prlimit: _PRLIMIT,
    v.interface_name: IFNAME,
    v.hwaddr: st.lists(
        st.text(alphabet="0123456789abcdefABCDEFx", min_size=2, max_size=2),
        min_size=6, max_size=6,
    ).map(":".join),
    v.net_flags: st.just("up"),
    v.vlan_id: st.integers(0, 4094).map(str),
    v.vlan_ids: st.lists(st.integers(0, 4094).map(str), min_size=1, max_size=3).flatmap(
        lambda ids: st.sampled_from([" ".join(ids), ",".join(ids)])
    ),
    v.ipv4_address: _IPV4_ADDRESS,
    v.ipv6_address: _IPV6_ADDRESS,
}  # fmt: skip

#: Strategies by key, for keys whose checker is made by a factory (one_of, gateway, ...).
BY_KEY = {
    "lxc.log.syslog": st.sampled_from(v.SYSLOG_FACILITIES),
    "type": st.sampled_from(NET_TYPE_NAMES),
    "ipv4.gateway": st.one_of(st.sampled_from(["auto", "dev"]), IPV4),
    "ipv6.gateway": st.one_of(st.sampled_from(["auto", "dev"]), IPV6),
    "veth.mode": st.sampled_from(["bridge", "router"]),
    "veth.ipv4.route": _route(4),
    "veth.ipv6.route": _route(6),
    "macvlan.mode": st.sampled_from(["private", "vepa", "bridge", "passthru"]),
    "ipvlan.mode": st.sampled_from(["l3", "l3s", "l2"]),
    "ipvlan.isolation": st.sampled_from(["bridge", "private", "vepa"]),
}

_EXACT_NAMES = {spec.name for spec in keys.EXACT_KEYS}
_CGROUP_MEMBER = st.from_regex(r"[a-z]{1,8}\.[a-z_]{1,10}(\.[a-z_]{1,6})?", fullmatch=True)
_SYSCTL_MEMBER = st.from_regex(r"[a-z]{1,6}(\.[a-z_0-9]{1,8}){1,3}", fullmatch=True)
FAMILY_MEMBERS = {
    "lxc.cgroup.": _CGROUP_MEMBER.filter(lambda m: "lxc.cgroup." + m not in _EXACT_NAMES),
    "lxc.cgroup2.": _CGROUP_MEMBER,
    "lxc.prlimit.": st.sampled_from(v.PRLIMIT_RESOURCES),
    "lxc.sysctl.": _SYSCTL_MEMBER,
    "lxc.proc.": st.from_regex(r"[a-z_]{1,14}", fullmatch=True),
    "lxc.namespace.share.": st.sampled_from(v.NAMESPACES),
    "lxc.hook.": st.sampled_from(keys.HOOK_TYPES),
}


def value_strategy(spec: keys.KeySpec) -> st.SearchStrategy[str]:
    if spec.name in BY_KEY:
        return BY_KEY[spec.name]
    return BY_CHECKER[spec.check]


def test_every_key_has_a_strategy():
    """A key added to the table gets into the property test (or this test says so)."""
    for spec in (*keys.EXACT_KEYS, *keys.NET_KEYS):
        assert spec.name in BY_KEY or spec.check in BY_CHECKER, spec.name
    for prefix, spec in keys.PREFIX_KEYS:
        assert prefix in FAMILY_MEMBERS and spec.check in BY_CHECKER, prefix


def _exact_setting(spec: keys.KeySpec) -> st.SearchStrategy[tuple[str, str]]:
    return value_strategy(spec).map(lambda value: (spec.name, value))


def _family_setting(prefix: str, spec: keys.KeySpec) -> st.SearchStrategy[tuple[str, str]]:
    return st.tuples(FAMILY_MEMBERS[prefix].map(lambda m: prefix + m), value_strategy(spec))


def _net_setting(spec: keys.KeySpec) -> st.SearchStrategy[tuple[str, str]]:
    return st.tuples(
        st.integers(0, 3).map(lambda n: f"lxc.net.{n}.{spec.name}"), value_strategy(spec)
    )


_CLEARING = st.one_of(
    st.sampled_from(keys.CLEARING_KEYS),
    st.integers(0, 3).map(lambda n: f"lxc.net.{n}"),
    st.sampled_from(keys.EXACT_KEYS).map(lambda spec: spec.name),
).map(lambda key: (key, ""))

SETTING = st.one_of(
    st.one_of([_exact_setting(spec) for spec in keys.EXACT_KEYS]),
    st.one_of([_family_setting(prefix, spec) for prefix, spec in keys.PREFIX_KEYS]),
    st.one_of([_net_setting(spec) for spec in keys.NET_KEYS]),
    _CLEARING,
)
SETTINGS = st.lists(SETTING, max_size=40)


def _applied(pairs: list[tuple[str, str]]) -> RawConfig:
    raw = RawConfig()
    for key, value in pairs:
        raw.apply(key, value)
    return raw


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SETTINGS)
def test_rendered_settings_parse_back_to_the_same_model(pairs):
    original = model.from_raw(_applied(pairs))
    text = writer.render(pairs)
    assert model.from_raw(parse_text(text)) == original


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SETTINGS)
def test_rendered_model_parses_back_to_the_same_model(pairs):
    original = model.from_raw(_applied(pairs))
    text = writer.render_model(original)
    again = model.from_raw(parse_text(text))
    assert again == original
    # and it is a fixed point: writing the re-read model gives the same text
    assert writer.render_model(again) == text


# -- writer: render --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("plain", "plain"),
        ("two words", "two words"),
        (" lead", '" lead"'),
        ("trail ", '"trail "'),
        ('"quoted"', '""quoted""'),
        ("'single'", "\"'single'\""),
        ('"half', '"half'),
        ("\tx", '"\tx"'),
    ],
)
def test_render_quotes_only_when_needed(value, written):
    text = writer.render([("lxc.init.cmd", value)])
    assert text == f"lxc.init.cmd = {written}\n"
    assert parse_text(text).get("lxc.init.cmd") == value


def test_render_header_and_clearing_line():
    text = writer.render([("lxc.net", ""), ("lxc.tty.max", "4")], header="one\n\n# two")
    assert text == "# one\n#\n# two\n\nlxc.net =\nlxc.tty.max = 4\n"


@pytest.mark.parametrize(
    ("key", "value"), [("lxc.init.cmd", "a\nb"), ("lxc.init.cmd", "a\u2028b"), ("tty", "1"),
                       ("lxc.a b", "1"), ("lxc.a=b", "1")]
)  # fmt: skip
def test_render_refuses_what_cannot_be_read_back(key, value):
    with pytest.raises(ValueError):
        writer.render([(key, value)])


# -- writer: editing a file in place -----------------------------------------------

ORIGINAL = """\
# Template used to create this container: busybox
# Parameters passed to the template:

lxc.include = /usr/share/lxc/config/common.conf
lxc.rootfs.path = dir:/var/lib/lxc/c1/rootfs
something.else = kept as is
lxc.uts.name = c1   # not a comment, part of the value
lxc.tty.max = 1

# network
lxc.net.0.type = veth
lxc.net.0.link = lxcbr0
lxc.cap.drop = sys_module
lxc.tty.max = 2
lxc.cap.drop = sys_time
lxc.broken line kept
"""


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "config"
    path.write_text(ORIGINAL)
    path.chmod(0o640)
    return path


def test_set_keys_replaces_first_line_and_drops_later_ones(config_file):
    writer.set_keys_in_file(str(config_file), {"lxc.tty.max": "4", "lxc.uts.name": "c2"})
    assert config_file.read_text() == ORIGINAL.replace(
        "lxc.uts.name = c1   # not a comment, part of the value", "lxc.uts.name = c2"
    ).replace("lxc.tty.max = 1", "lxc.tty.max = 4").replace("lxc.tty.max = 2\n", "")


def test_set_keys_deletes_with_none_and_appends_new_keys(config_file):
    writer.set_keys_in_file(
        str(config_file),
        {
            "lxc.cap.drop": None,
            "lxc.net.0.hwaddr": "00:16:3e:12:34:56",
            "lxc.log.file": " spaced ",
            "lxc.net.1.type": None,  # absent and deleted: nothing to do
        },
    )
    expected = (
        ORIGINAL.replace("lxc.cap.drop = sys_module\n", "").replace("lxc.cap.drop = sys_time\n", "")
        + "lxc.net.0.hwaddr = 00:16:3e:12:34:56\n"
        + 'lxc.log.file = " spaced "\n'
    )
    assert config_file.read_text() == expected
    text = config_file.read_text().replace("lxc.include", "# lxc.include")
    raw = parse_text(text.replace("lxc.broken", "# lxc.broken"))
    assert raw.get("lxc.log.file") == " spaced "
    assert raw.get_all("lxc.cap.drop") == []


def test_set_keys_list_key_keeps_only_the_new_value(config_file):
    writer.set_keys_in_file(str(config_file), {"lxc.cap.drop": "mknod"})
    text = config_file.read_text()
    assert "lxc.cap.drop = mknod\nlxc.tty.max = 2\n" in text
    assert "sys_module" not in text and "sys_time" not in text


def test_set_keys_empty_value_writes_a_clearing_line(config_file):
    writer.set_keys_in_file(str(config_file), {"lxc.cap.drop": ""})
    assert "lxc.cap.drop =\nlxc.tty.max = 2\n" in config_file.read_text()


def test_set_keys_can_delete_a_legacy_key(tmp_path):
    path = tmp_path / "config"
    path.write_text("lxc.utsname = old\nlxc.tty.max = 1\n")
    writer.set_keys_in_file(str(path), {"lxc.utsname": None, "lxc.uts.name": "old"})
    assert path.read_text() == "lxc.tty.max = 1\nlxc.uts.name = old\n"


def test_set_keys_appends_after_a_last_line_without_newline(tmp_path):
    path = tmp_path / "config"
    path.write_bytes(b"lxc.tty.max = 1")
    writer.set_keys_in_file(str(path), {"lxc.pty.max": "8"})
    assert path.read_bytes() == b"lxc.tty.max = 1\nlxc.pty.max = 8\n"


def test_set_keys_keeps_crlf_line_endings(tmp_path):
    path = tmp_path / "config"
    path.write_bytes(b"# c\r\nlxc.tty.max = 1\r\n")
    writer.set_keys_in_file(str(path), {"lxc.tty.max": "2", "lxc.pty.max": "8"})
    assert path.read_bytes() == b"# c\r\nlxc.tty.max = 2\r\nlxc.pty.max = 8\r\n"


@pytest.mark.parametrize(
    "changes",
    [
        {"lxc.tty.max": "4", "lxc.pty.max": "lots"},
        {"lxc.tty.max": "4", "lxc.foo": "1"},
        {"lxc.utsname": "legacy"},
        {"lxc.net": "veth"},
        {"lxc.init.cmd": "two\nlines"},
        {"not a key": None},
    ],
)
def test_bad_value_leaves_the_file_byte_identical(config_file, changes):
    before = config_file.read_bytes()
    stat_before = os.stat(config_file)
    with pytest.raises(ConfigError) as info:
        writer.set_keys_in_file(str(config_file), changes)
    assert str(info.value).startswith(str(config_file))
    assert config_file.read_bytes() == before
    assert os.stat(config_file).st_ino == stat_before.st_ino
    assert os.listdir(config_file.parent) == ["config"]


def test_bad_value_names_key_and_reason(config_file):
    with pytest.raises(ConfigError) as info:
        writer.set_keys_in_file(str(config_file), {"lxc.pty.max": "lots"})
    assert str(info.value) == f"{config_file}: lxc.pty.max: 'lots' is not a number"


def test_edit_is_atomic_and_keeps_mode_and_owner(config_file):
    os.chown(config_file, 1234, 5678)
    inode = os.stat(config_file).st_ino
    writer.set_keys_in_file(str(config_file), {"lxc.tty.max": "9"})
    after = os.stat(config_file)
    assert stat.S_IMODE(after.st_mode) == 0o640
    assert (after.st_uid, after.st_gid) == (1234, 5678)
    assert after.st_ino != inode  # a new file was renamed over the old one
    assert os.listdir(config_file.parent) == ["config"]  # no temporary file left


def test_edit_follows_a_symlink(tmp_path, config_file):
    link = tmp_path / "link"
    link.symlink_to(config_file)
    writer.set_keys_in_file(str(link), {"lxc.tty.max": "9"})
    assert link.is_symlink()
    assert "lxc.tty.max = 9\n" in config_file.read_text()


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        writer.set_keys_in_file(str(tmp_path / "nope"), {"lxc.tty.max": "1"})
    assert not (tmp_path / "nope").exists()


def test_append_key_to_file(config_file):
    writer.append_key_to_file(str(config_file), "lxc.cap.drop", "mknod")
    writer.append_key_to_file(str(config_file), "lxc.net.1.type", "empty")
    assert config_file.read_text() == (ORIGINAL + "lxc.cap.drop = mknod\nlxc.net.1.type = empty\n")
    assert stat.S_IMODE(os.stat(config_file).st_mode) == 0o640


def test_append_bad_value_leaves_the_file_untouched(config_file):
    before = config_file.read_bytes()
    with pytest.raises(ConfigError, match="invalid capability"):
        writer.append_key_to_file(str(config_file), "lxc.cap.drop", "everything")
    assert config_file.read_bytes() == before


def test_edited_file_parses_to_the_expected_model(tmp_path):
    path = tmp_path / "config"
    path.write_text(BUSYBOX_LIKE)
    writer.set_keys_in_file(
        str(path), {"lxc.uts.name": "renamed", "lxc.net.0.hwaddr": "00:16:3e:aa:bb:cc"}
    )
    writer.append_key_to_file(str(path), "lxc.idmap", "b 70000 170000 1")
    cfg = model.from_raw(parse_file(str(path)))
    expected = model.loads(BUSYBOX_LIKE)
    expected.uts_name = "renamed"
    expected.net[0].hwaddr = "00:16:3e:aa:bb:cc"
    expected.idmap.append(model.IdMap("b", 70000, 170000, 1))
    assert cfg == expected


def test_write_atomically_creates_a_new_file_with_mode(tmp_path):
    path = tmp_path / "new"
    writer.write_atomically(str(path), "lxc.tty.max = 1\n", mode=0o600)
    assert path.read_text() == "lxc.tty.max = 1\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
