"""A hostile rootfs: its /proc or /sys is a symlink (LXC's lxc-test-symlink, test 4).

The kernel's procfs and sysfs are mounted on the rootfs's own /proc and /sys; an
image whose /proc points elsewhere would decide where they land. The start is
refused, naming lxc.mount.auto, and nothing is left.
"""

from __future__ import annotations

import glob
import os
import uuid
from pathlib import Path

import pytest
from conftest import Cli

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/bin/busybox"),
    reason="needs root and busybox-static",
)


@pytest.mark.parametrize("directory", ["proc", "sys"])
def test_start_refuses_a_symlinked_pseudo_fs_mountpoint(
    runtime: Cli, tmp_path: Path, directory: str
) -> None:
    name = f"sl{uuid.uuid4().hex[:8]}"
    conf = tmp_path / "bb.conf"
    conf.write_text("lxc.net.0.type = empty\nlxc.mount.auto = proc:mixed sys:ro\n")
    assert runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf)).returncode == 0
    rootfs = runtime.lxcpath / name / "rootfs"
    (rootfs / directory).rename(rootfs / f"{directory}1")
    # An absolute link that, seen from the host, points back into the rootfs.
    (rootfs / directory).symlink_to(rootfs / f"{directory}1")
    result = runtime("lxc-start", "-n", name)
    assert result.returncode != 0
    assert f"/{directory} in the rootfs is a symlink" in result.stderr, result.stderr
    assert "lxc.mount.auto" in result.stderr
    assert runtime("lxc-info", "-n", name, "-sH").stdout.strip() == "STOPPED"
    assert glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{name}") == []
    assert not os.path.ismount(rootfs / f"{directory}1")


def test_a_bind_source_inside_the_rootfs_is_resolved_inside_it(runtime: Cli, tmp_path: Path) -> None:
    """`lxc.mount.entry = <rootfs>/srv/data mnt none bind`: the source is spelled as a
    host path but lies in the rootfs, whose symlinks are the container's. A link
    `srv/data -> HOSTDIR` bound the host directory in, read-write; it is resolved
    inside the rootfs now (where HOSTDIR does not exist), and an honest source still
    binds."""
    name = f"bs{uuid.uuid4().hex[:8]}"
    conf = tmp_path / "bb.conf"
    conf.write_text("lxc.net.0.type = empty\n")
    assert runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf)).returncode == 0
    rootfs = runtime.lxcpath / name / "rootfs"
    host = tmp_path / "hostsecret"
    host.mkdir()
    (host / "secret.txt").write_text("HOST-SECRET\n")
    (rootfs / "srv").mkdir(exist_ok=True)
    (rootfs / "srv" / "data").symlink_to(host)
    entry = f"lxc.mount.entry={rootfs}/srv/data mnt none bind,create=dir 0 0"
    script = "cat /mnt/secret.txt; echo pwned > /mnt/written"
    result = runtime("lxc-execute", "-n", name, "-s", entry, "--", "sh", "-c", script)
    assert "HOST-SECRET" not in result.stdout
    assert sorted(p.name for p in host.iterdir()) == ["secret.txt"]
    assert result.returncode != 0 and "lxc.mount.entry" in result.stderr, result
    # A real directory of the rootfs, named the same way, is bound as before.
    (rootfs / "srv" / "data").unlink()
    (rootfs / "srv" / "data").mkdir()
    (rootfs / "srv" / "data" / "inside.txt").write_text("INSIDE\n")
    result = runtime("lxc-execute", "-n", name, "-s", entry, "--", "cat", "/mnt/inside.txt")
    assert result.returncode == 0 and result.stdout == "INSIDE\n", result
    # A link of the rootfs's own (merged /usr: `lib -> usr/lib`) resolves as the
    # container sees it.
    (rootfs / "srv" / "alias").symlink_to("data")
    alias = f"lxc.mount.entry={rootfs}/srv/alias mnt none bind,create=dir 0 0"
    result = runtime("lxc-execute", "-n", name, "-s", alias, "--", "cat", "/mnt/inside.txt")
    assert result.returncode == 0 and result.stdout == "INSIDE\n", result
    # A host link that points into the rootfs is walked as a path there: the
    # container's link on the way is not followed.
    (rootfs / "srv" / "evil").symlink_to(host)
    (tmp_path / "tolink").symlink_to(rootfs / "srv" / "evil")
    via = f"lxc.mount.entry={tmp_path}/tolink mnt none bind,create=dir 0 0"
    result = runtime("lxc-execute", "-n", name, "-s", via, "--", "cat", "/mnt/secret.txt")
    assert "HOST-SECRET" not in result.stdout and result.returncode != 0, result
    assert "lxc.mount.entry" in result.stderr and "symbolic links" in result.stderr, result.stderr
    # `<rootfs>/../shared` leaves the rootfs: the host's directory beside it, as given.
    (rootfs.parent / "shared").mkdir()
    (rootfs.parent / "shared" / "beside.txt").write_text("BESIDE\n")
    entry = f"lxc.mount.entry={rootfs}/../shared mnt none bind,create=dir 0 0"
    result = runtime("lxc-execute", "-n", name, "-s", entry, "--", "cat", "/mnt/beside.txt")
    assert result.returncode == 0 and result.stdout == "BESIDE\n", result
    assert glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{name}") == []
