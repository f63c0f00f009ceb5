"""Terminals and console files: attacks from inside a real container, as container root.

- lxc-execute used to hand the caller's terminal to the application. A TIOCSTI
  from inside then queued a command line as input of the caller's terminal, to be
  read by the caller's shell once lxc-execute returned. Now an application on a
  terminal gets a pty of its own, which lxc-execute proxies; the injection lands on
  that pty and never reaches the caller's terminal.
- The daemon opens console log files for a container (lxc.console.logfile,
  lxc.console.buffer.logfile). One inside the rootfs is the container's to replace:
  a symlink to a host file (or a symlinked parent directory, or a FIFO) used to make
  the daemon overwrite or rename a host file, or hang. Now such files are opened
  beneath the rootfs without following any symlink, and only regular files.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import BIN, Cli

from runtime.kernel.ptys import get_winsize, set_winsize

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/bin/busybox"),
    reason="needs root and busybox-static",
)


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


# -- lxc-execute on the caller's terminal ------------------------------------------------

#: Run inside the application container (no rootfs: the host's files, private mounts).
#: Injects a command line into the terminal on fd argv[2] (default: stdin) and reports
#: what it could do.
INJECT = r"""
import fcntl, os, sys, termios
text = sys.argv[1].encode() + b"\n"
target = int(sys.argv[2]) if len(sys.argv) > 2 else 0
done = 0
for byte in text:
    try:
        fcntl.ioctl(target, termios.TIOCSTI, bytes([byte]))
        done += 1
    except OSError as err:
        print("TIOCSTI failed:", err, flush=True)
        break
print("injected", done, "of", len(text), flush=True)
try:
    os.close(os.open("/dev/tty", os.O_RDWR))
    print("ctty yes foreground", os.tcgetpgrp(0) == os.getpgrp(), flush=True)
except OSError as err:
    print("ctty no", err, flush=True)
"""


class CallerTerminal:
    """A pty standing for the user's terminal: lxc-execute runs on its slave as the
    session leader it would be under a shell; the test is the terminal emulator
    (the master) and, after lxc-execute returns, the shell reading the slave."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.output = bytearray()
        self.mark = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(
        self, argv: list[str], env: dict[str, str], stdout: int | None = None, stdin: int | None = None
    ) -> None:
        slave = self.slave

        def take_terminal() -> None:
            fcntl.ioctl(2, termios.TIOCSCTTY, 0)  # stderr is always the terminal

        self.process = subprocess.Popen(
            argv, stdin=slave if stdin is None else stdin, stdout=slave if stdout is None else stdout,
            stderr=slave, env=env,
            start_new_session=True, preexec_fn=take_terminal,
        )  # fmt: skip

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:
            return False
        self.output += data
        return bool(data)

    def expect(self, needle: bytes, timeout: float = 20.0) -> None:
        """Wait until `needle` shows after what an earlier expect matched."""
        deadline = time.monotonic() + timeout
        while self.output.find(needle, self.mark) < 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not seen; output {bytes(self.output)!r}")
            self._read(0.1)
        self.mark = self.output.find(needle, self.mark) + len(needle)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"lxc-execute still runs; output {bytes(self.output)!r}")
            self._read(0.05)
        while self._read(0.1):
            pass
        return self.process.returncode

    def pending_input(self) -> bytes:
        """What the caller's shell would read from its terminal now."""
        attrs = termios.tcgetattr(self.slave)
        attrs[3] &= ~termios.ICANON  # a partial line counts too
        attrs[6][termios.VMIN] = 0
        attrs[6][termios.VTIME] = 0
        termios.tcsetattr(self.slave, termios.TCSANOW, attrs)
        data = bytearray()
        while True:
            ready, _, _ = select.select([self.slave], [], [], 0.2)
            if not ready:
                return bytes(data)
            chunk = os.read(self.slave, 4096)
            if not chunk:
                return bytes(data)
            data += chunk

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for fd in (self.master, self.slave):
            os.close(fd)


