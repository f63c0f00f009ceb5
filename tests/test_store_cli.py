"""lxc-create, lxc-destroy, lxc-copy, lxc-ls and lxc-info on real directories, as root.

Each test works in its own lxcpath (see conftest.py). "Nothing half-made" is checked
by listing the whole lxcpath, hidden entries included, after every failure.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from runtime.config.parser import parse_file


def entries(path: Path) -> list[str]:
    return sorted(os.listdir(path))


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def create_busybox(cli, name: str, config: Path) -> None:
    result = cli("lxc-create", "-n", name, "-t", "busybox", "-f", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_create_busybox_then_destroy(cli, lxcpath: Path, empty_net_config: Path) -> None:
    create_busybox(cli, "bb1", empty_net_config)
    assert entries(lxcpath) == ["bb1"]
    container = lxcpath / "bb1"
    assert oct(container.stat().st_mode & 0o777) == "0o770"
    raw = parse_file(str(container / "config"))
    assert raw.get("lxc.rootfs.path") == f"dir:{container}/rootfs"
    assert raw.get("lxc.uts.name") == "bb1"
    assert raw.get("lxc.net.0.type") == "empty"
    assert (container / "rootfs/bin/busybox").is_file()
    assert os.path.samefile(container / "rootfs/sbin/init", container / "rootfs/bin/busybox")

    listed = cli("lxc-ls", "-1")
    assert listed.stdout == "bb1\n"
    info = cli("lxc-info", "-n", "bb1")
    assert info.returncode == 0
    assert info.stdout == "Name:           bb1\nState:          STOPPED\n"

    gone = cli("lxc-destroy", "-n", "bb1")
    assert gone.returncode == 0, gone.stderr
    assert entries(lxcpath) == []


def test_create_existing_name_keeps_the_original(cli, lxcpath: Path, empty_net_config: Path) -> None:
    create_busybox(cli, "dup", empty_net_config)
    before = (lxcpath / "dup/config").read_bytes()
    again = cli("lxc-create", "-n", "dup", "-t", "none", "-f", str(empty_net_config))
    assert again.returncode == 1
    assert one_line(again.stderr) == "lxc-create: dup: Container already exists"
    assert (lxcpath / "dup/config").read_bytes() == before
    assert entries(lxcpath) == ["dup"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("lxc.foo = bar", ":3: unknown key 'lxc.foo'"),
        ("lxc.tty.max = abc", ":3: lxc.tty.max: 'abc' is not a number"),
        ("lxc.network.type = veth", "use lxc.net.N.type"),
        ("lxc.net.0.type = bogus", ":3: lxc.net.0.type: invalid network type 'bogus'"),
        ("lxc.cap.drop = not_a_cap", ":3: lxc.cap.drop: invalid capability 'not_a_cap'"),
        ("lxc.include = /nonexistent-trio-lxc.conf", ":3: lxc.include: cannot read"),
    ],
)
def test_create_with_bad_config_leaves_nothing(
    cli, lxcpath: Path, tmp_path: Path, line: str, expected: str
) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text(f"lxc.net.0.type = empty\n# a comment\n{line}\n")
    result = cli("lxc-create", "-n", "bad", "-t", "busybox", "-f", str(conf))
    assert result.returncode == 1
    message = one_line(result.stderr)
    assert message.startswith(f"lxc-create: bad: {conf}")
    assert expected in message
    assert entries(lxcpath) == []


def test_lines_lxc_ignores_are_ignored(cli, lxcpath: Path, tmp_path: Path) -> None:
    conf = tmp_path / "noise.conf"
    conf.write_text("lxc.net.0.type = empty\nfoo.bar = 1\nthis line has no equals sign\n")
    result = cli("lxc-create", "-n", "noise", "-t", "none", "-f", str(conf))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", ["a/b", ".hidden", "..", "-dash", "x" * 65, "has space"])
def test_invalid_names_are_refused(cli, lxcpath: Path, empty_net_config: Path, name: str) -> None:
    result = cli("lxc-create", "-n", name, "-t", "none", "-f", str(empty_net_config))
    assert result.returncode == 1
    assert "invalid container name" in one_line(result.stderr) or "must not" in result.stderr
    assert entries(lxcpath) == []


def test_template_errors_leave_nothing(cli, lxcpath: Path, empty_net_config: Path) -> None:
    unknown = cli("lxc-create", "-n", "t1", "-t", "nosuch", "-f", str(empty_net_config))
    assert unknown.returncode == 1
    assert "nosuch" in one_line(unknown.stderr)
    failing = cli(
        "lxc-create", "-n", "t2", "-t", "busybox", "-f", str(empty_net_config),
        "--", "--busybox-path", "/nonexistent/busybox",
    )  # fmt: skip
    assert failing.returncode == 1
    assert "/nonexistent/busybox" in one_line(failing.stderr)
    missing = cli("lxc-create", "-n", "t3", "-f", str(empty_net_config))
    assert missing.returncode == 1
    assert "template must be specified" in one_line(missing.stderr)
    assert entries(lxcpath) == []


def test_template_none_writes_only_the_config(cli, lxcpath: Path, empty_net_config: Path) -> None:
    result = cli("lxc-create", "-n", "bare", "-t", "none", "-f", str(empty_net_config))
    assert result.returncode == 0, result.stderr
    assert entries(lxcpath / "bare") == ["config"]
    raw = parse_file(str(lxcpath / "bare/config"))
    assert raw.get("lxc.rootfs.path") is None


def test_default_config_is_used_without_f(cli, lxcpath: Path, lxc_env: dict[str, str]) -> None:
    Path(lxc_env["TRIO_LXC_DEFAULT_CONFIG"]).write_text(
        "lxc.net.0.type = veth\nlxc.net.0.link = br-none\nlxc.net.0.flags = up\n"
    )
    assert cli("lxc-create", "-n", "d1", "-t", "none").returncode == 0
    raw = parse_file(str(lxcpath / "d1/config"))
    assert raw.get("lxc.net.0.link") == "br-none"
    os.unlink(lxc_env["TRIO_LXC_DEFAULT_CONFIG"])
    assert cli("lxc-create", "-n", "d2", "-t", "none").returncode == 0
    assert parse_file(str(lxcpath / "d2/config")).get("lxc.net.0.type") == "empty"


def test_relative_include_is_made_absolute(cli, lxcpath: Path, tmp_path: Path) -> None:
    (tmp_path / "inc.conf").write_text("lxc.tty.max = 3\n")
    conf = tmp_path / "main.conf"
    conf.write_text("lxc.net.0.type = empty\nlxc.include = inc.conf\n")
    assert cli("lxc-create", "-n", "inc", "-t", "none", "-f", str(conf)).returncode == 0
    raw = parse_file(str(lxcpath / "inc/config"))
    assert raw.get("lxc.tty.max") == "3"


def test_copy_rewrites_paths_name_and_mac(cli, lxcpath: Path, tmp_path: Path) -> None:
    conf = tmp_path / "veth.conf"
    conf.write_text(
        "lxc.net.0.type = veth\nlxc.net.0.link = br0\nlxc.net.0.hwaddr = 00:16:3e:12:34:56\n"
        f"lxc.console.logfile = {lxcpath}/src/console.log\n"
    )
    create_busybox(cli, "src", conf)
    before = (lxcpath / "src/config").read_text()
    result = cli("lxc-copy", "-n", "src", "-N", "dst")
    assert result.returncode == 0, result.stderr
    assert (lxcpath / "src/config").read_text() == before
    raw = parse_file(str(lxcpath / "dst/config"))
    assert raw.get("lxc.rootfs.path") == f"dir:{lxcpath}/dst/rootfs"
    assert raw.get("lxc.console.logfile") == f"{lxcpath}/dst/console.log"
    assert raw.get("lxc.uts.name") == "dst"
    mac = raw.get("lxc.net.0.hwaddr")
    assert mac is not None and mac.startswith("00:16:3e:") and mac != "00:16:3e:12:34:56"
    rootfs = lxcpath / "dst/rootfs"
    assert os.path.samefile(rootfs / "sbin/init", rootfs / "bin/busybox")
    assert os.readlink(rootfs / "bin/sh") == "busybox"
    assert oct((rootfs / "tmp").stat().st_mode & 0o7777) == "0o1777"
    assert entries(lxcpath) == ["dst", "src"]

    kept = cli("lxc-copy", "-n", "src", "-N", "keep", "-K", "-M")
    assert kept.returncode == 0, kept.stderr
    raw = parse_file(str(lxcpath / "keep/config"))
    assert raw.get("lxc.uts.name") == "src"
    assert raw.get("lxc.net.0.hwaddr") == "00:16:3e:12:34:56"


def test_hwaddr_templates_are_filled_at_create_and_copy(
    cli, lxcpath: Path, tmp_path: Path, lxc_env: dict[str, str]
) -> None:
    """LXC's `xx` MAC templates become one fixed random address per container (the
    first octet stays unicast); an included file's template is left to each start."""
    (tmp_path / "inc.conf").write_text(
        "lxc.net.1.type = veth\nlxc.net.1.hwaddr = 00:16:3e:xx:xx:xx\n"
    )
    conf = tmp_path / "tmpl.conf"
    conf.write_text(
        "lxc.net.0.type = veth\nlxc.net.0.link = br0\nlxc.net.0.hwaddr = xx:16:3e:xx:xx:xx\n"
        f"lxc.include = {tmp_path}/inc.conf\n"
    )
    macs = set()
    for name in ("t1", "t2"):
        assert cli("lxc-create", "-n", name, "-t", "none", "-f", str(conf)).returncode == 0
        text = (lxcpath / name / "config").read_text()
        mac = parse_file(str(lxcpath / name / "config")).get("lxc.net.0.hwaddr")
        assert mac is not None and re.fullmatch(r"[0-9a-f]{2}:16:3e(:[0-9a-f]{2}){3}", mac), mac
        assert int(mac[:2], 16) & 1 == 0  # unicast
        assert "lxc.net.1.hwaddr" not in text  # the included file's stays a template
        macs.add(mac)
    assert len(macs) == 2
    # the default config too
    Path(lxc_env["TRIO_LXC_DEFAULT_CONFIG"]).write_text(
        "lxc.net.0.type = veth\nlxc.net.0.hwaddr = 00:16:3e:xx:xx:xx\n"
    )
    assert cli("lxc-create", "-n", "t3", "-t", "none").returncode == 0
    os.unlink(lxc_env["TRIO_LXC_DEFAULT_CONFIG"])
    assert "xx" not in (lxcpath / "t3/config").read_text()

    # a copy whose config still has a template (written by hand) gets it filled;
    # -M keeps what is written
    config = lxcpath / "t3/config"
    config.write_text(
        config.read_text().replace(
            parse_file(str(config)).get("lxc.net.0.hwaddr") or "?", "00:16:3e:xx:xx:xx"
        )
    )
    assert cli("lxc-copy", "-n", "t3", "-N", "t4").returncode == 0
    copied = parse_file(str(lxcpath / "t4/config")).get("lxc.net.0.hwaddr")
    assert copied is not None and re.fullmatch(r"00:16:3e(:[0-9a-f]{2}){3}", copied), copied
    assert cli("lxc-copy", "-n", "t3", "-N", "t5", "-M").returncode == 0
    assert parse_file(str(lxcpath / "t5/config")).get("lxc.net.0.hwaddr") == "00:16:3e:xx:xx:xx"


