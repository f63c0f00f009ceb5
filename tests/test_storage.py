"""Backing stores, snapshot clones, ephemeral copies and lxc-snapshot on real containers.

Each test has its own lxcpath (conftest `runtime`: the daemon and its containers are
stopped afterwards even when a test fails). After each one nothing of it may stay:
no mount below its directory, no loop device on one of its images, no temporary
mount point of a copy.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import Cli, create_busybox, kill_daemon, unique

CONF = "lxc.net.0.type = empty\n"


def mounts_below(path: Path) -> list[str]:
    prefix = str(path)
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        return [line.split()[4] for line in handle if line.split()[4].startswith(prefix)]


def loops_on(path: Path) -> list[str]:
    listed = subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=False).stdout
    return [line for line in listed.splitlines() if str(path) in line]


def until(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


@pytest.fixture
def store(runtime: Cli, tmp_path: Path) -> Iterator[Cli]:
    """`runtime`, then: nothing mounted, attached or left in /tmp by the test."""
    views = set(glob.glob("/tmp/trio-lxc-overlay-*") + glob.glob("/tmp/trio-lxc-loop-*"))
    yield runtime
    assert until(lambda: not loops_on(tmp_path)), loops_on(tmp_path)
    assert mounts_below(tmp_path) == []
    assert set(glob.glob("/tmp/trio-lxc-overlay-*") + glob.glob("/tmp/trio-lxc-loop-*")) <= views


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr
    return result


def config_value(cli: Cli, name: str, key: str) -> str:
    return ok(cli("lxc-info", "-n", name, "-c", key, "-H")).stdout.strip()


def in_container(cli: Cli, name: str, script: str) -> str:
    return ok(cli("lxc-attach", "-n", name, "--", "sh", "-c", script)).stdout


def gone(cli: Cli, name: str) -> bool:
    return not (cli.lxcpath / name).exists() and name not in cli("lxc-ls", "-1").stdout.split()


# -- overlay snapshot clones ----------------------------------------------------------


def test_snapshot_clone_writes_only_its_own_delta(store: Cli) -> None:
    origin = create_busybox(store, store.lxcpath.parent, CONF, "so")
    clone = unique("sc")
    ok(store("lxc-copy", "-s", "-n", origin, "-N", clone))
    lxcpath = store.lxcpath
    delta = lxcpath / clone / "overlay/delta"
    assert config_value(store, clone, "lxc.rootfs.path") == (
        f"overlay:{lxcpath}/{origin}/rootfs:{delta}"
    )
    assert (lxcpath / clone / "overlay/work").is_dir() and (lxcpath / clone / "rootfs").is_dir()
    assert (lxcpath / origin / "lxc_snapshots").read_text() == f"{lxcpath}\n{clone}\n"
    assert (lxcpath / clone / "lxc_rdepends").read_text() == f"{lxcpath}\n{origin}\n"

    ok(store("lxc-start", "-n", clone))
    root = in_container(store, clone, "echo mine > /written; rm /bin/true; grep ' / ' /proc/mounts")
    assert root.split()[:3] == ["overlay", "/", "overlay"]
    ok(store("lxc-stop", "-n", clone, "-k"))
    assert (delta / "written").read_text() == "mine\n"
    assert not (lxcpath / origin / "rootfs/written").exists()
    assert (lxcpath / origin / "rootfs/bin/true").exists()  # the whiteout is the clone's

    refused = store("lxc-destroy", "-n", origin)
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith(f"Destroying {origin} failed: {origin} has clones")
    ok(store("lxc-destroy", "-n", clone))
    assert not (lxcpath / origin / "lxc_snapshots").exists()
    ok(store("lxc-destroy", "-n", origin))
    assert os.listdir(lxcpath) == []


def test_copy_of_overlay_clone_flattens_to_dir(store: Cli) -> None:
    origin = create_busybox(store, store.lxcpath.parent, CONF, "fo")
    clone, flat = unique("fc"), unique("ff")
    ok(store("lxc-copy", "-s", "-n", origin, "-N", clone))
    (store.lxcpath / clone / "overlay/delta/extra").write_text("x\n")
    ok(store("lxc-copy", "-n", clone, "-N", flat, "-B", "dir"))
    assert config_value(store, flat, "lxc.rootfs.path") == f"{store.lxcpath}/{flat}/rootfs"
    assert (store.lxcpath / flat / "rootfs/extra").read_text() == "x\n"
    assert (store.lxcpath / flat / "rootfs/bin/busybox").is_file()
    assert not (store.lxcpath / flat / "lxc_rdepends").exists()
    for name in (flat, clone, origin):
        ok(store("lxc-destroy", "-n", name))


# -- loop ----------------------------------------------------------------------------


def test_loop_store_is_created_started_and_detached(store: Cli, tmp_path: Path) -> None:
    name = unique("lp")
    conf = tmp_path / "loop.conf"
    conf.write_text(CONF)
    ok(store("lxc-create", "-n", name, "-t", "busybox", "-B", "loop", "--fssize", "64M", "-f", str(conf)))
    image = store.lxcpath / name / "rootdev"
    assert image.stat().st_size == 64 << 20 and image.stat().st_mode & 0o777 == 0o600
    assert config_value(store, name, "lxc.rootfs.path") == f"loop:{image}"
    assert os.listdir(store.lxcpath / name / "rootfs") == []

    ok(store("lxc-start", "-n", name))
    mounted = in_container(store, name, "echo kept > /kept; grep ' / ' /proc/mounts")
    assert mounted.split()[0].startswith("/dev/loop") and mounted.split()[2] == "ext4"
    assert len(loops_on(image)) == 1
    assert mounts_below(tmp_path) == []  # the container's mount namespace only
    ok(store("lxc-stop", "-n", name, "-k"))
    assert until(lambda: not loops_on(image))

    copy = unique("lc")
    ok(store("lxc-copy", "-n", name, "-N", copy, "-B", "dir"))
    assert (store.lxcpath / copy / "rootfs/kept").read_text() == "kept\n"
    ok(store("lxc-destroy", "-n", copy))
    ok(store("lxc-destroy", "-n", name))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-B", "zfs"], "backing store 'zfs' needs the 'zfs' tool (zfsutils-linux)"),
        (["-B", "lvm", "--vgname", "vg0"], "backing store 'lvm' needs the 'lvcreate' tool (lvm2)"),
        (["-B", "btrfs"], "backing store 'btrfs' needs the 'btrfs' tool (btrfs-progs)"),
        (["-B", "rbd", "--rbdpool", "p"], "backing store 'rbd' needs the 'rbd' tool (ceph-common)"),
        (["-B", "loop", "--vgname", "vg0"], "--vgname: only for the lvm, zfs and rbd stores"),
        (["-B", "loop", "--fstype", "xfs"], "--fstype xfs: a loop rootfs is made with ext4"),
        (["-B", "loop", "--fssize", "8K"], "cannot make the ext4 image (8192 bytes, --fssize)"),
        (["-B", "loop", "--fssize", "lots"], "--fssize: invalid size 'lots'"),
        (["-B", "overlay", "--dir", "/tmp/x"], "--dir places a dir rootfs"),
    ],
)
def test_refused_stores_leave_nothing(store: Cli, tmp_path: Path, argv: list[str], message: str) -> None:
    tool = {"zfs": "zfs", "lvm": "lvcreate", "btrfs": "btrfs", "rbd": "rbd"}.get(argv[1])
    if tool and shutil.which(tool):
        pytest.skip(f"{tool} is installed here")
    conf = tmp_path / "r.conf"
    conf.write_text(CONF)
    result = store("lxc-create", "-n", unique("rf"), "-t", "busybox", "-f", str(conf), *argv)
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert os.listdir(store.lxcpath) == []


def test_copy_refusals(store: Cli) -> None:
    origin = create_busybox(store, store.lxcpath.parent, CONF, "cr")
    loop = unique("cl")
    ok(store("lxc-copy", "-n", origin, "-N", loop, "-B", "loop", "-L", "48M"))
    result = store("lxc-copy", "-s", "-n", loop, "-N", unique("x"))
    assert result.returncode == 1 and "a loop rootfs has no snapshots" in result.stderr
    result = store("lxc-copy", "-n", origin, "-N", unique("x"), "-B", "zfs")
    assert result.returncode == 1 and "'zfs' tool" in result.stderr
    result = store("lxc-copy", "-n", origin, "-N", unique("x"), "-t")
    assert result.returncode == 1 and "-t can only be given with -e" in result.stderr
    assert sorted(os.listdir(store.lxcpath)) == sorted([origin, loop])
    for name in (loop, origin):
        ok(store("lxc-destroy", "-n", name))


# -- ephemeral -----------------------------------------------------------------------


def test_ephemeral_copy_vanishes_after_stop(store: Cli, tmp_path: Path) -> None:
    origin = create_busybox(store, store.lxcpath.parent, CONF, "eo")
    copy = unique("ec")
    store.names.add(copy)
    ok(store("lxc-copy", "-e", "-n", origin, "-N", copy, "-m", f"bind={tmp_path}:/mnt/host:ro"))
    assert config_value(store, copy, "lxc.ephemeral") == "1"
    assert store("lxc-info", "-n", copy, "-sH").stdout.strip() == "RUNNING"
    seen = in_container(store, copy, "ls /mnt/host; touch /mnt/host/w 2>/dev/null || echo ro")
    assert seen.split() == sorted(os.listdir(tmp_path)) + ["ro"]
    in_container(store, copy, "echo x > /only-in-the-copy")
    ok(store("lxc-stop", "-n", copy))
    assert until(lambda: gone(store, copy))
    assert not (store.lxcpath / origin / "lxc_snapshots").exists()
    assert not (store.lxcpath / origin / "rootfs/only-in-the-copy").exists()
    ok(store("lxc-destroy", "-n", origin))


def test_ephemeral_copy_gets_a_random_name(store: Cli) -> None:
    origin = create_busybox(store, store.lxcpath.parent, CONF, "er")
    ok(store("lxc-copy", "-e", "-n", origin))
    (copy,) = [n for n in os.listdir(store.lxcpath) if n.startswith(origin + "_")]
    store.names.add(copy)
    assert len(copy) == len(origin) + 7
    ok(store("lxc-stop", "-n", copy, "-k"))
    assert until(lambda: gone(store, copy))
    ok(store("lxc-destroy", "-n", origin))


def test_ephemeral_survives_a_daemon_restart_then_vanishes(store: Cli) -> None:
    """Re-adopted by the next daemon, which destroys it when it stops."""
    origin = create_busybox(store, store.lxcpath.parent, CONF, "ea")
    copy = unique("ed")
    store.names.add(copy)
    ok(store("lxc-copy", "-e", "-n", origin, "-N", copy))
    kill_daemon(store)
    assert (store.lxcpath / copy).is_dir()
    ok(store("lxc-stop", "-n", copy, "-k"))  # a new daemon re-adopts, then stops it
    assert until(lambda: gone(store, copy))
    ok(store("lxc-destroy", "-n", origin))


def test_ephemeral_that_died_without_daemon_vanishes(store: Cli, tmp_path: Path) -> None:
    """lxc.ephemeral = 1 set by hand; the container dies while no daemon runs: the
    next daemon buries it and destroys it."""
    name = create_busybox(store, tmp_path, CONF + "lxc.ephemeral = 1\n", "eb")
    ok(store("lxc-start", "-n", name))
    pid = int(store("lxc-info", "-n", name, "-pH").stdout)
    kill_daemon(store)
    os.kill(pid, 9)
    assert until(lambda: not Path(f"/proc/{pid}").exists())
    ok(store("lxc-wait", "-n", name, "-s", "STOPPED", "-t", "10"))
    assert until(lambda: gone(store, name))


# -- lxc-snapshot --------------------------------------------------------------------


def test_snapshot_create_list_restore_destroy(store: Cli, tmp_path: Path) -> None:
    name = create_busybox(store, tmp_path, CONF, "sn")
    container = store.lxcpath / name
    assert ok(store("lxc-snapshot", "-n", name, "-L")).stdout == "No snapshots\n"
    (container / "rootfs/version").write_text("one\n")
    assert ok(store("lxc-snapshot", "-n", name)).stdout == ""
    comment = tmp_path / "comment"
    comment.write_text("before the upgrade\n")
    (container / "rootfs/version").write_text("two\n")
    ok(store("lxc-snapshot", "-n", name, "-c", str(comment)))
    snaps = container / "snaps"
    assert (snaps / "snap1/comment").read_text() == "before the upgrade\n"
    assert config_value(store, name, "lxc.uts.name") == name
    listed = ok(store("lxc-snapshot", "-n", name, "-L")).stdout.splitlines()
    assert [line.split()[:2] for line in listed] == [["snap0", f"({snaps})"], ["snap1", f"({snaps})"]]
    assert all(len(line.split()) == 4 and line.split()[2].count(":") == 2 for line in listed)
    with_comments = ok(store("lxc-snapshot", "-n", name, "-L", "-C")).stdout.splitlines()
    assert with_comments == [listed[0], listed[1], "before the upgrade"]

    (container / "rootfs/version").write_text("three\n")
    (container / "rootfs/new").write_text("new\n")
    ok(store("lxc-snapshot", "-n", name, "-r", "snap0"))
    assert (container / "rootfs/version").read_text() == "one\n"
    assert not (container / "rootfs/new").exists()
    assert not (container / "ts").exists()
    assert sorted(os.listdir(snaps)) == ["snap0", "snap1"]

    restored = unique("sr")
    ok(store("lxc-snapshot", "-n", name, "-r", "snap1", "-N", restored))
    assert (store.lxcpath / restored / "rootfs/version").read_text() == "two\n"
    assert config_value(store, restored, "lxc.uts.name") == restored
    ok(store("lxc-start", "-n", restored))
    assert in_container(store, restored, "cat /version") == "two\n"
    ok(store("lxc-stop", "-n", restored, "-k"))

    missing = store("lxc-snapshot", "-n", name, "-d", "snap7")
    assert missing.returncode == 1 and "snap7" in missing.stderr
    ok(store("lxc-snapshot", "-n", name, "-d", "snap0"))
    assert os.listdir(snaps) == ["snap1"]
    refused = store("lxc-destroy", "-n", name)
    assert refused.returncode == 1 and f"{name} has snapshots" in refused.stderr
    ok(store("lxc-snapshot", "-n", name))  # snap0 is free again
    ok(store("lxc-snapshot", "-n", name, "-d", "ALL"))
    assert not snaps.exists()
    ok(store("lxc-snapshot", "-n", name))
    ok(store("lxc-destroy", "-n", name, "-s"))
    ok(store("lxc-destroy", "-n", restored))
    assert os.listdir(store.lxcpath) == []


def test_snapshot_of_overlay_clone_and_of_running_container(store: Cli, tmp_path: Path) -> None:
    origin = create_busybox(store, tmp_path, CONF, "oo")
    clone = unique("oc")
    ok(store("lxc-copy", "-s", "-n", origin, "-N", clone))
    (store.lxcpath / clone / "overlay/delta/mark").write_text("1\n")
    ok(store("lxc-snapshot", "-n", clone))
    snap = store.lxcpath / clone / "snaps/snap0"
    assert (snap / "overlay/delta/mark").read_text() == "1\n"
    assert f"overlay:{store.lxcpath}/{origin}/rootfs:{snap}/overlay/delta" in (snap / "config").read_text()

    ok(store("lxc-start", "-n", clone))
    running = store("lxc-snapshot", "-n", clone)
    assert running.returncode == 1 and "is running" in running.stderr
    assert os.listdir(store.lxcpath / clone / "snaps") == ["snap0"]
    ok(store("lxc-stop", "-n", clone, "-k"))
    ok(store("lxc-destroy", "-n", clone, "-s"))
    ok(store("lxc-destroy", "-n", origin))


def test_loop_image_without_filesystem_fails_and_detaches(store: Cli, tmp_path: Path) -> None:
    name = unique("lb")
    conf = tmp_path / "lb.conf"
    conf.write_text(CONF)
    ok(store("lxc-create", "-n", name, "-t", "busybox", "-B", "loop", "--fssize", "32M", "-f", str(conf)))
    image = store.lxcpath / name / "rootdev"
    with open(image, "r+b") as handle:
        handle.write(b"\0" * (2 << 20))  # the superblocks gone
    result = store("lxc-start", "-n", name)
    assert result.returncode == 1
    assert f"lxc.rootfs.path: cannot mount 'loop:{image}' on '{store.lxcpath}/{name}/rootfs'" in result.stderr
    assert until(lambda: not loops_on(image))
    assert store("lxc-info", "-n", name, "-sH").stdout.strip() == "STOPPED"
    ok(store("lxc-destroy", "-n", name))


def test_python_functions_clone_and_snapshot(store: Cli, tmp_path: Path) -> None:
    """runtime.storage.ops: what runtime.api's clone(snapshot=True) and snapshot* call."""
    from runtime.storage import ops

    origin = create_busybox(store, tmp_path, CONF, "po")
    lxcpath, clone = str(store.lxcpath), unique("pc")
    made = ops.clone(lxcpath, origin, clone, snapshot=True)
    assert made.dir == f"{lxcpath}/{clone}"
    assert ops.snapshot(lxcpath, clone, comment="first") == "snap0"
    (listed,) = ops.list_snapshots(lxcpath, clone)
    assert (listed.name, listed.comment) == ("snap0", "first")
    (store.lxcpath / clone / "overlay/delta/later").write_text("x")
    ops.restore_snapshot(lxcpath, clone, "snap0")
    assert not (store.lxcpath / clone / "overlay/delta/later").exists()
    ops.destroy_snapshot(lxcpath, clone, "ALL")
    assert ops.list_snapshots(lxcpath, clone) == []
    ok(store("lxc-destroy", "-n", clone))
    ok(store("lxc-destroy", "-n", origin))


