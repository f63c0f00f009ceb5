"""A daemon started through a symlinked lxcpath serves the real path, also after
the symlink is gone (LXC's lxc-test-symlink removes its symlinked lxcpath while the
daemon it started is still up, and the next command uses the real path)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from conftest import Cli

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/bin/busybox"),
    reason="needs root and busybox-static",
)


def test_daemon_outlives_the_symlink_it_was_started_through(runtime: Cli, tmp_path: Path) -> None:
    link = tmp_path / "lxcpath-link"
    link.symlink_to(runtime.lxcpath)
    conf = tmp_path / "bb.conf"
    conf.write_text("lxc.net.0.type = empty\n")
    first, second = (f"rp{uuid.uuid4().hex[:8]}" for _ in range(2))
    for name in (first, second):
        assert runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf)).returncode == 0
    # The daemon comes up for the symlinked spelling...
    through_link = runtime("lxc-start", "-n", first, "-P", str(link), lxcpath=False)
    assert through_link.returncode == 0, through_link.stderr
    link.unlink()
    # ...and still serves the real path once the link is gone.
    result = runtime("lxc-start", "-n", second)
    assert result.returncode == 0, result.stderr
    assert runtime("lxc-info", "-n", second, "-sH").stdout.strip() == "RUNNING"
    for name in (first, second):
        assert runtime("lxc-stop", "-n", name, "-k").returncode == 0


def test_pinned_run_dir_is_kept_for_its_lxcpath_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon pins its run directory (runtime.daemon.__main__): every record it
    writes goes there, even once a component of the lxcpath became a symlink; other
    lxcpaths and another run root are computed as before."""
    from runtime.client import records, rundir

    monkeypatch.setattr(rundir, "_pinned", {})
    monkeypatch.setenv("TRIO_LXC_RUNDIR", str(tmp_path / "run"))
    real = tmp_path / "real"
    real.mkdir()
    lxcpath = str(tmp_path / "p")
    os.mkdir(lxcpath)
    before = rundir.run_dir(lxcpath)
    rundir.pin_run_dir(lxcpath, before)
    os.rmdir(lxcpath)
    os.symlink(real, lxcpath)  # resolving it again would give another directory
    assert rundir.run_dir(str(real)) != before
    assert rundir.run_dir(lxcpath) == before
    records.write_record(lxcpath, "c1", records.ContainerRecord(name="c1", state="RUNNING"))
    assert os.path.exists(os.path.join(before, "containers", "c1.json"))
    monkeypatch.setenv("TRIO_LXC_RUNDIR", str(tmp_path / "run2"))
    assert rundir.run_dir(lxcpath) == rundir.run_dir(str(real))
