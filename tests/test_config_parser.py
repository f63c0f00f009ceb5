"""Unit tests of runtime.config.parser: the LXC 5 config language as text."""

from __future__ import annotations

import os

import pytest

from runtime.client.errors import ConfigError
from runtime.config.parser import RawConfig, apply_define, parse_file, parse_text


def write(path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


# -- lines ------------------------------------------------------------------------


def test_comments_blank_and_non_lxc_lines_are_ignored():
    raw = parse_text(
        "# a comment\n"
        "\n"
        "   \n"
        "    # indented comment\n"
        "lxc.uts.name = box\n"
        "some.other = thing\n"
        "not a key at all\n"
        "lxd.foo = 1\n"
    )
    assert raw.keys() == ["lxc.uts.name"]
    assert raw.get("lxc.uts.name") == "box"


def test_spacing_around_key_and_value_does_not_matter():
    raw = parse_text("  lxc.tty.max=4\nlxc.pty.max   =    1024   \n")
    assert raw.get("lxc.tty.max") == "4"
    assert raw.get("lxc.pty.max") == "1024"


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ('lxc.init.cmd = "/sbin/init --debug"', "/sbin/init --debug"),
        ("lxc.init.cmd = '/sbin/init'", "/sbin/init"),
        ('lxc.init.cmd = "  spaced  "', "  spaced  "),
        ("lxc.init.cmd = \"mismatched'", "\"mismatched'"),
        ('lxc.init.cmd = ""x""', '"x"'),
        ("lxc.init.cmd = a = b", "a = b"),
    ],
)
def test_one_pair_of_matching_quotes_is_stripped(line, value):
    assert parse_text(line).get("lxc.init.cmd") == value


def test_value_keeps_a_hash_that_is_not_at_line_start():
    raw = parse_text("lxc.init.cmd = /bin/sh -c 'echo #1'\n")
    assert raw.get("lxc.init.cmd") == "/bin/sh -c 'echo #1'"


def test_scalar_key_keeps_the_last_value():
    raw = parse_text("lxc.tty.max = 1\nlxc.uts.name = a\nlxc.tty.max = 4\n")
    assert raw.get("lxc.tty.max") == "4"
    assert raw.get_all("lxc.tty.max") == ["4"]
    # first-seen order is kept even when a later line overrides
    assert raw.keys() == ["lxc.tty.max", "lxc.uts.name"]


def test_list_key_accumulates_in_order():
    raw = parse_text(
        "lxc.cap.drop = sys_module\n"
        "lxc.mount.entry = proc proc proc nodev 0 0\n"
        "lxc.cap.drop = sys_time mac_admin\n"
    )
    assert raw.get_all("lxc.cap.drop") == ["sys_module", "sys_time mac_admin"]
    assert raw.get("lxc.cap.drop") == "sys_time mac_admin"


def test_empty_value_clears_a_list_key():
    raw = parse_text("lxc.cap.drop = sys_module\nlxc.cap.drop = sys_time\nlxc.cap.drop =\n")
    assert raw.get_all("lxc.cap.drop") == []
    assert "lxc.cap.drop" not in raw
    raw = parse_text("lxc.cap.drop = sys_boot\nlxc.cap.drop =\nlxc.cap.drop = mknod\n")
    assert raw.get_all("lxc.cap.drop") == ["mknod"]


def test_empty_value_unsets_a_scalar_key():
    raw = parse_text("lxc.tty.max = 4\nlxc.tty.max =\n")
    assert raw.get("lxc.tty.max") is None


def test_empty_net_clears_every_network_device():
    raw = parse_text(
        "lxc.net.0.type = veth\n"
        "lxc.net.0.link = br0\n"
        "lxc.net.1.type = empty\n"
        "lxc.uts.name = kept\n"
        "lxc.net =\n"
    )
    assert raw.net_indices() == []
    assert raw.get("lxc.uts.name") == "kept"