def test_copy_errors_change_nothing(cli, lxcpath: Path, empty_net_config: Path) -> None:
    create_busybox(cli, "one", empty_net_config)
    create_busybox(cli, "two", empty_net_config)
    before = {n: (lxcpath / n / "config").read_bytes() for n in ("one", "two")}
    taken = cli("lxc-copy", "-n", "one", "-N", "two")
    assert taken.returncode == 1
    assert "already exists" in one_line(taken.stderr)
    missing = cli("lxc-copy", "-n", "nothere", "-N", "three")
    assert missing.returncode == 1
    bad = cli("lxc-copy", "-n", "one", "-N", "../three")
    assert bad.returncode == 1
    assert entries(lxcpath) == ["one", "two"]
    assert {n: (lxcpath / n / "config").read_bytes() for n in ("one", "two")} == before


def test_copy_to_another_lxcpath_and_rename(
    cli, lxcpath: Path, tmp_path: Path, empty_net_config: Path
) -> None:
    create_busybox(cli, "orig", empty_net_config)
    other = tmp_path / "other"
    result = cli("lxc-copy", "-n", "orig", "-N", "moved", "-p", str(other))
    assert result.returncode == 0, result.stderr
    raw = parse_file(str(other / "moved/config"))
    assert raw.get("lxc.rootfs.path") == f"dir:{other}/moved/rootfs"

    renamed = cli("lxc-copy", "-n", "orig", "-N", "newname", "-R")
    assert renamed.returncode == 0, renamed.stderr
    assert entries(lxcpath) == ["newname"]
    raw = parse_file(str(lxcpath / "newname/config"))
    assert raw.get("lxc.rootfs.path") == f"dir:{lxcpath}/newname/rootfs"
    assert raw.get("lxc.uts.name") == "newname"


