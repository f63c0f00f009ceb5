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
