"""lxc-config and lxc-update-config against LXC 5's behaviour, on real files.

lxc-update-config runs over the Debian config corpus (LXC 5 configs: nothing may
change but the backup must be made) and over a pre-3.0 config whose result must
parse with our LXC 5 key table.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from runtime.config import model
from runtime.config.legacy_update import update_text
from runtime.config.parser import parse_file

CORPUS_DIR = "/usr/share/lxc/config"


def test_config_lists_items(cli):
    result = cli("lxc-config", "-l", lxcpath=False)
    assert result.returncode == 0
    assert result.stdout.split() == [
        "lxc.default_config",
        "lxc.lxcpath",
        "lxc.bdev.lvm.vg",
        "lxc.bdev.lvm.thin_pool",
        "lxc.bdev.zfs.root",
        "lxc.cgroup.use",
        "lxc.cgroup.pattern",
    ]


def test_config_defaults_and_unset(cli):
    assert cli("lxc-config", "lxc.bdev.lvm.vg", lxcpath=False).stdout == "lxc\n"
    assert cli("lxc-config", "lxc.lxcpath", lxcpath=False).stdout == "/var/lib/lxc\n"
    result = cli("lxc-config", "lxc.cgroup.use", lxcpath=False)
    assert (result.returncode, result.stdout) == (0, "lxc.cgroup.use is not set.\n")


def test_config_reads_system_config_first_match(cli, lxc_env):
    Path(lxc_env["TRIO_LXC_SYSTEM_CONFIG"]).write_text(
        "# lxc.bdev.zfs.root = commented\n"
        "  lxc.bdev.zfs.root  =   tank/ct\n"
        "lxc.bdev.zfs.root = second\n"
        "lxc.lxcpath = /srv/lxc\n"
        "lxc.cgroup.pattern = lxc/%n\n"
    )
    assert cli("lxc-config", "lxc.bdev.zfs.root", lxcpath=False).stdout == "tank/ct\n"
    assert cli("lxc-config", "lxc.lxcpath", lxcpath=False).stdout == "/srv/lxc\n"
    assert cli("lxc-config", "lxc.cgroup.pattern", lxcpath=False).stdout == "lxc/%n\n"


def test_config_unknown_item_and_usage(cli):
    result = cli("lxc-config", "lxc.nope", lxcpath=False)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "Unknown configuration item: lxc.nope\n"
    for argv in ([], ["-h"], ["--help"]):
        result = cli("lxc-config", *argv, lxcpath=False)
        assert result.returncode == 0 and result.stdout.startswith("Usage: lxc-config -l")


PRE_3 = """\
# a pre-3.0 container
lxc.utsname = old
lxc.rootfs = /var/lib/lxc/old/rootfs
lxc.rootfs.backend = dir
lxc.pivotdir = lxc_putold
lxc.kmsg = 0
lxc.tty = 4
lxc.pts = 1024
#lxc.aa_profile = unconfined
lxc.mount = /var/lib/lxc/old/fstab
lxc.mount.entry = proc proc proc nodev 0 0
lxc.limit.nofile = 1024
lxc.network.type = veth
lxc.network.flags = up
lxc.network.link = lxcbr0
lxc.network.ipv4 = 10.0.3.5/24
lxc.network.ipv4.gateway = 10.0.3.1
lxc.network.type = empty
lxc.network.5.type = veth
lxc.network.5.ipv6 = fd00::5/64
lxc.haltsignal = SIGRTMIN+3
lxc.init_cmd = /sbin/init
lxc.console = none
"""


def test_update_text_pre_3_0():
    assert update_text(PRE_3) == """\
# a pre-3.0 container
lxc.uts.name = old
lxc.rootfs.path = dir:/var/lib/lxc/old/rootfs
lxc.tty.max = 4
lxc.pty.max = 1024
#lxc.apparmor.profile = unconfined
lxc.mount.fstab = /var/lib/lxc/old/fstab
lxc.mount.entry = proc proc proc nodev 0 0
lxc.prlimit.nofile = 1024
lxc.net.0.type = veth
lxc.net.0.flags = up
lxc.net.0.link = lxcbr0
lxc.net.0.ipv4.address = 10.0.3.5/24
lxc.net.0.ipv4.gateway = 10.0.3.1
lxc.net.1.type = empty
lxc.net.5.type = veth
lxc.net.5.ipv6.address = fd00::5/64
lxc.signal.halt = SIGRTMIN+3
lxc.init.cmd = /sbin/init
lxc.console.path = none
"""


def test_update_rootfs_backend_and_named_driver():
    assert update_text("lxc.rootfs.backend = lvm\nlxc.rootfs = /dev/vg/ct\n") == (
        "lxc.rootfs.path = lvm:/dev/vg/ct\n"
    )
    assert update_text("lxc.rootfs = overlay:/a:/b\n") == "lxc.rootfs.path = overlay:/a:/b\n"


def test_update_config_file_makes_backup_and_parses(cli, tmp_path):
    conf = tmp_path / "config"
    conf.write_text(PRE_3)
    result = cli("lxc-update-config", "-c", str(conf), lxcpath=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert (tmp_path / "config.backup").read_text() == PRE_3
    model.from_raw(parse_file(str(conf)))  # LXC 5 keys only now


def test_update_config_errors_change_nothing(cli, tmp_path):
    missing = tmp_path / "missing"
    result = cli("lxc-update-config", "-c", str(missing), lxcpath=False)
    assert result.returncode == 1 and str(missing) in result.stderr
    assert not (tmp_path / "missing.backup").exists()
    assert cli("lxc-update-config", "-x", lxcpath=False).returncode == 1
    usage = cli("lxc-update-config", lxcpath=False)
    assert usage.returncode == 0 and "config: the container configuration" in usage.stdout


def _corpus() -> list[str]:
    found = []
    for directory, _dirs, files in os.walk(CORPUS_DIR):
        found += [os.path.join(directory, f) for f in files if f.endswith(".conf")]
    return sorted(found)


@pytest.mark.skipif(not os.path.isdir(CORPUS_DIR), reason=f"{CORPUS_DIR} is missing")
def test_update_config_leaves_lxc5_corpus_alone(cli, tmp_path):
    corpus = _corpus()
    assert len(corpus) >= 10
    for index, path in enumerate(corpus):
        copy = tmp_path / f"{index}.conf"
        shutil.copyfile(path, copy)
        result = cli("lxc-update-config", "-c", str(copy), lxcpath=False)
        assert result.returncode == 0, result.stderr
        assert copy.read_bytes() == Path(path).read_bytes(), path
        assert (tmp_path / f"{index}.conf.backup").read_bytes() == Path(path).read_bytes()