def test_destroy_refuses_while_something_is_mounted(
    cli, lxcpath: Path, empty_net_config: Path
) -> None:
    create_busybox(cli, "mnt", empty_net_config)
    target = lxcpath / "mnt/rootfs/mnt"
    subprocess.run(["mount", "-t", "tmpfs", "trio-lxc-test", str(target)], check=True)
    try:
        (target / "precious").write_text("keep me")
        result = cli("lxc-destroy", "-n", "mnt")
        assert result.returncode == 1
        assert "unmount it first" in one_line(result.stderr)
        assert (target / "precious").read_text() == "keep me"
    finally:
        subprocess.run(["umount", str(target)], check=True)
    assert cli("lxc-destroy", "-n", "mnt").returncode == 0
    assert entries(lxcpath) == []


def test_ls_formats_and_filters(cli, lxcpath: Path, tmp_path: Path) -> None:
    web = tmp_path / "web.conf"
    web.write_text("lxc.net.0.type = empty\nlxc.group = web\nlxc.group = db\nlxc.start.auto = 1\n")
    plain = tmp_path / "plain.conf"
    plain.write_text("lxc.net.0.type = empty\nlxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 100000 65536\n")
    for name, conf in (("a1", web), ("bb2", plain), ("ccc3", plain)):
        assert cli("lxc-create", "-n", name, "-t", "none", "-f", str(conf)).returncode == 0

    assert cli("lxc-ls").stdout == "a1  \nbb2 \nccc3\n"
    assert cli("lxc-ls", "-1").stdout == "a1\nbb2\nccc3\n"
    assert cli("lxc-ls", "-1", "b").stdout == "bb2\n"
    assert cli("lxc-ls", "-1", "--filter", "^c").stdout == "ccc3\n"
    assert cli("lxc-ls", "-1", "-g", "db").stdout == "a1\n"
    assert cli("lxc-ls", "-1", "--running").stdout == ""
    assert cli("lxc-ls", "-1", "--stopped").stdout == "a1\nbb2\nccc3\n"
    assert cli("lxc-ls", "--fancy").stdout == (
        "NAME STATE   AUTOSTART GROUPS  IPV4 IPV6 UNPRIVILEGED \n"
        "a1   STOPPED 1         web, db -    -    false        \n"
        "bb2  STOPPED 0         -       -    -    true         \n"
        "ccc3 STOPPED 0         -       -    -    true         \n"
    )
    assert cli("lxc-ls", "-f", "-F", "NAME,PID,RAM", "a").stdout == (
        "NAME PID RAM \na1   -   -   \n"
    )
    assert cli("lxc-ls", "--fancy", "nomatch").stdout == ""
    bad = cli("lxc-ls", "-f", "-F", "NAME,FOO")
    assert bad.returncode == 1
    assert "Invalid key: FOO" in one_line(bad.stderr)