def test_empty_net_n_clears_one_device():
    raw = parse_text(
        "lxc.net.0.type = veth\n"
        "lxc.net.0.link = br0\n"
        "lxc.net.1.type = empty\n"
        "lxc.net.10.type = empty\n"
        "lxc.net.1 =\n"
    )
    assert raw.net_indices() == [0, 10]
    assert raw.get("lxc.net.0.link") == "br0"


def test_empty_cgroup_clears_settings_but_not_cgroup_dir():
    raw = parse_text(
        "lxc.cgroup.dir = my/dir\n"
        "lxc.cgroup.relative = 1\n"
        "lxc.cgroup.devices.allow = c 1:3 rwm\n"
        "lxc.cgroup.memory.limit_in_bytes = 1G\n"
        "lxc.cgroup2.devices.allow = c 1:3 rwm\n"
        "lxc.cgroup =\n"
    )
    assert raw.with_prefix("lxc.cgroup.") == [
        ("lxc.cgroup.dir", "my/dir"),
        ("lxc.cgroup.relative", "1"),
    ]
    # lxc.cgroup2.* is another group
    assert raw.get_all("lxc.cgroup2.devices.allow") == ["c 1:3 rwm"]


def test_clearing_key_with_a_value_is_an_error():
    with pytest.raises(ConfigError, match=r"config:1: lxc\.net: takes no value"):
        parse_text("lxc.net = veth\n", "config")


def test_line_without_equals_is_an_error():
    with pytest.raises(ConfigError) as info:
        parse_text("lxc.uts.name = a\nlxc.foo\n", "config")
    assert str(info.value).startswith("config:2: ")
    assert "lxc.foo" in str(info.value)


# -- errors -------------------------------------------------------------------------


def test_unknown_key_names_file_line_and_key():
    text = "\n" * 11 + "lxc.foo = 1\n"
    with pytest.raises(ConfigError) as info:
        parse_text(text, "config")
    assert str(info.value) == "config:12: unknown key 'lxc.foo'"
    assert (info.value.file, info.value.line) == ("config", 12)


def test_bad_value_names_file_line_key_and_reason(tmp_path):
    path = write(tmp_path / "config", "# header\nlxc.uts.name = c1\nlxc.tty.max = abc\n")
    with pytest.raises(ConfigError) as info:
        parse_file(path)
    assert str(info.value) == f"{path}:3: lxc.tty.max: 'abc' is not a number"
    assert info.value.key == "lxc.tty.max"


@pytest.mark.parametrize(
    ("line", "new_name"),
    [
        ("lxc.network.type = veth", "lxc.net.N.type"),
        ("lxc.network.ipv4 = 10.0.0.2/24", "lxc.net.N.ipv4"),
        ("lxc.utsname = box", "lxc.uts.name"),
        ("lxc.rootfs = /var/lib/lxc/box/rootfs", "lxc.rootfs.path"),
        ("lxc.tty = 4", "lxc.tty.max"),
        ("lxc.id_map = u 0 100000 65536", "lxc.idmap"),
    ],
)
def test_legacy_keys_are_refused_naming_their_replacement(line, new_name):
    with pytest.raises(ConfigError) as info:
        parse_text(line + "\n", "config")
    message = str(info.value)
    assert message.startswith("config:1: ")
    assert "pre-3.0" in message
    assert new_name in message


def test_net_key_without_index_is_explained():
    with pytest.raises(ConfigError, match=r"lxc\.net\.0\.type"):
        parse_text("lxc.net.type = veth\n")


