"""runtime.daemon.lxcpath_watch in-process: which file changes are `created`/`destroyed`.

The store's own operations (a hidden staging directory renamed into place, a
directory renamed to a hidden name before it is deleted, copy -R), a directory made
in place whose config comes later, a lxcpath that does not exist yet or is removed.
The same through the real daemon and `lxc-monitor` is in test_bus_runtime.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import trio

from runtime.daemon.lxcpath_watch import LxcpathWatcher, watch_lxcpath


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.changed = trio.Event()

    def created(self, name: str) -> None:
        self.events.append(("created", name))
        self.changed.set()

    def destroyed(self, name: str) -> None:
        self.events.append(("destroyed", name))
        self.changed.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, str]]:
        with trio.fail_after(timeout):
            while len(self.events) < count:
                self.changed = trio.Event()
                await self.changed.wait()
        return self.events

    async def quiet(self, seconds: float = 0.2) -> list[tuple[str, str]]:
        await trio.sleep(seconds)
        return self.events


def make_container(lxcpath: Path, name: str) -> None:
    """What lxc-create does: build aside under a hidden name, then rename into place."""
    staging = lxcpath / f".{name}.creating-x"
    (staging / "rootfs").mkdir(parents=True)
    (staging / "config").write_text("lxc.net.0.type = empty\n")
    os.rename(staging, lxcpath / name)


def destroy_container(lxcpath: Path, name: str) -> None:
    """What lxc-destroy does: rename to a hidden name, then delete."""
    doomed = lxcpath / f".{name}.destroying-x"
    os.rename(lxcpath / name, doomed)
    shutil.rmtree(doomed)


async def start(nursery: trio.Nursery, lxcpath: Path) -> Recorder:
    recorder = Recorder()
    watcher = LxcpathWatcher(str(lxcpath), recorder.created, recorder.destroyed)
    await nursery.start(watcher.run)
    return recorder


async def test_store_operations_are_announced(tmp_path: Path) -> None:
    lxcpath = tmp_path / "lxc"
    lxcpath.mkdir()
    make_container(lxcpath, "old")  # there before the watch: in the snapshot, not news
    async with trio.open_nursery() as nursery:
        rec = await start(nursery, lxcpath)
        make_container(lxcpath, "c1")
        assert await rec.wait_for(1) == [("created", "c1")]
        destroy_container(lxcpath, "c1")
        assert await rec.wait_for(2) == [("created", "c1"), ("destroyed", "c1")]
        # lxc-copy -R: the directory moves to a hidden name, then to the new one.
        os.rename(lxcpath / "old", lxcpath / ".new.copying-x")
        os.rename(lxcpath / ".new.copying-x", lxcpath / "new")
        assert (await rec.wait_for(4))[2:] == [("destroyed", "old"), ("created", "new")]
        # The watch on the moved directory now speaks for its new name.
        (lxcpath / "new" / "config").unlink()
        assert (await rec.wait_for(5))[4:] == [("destroyed", "new")]
        nursery.cancel_scope.cancel()


async def test_destroy_and_recreate_in_one_batch(tmp_path: Path) -> None:
    lxcpath = tmp_path / "lxc"
    lxcpath.mkdir()
    make_container(lxcpath, "again")
    async with trio.open_nursery() as nursery:
        rec = await start(nursery, lxcpath)
        # No checkpoint in between: the watcher sees both in one read.
        destroy_container(lxcpath, "again")
        make_container(lxcpath, "again")
        assert await rec.wait_for(2) == [("destroyed", "again"), ("created", "again")]
        nursery.cancel_scope.cancel()


async def test_hidden_names_files_and_config_less_dirs_are_ignored(tmp_path: Path) -> None:
    lxcpath = tmp_path / "lxc"
    lxcpath.mkdir()
    async with trio.open_nursery() as nursery:
        rec = await start(nursery, lxcpath)
        (lxcpath / ".hidden").mkdir()
        (lxcpath / ".hidden" / "config").write_text("")
        (lxcpath / "plainfile").write_text("x")
        (lxcpath / "noconfig").mkdir()
        (lxcpath / "noconfig" / "rootfs").mkdir()
        assert await rec.quiet() == []
        # A config written later into a directory made in place (LXC's own lxc-create).
        (lxcpath / "noconfig" / "config").write_text("lxc.net.0.type = empty\n")
        assert await rec.wait_for(1) == [("created", "noconfig")]
        shutil.rmtree(lxcpath / "noconfig")  # deleted in place, no rename
        assert await rec.wait_for(2) == [("created", "noconfig"), ("destroyed", "noconfig")]
        assert await rec.quiet() == [("created", "noconfig"), ("destroyed", "noconfig")]
        nursery.cancel_scope.cancel()


async def test_lxcpath_that_appears_later_and_goes_away(tmp_path: Path) -> None:
    lxcpath = tmp_path / "not" / "yet" / "lxc"
    async with trio.open_nursery() as nursery:
        rec = await start(nursery, lxcpath)
        lxcpath.mkdir(parents=True)
        make_container(lxcpath, "early")
        assert await rec.wait_for(1) == [("created", "early")]
        make_container(lxcpath, "late")
        assert await rec.wait_for(2) == [("created", "early"), ("created", "late")]
        shutil.rmtree(tmp_path / "not")
        events = await rec.wait_for(4)
        assert sorted(events[2:]) == [("destroyed", "early"), ("destroyed", "late")]
        lxcpath.mkdir(parents=True)
        make_container(lxcpath, "back")
        assert (await rec.wait_for(5))[4:] == [("created", "back")]
        nursery.cancel_scope.cancel()


async def test_daemon_task_publishes_on_the_bus(tmp_path: Path) -> None:
    class FakeBus:
        def __init__(self) -> None:
            self.rec = Recorder()
            self.publish_created = self.rec.created
            self.publish_destroyed = self.rec.destroyed

    lxcpath = tmp_path / "lxc"
    lxcpath.mkdir()
    bus = FakeBus()
    async with trio.open_nursery() as nursery:
        await nursery.start(watch_lxcpath, str(lxcpath), bus)
        make_container(lxcpath, "b1")
        assert await bus.rec.wait_for(1) == [("created", "b1")]
        nursery.cancel_scope.cancel()
