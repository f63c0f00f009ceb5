"""`lxc-ls --format json` and `lxc-info --format json` on real busybox containers.

Each test has its own lxcpath and daemon (the `runtime` fixture stops it and sweeps
processes and cgroups afterwards, even when the test fails) and unique names.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from conftest import Cli

CONF = "lxc.net.0.type = empty\nlxc.group = web\nlxc.start.auto = 1\n"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def pair(runtime: Cli, tmp_path: Path) -> tuple[str, str]:
    """Two created busybox containers: the first started (a shell that sleeps)."""
    names = (unique("js"), unique("js"))
    conf = tmp_path / "js.conf"
    conf.write_text(CONF)
    for name in names:
        result = runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf))
        assert result.returncode == 0, result.stderr
    result = runtime("lxc-start", "-n", names[0], "--", "sh", "-c", "sleep 300")
    assert result.returncode == 0, result.stderr
    return names


def test_ls_json_has_every_fancy_column(runtime: Cli, pair: tuple[str, str]) -> None:
    running, stopped = pair
    result = runtime("lxc-ls", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {running, stopped}
    live = rows[running]
    assert live["state"] == "RUNNING"
    assert isinstance(live["pid"], int) and live["pid"] > 1
    assert live["autostart"] == 1 and live["groups"] == ["web"]
    assert live["interfaces"] == ["lo"] and live["ipv4"] == [] and live["ipv6"] == []
    assert live["unprivileged"] is False
    assert isinstance(live["memory_bytes"], int) and live["memory_bytes"] > 0
    assert live["cgroups"] and all(Path(d).is_dir() for d in live["cgroups"].values())
    dead = rows[stopped]
    assert dead["state"] == "STOPPED" and dead["pid"] is None
    assert dead["memory_bytes"] is None and dead["cgroups"] == {} and dead["interfaces"] == []
    # The filters apply as to the text output.
    only = json.loads(runtime("lxc-ls", "--format", "json", "--running").stdout)
    assert [row["name"] for row in only] == [running]
    # The human output is LXC's, unchanged.
    assert runtime("lxc-ls", "-1").stdout.split() == sorted([running, stopped])


def test_info_json_figures_are_raw(runtime: Cli, pair: tuple[str, str]) -> None:
    running, stopped = pair
    result = runtime("lxc-info", "-n", running, "--format", "json", "-c", "lxc.group")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["name"] == running and info["state"] == "RUNNING"
    pid = int(runtime("lxc-info", "-n", running, "-pH").stdout)
    assert info["pid"] == pid
    assert info["ips"] == [] and info["links"] == []
    assert isinstance(info["cpu_ns"], int) and info["cpu_ns"] >= 0
    assert isinstance(info["memory_bytes"], int) and info["memory_bytes"] > 0
    assert info["cpu_user_ns"] is not None and info["cpu_system_ns"] is not None
    if info["blkio_bytes"] is not None:
        assert info["blkio_read_bytes"] + info["blkio_write_bytes"] == info["blkio_bytes"]
    assert info["config"] == {"lxc.group": "web"}
    assert info["cgroups"]
    off = json.loads(runtime("lxc-info", "-n", stopped, "--format", "json").stdout)
    assert off["state"] == "STOPPED" and off["pid"] is None
    assert off["cpu_ns"] is None and off["memory_bytes"] is None and off["links"] == []
    # Text unchanged.
    assert runtime("lxc-info", "-n", running, "-sH").stdout.strip() == "RUNNING"


def test_bad_format_is_refused(runtime: Cli, pair: tuple[str, str]) -> None:
    for argv in (("lxc-ls", "--format", "yaml"), ("lxc-info", "-n", pair[0], "--format", "xml")):
        result = runtime(*argv)
        assert result.returncode != 0
        assert "--format" in result.stderr
