"""The Python API (runtime.api) end to end on real busybox containers, as root.

Both flavours, `Container` (blocking) and `AsyncContainer` (trio), go the whole
way: create -> start -> attach_wait -> get_ips (a veth with an address) ->
set_cgroup_item -> freeze -> unfreeze -> stop -> clone -> destroy. Besides: the
in-memory config items, wait, events, list_containers, the results python3-lxc
gives as bools, and the README's example scripts (conf-examples/api/), run as
they are. Every test has its own lxcpath and daemon; the `runtime` fixture stops
the daemon and sweeps what is left, and the veth's host side is removed if a
failure left it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from conftest import Cli, unique

import runtime.api as lxc
from bus.protocol import StateEvent
from runtime.api import AsyncContainer, Container, LxcError, events, list_containers
from runtime.client.errors import ConfigError, ContainerNotFound

EXAMPLES = Path(__file__).resolve().parent.parent / "conf-examples" / "api"


@pytest.fixture
def pair() -> Iterator[str]:
    """A unique host-side veth name, removed afterwards if a failure left it."""
    name = "ap" + uuid.uuid4().hex[:8]
    yield name
    if host_link_exists(name):
        subprocess.run(["ip", "link", "del", name], check=False)


def veth_config(tmp_path: Path, pair: str, address: str) -> str:
    conf = tmp_path / f"{pair}.conf"
    conf.write_text(
        "lxc.net.0.type = veth\n"
        "lxc.net.0.flags = up\n"
        f"lxc.net.0.veth.pair = {pair}\n"
        f"lxc.net.0.ipv4.address = {address}/24\n"
    )
    return str(conf)


def host_link_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


# -- the whole way, blocking and async ------------------------------------------------------


def test_blocking_container_end_to_end(runtime: Cli, tmp_path: Path, pair: str) -> None:
    name = unique("ab")
    runtime.names.add(name)
    c = Container(name, str(runtime.lxcpath))
    assert (c.defined, c.state, c.running, c.init_pid) == (False, "STOPPED", False, -1)
    assert c.config_file_name == str(runtime.lxcpath / name / "config")

    assert c.create("busybox", config_file=veth_config(tmp_path, pair, "10.214.31.2"))
    assert c.defined and name in list_containers(lxcpath=str(runtime.lxcpath))
    assert c.start()
    assert c.running and c.state == "RUNNING" and c.init_pid > 1
    assert name in list_containers(active=True, defined=False, lxcpath=str(runtime.lxcpath))

    out = tmp_path / "out"
    with out.open("wb") as handle:
        status = c.attach_wait(
            ["/bin/sh", "-c", 'echo "$GREETING from $(hostname)"; exit 3'],
            env={"GREETING": "hello"}, stdout=handle,
        )  # fmt: skip
    assert status == 3
    assert out.read_text() == f"hello from {name}\n"
    assert c.attach_wait(lxc.attach_run_command, ["true"]) == 0
    assert c.attach_run(["id", "-u"], uid=1000) == (0, b"1000\n")

    assert c.get_ips() == ("10.214.31.2",)
    assert c.get_ips(family="inet6") == ()
    assert c.get_ips(interface="lo") == ("127.0.0.1",)
    assert set(c.get_interfaces()) >= {"eth0", "lo"}
    assert host_link_exists(pair)

    assert c.set_cgroup_item("pids.max", "321")
    assert c.get_cgroup_item("pids.max") == "321"
    assert c.freeze() and c.state == "FROZEN"
    assert c.unfreeze() and c.state == "RUNNING"
    assert c.get_running_config_item("lxc.net.0.veth.pair") == pair

    assert c.stop()
    assert (c.state, c.init_pid) == ("STOPPED", -1)
    assert not host_link_exists(pair)

    copy = c.clone(name + "c")
    assert isinstance(copy, Container) and copy.defined
    assert copy.get_config_item("lxc.uts.name") == name + "c"
    assert copy.destroy() and not copy.defined
    assert c.destroy() and not c.defined
    assert list_containers(lxcpath=str(runtime.lxcpath)) == ()


def test_async_container_end_to_end(runtime: Cli, tmp_path: Path, pair: str) -> None:
    name = unique("aa")
    runtime.names.add(name)
    config = veth_config(tmp_path, pair, "10.214.32.2")

    async def main() -> None:
        c = AsyncContainer(name, str(runtime.lxcpath))
        assert await c.create("busybox", config_file=config)
        assert await c.start()
        assert c.state == "RUNNING"
        assert await c.attach_wait(["/bin/sh", "-c", "exit 5"]) == 5
        assert await c.attach_run(["hostname"]) == (0, f"{name}\n".encode())
        assert await c.get_ips() == ("10.214.32.2",)
        assert "eth0" in await c.get_interfaces()
        assert await c.set_cgroup_item("pids.max", "123")
        assert await c.get_cgroup_item("pids.max") == "123"
        assert await c.freeze() and c.state == "FROZEN"
        assert await c.wait("FROZEN", 0)
        assert await c.unfreeze() and c.state == "RUNNING"
        # Two attaches at once: the trio flavour does not block the program.
        results: list[int] = []

        async def run(code: int) -> None:
            results.append(await c.attach_wait(["/bin/sh", "-c", f"sleep 0.3; exit {code}"]))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run, 1)
            nursery.start_soon(run, 2)
        assert sorted(results) == [1, 2]
        assert await c.stop() and c.state == "STOPPED"
        copy = await c.clone(name + "c")
        assert isinstance(copy, AsyncContainer) and copy.defined
        assert await copy.destroy()
        assert await c.destroy() and not c.defined

    trio.run(main)
    assert not host_link_exists(pair)


# -- the config items ----------------------------------------------------------------------


def test_config_items_get_set_clear_save(lxcpath: Path, tmp_path: Path) -> None:
    name = unique("ac")
    c = Container(name, str(lxcpath))
    c.set_config_item("lxc.net.0.type", "empty")  # before create: saved into the new config
    c.set_config_item("lxc.environment", ["A=1", "B=2"])
    assert c.create("none")
    assert c.get_config_item("lxc.net.0.type") == "empty"
    assert c.get_config_item("lxc.environment") == ["A=1", "B=2"]
    assert c.get_config_item("lxc.tty.max") == "0"  # unset: LXC's default text
    assert c.get_config_item("lxc.uts.name") == ""

    with pytest.raises(KeyError):
        c.get_config_item("lxc.no.such.key")
    with pytest.raises(ConfigError, match="lxc.tty.max"):
        c.set_config_item("lxc.tty.max", "many")
    assert c.get_config_item("lxc.tty.max") == "0"  # unchanged by the refused value

    config = Path(c.config_file_name)
    config.write_text("# my comment\n" + config.read_text())
    c.clear_config()
    assert c.set_config_item("lxc.tty.max", "2")
    assert c.append_config_item("lxc.environment", "C=3")
    assert c.clear_config_item("lxc.net.0")
    assert "lxc.tty.max" not in config.read_text()  # memory only, until saved
    other = tmp_path / "copy.conf"
    assert c.save_config(str(other))
    assert "lxc.tty.max = 2" in other.read_text()
    assert c.save_config()
    text = config.read_text()
    assert text.startswith("# my comment\n")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert "lxc.tty.max = 2" in lines and not any("lxc.net.0" in line for line in lines)
    reread = Container(name, str(lxcpath))
    assert reread.get_config_item("lxc.environment") == ["A=1", "B=2", "C=3"]
    assert reread.get_config_item("lxc.net") == ""

    assert "lxc.tty.max" in c.get_keys()
    assert {"type", "link", "ipv4.address"} <= set(c.get_keys("lxc.net.0"))
    assert c.destroy()


# -- what python3-lxc gives as bools, and what raises --------------------------------------


def test_bools_and_errors(runtime: Cli, tmp_path: Path) -> None:
    name = unique("ae")
    runtime.names.add(name)
    c = Container(name, str(runtime.lxcpath))
    with pytest.raises(ContainerNotFound, match="doesn't exist"):
        c.start()
    assert not c.destroy()
    c.set_config_item("lxc.net.0.type", "empty")
    assert c.create("busybox")
    assert not c.create("busybox")  # already defined
    assert not c.stop() and not c.freeze() and not c.shutdown(0)
    assert c.get_cgroup_item("pids.max") is False
    assert c.console_getfd() is False
    with pytest.raises(LxcError, match="is not running"):
        c.attach_wait(["true"])
    assert c.wait("STOPPED", 0)
    assert not c.wait("RUNNING", 0.2)

    assert c.start(cmd=["/bin/sh", "-c", "trap 'exit 0' USR1; while :; do sleep 0.1; done"])
    assert not c.start()  # already running
    assert not c.destroy() and not c.clone(name + "x") and not c.rename(name + "y")

    # attach: a pid standing for the command, signals passed on to it
    read_end, write_end = os.pipe()
    pid = c.attach(["/bin/sh", "-c", "echo ready; exec sleep 30"], stdout=write_end)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as ready:
        assert ready.readline() == b"ready\n"
    time.sleep(0.5)  # lxc-attach forwards once it has collected the command's pid
    os.kill(pid, signal.SIGTERM)
    assert os.waitpid(pid, 0)[1] >> 8 == 128 + signal.SIGTERM

    # console_getfd: a terminal leased to this object until close()
    fd = c.console_getfd(1)
    assert isinstance(fd, int) and os.isatty(fd)
    try:
        with pytest.raises(LxcError, match="Denied access"):
            Container(name, str(runtime.lxcpath)).console_getfd(1)
    finally:
        os.close(fd)
        c.close()
    again: int | bool = False
    deadline = time.monotonic() + 10
    while again is False:  # the daemon frees the tty once it sees the lease end
        try:
            again = c.console_getfd(1)
        except LxcError:
            assert time.monotonic() < deadline, "the tty stayed leased after close()"
            time.sleep(0.05)
    assert isinstance(again, int)
    os.close(again)
    c.close()

    assert c.shutdown(10)  # lxc.signal.halt: SIGUSR1, which this init takes
    assert c.state == "STOPPED"
    renamed = c.rename(name + "r")
    assert isinstance(renamed, Container) and renamed.defined and not c.defined
    runtime.names.add(name + "r")
    assert renamed.destroy()


# -- wait and events -----------------------------------------------------------------------


def test_snapshot_clones_and_snapshots(runtime: Cli, tmp_path: Path) -> None:
    """clone(snapshot=True) is lxc-copy -s (an overlay on this rootfs: the clone's
    writes stay in its delta), snapshot*() are lxc-snapshot's; blocking and async."""
    name = unique("as")
    clone_name, restored = name + "c", name + "r"
    runtime.names.update({name, clone_name, restored})
    c = Container(name, str(runtime.lxcpath))
    c.set_config_item("lxc.net.0.type", "empty")
    assert c.create("busybox")
    clone = c.clone(clone_name, flags=lxc.LXC_CLONE_SNAPSHOT)
    assert clone and clone.get_config_item("lxc.rootfs.path").startswith("overlay:")
    assert clone.start(cmd=["/bin/sh", "-c", "echo x > /written; exec sleep 30"])
    assert clone.wait("RUNNING", 10)
    deadline = time.monotonic() + 10
    delta = runtime.lxcpath / clone_name / "overlay" / "delta" / "written"
    while not delta.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert delta.exists() and not (runtime.lxcpath / name / "rootfs" / "written").exists()
    assert clone.stop()
    with pytest.raises(LxcError, match="has clones"):
        c.destroy()
    assert clone.destroy()

    comment = tmp_path / "comment"
    comment.write_text("before the change\n")
    assert c.snapshot(str(comment)) == "snap0"
    (runtime.lxcpath / name / "rootfs" / "changed").write_text("after")
    listed = c.snapshot_list()
    assert [(n, t is not None) for n, _, t, _ in listed] == [("snap0", True)]
    assert listed[0][1] is not None and Path(listed[0][1]).read_text() == "before the change\n"
    assert c.snapshot_restore("snap0", restored)
    assert not (runtime.lxcpath / restored / "rootfs" / "changed").exists()
    assert Container(restored, str(runtime.lxcpath)).destroy()

    async def async_half() -> None:
        ac = AsyncContainer(name, str(runtime.lxcpath))
        assert await ac.snapshot() == "snap1"
        assert [n for n, *_ in await ac.snapshot_list()] == ["snap0", "snap1"]
        assert await ac.snapshot_restore("snap0")  # in place
        assert await ac.snapshot_destroy("ALL")
        assert await ac.snapshot_list() == ()

    trio.run(async_half)
    assert not (runtime.lxcpath / name / "rootfs" / "changed").exists()
    assert c.destroy()