@pytest.mark.parametrize(
    "line",
    [
        "lxc.prlimit.bogus = 10",
        "lxc.hook.sometimes = /bin/true",
        "lxc.namespace.share.bogus = foo",
        "lxc.net.0.bogus = 1",
    ],
)
def test_unknown_family_members_are_refused(line):
    with pytest.raises(ConfigError, match="unknown key"):
        parse_text(line)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("lxc.cgroup.memory.x/../../../release_agent", "is not a cgroup file name"),
        ("lxc.cgroup2.memory.max/../../cgroup.procs", "is not a cgroup file name"),
        ("lxc.cgroup.../../release_agent", "is not a cgroup file name"),
        ("lxc.cgroup.memory..limit_in_bytes", "is not a cgroup file name"),
        ("lxc.cgroup.memory", "is not a cgroup file name"),
        ("lxc.cgroup.release_agent", "is not a cgroup file name"),
        ("lxc.cgroup.notify_on_release", "is not a cgroup file name"),
        ("lxc.cgroup.tasks", "is not a cgroup file name"),
        ("lxc.cgroup2.cgroup.procs", "may not be written"),
        ("lxc.cgroup.cgroup.procs", "may not be written"),
        ("lxc.cgroup2.cgroup.threads", "may not be written"),
        ("lxc.cgroup2.cgroup.subtree_control", "may not be written"),
        ("lxc.sysctl.net/../../../etc/passwd", "is not a sysctl name"),
        ("lxc.sysctl.net..ipv4", "is not a sysctl name"),
        ("lxc.sysctl.kernel", "is not a sysctl name"),
        ("lxc.sysctl.net.ipv4.", "is not a sysctl name"),
        ("lxc.proc.../../etc/passwd", "is not a /proc/PID file name"),
        ("lxc.proc.attr/current", "is not a /proc/PID file name"),
        ("lxc.proc.oom_score_adj.x", "is not a /proc/PID file name"),
    ],
)
def test_keys_that_name_a_path_outside_their_directory_are_refused(key, reason):
    """10.6: the member of a path-like family is a plain file name of its interface."""
    with pytest.raises(ConfigError) as info:
        parse_text(f"lxc.tty.max = 1\n{key} = 1\n", "c")
    assert info.value.key == key
    assert str(info.value).startswith(f"c:2: {key}: '")
    assert reason in str(info.value)
    assert len(str(info.value).splitlines()) == 1


@pytest.mark.parametrize(
    "key",
    [
        "lxc.cgroup.memory.limit_in_bytes", "lxc.cgroup.cpuset.cpus", "lxc.cgroup.devices.allow",
        "lxc.cgroup.net_cls.classid", "lxc.cgroup.cpu.cfs_quota_us",
        "lxc.cgroup.hugetlb.2MB.limit_in_bytes", "lxc.cgroup.memory.memsw.limit_in_bytes",
        "lxc.cgroup2.memory.max", "lxc.cgroup2.cpu.weight", "lxc.cgroup2.io.max",
        "lxc.cgroup2.devices.deny", "lxc.cgroup2.pids.max", "lxc.cgroup2.cgroup.freeze",
        "lxc.cgroup2.cgroup.max.descendants", "lxc.sysctl.net.ipv4.ip_forward",
        "lxc.sysctl.net.ipv6.conf.all.disable_ipv6", "lxc.sysctl.net.ipv4.conf.veth-x.forwarding",
        "lxc.sysctl.kernel.shm_rmid_forced", "lxc.proc.oom_score_adj", "lxc.proc.timerslack_ns",
    ],
)  # fmt: skip
def test_real_interface_files_are_accepted(key):
    assert parse_text(f"{key} = 1").get(key) == "1"


@pytest.mark.parametrize(
    "line",
    [
        "lxc.rootfs.managed = yes",
        "lxc.signal.halt = SIGNOPE",
        "lxc.cap.drop = sys_everything",
        "lxc.idmap = u 0 100000",
        "lxc.mount.entry = proc",
        "lxc.net.0.type = tunnel",
        "lxc.net.0.ipv4.address = 10.0.0.300/24",
        "lxc.net.0.hwaddr = 00:16:3e",
        "lxc.prlimit.nofile = 1:2:3",
        "lxc.arch = z80",
    ],
)
def test_invalid_values_are_refused(line):
    with pytest.raises(ConfigError) as info:
        parse_text(line, "c")
    assert str(info.value).startswith(f"c:1: {line.split()[0]}: ")


# -- includes -----------------------------------------------------------------------


