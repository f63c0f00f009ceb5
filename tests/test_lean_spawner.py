"""The spawner and the daemon stay lean (README, "Speed": memory per container).

Both are a fixed cost per lxcpath, and the spawner's size is what every start
forks. Guards on real processes, read with `-X importtime` (PYTHONPROFILEIMPORTTIME
for a daemon and the spawner it starts, which inherits its environment and stderr):
- a spawner started as the daemon starts it loads the container child's modules
  but neither cattrs (runtime.config.plain decodes the spawn message), logging,
  pathlib, nor any of the daemon's (trio, pyroute2, pyinotify);
- a daemon and its spawner, through a system and an application start, never load
  cattrs, nor pyroute2 when no container has a network device to set up;
- nor ssl, idna, bz2, lzma or pickle (runtime.daemon.deferred_modules);
- the daemon gives a burst's free heap back (runtime.daemon.heap_trim): once after
  its start-up and once per quiet interval after starts or stops, never during one.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
from pathlib import Path

import trio
import trio.testing
from conftest import create_busybox

from runtime.daemon.deferred_modules import DEFERRED
from runtime.daemon.heap_trim import HeapTrimmer
from runtime.kernel import linux

ROOT = Path(__file__).resolve().parent.parent
#: Never in a spawner: what it does not need to fork a container child.
NOT_IN_SPAWNER = ("cattrs", "logging", "pathlib", "trio", "pyroute2", "pyinotify")


def imported(stderr: str) -> set[str]:
    """The modules of `-X importtime` lines."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def wait_ready(read_fd: int, what: str) -> None:
    ready, _, _ = select.select([read_fd], [], [], 60)
    assert ready and os.read(read_fd, 1) == b"1", f"{what} did not get ready"
    os.close(read_fd)


