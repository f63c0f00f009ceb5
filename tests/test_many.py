"""Many containers at once through one Runtime (runtime.api), as root, real containers.

Why: 300 concurrent `Runtime.start` calls once lost 70 to ENOTCONN (a full listen
backlog read by trio as a connected socket) and, in another run, failed starts with
"another task is already writing this fd" (two starts on the spawner link at once).
Here 200 start concurrently from one trio program with no limiter, all must come up,
and all must be gone afterwards; and `start_many` / `stop_many` do a set in one
request. Behaviour only: bench/many.py measures the times.

The containers share the first one's busybox rootfs (each its own config), so the
set-up costs one `lxc-create`.
"""

from __future__ import annotations

from pathlib import Path

import trio
from conftest import Cli, unique

from runtime.api import Runtime

CONF = "lxc.net.0.type = empty\nlxc.tty.max = 0\n"


def make_many(runtime: Cli, tmp_path: Path, n: int) -> list[str]:
    """n defined containers: one `lxc-create -t busybox`, the others its config
    with their own name (the rootfs shared)."""
    conf = tmp_path / "many.conf"
    conf.write_text(CONF)
    first = unique("mn")
    result = runtime("lxc-create", "-n", first, "-t", "busybox", "-f", str(conf))
    assert result.returncode == 0, result.stderr
    text = (runtime.lxcpath / first / "config").read_text()
    names = [first]
    for i in range(1, n):
        name = f"{first}-{i}"
        (runtime.lxcpath / name).mkdir()
        (runtime.lxcpath / name / "config").write_text(
            text.replace(f"lxc.uts.name = {first}", f"lxc.uts.name = {name}")
        )
        runtime.names.add(name)
        names.append(name)
    return names


def test_200_concurrent_starts_through_one_runtime(runtime: Cli, tmp_path: Path) -> None:
    names = make_many(runtime, tmp_path, 200)
    rt = Runtime(str(runtime.lxcpath))

    async def main() -> None:
        pids: dict[str, int] = {}

        async def start(name: str) -> None:
            pids[name] = await rt.start(name, ["/bin/sleep", "1000"])

        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(start, name)
        assert len(set(pids.values())) == len(names)
        assert {await rt.state(name) for name in names} == {"RUNNING"}
        failed = await rt.stop_many(names, kill=True)
        assert failed == {}
        assert {await rt.state(name) for name in names} == {"STOPPED"}

    trio.run(main)


def test_start_many_and_stop_many(runtime: Cli, tmp_path: Path) -> None:
    names = make_many(runtime, tmp_path, 20)
    rt = Runtime(str(runtime.lxcpath))

    async def main() -> None:
        missing = unique("nope")
        failed = await rt.start_many([*names, missing])
        assert list(failed) == [missing]
        assert "doesn't exist" in failed[missing]
        assert {await rt.state(name) for name in names} == {"RUNNING"}
        assert await rt.stop_many(names, timeout=0) == {}  # no grace: a kill, as `stop`
        assert {await rt.state(name) for name in names} == {"STOPPED"}
        assert await rt.start_many([]) == {}

    trio.run(main)