def test_include_file(tmp_path):
    write(tmp_path / "common.conf", "lxc.tty.max = 2\nlxc.cap.drop = sys_module\n")
    path = write(
        tmp_path / "config",
        f"lxc.include = {tmp_path}/common.conf\nlxc.tty.max = 4\nlxc.cap.drop = sys_time\n",
    )
    raw = parse_file(path)
    assert raw.get("lxc.tty.max") == "4"
    assert raw.get_all("lxc.cap.drop") == ["sys_module", "sys_time"]
    assert raw.files == [path, f"{tmp_path}/common.conf"]


def test_include_directory_reads_conf_files_sorted(tmp_path):
    confd = tmp_path / "conf.d"
    write(confd / "20-b.conf", "lxc.environment = B=2\n")
    write(confd / "10-a.conf", "lxc.environment = A=1\n")
    write(confd / "30-c.txt", "lxc.environment = C=3\n")
    write(confd / "README", "lxc.bogus = ignored because not .conf\n")
    (confd / "40-dir.conf").mkdir()
    path = write(tmp_path / "config", f"lxc.include = {confd}/\n")
    raw = parse_file(path)
    assert raw.get_all("lxc.environment") == ["A=1", "B=2"]


def test_relative_include_is_resolved_against_the_including_file(tmp_path, monkeypatch):
    write(tmp_path / "sub" / "inc.conf", "lxc.uts.name = included\n")
    write(tmp_path / "sub" / "dir" / "x.conf", "lxc.tty.max = 7\n")
    path = write(tmp_path / "config", "lxc.include = sub/inc.conf\nlxc.include = sub/dir\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    raw = parse_file(path)
    assert raw.get("lxc.uts.name") == "included"
    assert raw.get("lxc.tty.max") == "7"


def test_nested_include_resolves_relative_to_each_file(tmp_path):
    write(tmp_path / "a" / "b" / "leaf.conf", "lxc.uts.name = leaf\n")
    write(tmp_path / "a" / "mid.conf", "lxc.include = b/leaf.conf\n")
    raw = parse_file(write(tmp_path / "config", "lxc.include = a/mid.conf\n"))
    assert raw.get("lxc.uts.name") == "leaf"


def test_missing_file_include_is_an_error(tmp_path):
    path = write(tmp_path / "config", "lxc.uts.name = x\nlxc.include = /nonexistent/file.conf\n")
    with pytest.raises(ConfigError) as info:
        parse_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}:2: lxc.include: ")
    assert "/nonexistent/file.conf" in message


def test_missing_directory_include_is_skipped(tmp_path):
    path = write(tmp_path / "config", "lxc.include = /nonexistent/dir.d/\nlxc.tty.max = 1\n")
    raw = parse_file(path)
    assert raw.get("lxc.tty.max") == "1"
    assert raw.files == [path]


def test_error_in_included_file_names_that_file(tmp_path):
    inc = write(tmp_path / "inc.conf", "\nlxc.pty.max = many\n")
    path = write(tmp_path / "config", "lxc.include = inc.conf\n")
    with pytest.raises(ConfigError) as info:
        parse_file(path)
    assert str(info.value) == f"{inc}:2: lxc.pty.max: 'many' is not a number"


def test_include_loop_is_an_error(tmp_path):
    write(tmp_path / "a.conf", "lxc.include = b.conf\n")
    write(tmp_path / "b.conf", "lxc.include = a.conf\n")
    path = write(tmp_path / "config", "lxc.include = a.conf\n")
    with pytest.raises(ConfigError) as info:
        parse_file(path)
    assert "lxc.include" in str(info.value)
    assert "loop" in str(info.value)


def test_self_include_is_an_error(tmp_path):
    path = write(tmp_path / "config", "lxc.include = config\n")
    with pytest.raises(ConfigError, match="lxc.include"):
        parse_file(path)


def test_empty_include_is_an_error():
    with pytest.raises(ConfigError, match="lxc.include"):
        parse_text("lxc.include =\n")


def test_missing_config_file_is_a_config_error(tmp_path):
    path = str(tmp_path / "nope")
    with pytest.raises(ConfigError) as info:
        parse_file(path)
    assert str(info.value).startswith(f"{path}: ")