@pytest.fixture
def caller() -> Iterator[CallerTerminal]:
    terminal = CallerTerminal()
    try:
        yield terminal
    finally:
        terminal.close()


@pytest.fixture
def app_config(tmp_path: Path) -> Path:
    """An application container on the host's files (no rootfs), no network."""
    conf = tmp_path / "app.conf"
    conf.write_text("lxc.net.0.type = empty\n")
    return conf


def execute_argv(runtime: Cli, name: str, conf: Path, *command: str) -> list[str]:
    runtime.names.add(name)
    return [str(BIN / "lxc-execute"), "-P", str(runtime.lxcpath), "-n", name, "-f", str(conf), "--", *command]


def test_tiocsti_from_execute_never_reaches_the_callers_terminal(
    runtime: Cli, caller: CallerTerminal, app_config: Path
) -> None:
    marker = f"echo PWNED-{uuid.uuid4().hex[:8]}"
    python = os.path.realpath(sys.executable)
    caller.start(execute_argv(runtime, unique("ti"), app_config, python, "-I", "-S", "-c", INJECT, marker), runtime.env)
    assert caller.wait() == 0, bytes(caller.output)
    output = bytes(caller.output).decode(errors="replace")
    # The attack ran: the application's terminal took the injected bytes...
    assert f"injected {len(marker) + 1} of {len(marker) + 1}" in output, output
    # The caller's shell reads nothing of it.
    leftover = caller.pending_input()
    assert marker.encode() not in leftover, leftover
    # The application's terminal is its controlling terminal, it leads the foreground.
    assert "ctty yes foreground True" in output, output


def start_foreground_argv(runtime: Cli, name: str, conf: Path, *command: str) -> list[str]:
    runtime.names.add(name)
    return [str(BIN / "lxc-start"), "-P", str(runtime.lxcpath), "-n", name, "-f", str(conf), "-F", "--", *command]


@pytest.mark.parametrize("console_path", [False, True], ids=["stdin-not-a-tty", "console-path"])
def test_tiocsti_from_start_foreground_never_reaches_the_callers_terminal(
    runtime: Cli, caller: CallerTerminal, app_config: Path, tmp_path: Path, console_path: bool
) -> None:
    """lxc-start -F where the console is not proxied (stdin not a terminal, or
    lxc.console.path set): pid 1 used to get the caller's terminal as fd 1, and
    container root's TIOCSTI on it queued a command line for the caller's shell."""
    marker = f"echo PWNED-{uuid.uuid4().hex[:8]}"
    python = os.path.realpath(sys.executable)
    conf = app_config
    if console_path:  # the console on a device of its own; stdin stays the terminal
        conf = tmp_path / "console.conf"
        conf.write_text(app_config.read_text() + "lxc.console.path = /dev/null\n")
    pidfile = tmp_path / "init.pid"  # written from the "started" event while proxying
    argv = start_foreground_argv(runtime, unique("tf"), conf, python, "-I", "-S", "-c", INJECT, marker, "1")
    argv[argv.index("-F")] = f"--pidfile={pidfile}"
    argv.insert(argv.index("--"), "-F")
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        caller.start(argv, runtime.env, stdin=None if console_path else null)
    finally:
        os.close(null)
    assert caller.wait() == 0, bytes(caller.output)
    output = bytes(caller.output).decode(errors="replace")
    assert int(pidfile.read_text()) > 1
    # The attack ran: pid 1's terminal took the injected bytes...
    assert f"injected {len(marker) + 1} of {len(marker) + 1}" in output, output
    # The caller's terminal is back in its own mode (pending_input changes it)...
    assert termios.tcgetattr(caller.slave)[3] & termios.ICANON
    # ...and the caller's shell reads nothing of the injection.
    leftover = caller.pending_input()
    assert marker.encode() not in leftover, leftover


