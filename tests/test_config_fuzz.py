"""Fuzzing the config language: whatever the text, the parser either accepts it or
says why in one `file:line: key: reason` line, and what it accepts is written back
and read again to the same thing.

The other property tests (test_config_model.py) build valid settings and check the
round trip; these feed text a user, a template or an attacker could write: NULs,
lone surrogates, Unicode spaces and line breaks inside keys and values, keys that are
paths, very long lines, `-s` defines and includes that nest, loop or name devices.
A crash here (an IndexError, a UnicodeEncodeError, a value the writer refuses) is a
bug: the commands print a ConfigError and exit 1, anything else is a traceback.

Bounded: a few hundred examples per property, no deadline (the machine is shared),
no example database (nothing is written into the repository).
"""

from __future__ import annotations

import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.client.errors import ConfigError
from runtime.config import keys, model, writer
from runtime.config.parser import RawConfig, apply_define, parse_file, parse_text

#: TRIO_LXC_FUZZ_EXAMPLES=20000 for a long run by hand; `make test` keeps it short.
EXAMPLES = int(os.environ.get("TRIO_LXC_FUZZ_EXAMPLES", "400"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

#: Characters that broke, or could break, one layer or another.
NASTY = (
    "\x00", "\ud800", "\udc80", "\udcff", "\u3000", "\xa0", "\x85", "\u2028", "\x0b",
    "\x0c", "\x1c", "\t", " ", "\r", "\n", '"', "'", "=", "#", "/", "..", ".", ":", ",",
    "-", "_", "\\", "\\040", "\\000", "²", "٣", "K", "İ", "ſ", "0", "1", "9", "x", "a",
    "M", "%", "@", "é", "\x1b",
)  # fmt: skip

_KEY_NAMES = (
    [spec.name for spec in keys.EXACT_KEYS]
    + [prefix for prefix, _ in keys.PREFIX_KEYS]
    + [f"lxc.net.0.{spec.name}" for spec in keys.NET_KEYS]
    + list(keys.CLEARING_KEYS)
    + ["lxc.include", "lxc.net.00.type", "lxc.net.1", "lxc.network.type", "lxc.utsname"]
)
#: Members that are real, and members that try to leave their directory.
_MEMBERS = (
    "memory.max", "devices.allow", "hugetlb.2MB.max", "cgroup.procs", "net.ipv4.ip_forward",
    "oom_score_adj", "memory.x/../../../release_agent", "../x", "a/b", "release_agent",
    "nofile", "pre-start", "net", "devic\u3000es.allow", "a..b", ".", "",
)  # fmt: skip

NASTY_TEXT = st.lists(
    st.one_of(st.sampled_from(NASTY), st.text(max_size=4)), max_size=12
).map("".join)
KEY = st.one_of(
    st.sampled_from(_KEY_NAMES),
    st.builds(lambda p, m: p + m, st.sampled_from(_KEY_NAMES), st.sampled_from(_MEMBERS)),
    st.builds(lambda p, m: p + m, st.sampled_from(_KEY_NAMES), NASTY_TEXT),
    NASTY_TEXT.map(lambda t: "lxc." + t),
)
VALUE = st.one_of(
    NASTY_TEXT,
    st.sampled_from(
        ['" "', "' '", " ", "", "1", "0", "a\x00b", "10.0.0.1/24", "::1/64", "c 1:3 rwm",
         "proc proc proc 0 0", "u 0 100000 65536", "SIGKILL", "1:2", "none", "up", "veth"]
    ),
    st.text(max_size=30),
)  # fmt: skip
SEPARATOR = st.sampled_from([" = ", "=", "\t=\t", " =", "= ", "\u3000=\u3000", " == "])
#: Short values made of the nasty characters, quoted or not: paired with a real key
#: they reach each checker with what it least expects (`" "`, `²`, `a\x00b`).
SHORT = st.lists(st.sampled_from(NASTY), min_size=1, max_size=3).map("".join)
QUOTED = st.one_of(SHORT, SHORT.map(lambda t: f'"{t}"'), SHORT.map(lambda t: f"'{t}'"))
LINE = st.one_of(
    st.builds(lambda k, v: f"{k} = {v}", st.sampled_from(_KEY_NAMES), QUOTED),
    st.builds(lambda k, s, v: k + s + v, KEY, SEPARATOR, VALUE),
    NASTY_TEXT,
    st.text(max_size=40),
    st.builds(lambda k, n: f"{k} = {'x' * n}", KEY, st.integers(0, 20000)),
)
TEXT = st.lists(LINE, max_size=12).map("\n".join)


def check_error(err: ConfigError, file: str) -> None:
    """One line, `file[:line]: [key: ]reason`, the key in it when the error has one."""
    text = str(err)
    assert len(text.splitlines()) == 1 and text == text.strip(), repr(text)
    assert text.isprintable(), repr(text)
    where = f"{err.file}:{err.line}" if err.line else err.file
    expected = f"{where}: {err.key}: {err.reason}" if err.key else f"{where}: {err.reason}"
    assert text == expected
    assert err.file.startswith(file) or file == "<any>", (err.file, file)


def check_round_trip(raw: RawConfig) -> None:
    """Written back and read again: the same entries, and the same typed model."""
    pairs = [(entry.key, entry.value) for entry in raw.entries()]
    again = parse_text(writer.render(pairs), "again")
    assert [(entry.key, entry.value) for entry in again.entries()] == pairs
    cfg = model.from_raw(raw)
    text = writer.render_model(cfg)
    assert model.from_raw(parse_text(text, "model")) == cfg


def parse_or_refuse(text: str, file: str = "fuzz.conf") -> RawConfig | None:
    try:
        return parse_text(text, file)
    except ConfigError as err:
        check_error(err, file)
        return None


@FUZZ
@given(TEXT)
def test_any_text_parses_or_is_refused_in_one_line(text):
    raw = parse_or_refuse(text)
    if raw is not None:
        check_round_trip(raw)


@FUZZ
@given(st.lists(st.builds(lambda k, v: (k, v), KEY, VALUE), max_size=8))
def test_any_define_applies_or_is_refused_in_one_line(defines):
    raw = RawConfig()
    for key, value in defines:
        try:
            apply_define(raw, f"{key}={value}")
        except ConfigError as err:
            check_error(err, "-s ")
    check_round_trip(raw)


@FUZZ
@given(st.lists(st.builds(lambda k, v: (k, v), KEY, VALUE), max_size=8))
def test_any_api_setting_applies_or_is_refused_in_one_line(pairs):
    """RawConfig.apply, as the Python API and the writer's in-place edits use it: the
    key and value come without the file syntax (so with line breaks and all)."""
    raw = RawConfig()
    for key, value in pairs:
        try:
            raw.apply(key, value, "api", 1)
        except ConfigError as err:
            check_error(err, "api")
    check_round_trip(raw)


#: What an include can name: real files, directories, devices, a FIFO, bad names.
INCLUDE_TARGET = st.sampled_from(
    ["next.conf", "dir", "dir/", "missing.conf", "missing/", "/dev/zero", "/dev/null",
     "fifo", "a\x00b", "\ud800.conf", "\udcff.conf", "self.conf", "/", "", " "]
)  # fmt: skip


@settings(FUZZ, max_examples=max(EXAMPLES // 3, 1))
@given(st.integers(0, 40), INCLUDE_TARGET, TEXT)
def test_includes_parse_or_are_refused_in_one_line(depth, target, text):
    with tempfile.TemporaryDirectory(prefix="trio-lxc-fuzz-") as root:
        os.mkfifo(os.path.join(root, "fifo"))
        os.mkdir(os.path.join(root, "dir"))
        with open(os.path.join(root, "dir", "a.conf"), "w", encoding="utf-8",
                  errors="surrogatepass") as handle:  # fmt: skip
            handle.write(text)
        # a chain of `depth` files, each including the next, the last one `target`
        for level in range(depth + 1):
            name = "self.conf" if level == 0 else f"level{level}.conf"
            include = f"level{level + 1}.conf" if level < depth else target
            with open(os.path.join(root, name), "w", encoding="utf-8",
                      errors="surrogatepass") as handle:  # fmt: skip
                handle.write(f"lxc.tty.max = {level}\nlxc.include = {include}\n")
        with open(os.path.join(root, "next.conf"), "w", encoding="utf-8",
                  errors="surrogatepass") as handle:  # fmt: skip
            handle.write(text)
        try:
            raw = parse_file(os.path.join(root, "self.conf"))
        except ConfigError as err:
            check_error(err, root)
            return
        check_round_trip(raw)


#: Values every checker meets in the exhaustive test below.
_EDGE_VALUES = (
    *NASTY, " ", "\t", '" "', "' '", '"\t"', "a\x00b", "²", "٣", "-", "+", "-1", "+-1", "1 2 3",
    "::", "1.2.3.4/33", "/", "//", "a" * 5000, "9" * 5000, "c 1:3 rwm", ",", "u 0 0 0", "0:0",
    "\\000", "a \\000 b", "unlimited:", "SIGRTMIN+99", "x" * 64 + "é",
)  # fmt: skip


def test_every_key_with_every_edge_value():
    """Exhaustive where hypothesis samples: each key of the table (and a member of
    each family) with each edge value, alone on its line, raw and in both quotes."""
    members = {"lxc.cgroup.": "memory.max", "lxc.cgroup2.": "io.max", "lxc.sysctl.": "net.a",
               "lxc.proc.": "oom_score_adj", "lxc.prlimit.": "nofile",
               "lxc.namespace.share.": "net", "lxc.hook.": "start"}  # fmt: skip
    names = [spec.name for spec in keys.EXACT_KEYS]
    names += [f"lxc.net.0.{spec.name}" for spec in keys.NET_KEYS]
    names += [prefix + members[prefix] for prefix, _ in keys.PREFIX_KEYS]
    for name in names:
        for value in _EDGE_VALUES:
            for written in (value, f'"{value}"', f"'{value}'"):
                raw = parse_or_refuse(f"{name} = {written}")
                if raw is not None:
                    check_round_trip(raw)


def test_the_reported_crashes_are_config_errors():
    """The inputs of issue 10.14, each a one-line error now (or a clean round trip)."""
    for text, reason in (
        ('lxc.net.0.ipv4.address = " "', "is not an IPv4 address"),
        ("lxc.include = a\x00b", "contains a NUL character"),
        ("lxc.include = /tmp/\ud800", "lone surrogate"),
        ("lxc.rootfs.path = /srv/\ud800", "lone surrogate"),
        ("lxc.cgroup.devic\u3000es.allow = a", "'devic\\u3000es.allow' is not a cgroup file"),
        ("lxc.tty\u3000.max = 1", "'lxc.tty\\u3000.max' is not a configuration key"),
        ("lxc.net.0.veth.vlan.tagged.id = ' '", "holds no value"),
        ("lxc.cap.drop = ' '", "holds no value"),
        ("lxc.tty.max = ²", "is not a number"),
        ("lxc.log.level = ²", "invalid log level"),
        ("lxc.signal.halt = ²", "is not a signal"),
        (f"lxc.net.{'1' * 5000}.type = veth", "network index is larger"),
        ("lxc.mount.entry = a\\000b /mnt none bind 0 0", "NUL"),
    ):
        try:
            parse_text(text, "c")
        except ConfigError as err:
            check_error(err, "c")
            assert reason in str(err), (text, str(err))
        else:
            raise AssertionError(f"accepted: {text!r}")


def test_leading_zeros_of_a_net_index_name_the_same_device():
    raw = parse_text("lxc.net.00.type = veth\nlxc.net.0.link = br0\nlxc.net.000 =\n")
    assert raw.keys() == []
    raw = parse_text("lxc.net.01.type = veth\nlxc.net.1.link = br0\n")
    assert raw.keys() == ["lxc.net.1.type", "lxc.net.1.link"]
    check_round_trip(raw)