def test_create_overlay_store_start_and_restore(store: Cli, tmp_path: Path) -> None:
    """lxc-create -B overlay (LXC's layout: the rootfs is the lower directory, mounted
    over itself); a snapshot restored in place depends on nothing."""
    name = unique("ov")
    conf = tmp_path / "ov.conf"
    conf.write_text(CONF)
    ok(store("lxc-create", "-n", name, "-t", "busybox", "-B", "overlay", "-f", str(conf)))
    container = store.lxcpath / name
    assert config_value(store, name, "lxc.rootfs.path") == (
        f"overlay:{container}/rootfs:{container}/overlay/delta"
    )
    ok(store("lxc-snapshot", "-n", name))
    ok(store("lxc-start", "-n", name))
    in_container(store, name, "echo hi > /x")
    ok(store("lxc-stop", "-n", name, "-k"))
    assert (container / "overlay/delta/x").exists() and not (container / "rootfs/x").exists()
    ok(store("lxc-snapshot", "-n", name, "-r", "snap0"))
    assert not (container / "overlay/delta/x").exists()
    assert (container / "rootfs/bin/busybox").is_file()
    assert not (container / "lxc_rdepends").exists() and not (container / "lxc_snapshots").exists()
    ok(store("lxc-destroy", "-n", name, "-s"))
    assert os.listdir(store.lxcpath) == []


def test_info_c_with_H_prints_the_value_alone(store: Cli, tmp_path: Path) -> None:
    """LXC's lxc-info: one -c KEY with -H prints the bare value (lxc-test-cloneconfig
    reads the rootfs so); several keys keep their `KEY = value` form."""
    name = create_busybox(store, tmp_path, CONF, "ih")
    rootfs = f"{store.lxcpath}/{name}/rootfs"
    assert ok(store("lxc-info", "-n", name, "-c", "lxc.rootfs.path", "-H")).stdout == rootfs + "\n"
    both = ok(store("lxc-info", "-n", name, "-c", "lxc.rootfs.path", "-c", "lxc.uts.name", "-H"))
    assert both.stdout == f"lxc.rootfs.path = {rootfs}\nlxc.uts.name = {name}\n"
    ok(store("lxc-destroy", "-n", name))