def test_ls_of_missing_lxcpath_is_empty(cli, tmp_path: Path) -> None:
    result = cli("lxc-ls", "-P", str(tmp_path / "nowhere"), lxcpath=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_default_lxcpath_from_system_config(
    cli, lxc_env: dict[str, str], tmp_path: Path, empty_net_config: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    Path(lxc_env["TRIO_LXC_SYSTEM_CONFIG"]).write_text(f"lxc.lxcpath = {elsewhere}\n")
    created = cli("lxc-create", "-n", "sys1", "-t", "none", "-f", str(empty_net_config), lxcpath=False)
    assert created.returncode == 0, created.stderr
    assert (elsewhere / "sys1/config").is_file()
    assert cli("lxc-ls", "-1", lxcpath=False).stdout == "sys1\n"


def test_info_flags_and_config_keys(cli, lxcpath: Path, tmp_path: Path) -> None:
    conf = tmp_path / "info.conf"
    conf.write_text("lxc.net.0.type = empty\nlxc.group = web\nlxc.group = db\nlxc.tty.max = 4\n")
    create_busybox(cli, "inf", conf)
    assert cli("lxc-info", "-n", "inf", "-s").stdout == "State:          STOPPED\n"
    assert cli("lxc-info", "-n", "inf", "-sH").stdout == "STOPPED\n"
    assert cli("lxc-info", "-n", "inf", "-p").stdout == ""
    assert cli("lxc-info", "-n", "inf", "-S").stdout == ""
    got = cli("lxc-info", "-n", "inf", "-c", "lxc.uts.name", "-c", "lxc.foo", "-c", "lxc.pty.max")
    assert got.returncode == 0
    assert got.stdout == "lxc.uts.name = inf\nlxc.pty.max = 1\n"
    assert got.stderr == "lxc.foo invalid\n"
    groups = cli("lxc-info", "-n", "inf", "-c", "lxc.group", "-c", "lxc.rootfs.path")
    assert groups.stdout == f"lxc.group = web\ndb\n\nlxc.rootfs.path = {lxcpath}/inf/rootfs\n"
    # LXC: -H with a single -c KEY prints the value alone (lxc-test-autostart reads it so)
    assert cli("lxc-info", "-n", "inf", "-c", "lxc.rootfs.path", "-H").stdout == f"{lxcpath}/inf/rootfs\n"
    assert cli("lxc-info", "-n", "inf", "-c", "lxc.uts.name", "-c", "lxc.tty.max", "-H").stdout == (
        "lxc.uts.name = inf\nlxc.tty.max = 4\n"
    )


def test_info_errors(cli, lxcpath: Path, empty_net_config: Path) -> None:
    missing = cli("lxc-info", "-n", "nope")
    assert missing.returncode == 1
    assert "nope doesn't exist" in one_line(missing.stderr)
    noname = cli("lxc-info")
    assert (noname.returncode, one_line(noname.stderr)) == (1, "lxc-info: No container name specified")
    badopt = cli("lxc-info", "-n", "x", "--bogus")
    assert badopt.returncode == 1
    assert badopt.stderr.startswith("lxc-info: unrecognized option '--bogus'\nUsage: lxc-info")
    create_busybox(cli, "broken", empty_net_config)
    with open(lxcpath / "broken/config", "a") as handle:
        handle.write("lxc.tty.max = abc\n")
    broken = cli("lxc-info", "-n", "broken")
    assert broken.returncode == 1
    message = one_line(broken.stderr)
    assert f"{lxcpath}/broken/config:" in message and "lxc.tty.max: 'abc' is not a number" in message


def test_log_file_and_priority(cli, tmp_path: Path, empty_net_config: Path) -> None:
    log = tmp_path / "create.log"
    result = cli(
        "lxc-create", "-n", "logged", "-t", "none", "-f", str(empty_net_config),
        "-o", str(log), "-l", "INFO",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = log.read_text()
    assert " INFO create - creating logged in " in text
    assert text.startswith("lxc-create logged ")
    bad = cli("lxc-ls", "-l", "LOUD")
    assert bad.returncode == 1
    assert "invalid log priority 'LOUD'" in bad.stderr.splitlines()[0]


def test_version_and_help(cli) -> None:
    version = cli("lxc-ls", "--version", lxcpath=False)
    assert version.stdout.startswith("5.0.2")
    helped = cli("lxc-create", "--help", lxcpath=False)
    assert helped.returncode == 0
    assert helped.stdout.startswith("Usage: lxc-create --name=NAME")
    assert "Common options :" in helped.stdout