def test_wait_and_events(runtime: Cli, tmp_path: Path) -> None:
    name = unique("aw")
    runtime.names.add(name)
    path = str(runtime.lxcpath)
    c = Container(name, path)
    c.set_config_item("lxc.net.0.type", "empty")
    assert c.create("busybox")
    with pytest.raises(LxcError):
        events("(")  # a bad regex is refused at once

    with iter(events(name, lxcpath=path)) as stream:
        start = subprocess.Popen([str(Path(sys.executable).parent / "lxc-start"), "-P", path, "-n", name])
        assert start.wait(timeout=60) == 0
        seen = [next(stream) for _ in range(2)]
    assert [(e.name, getattr(e, "state", None)) for e in seen] == [(name, "STARTING"), (name, "RUNNING")]
    assert c.wait("RUNNING", 5)
    assert c.wait(["STOPPED", "RUNNING"], 0)

    async def watch_stop() -> list[str]:
        states: list[str] = []
        ac = AsyncContainer(name, path)
        async with trio.open_nursery() as nursery:

            async def collect(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
                async with events(name, states={"STOPPED"}, lxcpath=path) as stream:
                    task_status.started()
                    async for event in stream:
                        if isinstance(event, StateEvent):
                            states.append(event.state)
                            return

            await nursery.start(collect)
            await trio.sleep(0.3)  # the subscription is in place
            assert await ac.wait("RUNNING", 1)
            assert await ac.stop()
            assert await ac.wait("STOPPED", 5)
        return states

    assert trio.run(watch_stop) == ["STOPPED"]
    assert c.destroy()


# -- the README's examples, run as they are ------------------------------------------------


@pytest.mark.parametrize("script", ["blocking.py", "many_async.py", "python3_lxc_port.py"])
def test_readme_examples(runtime: Cli, script: str) -> None:
    prefix = unique("ax")
    runtime.names.update({prefix, prefix + "c", prefix + "r", prefix + "-copy"})
    runtime.names.update(f"{prefix}{i}" for i in range(3))
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), prefix, str(runtime.lxcpath)],
        env=runtime.env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert prefix in result.stdout
    assert list_containers(lxcpath=str(runtime.lxcpath)) == ()


