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

import fcntl
import os
import select
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BIN, Cli

from runtime.ptys import get_winsize, set_winsize

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/bin/busybox"),
    reason="needs root and busybox-static",
)


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


# -- lxc-execute on the caller's terminal ------------------------------------------------

#: Run inside the application container (no rootfs: the host's files, private mounts).
#: Injects a command line into its stdin's terminal and reports what it could do.
INJECT = r"""
import fcntl, os, sys, termios
text = sys.argv[1].encode() + b"\n"
done = 0
for byte in text:
    try:
        fcntl.ioctl(0, termios.TIOCSTI, bytes([byte]))
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

    def start(self, argv: list[str], env: dict[str, str], stdout: int | None = None) -> None:
        slave = self.slave

        def take_terminal() -> None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave if stdout is None else stdout, stderr=slave, env=env,
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
    """An interactive shell on the application's pty: input goes to it, job control works."""
    caller.start(execute_argv(runtime, unique("jc"), app_config, "sh", "-i"), runtime.env)
    caller.expect(b"# ")
    os.write(caller.master, b"sleep 30 &\n")
    caller.expect(b"# ")
    os.write(caller.master, b"jobs; kill %1; wait %1; echo JOB-DONE-$?; exit 5\n")
    caller.expect(b"JOB-DONE")
    assert caller.wait() == 5, bytes(caller.output)
    output = bytes(caller.output).decode(errors="replace")
    assert "job control turned off" not in output, output
    assert "Running" in output and "JOB-DONE-143" in output, output  # kill %1 found the job