def test_execute_on_a_terminal_keeps_redirections_size_and_status(
    runtime: Cli, caller: CallerTerminal, app_config: Path, tmp_path: Path
) -> None:
    set_winsize(caller.master, 33, 77)
    out = tmp_path / "out.txt"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    script = "echo to-the-file; stty size >&2; test -t 0 && echo stdin-tty >&2; test -t 1 || echo stdout-file >&2; exit 7"
    try:
        caller.start(execute_argv(runtime, unique("tr"), app_config, "sh", "-c", script), runtime.env, stdout=fd)
    finally:
        os.close(fd)
    assert caller.wait() == 7, bytes(caller.output)
    assert out.read_text() == "to-the-file\n"
    output = bytes(caller.output).decode(errors="replace")
    assert "33 77" in output and "stdin-tty" in output and "stdout-file" in output, output
    assert "to-the-file" not in output
    assert get_winsize(caller.slave) == (33, 77)
    # The caller's terminal is back in its own mode (lxc-execute put it in raw mode).
    assert termios.tcgetattr(caller.slave)[3] & termios.ICANON


def test_execute_job_control_on_its_own_terminal(runtime: Cli, caller: CallerTerminal, app_config: Path) -> None:
    """An interactive shell on the application's pty: input goes to it, job control
    works, a new window size reaches it."""
    caller.start(execute_argv(runtime, unique("jc"), app_config, "sh", "-i"), runtime.env)
    caller.expect(b"# ")
    os.write(caller.master, b"sleep 30 &\n")
    caller.expect(b"# ")
    set_winsize(caller.master, 40, 100)  # SIGWINCH for lxc-execute: passed on to the pty
    time.sleep(0.3)
    os.write(caller.master, b"stty size; jobs; kill %1; wait %1; echo JOB-DONE-$?; exit 5\n")
    caller.expect(b"JOB-DONE")
    assert caller.wait() == 5, bytes(caller.output)
    output = bytes(caller.output).decode(errors="replace")
    assert "job control turned off" not in output, output
    assert "\n40 100\r" in output, output
    assert "Running" in output and "JOB-DONE-143" in output, output  # kill %1 found the job


# -- console files inside the rootfs -------------------------------------------------------


@pytest.fixture
def busybox(runtime: Cli, tmp_path: Path) -> str:
    """A created busybox container (stopped): a shell on the console."""
    name = unique("cf")
    conf = tmp_path / "bb.conf"
    conf.write_text("lxc.net.0.type = empty\n")
    result = runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf))
    assert result.returncode == 0, result.stderr
    return name


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """Host files a container would like the daemon to write: a directory and files in it."""
    directory = tmp_path / f"victim-{uuid.uuid4().hex[:8]}"
    directory.mkdir()
    for name in ("console.log", "console.log.1", "buffer.log"):
        (directory / name).write_text(f"host file {name}\n")
    return directory


def snapshot(directory: Path) -> dict[str, bytes]:
    return {entry.name: entry.read_bytes() for entry in sorted(directory.iterdir())}


def inside(runtime: Cli, name: str, script: str) -> str:
    result = runtime("lxc-attach", "-n", name, "--", "sh", "-c", script)
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def daemon_log(runtime: Cli) -> str:
    from runtime.client.rundir import run_dir

    return Path(run_dir(str(runtime.lxcpath)), "daemon.log").read_text(errors="replace")


def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def contents(path: Path) -> bytes:
    """A file's bytes; b'' while it is missing (between a rotation's rename and open)."""
    try:
        return path.read_bytes()
    except OSError:
        return b""


