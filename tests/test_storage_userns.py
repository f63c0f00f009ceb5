"""An unprivileged (lxc.idmap) container's overlay clone, and its refusal of loop.

In its own module: it needs test_userns's traversable lxcpath and subordinate ids.
"""

from __future__ import annotations

import os
from pathlib import Path

from conftest import Cli, create_busybox, unique
from test_storage import in_container, mounts_below, ok
from test_userns import lxcpath, map_lines, subids  # noqa: F401 - fixtures

CONF = "lxc.net.0.type = empty\n"


def test_unprivileged_overlay_clone_writes_as_its_mapped_root(
    runtime: Cli, subids: int, tmp_path: Path  # noqa: F811 - the fixture
) -> None:
    origin = create_busybox(runtime, tmp_path, CONF + map_lines(subids), "uo")
    clone = unique("uc")
    ok(runtime("lxc-copy", "-s", "-n", origin, "-N", clone))
    delta = runtime.lxcpath / clone / "overlay/delta"
    assert (os.stat(delta).st_uid, os.stat(delta).st_gid) == (subids, subids)
    ok(runtime("lxc-start", "-n", clone))
    assert in_container(runtime, clone, "echo hi > /x && cat /x") == "hi\n"
    ok(runtime("lxc-stop", "-n", clone, "-k"))
    assert os.stat(delta / "x").st_uid == subids
    assert not (runtime.lxcpath / origin / "rootfs/x").exists()

    refused = runtime("lxc-copy", "-n", origin, "-N", unique("ul"), "-B", "loop")
    assert refused.returncode == 1
    assert "a loop rootfs cannot be mounted by an unprivileged container" in refused.stderr
    ok(runtime("lxc-destroy", "-n", clone))
    ok(runtime("lxc-destroy", "-n", origin))
    assert os.listdir(runtime.lxcpath) == []
    assert mounts_below(runtime.lxcpath) == []
