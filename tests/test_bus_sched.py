"""bus.sched: the fan-out's SCHED_FIFO stretch and the subscribers' short slice, on the real kernel.

What is checked is behaviour, never timing: the server's thread leaves every
publish with the policy and nice value it had, an administrator's policy is left
alone, a process that may not use SCHED_FIFO still delivers everything, and the
slice a subscriber asks for is the one the kernel reports. Whatever changes a
scheduling attribute runs in a child process, so the test process keeps its own.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import sys
import textwrap
from pathlib import Path

import pytest
import trio
from conftest import serving_bus

from bus.aclient import open_bus
from bus.protocol import StateEvent, Synced
from bus.sched import SHORT_SLICE_NS

ROOT = Path(__file__).resolve().parent.parent
_SCHED_GETATTR = {"x86_64": 315, "aarch64": 275, "riscv64": 275}


def run_child(code: str, *, without_sys_nice: bool = False) -> None:
    """Run `code` in a fresh interpreter (its scheduling changes die with it); it must exit 0.

    `without_sys_nice`: as root, but without CAP_SYS_NICE (setpriv), so SCHED_FIFO is refused.
    """
    import shutil
    import subprocess

    prefix: list[str] = []
    if without_sys_nice:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("setpriv (util-linux) is needed to drop CAP_SYS_NICE")
        prefix = [setpriv, "--inh-caps=-sys_nice", "--bounding-set=-sys_nice"]
    result = subprocess.run(
        [*prefix, sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def slice_of(pid: int) -> int:
    """The sched_runtime the kernel reports for a thread (sched_getattr)."""
    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(56)
    number = _SCHED_GETATTR[platform.machine()]
    assert libc.syscall(number, pid, buffer, 56, 0) == 0, os.strerror(ctypes.get_errno())
    return struct.unpack_from("=IIQiIQ", buffer.raw)[5]


def test_fanout_priority_restores_policy_and_nice() -> None:
    run_child(
        """
        import os
        from bus.sched import FanoutPriority
        os.setpriority(os.PRIO_PROCESS, 0, 5)
        fanout = FanoutPriority()
        assert fanout.enabled
        assert fanout.enter()
        policy = os.sched_getscheduler(0)
        assert policy & ~os.SCHED_RESET_ON_FORK == os.SCHED_FIFO, policy
        fanout.leave()
        assert os.sched_getscheduler(0) == os.SCHED_OTHER
        assert os.getpriority(os.PRIO_PROCESS, 0) == 5
        """
    )


def test_fanout_priority_leaves_an_administrators_policy_alone() -> None:
    run_child(
        """
        import os
        from bus.sched import FanoutPriority
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        fanout = FanoutPriority()
        assert not fanout.enabled
        assert not fanout.enter()
        assert os.sched_getscheduler(0) == os.SCHED_BATCH
        """
    )


def test_fanout_priority_refused_turns_itself_off() -> None:
    # Without CAP_SYS_NICE and with RLIMIT_RTPRIO 0, SCHED_FIFO is refused.
    run_child(
        """
        import os, resource
        from bus.sched import FanoutPriority
        resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0))
        fanout = FanoutPriority()
        assert fanout.enabled
        assert not fanout.enter()
        assert not fanout.enabled
        assert os.sched_getscheduler(0) == os.SCHED_OTHER
        """,
        without_sys_nice=True,
    )


def test_prefer_short_slice_is_what_the_kernel_reports() -> None:
    if platform.machine() not in _SCHED_GETATTR:
        pytest.skip(f"no sched_getattr number known for {platform.machine()}")
    run_child(
        f"""
        import os, sys
        sys.path.insert(0, "tests")
        from bus.sched import prefer_short_slice
        from test_bus_sched import slice_of
        os.setpriority(os.PRIO_PROCESS, 0, 3)
        assert prefer_short_slice()
        assert slice_of(0) == {SHORT_SLICE_NS}, slice_of(0)
        assert os.sched_getscheduler(0) == os.SCHED_OTHER
        assert os.getpriority(os.PRIO_PROCESS, 0) == 3
        """
    )


async def test_publish_to_many_leaves_the_thread_as_it_was(tmp_path: Path) -> None:
    """Every subscriber gets every event in order, and each publish ends as SCHED_OTHER."""
    path = str(tmp_path / "bus.sock")
    total, count = 200, 5
    seen: list[list[int]] = [[] for _ in range(count)]
    policy_before = os.sched_getscheduler(0)
    nice_before = os.getpriority(os.PRIO_PROCESS, 0)

    async def subscriber(j: int, ready: trio.Event) -> None:
        async with open_bus(path) as bus:
            async for message in bus.subscribe(".*", reconnect=False):
                if isinstance(message, Synced):
                    ready.set()
                elif isinstance(message, StateEvent):
                    seen[j].append(message.seq)
                    if message.seq == total:
                        return

    async with serving_bus(path) as server:
        async with trio.open_nursery() as nursery:
            for j in range(count):
                ready = trio.Event()
                nursery.start_soon(subscriber, j, ready)
                await ready.wait()
            for i in range(total):
                server.publish_state(f"c{i % 7}", "RUNNING")
                assert os.sched_getscheduler(0) == policy_before
                if i % 20 == 19:
                    await trio.sleep(0)
    assert os.getpriority(os.PRIO_PROCESS, 0) == nice_before
    for seqs in seen:
        assert seqs == list(range(1, total + 1))


def test_a_refused_fanout_still_delivers(tmp_path: Path) -> None:
    """The server in a process that may not use SCHED_FIFO loses nothing."""
    run_child(
        f"""
        import resource
        resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0))
        import trio
        from bus.aclient import open_bus
        from bus.protocol import StateEvent, Synced
        from bus.server import BusServer

        async def main():
            server = BusServer({str(tmp_path / "bus.sock")!r})
            seen = [[], []]
            async def subscriber(j, ready):
                async with open_bus(server.socket_path) as bus:
                    async for message in bus.subscribe(".*", reconnect=False):
                        if isinstance(message, Synced):
                            ready.set()
                        elif isinstance(message, StateEvent):
                            seen[j].append(message.seq)
                            if message.seq == 50:
                                return
            async with trio.open_nursery() as nursery:
                await nursery.start(server.serve)
                async with trio.open_nursery() as subs:
                    for j in range(2):
                        ready = trio.Event()
                        subs.start_soon(subscriber, j, ready)
                        await ready.wait()
                    for i in range(50):
                        server.publish_state("c", "RUNNING")
                assert not server._fanout.enabled
                await server.aclose()
            assert seen == [list(range(1, 51))] * 2, seen

        trio.run(main)
        """,
        without_sys_nice=True,
    )
