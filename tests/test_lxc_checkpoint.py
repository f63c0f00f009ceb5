"""lxc-checkpoint: argument handling, refusals and clean-up on real busybox containers.

criu cannot work on this project's machines (`criu check`: "vdso: Unexpected rt
vDSO area bounds") and is often not installed, so the paths that need no working
criu are tested: the refusals (nothing is changed: no daemon asked, no DIR made,
the container still runs with the same init), the reason `criu check` gives, and
the clean-up after a dump or restore that criu fails. The failing criu is a small
script named by TRIO_LXC_CRIU that fails the way criu does (a stand-in for an
external program, not for the kernel). The live dump/restore runs only where
`criu check` passes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from conftest import Cli

from runtime.criu import checkpoint


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def create(cli: Cli, tmp_path: Path) -> str:
    name = unique("ck")
    conf = tmp_path / f"{name}.conf"
    conf.write_text("lxc.net.0.type = empty\n")
    assert cli("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf)).returncode == 0
    return name


def state(cli: Cli, name: str) -> tuple[str, str]:
    status = cli("lxc-info", "-n", name, "-sH").stdout.strip()
    return (status, cli("lxc-info", "-n", name, "-pH").stdout.strip())


def fake_criu(tmp_path: Path, body: str) -> str:
    """A criu stand-in: `check` and the verbs behave as `body` says."""
    script = tmp_path / "criu"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return str(script)


VDSO_FAILS = 'if [ "$1" = check ]; then echo "Error (criu/vdso.c:95): vdso: Unexpected rt vDSO area bounds" >&2; exit 1; fi\nexit 1\n'
#: check passes; dump/restore write into -D and fail as criu does.
DUMP_FAILS = """\
case "$1" in
check) echo "Looks good."; exit 0;;
*) while [ $# -gt 0 ]; do [ "$1" = -D ] && dir=$2; shift; done
   echo junk > "$dir/core-1.img"; echo "Error (criu/cr-dump.c:1): Dumping FAILED." > "$dir/dump.log"
   echo "Error (criu/cr-restore.c:1): Restoring FAILED." > "$dir/restore.log"; exit 1;;
esac
"""
#: check passes; dump "succeeds" and, as criu without --leave-running, kills the tree.
DUMP_KILLS = """\
case "$1" in
check) exit 0;;
dump) while [ $# -gt 0 ]; do case "$1" in -D) dir=$2;; -t) pid=$2;; esac; shift; done
   echo image > "$dir/pages-1.img"; kill -9 "$pid"; exit 0;;
*) while [ $# -gt 0 ]; do [ "$1" = -D ] && dir=$2; shift; done
   echo "Error (criu/cr-restore.c:1): Restoring FAILED." > "$dir/restore.log"; exit 1;;
esac
"""


#: check passes; restore leaves a process behind, names it in --pidfile, and fails.
RESTORE_LEAVES = """\
case "$1" in
check) exit 0;;
*) while [ $# -gt 0 ]; do case "$1" in -D) dir=$2;; --pidfile) pidfile=$2;; esac; shift; done
   sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > "$pidfile"; echo $! > "$dir/left.txt"
   echo "Error (criu/cr-restore.c:1): Restoring FAILED." > "$dir/restore.log"; exit 1;;
esac
"""


def test_refused_command_lines(cli: Cli, tmp_path: Path) -> None:
    name = create(cli, tmp_path)
    target = str(tmp_path / "images")
    for argv in (
        ["-n", name],
        ["-n", name, "-D", target, "-r", "-s"],
        ["-n", name, "-D", target, "-d"],
        ["-n", name, "-D", target, "-r", "-d", "-F"],
    ):
        result = cli("lxc-checkpoint", *argv)
        assert (result.returncode, result.stderr) == (1, "lxc-checkpoint: could not parse command line\n")
    result = cli("lxc-checkpoint", "-n", name, "-D", target)
    assert result.returncode == 1 and f"{name} not running, not checkpointing" in result.stderr
    assert not os.path.exists(target)


def test_missing_criu_and_failing_check_change_nothing(runtime: Cli, tmp_path: Path) -> None:
    runtime.env["TRIO_LXC_CRIU"] = str(tmp_path / "no-criu")
    name = create(runtime, tmp_path)
    assert runtime("lxc-start", "-n", name).returncode == 0
    before = state(runtime, name)
    target = tmp_path / "images"
    missing = runtime("lxc-checkpoint", "-n", name, "-D", str(target), "-s")
    assert missing.returncode == 1 and "is it installed?" in missing.stderr
    runtime.env["TRIO_LXC_CRIU"] = fake_criu(tmp_path, VDSO_FAILS)
    failing = runtime("lxc-checkpoint", "-n", name, "-D", str(target), "-s")
    assert failing.returncode == 1
    assert "criu check failed: Error (criu/vdso.c:95): vdso: Unexpected rt vDSO area bounds" in failing.stderr
    assert state(runtime, name) == before == ("RUNNING", before[1])
    assert not target.exists()


def test_failed_dump_removes_its_images_and_the_container_runs_on(runtime: Cli, tmp_path: Path) -> None:
    name = create(runtime, tmp_path)
    runtime.env["TRIO_LXC_CRIU"] = fake_criu(tmp_path, DUMP_FAILS)
    assert runtime("lxc-start", "-n", name).returncode == 0
    before = state(runtime, name)
    made = tmp_path / "new-images"
    result = runtime("lxc-checkpoint", "-n", name, "-D", str(made), "-s", "-v")
    assert result.returncode == 1
    assert f"Checkpointing {name} failed: Error (criu/cr-dump.c:1): Dumping FAILED." in result.stderr
    assert not made.exists()  # the dump made it: it goes
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "mine").write_text("x")
    assert runtime("lxc-checkpoint", "-n", name, "-D", str(kept)).returncode == 1
    assert sorted(os.listdir(kept)) == ["mine"]  # only what the dump wrote went
    assert state(runtime, name) == before


def test_stop_dump_then_failed_restore_leaves_it_stopped(runtime: Cli, tmp_path: Path) -> None:
    name = create(runtime, tmp_path)
    runtime.env["TRIO_LXC_CRIU"] = fake_criu(tmp_path, DUMP_KILLS)
    assert runtime("lxc-start", "-n", name).returncode == 0
    images = tmp_path / "images"
    dumped = runtime("lxc-checkpoint", "-n", name, "-D", str(images), "-s")
    assert dumped.returncode == 0, dumped.stderr
    assert (images / checkpoint.RECORD_FILE).exists() and (images / "pages-1.img").exists()
    assert state(runtime, name)[0] == "STOPPED"
    bystander = subprocess.Popen(["sleep", "1000"])
    try:  # a planted (or stale) restore.pid is never what a failed restore kills
        (images / checkpoint.PIDFILE).write_text(f"{bystander.pid}\n")
        restored = runtime("lxc-checkpoint", "-n", name, "-D", str(images), "-r")
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
    assert not (images / checkpoint.PIDFILE).exists()
    assert restored.returncode == 1
    assert f"Restoring {name} failed: Error (criu/cr-restore.c:1): Restoring FAILED." in restored.stderr
    assert state(runtime, name)[0] == "STOPPED"
    assert not list(Path("/sys/fs/cgroup").glob(f"*/lxc.payload.{name}"))
    elsewhere = create(runtime, tmp_path)
    wrong = runtime("lxc-checkpoint", "-n", elsewhere, "-D", str(images), "-r")
    assert wrong.returncode == 1 and f"is not {elsewhere}'s" in wrong.stderr


def _dead(pid: int) -> bool:
    """Gone, or a zombie its parent has not reaped yet."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_failed_restore_kills_what_criu_left(runtime: Cli, tmp_path: Path) -> None:
    name = create(runtime, tmp_path)
    runtime.env["TRIO_LXC_CRIU"] = fake_criu(tmp_path, DUMP_KILLS)
    assert runtime("lxc-start", "-n", name).returncode == 0
    images = tmp_path / "images"
    assert runtime("lxc-checkpoint", "-n", name, "-D", str(images), "-s").returncode == 0
    runtime.env["TRIO_LXC_CRIU"] = fake_criu(tmp_path, RESTORE_LEAVES)
    restored = runtime("lxc-checkpoint", "-n", name, "-D", str(images), "-r")
    left = int((images / "left.txt").read_text())
    try:
        assert restored.returncode == 1 and "Restoring FAILED." in restored.stderr
        deadline = time.monotonic() + 5
        while not _dead(left) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _dead(left)
        assert not (images / checkpoint.PIDFILE).exists()
        assert state(runtime, name)[0] == "STOPPED"
    finally:
        try:
            os.kill(left, 9)
        except ProcessLookupError:
            pass


def _criu_works() -> bool:
    return checkpoint.criu_path() is not None and checkpoint.problem() is None


@pytest.mark.skipif(not _criu_works(), reason="criu is missing or `criu check` fails on this host")
def test_live_dump_and_restore(runtime: Cli, tmp_path: Path) -> None:
    name = create(runtime, tmp_path)
    assert runtime("lxc-start", "-n", name).returncode == 0
    images = tmp_path / "images"
    dumped = runtime("lxc-checkpoint", "-n", name, "-D", str(images), "-s")
    assert dumped.returncode == 0, dumped.stderr
    assert state(runtime, name)[0] == "STOPPED"
    restored = runtime("lxc-checkpoint", "-n", name, "-D", str(images), "-r")
    assert restored.returncode == 0, restored.stderr
    deadline = time.monotonic() + 10
    while state(runtime, name)[0] != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert state(runtime, name)[0] == "RUNNING"
    assert runtime("lxc-attach", "-n", name, "--", "true").returncode == 0
    assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
    assert shutil.which("true") and subprocess.run(["true"]).returncode == 0


def test_untrusted_directories_are_refused(runtime: Cli, tmp_path: Path) -> None:
    name = create(runtime, tmp_path)
    runtime.env["TRIO_LXC_CRIU"] = fake_criu(tmp_path, DUMP_KILLS)
    assert runtime("lxc-start", "-n", name).returncode == 0
    before = state(runtime, name)
    stopped = create(runtime, tmp_path)
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    os.chown(other, 65534, 65534)
    link = tmp_path / "link"
    link.symlink_to(other)
    for target, why in (
        (open_dir, "is writable by group or others"),
        (other, "is not owned by root"),
        (link, "is a symbolic link"),
    ):
        for argv in (["-n", name, "-s"], ["-n", stopped, "-r"]):  # dump, restore
            result = runtime("lxc-checkpoint", "-D", str(target), *argv)
            assert result.returncode == 1 and why in result.stderr, (argv, result.stderr)
        assert os.listdir(target) == []
    planted = tmp_path / "planted"
    planted.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (planted / checkpoint.RECORD_FILE).symlink_to(victim)
    result = runtime("lxc-checkpoint", "-n", name, "-D", str(planted), "-s")
    assert result.returncode == 1 and checkpoint.RECORD_FILE in result.stderr
    assert victim.read_text() == "keep"
    assert state(runtime, name) == before


def test_restore_takes_cgroups_and_attach_settings_from_the_config(cli: Cli, tmp_path: Path) -> None:
    from runtime.criu import checkpoint_trust

    name = create(cli, tmp_path)
    saved = {
        "name": name,
        "config_path": str(cli.lxcpath / name / "config"),
        "cgroups": {"unified": "/sys/fs/cgroup/init.scope"},
        "cgroup_limits": {"unified": "/sys/fs/cgroup"},
        "attach": {"cap_drop": [], "seccomp": "", "no_new_privs": False},
    }
    fresh = checkpoint_trust.rebuilt(saved, name, str(cli.lxcpath))
    payloads = list(fresh["cgroups"].values())
    assert payloads and all(p.endswith(f"/lxc.payload.{name}") for p in payloads)
    assert list(fresh["cgroup_limits"].values()) == payloads
    assert fresh["attach"] != saved["attach"] and "environment" in fresh["attach"]