def test_parse_file_onto_an_existing_config(tmp_path):
    base = parse_text("lxc.tty.max = 1\nlxc.uts.name = base\n")
    path = write(tmp_path / "config", "lxc.tty.max = 2\n")
    raw = parse_file(path, base)
    assert raw is base
    assert (raw.get("lxc.tty.max"), raw.get("lxc.uts.name")) == ("2", "base")


def test_parse_file_with_a_relative_path(tmp_path, monkeypatch):
    write(tmp_path / "inc.conf", "lxc.uts.name = rel\n")
    write(tmp_path / "config", "lxc.include = inc.conf\n")
    monkeypatch.chdir(tmp_path)
    raw = parse_file("config")
    assert raw.get("lxc.uts.name") == "rel"
    assert raw.files[0] == os.path.join(str(tmp_path), "config")


# -- RawConfig ----------------------------------------------------------------------


def test_entries_keep_file_and_line(tmp_path):
    path = write(tmp_path / "config", "# c\nlxc.tty.max = 4\n")
    (entry,) = list(parse_file(path).entries())
    assert (entry.key, entry.value, entry.file, entry.line) == ("lxc.tty.max", "4", path, 2)


def test_with_prefix_and_net_indices():
    raw = parse_text(
        "lxc.net.3.type = empty\n"
        "lxc.net.0.type = veth\n"
        "lxc.net.0.ipv4.address = 10.0.0.2/24\n"
        "lxc.net.0.ipv4.address = 10.0.0.3/24\n"
    )
    assert raw.net_indices() == [0, 3]
    assert raw.with_prefix("lxc.net.0.") == [
        ("lxc.net.0.type", "veth"),
        ("lxc.net.0.ipv4.address", "10.0.0.2/24"),
        ("lxc.net.0.ipv4.address", "10.0.0.3/24"),
    ]


def test_copy_is_independent():
    raw = parse_text("lxc.cap.drop = sys_module\n")
    other = raw.copy()
    other.apply("lxc.cap.drop", "sys_time")
    assert raw.get_all("lxc.cap.drop") == ["sys_module"]
    assert other.get_all("lxc.cap.drop") == ["sys_module", "sys_time"]


def test_apply_checks_like_the_parser():
    raw = RawConfig()
    raw.apply("lxc.tty.max", "3")
    with pytest.raises(ConfigError, match=r"^f:9: lxc\.tty\.max: 'x' is not a number$"):
        raw.apply("lxc.tty.max", "x", "f", 9)
    assert raw.get("lxc.tty.max") == "3"


# -- -s KEY=VALUE -------------------------------------------------------------------


def test_apply_define_sets_scalars_and_appends_lists():
    raw = parse_text("lxc.tty.max = 1\nlxc.environment = A=1\n")
    apply_define(raw, "lxc.tty.max=5")
    apply_define(raw, "lxc.environment=B=2")
    apply_define(raw, " lxc.init.cmd = '/bin/sh -l' ")
    assert raw.get("lxc.tty.max") == "5"
    assert raw.get_all("lxc.environment") == ["A=1", "B=2"]
    assert raw.get("lxc.init.cmd") == "/bin/sh -l"


def test_apply_define_empty_value_clears():
    raw = parse_text("lxc.environment = A=1\n")
    apply_define(raw, "lxc.environment=")
    assert raw.get_all("lxc.environment") == []


def test_apply_define_include(tmp_path):
    inc = write(tmp_path / "x.conf", "lxc.uts.name = from-define\n")
    raw = RawConfig()
    apply_define(raw, f"lxc.include={inc}")
    assert raw.get("lxc.uts.name") == "from-define"


@pytest.mark.parametrize("define", ["lxc.tty.max", "tty.max=4", "=4"])
def test_apply_define_needs_key_equals_value(define):
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_define(RawConfig(), define)


def test_apply_define_bad_value_names_the_define():
    with pytest.raises(ConfigError) as info:
        apply_define(RawConfig(), "lxc.tty.max=many")
    assert str(info.value) == "-s lxc.tty.max=many: lxc.tty.max: 'many' is not a number"
