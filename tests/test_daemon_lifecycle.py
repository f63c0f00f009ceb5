"""The daemon's own life: symlinked lxcpaths, a lost spawner, re-adoption, its run dir.

Real containers, as root, each test in its own lxcpath and run directory (the
`runtime` fixture cleans up even on failure).
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Cli, create_busybox, kill_daemon
from test_bus_runtime import Monitor, lines_for

from runtime.client.rundir import run_dir, run_root

CONF = "lxc.net.0.type = empty\n"


def unique(prefix: str = "d") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def cgroups_of(name: str) -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{name}")


def create(cli: Cli, tmp_path: Path) -> str:
    return create_busybox(cli, tmp_path, CONF, "bb")


def init_pid(cli: Cli, name: str) -> int:
    return int(cli("lxc-info", "-n", name, "-pH").stdout)


def state(cli: Cli, name: str) -> str:
    return cli("lxc-info", "-n", name, "-sH").stdout.strip()


def running_pid(cli: Cli, name: str) -> int | None:
    """The init's pid if the container is RUNNING, else None: state and pid from one
    status read. Two reads (`-sH`, then `-pH`) can straddle a reboot, where the state
    was still RUNNING but the next read finds no init (STOPPED/STARTING: `-pH` is '')."""
    fields = dict(
        line.split(":", 1) for line in cli("lxc-info", "-n", name, "-s", "-p").stdout.splitlines() if ":" in line
    )
    if fields.get("State", "").strip() != "RUNNING" or not fields.get("PID", "").strip():
        return None
    return int(fields["PID"])


def ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def until(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def daemon_pid(cli: Cli) -> int:
    return int(Path(run_dir(str(cli.lxcpath)), "daemon.pid").read_text())


def reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


# -- 10.11: one lxcpath, one daemon, whatever path names it ----------------------------


def test_symlinked_lxcpath_meets_the_same_daemon(runtime: Cli, tmp_path: Path) -> None:
    """`lxc-destroy -P <symlink>` must not delete the rootfs of a container started
    through the real path: both names reach one run directory and one daemon."""
    name = create(runtime, tmp_path)
    link = tmp_path / "lxc-link"
    link.symlink_to(runtime.lxcpath)
    assert run_dir(str(link)) == run_dir(str(runtime.lxcpath))
    assert runtime("lxc-start", "-n", name).returncode == 0
    pid = init_pid(runtime, name)
    via_link = ["-P", str(link), "-n", name]

    refused = runtime("lxc-destroy", *via_link, lxcpath=False)
    assert refused.returncode == 1
    assert f"{name} is running" in refused.stderr
    assert (runtime.lxcpath / name / "rootfs/bin/busybox").is_file()

    for copy_args in (["-N", unique("cp")], ["-R", "-N", unique("rn")]):
        copied = runtime("lxc-copy", *via_link, *copy_args, lxcpath=False)
        assert copied.returncode == 1
        assert f"Original container ({name}) is running" in copied.stderr
        assert sorted(os.listdir(runtime.lxcpath)) == [name]

    forced = runtime("lxc-destroy", *via_link, "-f", lxcpath=False)
    assert forced.returncode == 0, forced.stderr
    assert not (runtime.lxcpath / name).exists()
    assert not Path(f"/proc/{pid}").exists()
    assert cgroups_of(name) == []
    # The one daemon stopped it: it knows it as STOPPED, and keeps no record of it.
    records = Path(run_dir(str(runtime.lxcpath)), "containers")
    assert not records.exists() or os.listdir(records) == []
    assert not Path(run_dir(str(runtime.lxcpath)), "locks", f"{name}.lock").exists()


# -- 10.12: the spawner dies while a container runs -------------------------------------


def test_killed_spawner_is_replaced_and_statuses_stay_true(runtime: Cli, tmp_path: Path) -> None:
    first, second = create(runtime, tmp_path), create(runtime, tmp_path)
    assert runtime("lxc-start", "-n", first).returncode == 0
    pid = init_pid(runtime, first)
    spawner = ppid(pid)
    assert b"runtime.spawn.spawner" in Path(f"/proc/{spawner}/cmdline").read_bytes()
    daemon = daemon_pid(runtime)
    os.kill(spawner, signal.SIGKILL)
    # The init is re-parented to the daemon (a child subreaper), which started that spawner.
    assert until(lambda: ppid(pid) == daemon)

    started = runtime("lxc-start", "-n", second)  # (a) a start works: a new spawner
    assert started.returncode == 0, started.stderr
    other = init_pid(runtime, second)
    new_spawner = ppid(other)
    assert new_spawner != spawner
    assert b"runtime.spawn.spawner" in Path(f"/proc/{new_spawner}/cmdline").read_bytes()

    with Monitor(runtime, "-n", first) as text:  # (b) the daemon reaps it: the true status
        text.wait_subscribed()
        assert runtime("lxc-stop", "-n", first, "-k").returncode == 0
        assert text.read(3) == lines_for(first, 137, "STOPPING", "STOPPED")
    with Monitor(runtime, "-n", second) as text:  # and the new spawner reports as before
        text.wait_subscribed()
        assert runtime("lxc-stop", "-n", second, "-k").returncode == 0
        assert text.read(3) == lines_for(second, 137, "STOPPING", "STOPPED")
    assert daemon_pid(runtime) == daemon  # one daemon throughout
    # (c) nothing left: no init, no zombie under the daemon, no cgroup.
    assert not Path(f"/proc/{pid}").exists() and not Path(f"/proc/{other}").exists()
    assert cgroups_of(first) == [] and cgroups_of(second) == []


# -- 13.4: a re-adopted container keeps its life cycle ----------------------------------


def test_readopted_container_reboots(runtime: Cli, tmp_path: Path) -> None:
    name = create(runtime, tmp_path)
    assert runtime("lxc-start", "-n", name).returncode == 0
    first = init_pid(runtime, name)
    kill_daemon(runtime)
    result = runtime("lxc-stop", "-n", name, "-r")  # a new daemon re-adopts, then reboots
    assert result.returncode == 0, result.stderr
    assert until(lambda: running_pid(runtime, name) not in (None, first))
    assert not Path(f"/proc/{first}").exists()
    assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
    assert state(runtime, name) == "STOPPED"
    assert cgroups_of(name) == []


# -- 10.13: a container that died while no daemon ran ----------------------------------


@pytest.mark.parametrize("waiter", ["monitor", "wait"])
def test_death_without_daemon_is_announced(runtime: Cli, tmp_path: Path, waiter: str) -> None:
    name = create(runtime, tmp_path)
    assert runtime("lxc-start", "-n", name).returncode == 0
    pid = init_pid(runtime, name)
    spawner = ppid(pid)
    kill_daemon(runtime)
    os.kill(pid, signal.SIGKILL)
    # The spawner outlived the daemon: it reaps the init and queues its status.
    assert until(lambda: not Path(f"/proc/{pid}").exists())
    assert Path(f"/proc/{spawner}").exists()
    if waiter == "wait":
        result = runtime("lxc-wait", "-n", name, "-s", "STOPPED", "-t", "10")
        assert result.returncode == 0, result.stderr
    with Monitor(runtime, "-n", name, "--since", "0") as text:
        assert text.read(3) == lines_for(name, 137, "STOPPING", "STOPPED")
    assert cgroups_of(name) == []


def test_death_nobody_reaped_is_an_unknown_exit(runtime: Cli, tmp_path: Path) -> None:
    """The spawner and the daemon both gone: the init's orphan is nobody's of ours."""
    name = create(runtime, tmp_path)
    assert runtime("lxc-start", "-n", name).returncode == 0
    pid = init_pid(runtime, name)
    spawner = ppid(pid)
    kill_daemon(runtime)
    os.kill(spawner, signal.SIGKILL)
    reap(spawner)  # the killed daemon's orphan: ours (pytest is a subreaper)
    assert until(lambda: ppid(pid) == os.getpid())
    os.kill(pid, signal.SIGKILL)
    reap(pid)
    with Monitor(runtime, "-n", name, "--since", "0") as text:
        assert text.read(3) == [
            f"'{name}' exited with status [unknown]",
            *lines_for(name, "STOPPING", "STOPPED"),
        ]
    assert cgroups_of(name) == []


# -- 13.3: an idle daemon leaves nothing in the run root ---------------------------------


def test_idle_daemon_removes_its_run_dir(runtime: Cli, tmp_path: Path) -> None:
    name = create(runtime, tmp_path)
    assert runtime("lxc-execute", "-n", name, "--", "true").returncode == 0
    directory = Path(run_dir(str(runtime.lxcpath)))
    assert directory.is_dir()
    daemon = daemon_pid(runtime)
    assert runtime("lxc-destroy", "-n", name).returncode == 0
    # TRIO_LXC_DAEMON_IDLE is 3 s in the runtime fixture.
    assert until(lambda: not Path(f"/proc/{daemon}").exists() or _zombie(daemon), timeout=20)
    reap(daemon)
    assert until(lambda: not directory.exists(), timeout=10), os.listdir(directory)
    assert os.listdir(run_root()) == []
    # And the next command finds a fresh one.
    # (lxc-wait for a state the record shows needs no daemon: wait for one it does not.)
    assert runtime("lxc-wait", "-n", "nobody", "-s", "RUNNING", "-t", "0.5").returncode == 1
    assert daemon_pid(runtime) != daemon


def test_a_daemon_whose_lxcpath_was_removed_leaves_at_once(runtime: Cli, tmp_path: Path) -> None:
    """Removing the lxcpath (the end of a test run, of LXC's own tests) leaves no daemon
    and no run directory behind, even with a long idle time."""
    import shutil

    runtime.env["TRIO_LXC_DAEMON_IDLE"] = "600"
    name = create(runtime, tmp_path)
    assert runtime("lxc-execute", "-n", name, "--", "true").returncode == 0
    directory = Path(run_dir(str(runtime.lxcpath)))
    daemon = daemon_pid(runtime)
    shutil.rmtree(runtime.lxcpath)
    assert until(lambda: not Path(f"/proc/{daemon}").exists() or _zombie(daemon), timeout=15)
    reap(daemon)
    assert until(lambda: not directory.exists(), timeout=10), os.listdir(directory)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def test_destroy_removes_the_containers_records(cli: Cli, tmp_path: Path) -> None:
    """Records of a container that died unnoticed go with it at destroy (13.3)."""
    from runtime.client.records import ContainerRecord, write_record

    name = create(cli, tmp_path)
    neighbour = f"{name}.json"  # another container whose name starts like this one's records
    for who in (name, neighbour):
        write_record(str(cli.lxcpath), who, ContainerRecord(name=who, state="RUNNING", pid=1, pid_start_time=-1))
    records = Path(run_dir(str(cli.lxcpath)), "containers")
    (records / f"{name}.status").write_text("{}")
    assert cli("lxc-destroy", "-n", name).returncode == 0
    assert sorted(os.listdir(records)) == [f"{neighbour}.json"]


def test_lock_file_unlinked_by_an_exiting_daemon_is_not_shared(lxc_env: dict[str, str], tmp_path: Path) -> None:
    """A daemon that removes its run directory unlinks the lock it holds: a starter
    that locks that old file must notice and start over, never share it."""
    import fcntl

    from runtime.client.rundir import acquire_daemon_lock, remove_run_dir

    lxcpath = str(tmp_path / "lxc")
    first = acquire_daemon_lock(lxcpath)
    assert first is not None
    fd, directory = first
    # Held and nobody answers on control.sock: a daemon on its way out; a starter waits.
    assert acquire_daemon_lock(lxcpath, wait=0.2) is None
    stale = os.open(os.path.join(directory, "daemon.lock"), os.O_RDWR)
    assert remove_run_dir(directory)
    assert not os.path.exists(directory)
    os.close(fd)  # the old daemon exits
    fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a starter got the unlinked file...
    second = acquire_daemon_lock(lxcpath)  # ...but the lock that counts is a new file
    assert second is not None
    assert os.fstat(second[0]).st_ino != os.fstat(stale).st_ino
    assert acquire_daemon_lock(lxcpath, wait=0.2) is None
    os.close(stale)
    assert remove_run_dir(second[1])
    os.close(second[0])
    assert os.listdir(run_root()) == []


READER = r"""
import json, sys
path, rounds = sys.argv[1], int(sys.argv[2])
missing = garbled = 0
states = set()
sys.stdout.write("ready\n"); sys.stdout.flush()
for _ in range(rounds):
    try:
        with open(path) as handle:
            states.add(json.load(handle)["state"])
    except FileNotFoundError:
        missing += 1
    except ValueError:
        garbled += 1
print(missing, garbled, len(states))
"""


def test_a_record_is_replaced_atomically(cli: Cli) -> None:
    # The daemon swaps a new record in (renameat2 RENAME_EXCHANGE); the old one is the
    # next write's spare: a reader in another process never finds the record missing
    # or half written while it changes, and nothing else is left behind.
    from runtime.client.records import ContainerRecord, write_record

    name = unique("rec")
    lxcpath = str(cli.lxcpath)
    write_record(lxcpath, name, ContainerRecord(name=name, state="STARTING", pid=1, pid_start_time=-1))
    records = Path(run_dir(lxcpath), "containers")
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(records / f"{name}.json"), "20000"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert reader.stdout is not None and reader.stdout.readline() == "ready\n"
        while reader.poll() is None:
            for state in ("RUNNING", "STOPPING", "STARTING"):
                write_record(lxcpath, name, ContainerRecord(name=name, state=state, pid=1, pid_start_time=-1))
        missing, garbled, seen = map(int, reader.communicate()[0].split())
    finally:
        reader.kill()
        reader.wait()
        if reader.stdout is not None:
            reader.stdout.close()
    assert (missing, garbled) == (0, 0)
    assert seen > 1  # it did read while the record changed
    # The record and the spares the next writes reuse (no file made per transition).
    spares = {f"{name}.json.{os.getpid()}.tmp", f"{name}.json.{os.getpid()}.tmp2"}
    assert f"{name}.json" in os.listdir(records)
    assert set(os.listdir(records)) - {f"{name}.json"} <= spares


def test_a_record_a_reader_holds_is_not_rewritten(cli: Cli) -> None:
    # A reader that opened the record before two more transitions reads the record it
    # opened, whole: the daemon writes a spare only under a write lease, which the
    # kernel refuses while the reader's file is open, and then makes a new one.
    from runtime.client.records import ContainerRecord, remove_container_records, write_record

    name = unique("rec")
    lxcpath = str(cli.lxcpath)
    records = Path(run_dir(lxcpath), "containers")
    for state in ("STARTING", "RUNNING", "STOPPING"):  # two spares now exist
        write_record(lxcpath, name, ContainerRecord(name=name, state=state, pid=1, pid_start_time=-1))
    try:
        with open(records / f"{name}.json", "rb") as held:
            before = held.read()
            for state in ("RUNNING", "STOPPING", "RUNNING", "STOPPING"):
                write_record(lxcpath, name, ContainerRecord(name=name, state=state, pid=2, pid_start_time=-1))
            held.seek(0)
            assert held.read() == before
            assert os.fstat(held.fileno()).st_nlink == 0  # a new spare took its place
        assert json.loads((records / f"{name}.json").read_text())["pid"] == 2
    finally:
        remove_container_records(lxcpath, name)
    assert not [entry for entry in os.listdir(records) if entry.startswith(name)]


def _leases_work_in(directory: Path) -> bool:
    """Whether the filesystem of `directory` grants write leases (the daemon's spares)."""
    import fcntl

    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / f".lease-probe-{os.getpid()}"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.fcntl(fd, fcntl.F_SETSIG, signal.SIGURG)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
        probe.unlink()


def test_start_stop_cycles_make_no_files(runtime: Cli, tmp_path: Path) -> None:
    # A container started and stopped again reuses its record's files (two spares,
    # runtime.client.records): the run directory holds the same inodes after every
    # cycle, and an idle daemon still removes the run directory with its spares.
    name = create(runtime, tmp_path)
    records = Path(run_dir(str(runtime.lxcpath)), "containers")

    def inodes() -> set[int]:  # which name holds which inode changes; the set does not
        return {entry.inode() for entry in os.scandir(records)}

    if not _leases_work_in(Path(run_dir(str(runtime.lxcpath)))):
        pytest.skip("this filesystem refuses write leases: every record is a new file there")

    assert runtime("lxc-execute", "-n", name, "--", "true").returncode == 0
    assert runtime("lxc-execute", "-n", name, "--", "true").returncode == 0
    after_two = inodes()
    assert after_two and not any(e.endswith(".json") for e in os.listdir(records))  # stopped: spares only
    for _ in range(3):
        assert runtime("lxc-execute", "-n", name, "--", "true").returncode == 0
        assert inodes() == after_two
    directory = Path(run_dir(str(runtime.lxcpath)))
    daemon = daemon_pid(runtime)
    # TRIO_LXC_DAEMON_IDLE is 3 s in the runtime fixture.
    assert until(lambda: not Path(f"/proc/{daemon}").exists() or _zombie(daemon), timeout=20)
    reap(daemon)
    assert until(lambda: not directory.exists(), timeout=10), os.listdir(directory)