# -- pure pieces -----------------------------------------------------------------------------


def test_attach_options_become_lxc_attach_switches() -> None:
    from runtime.api.attach import command_of, lxc_attach_argv

    assert command_of(lxc.attach_run_command, ["ls", "-l"]) == ["ls", "-l"]
    assert command_of(lxc.attach_run_command, "ls") == ["ls"]
    assert command_of(lxc.attach_run_shell, None) == []
    with pytest.raises(LxcError, match="Python function"):
        command_of(print, None)
    argv = lxc_attach_argv(
        "/p", "c1", ["env"], env={"A": "1"}, env_policy=lxc.LXC_ATTACH_CLEAR_ENV,
        extra_keep_env=["HOME"], uid=5, gid=6, namespaces=lxc.CLONE_NEWNET | lxc.CLONE_NEWUTS,
        attach_flags=lxc.LXC_ATTACH_DEFAULT & ~lxc.LXC_ATTACH_DROP_CAPABILITIES,
    )  # fmt: skip
    tail = argv[argv.index("-P") :]
    assert tail == [
        "-P", "/p", "-n", "c1", "--clear-env", "-v", "A=1", "--keep-var", "HOME",
        "-u", "5", "-g", "6", "-s", "UTSNAME|NETWORK", "-eCAP", "--", "env",
    ]  # fmt: skip
    with pytest.raises(LxcError, match="VAR=VALUE"):
        lxc_attach_argv("/p", "c1", [], env=["NOEQUALS"])


def test_load_config_and_invalid_keys(lxcpath: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.conf"
    other.write_text("lxc.tty.max = 3\nlxc.environment = X=1\n")
    c = Container(unique("al"), str(lxcpath))
    assert c.load_config(str(other))
    assert c.get_config_item("lxc.tty.max") == "3"
    assert c.get_config_item("lxc.environment") == ["X=1"]
    with pytest.raises(lxc.InvalidKey):
        c.get_keys("lxc.nonsense")
    with pytest.raises(ConfigError):
        c.clear_config_item("lxc.nonsense")
    assert c.get_running_config_item("lxc.tty.max") is None  # not running