def test_a_spawner_loads_the_child_and_nothing_it_does_not_need(tmp_path: Path) -> None:
    sock_path = str(tmp_path / "spawner.sock")
    read_fd, write_fd = os.pipe()
    # As runtime.daemon.spawner_link starts it (plus -X importtime).
    argv = [sys.executable, "-X", "importtime", "-m", "runtime.spawn.spawner",
            "--socket", sock_path, "--ready-fd", str(write_fd)]  # fmt: skip
    proc = subprocess.Popen(
        argv, cwd=ROOT, pass_fds=(write_fd,), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    os.close(write_fd)
    try:
        wait_ready(read_fd, "the spawner")
        # A daemon connects and hangs up: with no child and no daemon, it exits.
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
            conn.connect(sock_path)
            assert b'"hello"' in conn.recv(1 << 16)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    modules = imported(stderr)
    assert {"runtime.spawn.child", "runtime.config.model", "attrs"} <= modules  # it ran
    assert sorted(m for m in modules if m.split(".")[0] in NOT_IN_SPAWNER) == []


def test_a_daemon_and_its_spawner_never_load_cattrs(runtime, tmp_path: Path) -> None:
    from runtime.client.rundir import ensure_run_dir

    system = create_busybox(runtime, tmp_path, "lxc.net.0.type = empty\n", "leans")
    application = create_busybox(runtime, tmp_path, "lxc.net.0.type = empty\n", "leana")
    ensure_run_dir(str(runtime.lxcpath))
    log = tmp_path / "imports.txt"
    read_fd, write_fd = os.pipe()
    env = dict(runtime.env, PYTHONPROFILEIMPORTTIME="1")
    argv = [sys.executable, "-m", "runtime.daemon", "--lxcpath", str(runtime.lxcpath),
            "--ready-fd", str(write_fd)]  # fmt: skip
    with open(log, "w") as stderr:
        daemon = subprocess.Popen(
            argv, cwd=ROOT, env=env, pass_fds=(write_fd,), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
        )  # fmt: skip
    os.close(write_fd)
    try:
        wait_ready(read_fd, "the daemon")
        assert runtime("lxc-start", "-n", system).returncode == 0
        assert runtime("lxc-wait", "-n", system, "-s", "RUNNING", "-t", "30").returncode == 0
        result = runtime("lxc-execute", "-n", application, "--", "/bin/true")
        assert result.returncode == 0, result.stderr
        assert runtime("lxc-stop", "-n", system, "-k").returncode == 0
    finally:
        runtime("lxc-stop", "-n", system, "-k")
        from runtime.client.daemon_client import shutdown_daemon

        shutdown_daemon(str(runtime.lxcpath))
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
    modules = imported(log.read_text())
    # The daemon's and the spawner's (only the spawner loads the child's modules).
    assert {"runtime.daemon.app", "runtime.spawn.child", "runtime.config.model"} <= modules
    assert sorted(m for m in modules if m.split(".")[0] == "cattrs") == []
    # No container here has a network device: netlink is imported on first use.
    assert sorted(m for m in modules if m.split(".")[0] == "pyroute2") == []
    # What trio, shutil and logging.handlers import but the daemon never uses stays
    # deferred through a start, a run and a stop (runtime.daemon.deferred_modules).
    assert sorted(m for m in modules if m.split(".")[0] in DEFERRED) == []


def test_the_heap_is_trimmed_once_a_burst_is_quiet() -> None:
    trims: list[int] = []

    async def main() -> None:
        trimmer = HeapTrimmer(quiet=1.0)
        async with trio.open_nursery() as nursery:
            await nursery.start(trimmer.run)
            await trio.sleep(1.5)
            trims.append(trimmer.trims)  # the start-up's
            for _ in range(10):  # a burst: a start ends every 0.4 s
                trimmer.poke()
                await trio.sleep(0.4)
            trims.append(trimmer.trims)  # none while it lasts
            await trio.sleep(1.5)
            trims.append(trimmer.trims)  # one after it
            await trio.sleep(10)
            trims.append(trimmer.trims)  # and no more while nothing happens
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert trims == [1, 1, 2, 2]


def test_malloc_trim_gives_free_heap_back() -> None:
    code = """
from runtime.kernel import linux
def anon():
    for line in open("/proc/self/smaps_rollup"):
        if line.startswith("Anonymous:"):
            return int(line.split()[1])
keep, junk = [], []
for i in range(20000):
    (keep if i % 50 == 0 else junk).append(bytearray(4000))
del junk
before = anon()
print(linux.malloc_trim(), before - anon())
"""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "True"
    assert int(out[1]) > 40_000  # KiB: most of the 76 MiB freed in the middle of the heap
    assert linux.malloc_trim() in (True, False)


def test_a_deferred_module_is_imported_on_first_use() -> None:
    code = """
import sys
from runtime.daemon.deferred_modules import defer
print(defer(("ssl", "sys")))
import ssl
print("_ssl" in sys.modules)
from ssl import SSLError
print("_ssl" in sys.modules, SSLError is sys.modules["ssl"].SSLError, ssl.SSLError is SSLError)
print(isinstance(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), sys.modules["ssl"].SSLContext))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    # `sys` was imported already: left alone. Importing ssl ran nothing; its first use did.
    assert out == ["['ssl']", "False", "True True True", "True"]


def test_the_daemon_a_command_starts_runs_at_OO(runtime, tmp_path: Path) -> None:
    """-OO (runtime.client.daemon_start.DAEMON_FLAGS): no docstrings in the daemon."""
    name = create_busybox(runtime, tmp_path, "lxc.net.0.type = empty\n", "leanoo")
    try:
        assert runtime("lxc-start", "-n", name).returncode == 0
        marker = f"--lxcpath\0{os.path.abspath(runtime.lxcpath)}\0".encode()
        daemons = []
        for entry in os.listdir("/proc"):
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes() if entry.isdigit() else b""
            except OSError:
                continue
            if b"\0runtime.daemon\0" in cmdline and marker in cmdline:
                daemons.append(cmdline.split(b"\0"))
        assert len(daemons) == 1, daemons
        assert daemons[0][1:4] == [b"-OO", b"-m", b"runtime.daemon"]
    finally:
        runtime("lxc-stop", "-n", name, "-k")
