"""A trio program with the async API: three containers started, asked and stopped at once.

    python3 conf-examples/api/many_async.py PREFIX [LXCPATH]
"""

import sys

import trio

from bus.protocol import StateEvent
from runtime.api import AsyncContainer, events

prefix = sys.argv[1]
lxcpath = sys.argv[2] if len(sys.argv) > 2 else None
names = [f"{prefix}{i}" for i in range(3)]


async def main() -> None:
    containers = [AsyncContainer(name, lxcpath) for name in names]
    for c in containers:
        c.set_config_item("lxc.net.0.type", "empty")
    async with trio.open_nursery() as nursery:
        for c in containers:
            nursery.start_soon(c.create, "busybox")

    running: set[str] = set()

    async def watch(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with events(f"{prefix}.*", states={"RUNNING"}, lxcpath=lxcpath) as stream:
            task_status.started()
            async for event in stream:
                if isinstance(event, StateEvent):
                    running.add(event.name)
                if running == set(names):
                    return

    async with trio.open_nursery() as nursery:
        await nursery.start(watch)
        await trio.sleep(0.2)  # the subscription is in place before the first start
        for c in containers:
            nursery.start_soon(c.start)
    print("running:", sorted(running))

    async def hostname(c: AsyncContainer) -> None:
        status, out = await c.attach_run(["hostname"])
        print(f"{c.name}: {out.decode().strip()} (status {status})")

    async with trio.open_nursery() as nursery:
        for c in containers:
            nursery.start_soon(hostname, c)
    async with trio.open_nursery() as nursery:
        for c in containers:
            nursery.start_soon(c.stop)
    async with trio.open_nursery() as nursery:
        for c in containers:
            nursery.start_soon(c.destroy)
    print("stopped and destroyed:", ", ".join(names))


trio.run(main)
