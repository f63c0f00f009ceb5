"""The daemon's shared cgroup watcher (runtime.daemon.cgroup_watch) on real cgroups.

Real cgroup2 directories, real processes in them, and the inotify instances this
process holds counted in /proc/self/fdinfo: many concurrent waits of the daemon's
kind (`wait_empty`, `wait_frozen` with the daemon's watcher) hold one instance
between them, with one watch per cgroup, and a daemon that never has to wait
never opens one; and a real daemon's freezes use its one shared instance.
Clean-up is test_cgroups' `track` fixture (every process killed, every cgroup of
the test's unique name removed, even on failure), and for the daemon test the
`runtime` fixture (the daemon and its containers stopped, cgroups swept).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import trio
from conftest import BIN, Cli, unique
from test_cgroups import REAL, create, go, name, needs_root, start, track

from runtime.cgroups import events
from runtime.daemon.cgroup_watch import DaemonCgroupWatcher

__all__ = ["name", "track"]  # fixtures, used by name

WAITS = 12


def inotify_instances() -> list[int]:
    """Per inotify fd of this process, how many watches it holds (from fdinfo)."""
    found = []
    for fd in os.listdir("/proc/self/fdinfo"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                continue
            with open(f"/proc/self/fdinfo/{fd}") as info:
                found.append(sum(1 for line in info if line.startswith("inotify wd:")))
        except OSError:
            continue  # closed meanwhile (the listing's own fd)
    return found


@needs_root
async def test_many_waits_share_one_instance_started_on_first_need(
    track: SimpleNamespace, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if REAL.v2 is None:
        pytest.skip("no cgroup2 mount")

    async def no_polling(*args: object, **kwargs: object) -> None:
        raise AssertionError("a wait polled although the daemon's watcher serves it")

    monkeypatch.setattr(events, "poll_until", no_polling)
    mounts = REAL.only(2)
    groups, procs = [], []
    for index in range(WAITS):
        cg = create(track, f"{name}-{index}", mounts=mounts)
        proc = start(track, "exec sleep 30")
        cg.attach(proc.pid)
        go(proc)
        groups.append(cg)
        procs.append(proc)
    idle = create(track, f"{name}-idle", mounts=mounts)
    baseline = inotify_instances()
    finished: list[int] = []

    async def wait_one(index: int, watcher: DaemonCgroupWatcher) -> None:
        await groups[index].wait_empty(watcher=watcher)
        assert groups[index].last_wait == events.INOTIFY
        finished.append(index)

    async with trio.open_nursery() as nursery:
        watcher = DaemonCgroupWatcher(nursery)
        # Nothing to wait for: no instance is opened, the watcher does not start.
        await idle.wait_empty(watcher=watcher)
        assert not watcher.running
        assert inotify_instances() == baseline
        with trio.fail_after(20):
            async with trio.open_nursery() as waits:
                for index in range(WAITS):
                    waits.start_soon(wait_one, index, watcher)
                while WAITS not in inotify_instances():  # every wait has its watch
                    await trio.sleep(0.01)
                assert watcher.running
                # One instance more than before, holding one watch per waiting cgroup.
                assert sorted(inotify_instances()) == sorted([*baseline, WAITS])
                for proc in procs:
                    proc.kill()
        assert sorted(finished) == list(range(WAITS))
        for proc in procs:
            proc.wait()

        # A freeze the tasks cannot finish at once (a busy loop) waits on the same instance.
        busy = start(track, "while :; do :; done")
        groups[0].attach(busy.pid)
        go(busy)
        groups[0].freeze()
        with trio.fail_after(10):
            await groups[0].wait_frozen(watcher=watcher)
        assert groups[0].last_wait == events.INOTIFY
        assert len(inotify_instances()) == len(baseline) + 1
        groups[0].thaw()
        nursery.cancel_scope.cancel()
    # The daemon's nursery ends: so does the instance.
    assert not watcher.running
    assert inotify_instances() == baseline


@needs_root
async def test_a_watcher_that_cannot_start_leaves_each_wait_its_own(
    track: SimpleNamespace, name: str
) -> None:
    """The daemon's nursery is already closed: the watcher cannot start, says so once,
    and the wait goes on with an instance of its own."""
    if REAL.v2 is None:
        pytest.skip("no cgroup2 mount")
    cg = create(track, name, mounts=REAL.only(2))
    proc = start(track, "exec sleep 0.3")
    cg.attach(proc.pid)
    go(proc)
    async with trio.open_nursery() as closed:
        pass
    watcher = DaemonCgroupWatcher(closed)
    with trio.fail_after(10):
        await cg.wait_empty(watcher=watcher)
    assert cg.last_wait == events.INOTIFY
    assert watcher.failed and not watcher.running


def daemon_inotify(pid: int) -> int:
    """How many inotify instances the daemon holds."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify"
        except OSError:
            continue
    return count


BUSY = "for i in 1 2 3 4 5 6 7 8; do (while :; do :; done) & done; wait"


@needs_root
def test_the_daemon_freezes_with_its_one_shared_instance(runtime: Cli, tmp_path: Path) -> None:
    """Real daemon: three containers of 8 busy loops each, frozen at once (a freeze
    that must wait: 8 tasks on 2 CPUs are not all stopped when the write returns).
    The daemon then holds exactly one inotify instance more than before (its shared
    watcher, kept for later waits); waits of their own would have closed theirs."""
    from runtime.client.rundir import run_dir

    conf = tmp_path / "busy.conf"
    conf.write_text("lxc.net.0.type = empty\n")
    names = [f"{unique('cw')}x{i}" for i in range(3)]
    runtime.names.update(names)
    for container in names:
        # Not through `runtime(...)`: the detached container keeps the command's
        # stdout and stderr, so pipes to capture them would never close.
        code = subprocess.call(
            [str(BIN / "lxc-execute"), "-P", str(runtime.lxcpath), "-n", container,
             "-f", str(conf), "-d", "--", "sh", "-c", BUSY],
            env=runtime.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
        )  # fmt: skip
        assert code == 0
    for container in names:
        result = runtime("lxc-wait", "-n", container, "-s", "RUNNING", "-t", "30")
        assert result.returncode == 0, result.stderr
    daemon = int(Path(run_dir(str(runtime.lxcpath)), "daemon.pid").read_text())
    before = daemon_inotify(daemon)  # the lxcpath watch (runtime.daemon.lxcpath_watch)
    try:
        freezes = [
            subprocess.Popen(
                [str(BIN / "lxc-freeze"), "-P", str(runtime.lxcpath), "-n", container],
                env=runtime.env, stderr=subprocess.PIPE,
            )  # fmt: skip
            for container in names
        ]
        for process in freezes:
            _, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
        assert daemon_inotify(daemon) == before + 1
    finally:
        for container in names:
            runtime("lxc-unfreeze", "-n", container)
            runtime("lxc-stop", "-n", container, "-k")