def start_with_logs(runtime: Cli, name: str, tree: Path | None = None, *options: str) -> Path:
    """Start `name` with its console log (4 KiB, rotated) and buffer log in its rootfs
    (`tree`: the host directory the container writes its files to, its rootfs by
    default), with `options` added to the command line."""
    tree = tree or runtime.lxcpath / name / "rootfs"
    logs = tree / "var" / "log" / "trio"
    logs.mkdir(parents=True)
    result = runtime(
        "lxc-start", "-n", name, *options,
        "-s", f"lxc.console.logfile={logs / 'console.log'}",
        "-s", "lxc.console.size=4096", "-s", "lxc.console.rotate=1",
        "-s", f"lxc.console.buffer.logfile={logs / 'buffer.log'}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert wait_until((logs / "console.log").exists)
    return logs


def test_console_log_rotation_stays_in_the_rootfs(runtime: Cli, busybox: str, victim: Path) -> None:
    """The log's directory becomes a symlink to a host directory, then the log rotates."""
    logs = start_with_logs(runtime, busybox)
    before = snapshot(victim)
    inside(runtime, busybox, f"mv /var/log/trio /var/log/trio.old && ln -s {victim} /var/log/trio")
    # More than lxc.console.size of console output: the log rotates (twice).
    inside(runtime, busybox, "head -c 9000 /dev/zero | tr '\\0' x > /dev/console; echo ROTATED > /dev/console")
    old = logs.parent / "trio.old"
    assert wait_until(lambda: b"ROTATED" in contents(old / "console.log") + contents(victim / "console.log"))
    assert snapshot(victim) == before
    assert (old / "console.log.1").stat().st_size == 4096  # rotated where the log was
    # The file itself replaced by a symlink, then a rotation: a new file of the container's.
    inside(runtime, busybox, f"rm /var/log/trio.old/console.log && ln -s {victim}/console.log /var/log/trio.old/console.log")
    inside(runtime, busybox, "head -c 5000 /dev/zero | tr '\\0' y > /dev/console")
    assert wait_until(lambda: not (old / "console.log").is_symlink())
    assert snapshot(victim) == before
    assert runtime("lxc-info", "-n", busybox, "-sH").stdout.strip() == "RUNNING"
    assert runtime("lxc-stop", "-n", busybox, "-k").returncode == 0


@pytest.mark.parametrize("attack", ["symlink", "parent-symlink", "fifo"])
def test_buffer_log_is_not_steered_at_the_host(runtime: Cli, busybox: str, victim: Path, attack: str) -> None:
    """lxc.console.buffer.logfile is written when the container stops, with O_TRUNC."""
    logs = start_with_logs(runtime, busybox)
    before = snapshot(victim)
    script = {
        "symlink": f"ln -s {victim}/buffer.log /var/log/trio/buffer.log",
        "parent-symlink": f"mv /var/log/trio /var/log/trio.old && ln -s {victim} /var/log/trio",
        "fifo": "mkfifo /var/log/trio/buffer.log",
    }[attack]
    inside(runtime, busybox, f"{script}; echo BUFFERED > /dev/console")
    assert runtime("lxc-stop", "-n", busybox, "-k").returncode == 0
    assert runtime("lxc-info", "-n", busybox, "-sH").stdout.strip() == "STOPPED"  # the daemon lives on
    assert snapshot(victim) == before
    assert "lxc.console.buffer.logfile" in daemon_log(runtime)
    if attack == "parent-symlink":
        assert not (logs.parent / "trio.old" / "buffer.log").exists()
    else:
        kind = "is_symlink" if attack == "symlink" else "is_fifo"
        assert getattr(logs / "buffer.log", kind)()


@pytest.mark.parametrize("kind", ["btrfs", "overlay"])
def test_console_files_of_other_rootfs_types_are_not_steered_at_the_host(
    runtime: Cli, tmp_path: Path, victim: Path, kind: str
) -> None:
    """A `btrfs:` rootfs (a host directory) and an overlay's upper directory are the
    container's too: its symlinks there must not steer the console log's rotation or
    the buffer log written at the stop (they did: only `dir:` was recognised)."""
    name = unique("cf")
    conf = tmp_path / "bb.conf"
    conf.write_text("lxc.net.0.type = empty\n")
    create = ["lxc-create", "-n", name, "-t", "busybox", "-f", str(conf)]
    result = runtime(*create, *(["-B", "overlay"] if kind == "overlay" else []))
    assert result.returncode == 0, result.stderr
    directory = runtime.lxcpath / name
    tree = directory / "overlay" / "delta" if kind == "overlay" else directory / "rootfs"
    spelled = [] if kind == "overlay" else ["-s", f"lxc.rootfs.path=btrfs:{tree}"]
    logs = start_with_logs(runtime, name, tree, *spelled)
    before = snapshot(victim)
    inside(runtime, name, f"mv /var/log/trio /var/log/trio.old && ln -s {victim} /var/log/trio")
    inside(runtime, name, "head -c 9000 /dev/zero | tr '\\0' x > /dev/console; echo ROTATED > /dev/console")
    old = logs.parent / "trio.old"
    assert wait_until(lambda: b"ROTATED" in contents(old / "console.log") + contents(victim / "console.log"))
    assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
    assert snapshot(victim) == before
    assert "lxc.console.buffer.logfile" in daemon_log(runtime)  # refused, and said so
    assert runtime("lxc-info", "-n", name, "-sH").stdout.strip() == "STOPPED"


def test_buffer_log_written_in_the_rootfs(runtime: Cli, busybox: str) -> None:
    """Without an attack the buffer log is written where it was asked for."""
    logs = start_with_logs(runtime, busybox)
    inside(runtime, busybox, "echo BUFFERED-OK > /dev/console")
    assert runtime("lxc-stop", "-n", busybox, "-k").returncode == 0
    assert b"BUFFERED-OK" in (logs / "buffer.log").read_bytes()
    assert stat_mode(logs / "buffer.log") == 0o600


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.parametrize("openat2", [True, False], ids=["openat2", "by-hand"])
def test_location_never_follows_a_symlink_inside_the_rootfs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, openat2: bool
) -> None:
    """However the path is spelled (even through a host symlink to the rootfs)."""
    from runtime.storage import hostfiles

    monkeypatch.setattr(hostfiles, "_have_openat2", openat2)
    rootfs = tmp_path / "rootfs"
    (rootfs / "var" / "log").mkdir(parents=True)
    host = tmp_path / "host"
    host.mkdir()
    (rootfs / "var" / "evil").symlink_to(host)
    (rootfs / "var" / "log" / "file").symlink_to(host / "file")
    alias = tmp_path / "alias"
    alias.symlink_to(rootfs)  # the admin's own symlink: followed
    for path, code in [
        (alias / "var" / "evil" / "x", "ELOOP"),
        (rootfs / "var" / "evil" / "x", "ELOOP"),
        (rootfs / "var" / "log" / "file", "ELOOP"),
        (rootfs / "var" / "log" / ".." / ".." / ".." / "host" / "x", "EXDEV"),
    ]:
        with pytest.raises(OSError) as caught:
            location = hostfiles.Location(str(path), (str(rootfs),))
            try:
                os.close(location.open_file())
            finally:
                location.close()
        assert caught.value.errno == getattr(errno, code), (path, caught.value)
    assert list(host.iterdir()) == []
    hostfiles.write_file(str(alias / "var" / "log" / "new"), (str(rootfs),), b"ok\n")
    assert (rootfs / "var" / "log" / "new").read_bytes() == b"ok\n"
    os.mkfifo(rootfs / "var" / "log" / "fifo")
    with pytest.raises(OSError, match="not a regular file"):
        hostfiles.write_file(str(rootfs / "var" / "log" / "fifo"), (str(rootfs),), b"x")
    # Outside the rootfs the host's symlinks are followed, but never the last one.
    (host / "link").symlink_to(host / "target")
    with pytest.raises(OSError, match="is a symlink"):
        hostfiles.write_file(str(host / "link"), (str(rootfs),), b"x")
    assert not (host / "target").exists()
