"""lxc-top on real busybox containers: the batch output parsed, and the live view
driven under tmux (send-keys, capture-pane) while containers start, freeze, fail
to start and stop. The live view runs with a 30 s refresh delay, so everything it
shows within a few seconds came from the bus, not from a refresh.

Each test has its own lxcpath and daemon (the `runtime` fixture stops it and sweeps
processes and cgroups afterwards); lxc-top and the tmux server (on a private
socket) are ended in `finally`.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import BIN, Cli, create_busybox

CONF = "lxc.net.0.type = empty\n"
ROW = re.compile(
    r"^(?P<name>\S+)\s+(?P<used>[\d.]+|-)\s+(?P<sys>[\d.]+|-)\s+(?P<user>[\d.]+|-)\s+"
    r"(?P<blkio>-|.*?\))\s+(?P<mem>[\d.]+ ?(?:[KMGT]iB)?|-)\s+.*?(?P<state>[A-Z]+(?::.*)?)$"
)


def create(runtime: Cli, tmp_path: Path) -> str:
    return create_busybox(runtime, tmp_path, CONF, "top")


def parse_blocks(text: str) -> list[dict[str, object]]:
    """Batch output -> [{rows: {name: state}, total: line, events: [lines]}]."""
    blocks = []
    for chunk in text.split("\n\n"):
        lines = [line for line in chunk.splitlines() if line]
        if not lines:
            continue
        assert lines[0].startswith("Container") and lines[1].startswith("Name"), chunk
        rows: dict[str, str] = {}
        total = None
        events = []
        for line in lines[2:]:
            if line.startswith("@ "):
                events.append(line[2:])
            elif line.startswith("TOTAL "):
                total = line
            else:
                match = ROW.match(line)
                assert match, line
                rows[match["name"]] = match["state"]
        assert total is not None, chunk
        blocks.append({"rows": rows, "total": total, "events": events})
    return blocks


def test_batch_output(runtime: Cli, tmp_path: Path) -> None:
    first, second = create(runtime, tmp_path), create(runtime, tmp_path)
    assert runtime("lxc-start", "-n", first).returncode == 0
    top = subprocess.Popen(
        [str(BIN / "lxc-top"), "-P", str(runtime.lxcpath), "-b", "-d", "0.3", "-s", "m"],
        env=runtime.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)
        assert runtime("lxc-start", "-n", second).returncode == 0
        assert runtime("lxc-freeze", "-n", first).returncode == 0
        time.sleep(1.0)
        assert runtime("lxc-unfreeze", "-n", first).returncode == 0
        assert runtime("lxc-stop", "-n", first, "-k").returncode == 0
        bad = runtime("lxc-start", "-n", first, "-s", "lxc.rootfs.path=/nonexistent/rootfs")
        assert bad.returncode == 1
        time.sleep(1.0)
    finally:
        top.terminate()
        out, err = top.communicate(timeout=10)
    blocks = parse_blocks(out)
    assert len(blocks) >= 5, out
    assert blocks[0]["rows"] == {first: "RUNNING"}
    assert blocks[0]["total"].startswith("TOTAL 1 of 1")
    assert any(b["rows"] == {first: "FROZEN", second: "RUNNING"} for b in blocks), out
    assert blocks[-1]["rows"] == {second: "RUNNING"}
    events = [e for b in blocks for e in b["events"]]
    texts = [e.split(" ", 1)[1] for e in events]
    assert f"'{first}' changed state to [FROZEN]" in texts
    assert f"'{first}' exited with status [137]" in texts
    aborting = [t for t in texts if t.startswith(f"'{first}' changed state to [ABORTING]: ")]
    assert aborting and "/nonexistent/rootfs" in aborting[0]
    assert texts.index(f"'{first}' changed state to [STARTING]") < texts.index(aborting[0])
    # A running container's figures are numbers in LXC's units.
    line = next(line for line in out.splitlines() if line.startswith(second))
    match = ROW.match(line)
    assert match and float(match["used"]) >= 0 and match["mem"].endswith("iB")


def test_bad_options(runtime: Cli) -> None:
    for argv in (("-b", "-d", "0"), ("-b", "-s", "x"), ("-b", "--iterations", "0")):
        result = runtime("lxc-top", *argv)
        assert result.returncode == 1 and "invalid" in result.stderr
    result = runtime("lxc-top", "-d", "1")  # no terminal: as LXC, refused
    assert result.returncode == 1 and "not a tty" in result.stderr


@pytest.fixture
def tmux(runtime: Cli) -> Iterator[Callable[..., str]]:
    """A private tmux server; yields `tmux(*args)` returning its stdout."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    socket = f"lxctop{uuid.uuid4().hex[:8]}"

    def run(*args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=20
        ).stdout

    try:
        yield run
    finally:
        run("kill-server")


def screen_until(tmux: Callable[..., str], check: Callable[[str], bool], timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        screen = tmux("capture-pane", "-p", "-t", "top")
        if check(screen):
            return screen
        assert time.monotonic() < deadline, f"the screen never showed it:\n{screen}"
        time.sleep(0.1)


def row_state(screen: str, name: str) -> str | None:
    for line in screen.splitlines():
        if line.startswith(name + " "):
            return line.split()[-1] if "ABORTING" not in line else "ABORTING"
    return None


def test_live_view_follows_the_bus(runtime: Cli, tmp_path: Path, tmux: Callable[..., str]) -> None:
    first, second = create(runtime, tmp_path), create(runtime, tmp_path)
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in runtime.env.items() if k.startswith("TRIO_LXC"))
    # COLUMNS/LINES of the test's environment would override the pane's size in curses.
    command = f"env -u COLUMNS -u LINES {env} {BIN / 'lxc-top'} -P {shlex.quote(str(runtime.lxcpath))} -d 30"
    tmux("new-session", "-d", "-s", "top", "-x", "170", "-y", "40", command)
    # Without an attached client some tmux versions keep 80x24: set the size for good.
    tmux("set-option", "-t", "top", "window-size", "manual")
    tmux("resize-window", "-t", "top", "-x", "170", "-y", "40")
    screen = screen_until(tmux, lambda s: "bus: live" in s)
    assert "TOTAL 0 of 0" in screen and "Container" in screen

    assert runtime("lxc-start", "-n", first).returncode == 0
    screen = screen_until(tmux, lambda s: row_state(s, first) == "RUNNING")
    assert f"'{first}' changed state to [STARTING]" in screen

    assert runtime("lxc-freeze", "-n", first).returncode == 0
    screen_until(tmux, lambda s: row_state(s, first) == "FROZEN")

    bad = runtime("lxc-start", "-n", second, "-s", "lxc.rootfs.path=/nonexistent/rootfs")
    assert bad.returncode == 1
    screen = screen_until(tmux, lambda s: f"'{second}' changed state to [STOPPED]" in s)
    assert re.search(rf"'{second}' changed state to \[ABORTING\]: .*/nonexistent/rootfs", screen)
    assert row_state(screen, second) is None

    assert runtime("lxc-unfreeze", "-n", first).returncode == 0
    assert runtime("lxc-stop", "-n", first, "-k").returncode == 0
    screen = screen_until(tmux, lambda s: row_state(s, first) is None)
    assert "TOTAL 0 of 0" in screen

    tmux("send-keys", "-t", "top", "q")
    deadline = time.monotonic() + 10
    while "top" in tmux("list-sessions", "-F", "#{session_name}").split():
        assert time.monotonic() < deadline, "lxc-top did not quit on q"
        time.sleep(0.1)


def test_batch_imports_nothing_heavy(runtime: Cli, tmp_path: Path) -> None:
    """The running path (bus subscription, figures) starts as fast as lxc-monitor."""
    from test_import_rules import HEAVY, imported_modules

    name = create(runtime, tmp_path)
    assert runtime("lxc-start", "-n", name).returncode == 0
    argv = [str(BIN / "lxc-top"), "-P", str(runtime.lxcpath), "-b", "--iterations", "1"]
    modules = imported_modules(argv, runtime.env)
    assert "cli.top_model" in modules and "bus.client" in modules
    assert sorted(m for m in modules if m.split(".")[0] in HEAVY) == []
