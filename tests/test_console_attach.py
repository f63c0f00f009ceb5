"""Consoles, ttys and attach, end to end with real busybox containers (as root).

The terminal side of every test is a real pty (a pair from os.openpty; the
command runs on the slave, the test reads and writes the master), so lxc-console,
`lxc-start -F` and lxc-attach see exactly what they see under a user's terminal.
Each test has its own lxcpath, run directory and daemon (the `runtime` fixture
stops it and sweeps processes and cgroups afterwards) and unique names; every
process a test starts is killed in `finally`.
"""

from __future__ import annotations

import glob
import os
import select
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BIN, Cli, kill_daemon

from runtime.daemon.console.buffers import PAGE_SIZE, ConsoleLog, RingBuffer, effective_size
from runtime.kernel.ptys import set_winsize

CONF = "lxc.net.0.type = empty\nlxc.environment = FROMCONF=yes\n"
DETACH = b"\x01q"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def cgroups_of(name: str) -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{name}")


def state(cli: Cli, name: str) -> str:
    return cli("lxc-info", "-n", name, "-sH").stdout.strip()


class Terminal:
    """A command on the slave side of a fresh pty; the test drives the master."""

    def __init__(
        self, argv: list[str], env: dict[str, str], cwd: str | None = None, size: tuple[int, int] | None = None
    ) -> None:
        self.master, slave = os.openpty()
        if size is not None:
            set_winsize(self.master, *size)
        try:
            self.process = subprocess.Popen(
                argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                start_new_session=True,
            )  # fmt: skip
        finally:
            os.close(slave)
        self.output = bytearray()
        self.mark = 0

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:
            return False
        if not data:
            return False
        self.output += data
        return True

    def expect(self, needle: bytes, timeout: float = 15.0) -> bytes:
        """Wait until `needle` appears after the last match; returns what came up to it."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.output.find(needle, self.mark)
            if found >= 0:
                seen = bytes(self.output[self.mark : found + len(needle)])
                self.mark = found + len(needle)
                return seen
            if time.monotonic() > deadline or not self._read(0.1):
                raise AssertionError(f"{needle!r} not seen; got {bytes(self.output[self.mark:])!r}")

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def wait(self, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running; output {bytes(self.output)!r}")
            self._read(0.05)
        while self._read(0.05) and select.select([self.master], [], [], 0)[0]:
            pass
        return self.process.returncode

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    """Terminals a test opens; whatever still runs is killed afterwards."""
    opened: list[Terminal] = []
    try:
        yield opened
    finally:
        for terminal in opened:
            terminal.close()


@pytest.fixture
def busybox(runtime: Cli, tmp_path: Path) -> str:
    """A created busybox container (stopped): gettys on tty1..5, a shell on the console."""
    name = unique("cn")
    conf = tmp_path / "bb.conf"
    conf.write_text(CONF)
    result = runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf))
    assert result.returncode == 0, result.stderr
    return name


@pytest.fixture
def running(runtime: Cli, busybox: str) -> str:
    result = runtime("lxc-start", "-n", busybox)
    assert result.returncode == 0, result.stderr
    return busybox


def console(runtime: Cli, terminals: list[Terminal], name: str, *args: str) -> Terminal:
    argv = [str(BIN / "lxc-console"), "-P", str(runtime.lxcpath), "-n", name, *args]
    terminal = Terminal(argv, runtime.env)
    terminals.append(terminal)
    return terminal


def attach_argv(runtime: Cli, name: str, *args: str) -> list[str]:
    return [str(BIN / "lxc-attach"), "-P", str(runtime.lxcpath), "-n", name, *args]


# -- the console's buffers (no container) ------------------------------------------------


def test_ring_buffer_keeps_the_newest_bytes() -> None:
    ring = RingBuffer(8)
    ring.write(b"abcdef")
    ring.write(b"ghij")
    assert ring.read() == b"cdefghij"
    assert RingBuffer(0).read() == b""
    assert effective_size(None, 123) == 123
    assert effective_size(-1, 0) == 128 * 1024
    assert effective_size(10, 0) == PAGE_SIZE


def test_console_log_size_and_rotate(tmp_path: Path) -> None:
    path = tmp_path / "console.log"
    bounded = ConsoleLog(str(path), size=PAGE_SIZE, rotate=False)
    bounded.write(b"x" * (PAGE_SIZE + 10))
    bounded.close()
    assert path.stat().st_size == PAGE_SIZE  # full: LXC stops writing
    path.unlink()
    rotating = ConsoleLog(str(path), size=PAGE_SIZE, rotate=True)
    rotating.write(b"a" * PAGE_SIZE + b"b" * 10)
    rotating.close()
    assert (tmp_path / "console.log.1").read_bytes() == b"a" * PAGE_SIZE
    assert path.read_bytes() == b"b" * 10


# -- lxc-console ----------------------------------------------------------------------------


def test_console_tty_login_detach_and_reconnect(runtime: Cli, running: str, terminals: list[Terminal]) -> None:
    first = console(runtime, terminals, running, "-t", "1")
    first.expect(b"Connected to tty 1")
    first.expect(b"Type <Ctrl+a q> to exit the console, <Ctrl+a Ctrl+a> to enter Ctrl+a itself")
    first.send(b"\r")
    first.expect(f"{running} login:".encode())
    first.send(b"root\r")
    time.sleep(0.5)
    first.send(b"echo LOGGED_$((6*7))\r")
    first.expect(b"LOGGED_42")
    first.send(DETACH)
    assert first.wait() == 0

    again = console(runtime, terminals, running, "-t", "1")
    again.expect(b"Connected to tty 1")
    again.send(b"echo BACK_$((2*3))\r")  # the same shell: no new login
    seen = again.expect(b"BACK_6")
    assert b"login:" not in seen
    again.send(DETACH)
    assert again.wait() == 0


def test_console_busy_tty_is_refused(runtime: Cli, running: str, terminals: list[Terminal]) -> None:
    holder = console(runtime, terminals, running, "-t", "1")
    holder.expect(b"Connected to tty 1")
    second = console(runtime, terminals, running, "-t", "1")
    assert second.wait() == 1
    assert b"Denied access to tty 1" in second.output
    # Without -t: the first free tty.
    third = console(runtime, terminals, running)
    third.expect(b"Connected to tty 2")
    third.send(DETACH)
    assert third.wait() == 0
    holder.send(DETACH)
    assert holder.wait() == 0
    # Released when its client left.
    fourth = console(runtime, terminals, running, "-t", "1")
    fourth.expect(b"Connected to tty 1")
    fourth.send(DETACH)
    assert fourth.wait() == 0


def test_console_zero_is_the_shell_and_is_logged(
    runtime: Cli, busybox: str, terminals: list[Terminal], tmp_path: Path
) -> None:
    log = tmp_path / "console.log"
    started = runtime("lxc-start", "-n", busybox, "-L", str(log))
    assert started.returncode == 0, started.stderr
    terminal = console(runtime, terminals, busybox, "-t", "0", "-e", "^b")
    terminal.expect(b"Connected to tty 0")
    terminal.expect(b"Type <Ctrl+b q> to exit the console, <Ctrl+b Ctrl+b> to enter Ctrl+b itself")
    terminal.send(b"\r")
    terminal.expect(b"built-in shell")
    terminal.send(b"echo CONSOLE_$((6*7))\r")
    terminal.expect(b"CONSOLE_42")
    terminal.send(b"\x02q")
    assert terminal.wait() == 0
    text = log.read_bytes()
    assert b"Please press Enter to activate this console" in text
    assert b"CONSOLE_42" in text
    # The daemon's ring buffer has it too.
    from runtime.client.control_protocol import ConsoleLog
    from runtime.client.daemon_client import open_connection

    connection = open_connection(str(runtime.lxcpath), autostart=False)
    try:
        reply = connection.call(ConsoleLog(name=busybox))
    finally:
        connection.close()
    assert "CONSOLE_42" in reply.data


def test_console_client_sees_the_end(runtime: Cli, running: str, terminals: list[Terminal]) -> None:
    terminal = console(runtime, terminals, running, "-t", "2")
    terminal.expect(b"Connected to tty 2")
    assert runtime("lxc-stop", "-n", running, "-k").returncode == 0
    assert terminal.wait() == 0


def test_console_errors(runtime: Cli, busybox: str, terminals: list[Terminal]) -> None:
    stopped = runtime("lxc-console", "-n", busybox, "-t", "0")
    assert stopped.returncode == 1
    assert stopped.stderr == f"lxc-console: {busybox}: {busybox} is not running\n"
    assert runtime("lxc-start", "-n", busybox).returncode == 0
    not_a_tty = runtime("lxc-console", "-n", busybox, "-t", "0", input="")
    assert not_a_tty.returncode == 1
    assert "Failed to add stdin handler" in not_a_tty.stderr
    no_such_tty = console(runtime, terminals, busybox, "-t", "9")
    assert no_such_tty.wait() == 1
    assert b"Denied access to tty 9" in no_such_tty.output


def test_a_console_device_that_cannot_be_polled_is_refused(runtime: Cli, busybox: str) -> None:
    """`-c /dev/null` (a character device epoll cannot watch): the start fails with
    one line naming the key and the path, as LXC's start fails, and nothing is left.
    It used to fail with "internal error: Bad file descriptor" once the console's
    pump met the device."""
    result = runtime("lxc-start", "-n", busybox, "-d", "-c", "/dev/null")
    assert result.returncode == 1
    assert result.stderr.startswith(f"lxc-start: {busybox}: lxc.console.path: /dev/null cannot be the console")
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "internal error" not in result.stderr
    assert runtime("lxc-info", "-n", busybox, "-sH").stdout.strip() == "STOPPED"
    assert glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{busybox}") == []


def test_start_foreground_console_on_the_terminal(runtime: Cli, busybox: str, terminals: list[Terminal]) -> None:
    argv = [str(BIN / "lxc-start"), "-P", str(runtime.lxcpath), "-n", busybox, "-F"]
    runtime.names.add(busybox)
    terminal = Terminal(argv, runtime.env)
    terminals.append(terminal)
    terminal.expect(b"Please press Enter to activate this console")
    terminal.send(b"\r")
    terminal.expect(b"built-in shell")
    terminal.send(b"hostname; echo FG_$((6*7))\r")
    terminal.expect(f"{busybox}\r\nFG_42".encode())
    # Nothing leaks into the container's fds: the console on 0, 1 and 2 only.
    pid = int(runtime("lxc-info", "-n", busybox, "-pH").stdout)
    assert sorted(os.listdir(f"/proc/{pid}/fd")) == ["0", "1", "2"]
    assert os.readlink(f"/proc/{pid}/fd/0").startswith("/dev/pts/")
    assert runtime("lxc-stop", "-n", busybox, "-k").returncode == 0
    assert terminal.wait() == 0


def test_start_foreground_keeps_its_terminal_through_a_reboot(
    runtime: Cli, busybox: str, terminals: list[Terminal]
) -> None:
    # lxc-start -F on a terminal: after a reboot (lxc-stop -r) the same command is
    # still the console of the new run, as LXC's is; its size too.
    argv = [str(BIN / "lxc-start"), "-P", str(runtime.lxcpath), "-n", busybox, "-F"]
    runtime.names.add(busybox)
    terminal = Terminal(argv, runtime.env, size=(33, 101))
    terminals.append(terminal)
    terminal.expect(b"Please press Enter to activate this console")
    first = int(runtime("lxc-info", "-n", busybox, "-pH").stdout)
    assert runtime("lxc-stop", "-n", busybox, "-r").returncode == 0
    assert int(runtime("lxc-info", "-n", busybox, "-pH").stdout) != first
    terminal.expect(b"Please press Enter to activate this console", timeout=30)
    terminal.send(b"\r")
    terminal.expect(b"built-in shell")
    terminal.send(b"echo AFTER_$((6*7)); stty size\r")
    terminal.expect(b"AFTER_42\r\n33 101")
    assert terminal.process.poll() is None  # still attached
    assert runtime("lxc-stop", "-n", busybox, "-k").returncode == 0
    assert terminal.wait() == 0


# -- lxc-attach -----------------------------------------------------------------------------


def test_attach_hostname_a_hundred_times(runtime: Cli, running: str) -> None:
    argv = attach_argv(runtime, running, "--", "hostname")
    started = time.monotonic()
    for _ in range(100):
        result = subprocess.run(argv, env=runtime.env, capture_output=True, text=True, timeout=30)
        assert (result.returncode, result.stdout, result.stderr) == (0, f"{running}\n", "")
    assert time.monotonic() - started < 60


def test_attach_runs_inside(runtime: Cli, running: str) -> None:
    script = 'echo "$$"; cat /proc/1/comm; hostname; ls /proc/self/fd; pwd'
    result = subprocess.run(
        attach_argv(runtime, running, "--", "sh", "-c", script), env=runtime.env,
        capture_output=True, text=True, cwd="/etc",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    pid, comm, hostname, *fds, cwd = result.stdout.split()
    assert int(pid) < 100 and comm == "init" and hostname == running
    assert fds == ["0", "1", "2", "3"]  # 3 is ls's own directory fd
    assert cwd == "/etc"  # the caller's directory, which the container has too


@pytest.mark.parametrize(
    ("script", "code", "message"),
    [
        ("exit 9", 9, ""),
        ("kill -9 $$", 137, ""),
        (None, 127, 'Failed to exec "/nonexistent": No such file or directory'),
    ],
)
def test_attach_exit_codes(runtime: Cli, running: str, script: str | None, code: int, message: str) -> None:
    command = ["sh", "-c", script] if script else ["/nonexistent"]
    result = runtime("lxc-attach", "-n", running, "--", *command)
    assert result.returncode == code
    assert message in result.stderr


def test_attach_to_a_stopped_container(runtime: Cli, busybox: str) -> None:
    result = runtime("lxc-attach", "-n", busybox, "--", "/bin/true")
    assert result.returncode == 1
    assert "Failed to get init pid" in result.stderr


def _env(runtime: Cli, name: str, *args: str) -> dict[str, str]:
    env = dict(runtime.env, ATTACH_HOST_VAR="from-host")
    result = subprocess.run(
        attach_argv(runtime, name, *args, "--", "env"), env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def test_attach_environment(runtime: Cli, running: str) -> None:
    kept = _env(runtime, running)
    assert kept["ATTACH_HOST_VAR"] == "from-host"
    assert kept["container"] == "lxc" and kept["FROMCONF"] == "yes"
    assert _env(runtime, running, "--keep-env") == kept
    cleared = _env(runtime, running, "--clear-env")
    assert cleared == {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "container": "lxc",
        "FROMCONF": "yes",
    }
    extra = _env(runtime, running, "--clear-env", "--keep-var", "ATTACH_HOST_VAR", "-v", "A=1", "-v", "B=x=y")
    assert extra["ATTACH_HOST_VAR"] == "from-host"
    assert (extra["A"], extra["B"]) == ("1", "x=y")


def test_attach_uts_namespace_only(runtime: Cli, running: str) -> None:
    result = runtime("lxc-attach", "-n", running, "-s", "UTSNAME", "--", "sh", "-c", "hostname; readlink /proc/self/ns/mnt")
    assert result.returncode == 0, result.stderr
    hostname, mnt = result.stdout.split()
    assert hostname == running
    assert mnt == os.readlink("/proc/self/ns/mnt")  # still on the host's filesystem


def test_attach_remount_proc_and_sys(runtime: Cli, running: str) -> None:
    """-R with -s: our filesystem, with the /proc and /sys of the joined namespaces."""
    script = 'echo "$$"; ls /proc | grep -c "^[0-9]"; ls /sys/class/net; id -u; readlink /proc/self/ns/mnt'
    result = runtime("lxc-attach", "-n", running, "-s", "PID|NETWORK", "-R", "-u", "1000", "--", "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    pid, count, *rest = result.stdout.split()
    *nets, uid, mnt = rest
    assert int(pid) < 1000 and int(count) < 20  # the container's pids only
    assert nets == ["lo"] and uid == "1000"
    assert mnt != os.readlink("/proc/self/ns/mnt")  # a private copy of ours


def test_attach_uid_and_gid(runtime: Cli, running: str) -> None:
    result = runtime("lxc-attach", "-n", running, "-u", "1000", "-g", "1001", "--", "sh", "-c", "id -u; id -g")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1000", "1001"]


def wait_for_sleeper(name: str) -> int:
    """The host pid of an attached `sleep`, once it is in the container's cgroups."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for path in cgroups_of(name):
            for pid in Path(path, "cgroup.procs").read_text().split():
                try:
                    if Path(f"/proc/{pid}/comm").read_text().strip() == "sleep":
                        return int(pid)
                except OSError:
                    pass
        time.sleep(0.05)
    raise AssertionError("the attached sleep is not in the container's cgroups")


def test_attached_process_is_counted_and_killed_by_stop(runtime: Cli, running: str) -> None:
    process = subprocess.Popen(
        attach_argv(runtime, running, "--", "sleep", "100"), env=runtime.env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        sleeper = wait_for_sleeper(running)
        assert state(runtime, running) == "RUNNING"
        assert runtime("lxc-stop", "-n", running, "-k").returncode == 0
        assert process.wait(timeout=10) == 137
        assert not Path(f"/proc/{sleeper}").exists()
        assert cgroups_of(running) == []
    finally:
        process.kill()
        process.wait()


def test_attached_process_is_in_the_container_cgroup_of_every_hierarchy(runtime: Cli, running: str) -> None:
    # Created in the cgroup2 directory (CLONE_INTO_CGROUP), joined through each v1
    # `tasks` file (runtime.spawn.cgroup_join): inside the container's cgroup
    # namespace every hierarchy reads "/", its root; with CGROUP elevated, none does.
    mine = Path("/proc/self/cgroup").read_text().splitlines()
    joined = runtime("lxc-attach", "-n", running, "--", "cat", "/proc/self/cgroup")
    assert joined.returncode == 0, joined.stderr
    assert len(joined.stdout.splitlines()) == len(mine)
    assert all(line.endswith(":/") for line in joined.stdout.splitlines()), joined.stdout
    outside = runtime("lxc-attach", "-n", running, "--elevated-privileges=CGROUP", "--", "cat", "/proc/self/cgroup")
    assert outside.returncode == 0, outside.stderr
    assert not any(line.endswith(":/") for line in outside.stdout.splitlines()), outside.stdout


# Every combination of stdin/stdout/stderr redirected (to files) or left on the
# terminal: a redirected fd is the file itself inside, a terminal one is the
# container pty's slave, and what is typed on the terminal reaches the command's
# stdin only when stdin is the terminal (as with LXC's lxc-attach).
REDIRECTIONS = [(i, o, e) for i in (False, True) for o in (False, True) for e in (False, True)]
SCRIPT = (
    'read line; echo "out:$line"; echo "err:$line" >&2; '
    'for f in 0 1 2; do if [ -t $f ]; then echo "tty$f=yes" >&2; else echo "tty$f=no" >&2; fi; done'
)


@pytest.mark.parametrize(("stdin", "stdout", "stderr"), REDIRECTIONS)
def test_attach_stdio_redirections(
    runtime: Cli, running: str, terminals: list[Terminal], tmp_path: Path,
    stdin: bool, stdout: bool, stderr: bool,
) -> None:  # fmt: skip
    (tmp_path / "in").write_text("from-file\n")
    command = " ".join(attach_argv(runtime, running, "--", "sh", "-c", f"'{SCRIPT}'"))
    command += " < in" if stdin else ""
    command += " > out" if stdout else ""
    command += " 2> err" if stderr else ""
    terminal = Terminal(["bash", "-c", command], runtime.env, cwd=str(tmp_path))
    terminals.append(terminal)
    if not stdin:
        time.sleep(0.5)
        terminal.send(b"typed\r")
    assert terminal.wait() == 0, bytes(terminal.output)
    screen = bytes(terminal.output).replace(b"\r", b"").decode()
    word = "from-file" if stdin else "typed"
    out = (tmp_path / "out").read_text() if stdout else screen
    err = (tmp_path / "err").read_text() if stderr else screen
    assert f"out:{word}" in out
    assert f"err:{word}" in err
    for fd, redirected in enumerate((stdin, stdout, stderr)):
        assert f"tty{fd}={'no' if redirected else 'yes'}" in err
    if stdout:
        assert "out:" not in screen
    if stderr:
        assert "err:" not in screen


def test_attach_shell_on_a_terminal(runtime: Cli, running: str, terminals: list[Terminal]) -> None:
    terminal = Terminal(attach_argv(runtime, running), runtime.env)
    terminals.append(terminal)
    terminal.expect(b"built-in shell")
    terminal.expect(b"# ")  # the shell reads what is typed once it prompts
    terminal.send(b"tty; echo SHELL_$((6*7)); exit 3\r")
    terminal.expect(b"SHELL_42")
    assert terminal.wait() == 3
    assert b"/dev/pts/" in terminal.output


def test_attach_signal_is_forwarded(runtime: Cli, running: str) -> None:
    process = subprocess.Popen(
        attach_argv(runtime, running, "--", "sleep", "100"), env=runtime.env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_sleeper(running)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 128 + signal.SIGTERM
    finally:
        process.kill()
        process.wait()


def test_start_console_on_a_device(runtime: Cli, busybox: str) -> None:
    """lxc-start -c DEVICE (lxc.console.path): the console's output and input are there."""
    master, slave = os.openpty()
    try:
        started = runtime("lxc-start", "-n", busybox, "-c", os.ttyname(slave))
        assert started.returncode == 0, started.stderr
        seen = bytearray()

        def wait_for(needle: bytes) -> None:
            deadline = time.monotonic() + 15
            while needle not in seen:
                assert time.monotonic() < deadline, bytes(seen)
                if select.select([master], [], [], 0.1)[0]:
                    seen.extend(os.read(master, 65536))

        wait_for(b"Please press Enter to activate this console")
        os.write(master, b"\r")
        wait_for(b"built-in shell")
        os.write(master, b"echo DEVICE_$((6*7))\r")
        wait_for(b"DEVICE_42")
        busy = runtime("lxc-console", "-n", busybox, "-t", "0")
        assert busy.returncode == 1  # stdin is no terminal here; the console is taken anyway
    finally:
        runtime("lxc-stop", "-n", busybox, "-k")
        os.close(master)
        os.close(slave)


def test_a_console_device_that_is_not_read_never_stalls_the_container(runtime: Cli, busybox: str) -> None:
    """The console's peer (here lxc.console.path, a pty whose other end nobody reads)
    used to make the daemon wait for it: the console stopped being read and whatever
    the container wrote to it hung. Now the peer gets what it takes; the rest waits
    for it, up to a limit, then the oldest is dropped."""
    master, slave = os.openpty()
    try:
        started = runtime("lxc-start", "-n", busybox, "-c", os.ttyname(slave))
        assert started.returncode == 0, started.stderr
        # 4 MiB through the console: far beyond what the device's pty holds.
        flood = "head -c 4194304 /dev/zero | tr '\\0' x > /dev/console && echo FLOODED"
        written = runtime("lxc-attach", "-n", busybox, "--", "/bin/sh", "-c", flood)
        assert written.stdout.strip() == "FLOODED", written.stderr
        assert runtime("lxc-info", "-n", busybox, "-sH").stdout.strip() == "RUNNING"
        # The device gets what waited for it and what comes next, once it is read again.
        marked = runtime("lxc-attach", "-n", busybox, "--", "/bin/sh", "-c", "echo END_OF_FLOOD > /dev/console")
        assert marked.returncode == 0, marked.stderr
        seen = bytearray()
        deadline = time.monotonic() + 15
        while b"END_OF_FLOOD" not in seen:
            assert time.monotonic() < deadline, bytes(seen[-200:])
            if select.select([master], [], [], 0.1)[0]:
                seen.extend(os.read(master, 65536))
        # What the device got of the flood: its own pty's fill, then the newest 256 KiB.
        assert 256 * 1024 <= seen.count(b"x") < 4194304
    finally:
        runtime("lxc-stop", "-n", busybox, "-k")
        os.close(master)
        os.close(slave)


def test_a_foreground_terminal_that_pauses_holds_the_console_back(
    runtime: Cli, busybox: str, terminals: list[Terminal]
) -> None:
    """lxc-start -F: a terminal that stops reading (Ctrl-S, a slow link) pauses the
    container's console output as any terminal does; nothing is dropped."""
    argv = [str(BIN / "lxc-start"), "-P", str(runtime.lxcpath), "-n", busybox, "-F"]
    runtime.names.add(busybox)
    terminal = Terminal(argv, runtime.env)
    terminals.append(terminal)
    terminal.expect(b"Please press Enter to activate this console")
    size = 2 * 1024 * 1024  # far beyond the terminal's pty, the socket and the daemon's 256 KiB
    flood = f"head -c {size} /dev/zero | tr '\\0' Z > /dev/console; echo END_OF_FLOOD > /dev/console"
    writer = subprocess.Popen(
        [str(BIN / "lxc-attach"), "-P", str(runtime.lxcpath), "-n", busybox, "--", "/bin/sh", "-c", flood],
        env=runtime.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(2)  # the terminal is not read meanwhile: the writer must be held back
        assert writer.poll() is None
        terminal.expect(b"END_OF_FLOOD", timeout=60)
        assert writer.wait(timeout=30) == 0
        assert terminal.output.count(b"Z") == size
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert runtime("lxc-stop", "-n", busybox, "-k").returncode == 0
    assert terminal.wait() == 0


def test_attach_pty_log(runtime: Cli, running: str, terminals: list[Terminal], tmp_path: Path) -> None:
    log = tmp_path / "pty.log"
    argv = attach_argv(runtime, running, "-L", str(log), "--", "sh", "-c", "echo LOGGED_$((6*7))")
    terminal = Terminal(argv, runtime.env)
    terminals.append(terminal)
    terminal.expect(b"LOGGED_42")
    assert terminal.wait() == 0
    assert b"LOGGED_42" in log.read_bytes()


def test_attach_pty_log_in_the_rootfs_is_not_steered_at_the_host(
    runtime: Cli, running: str, terminals: list[Terminal], tmp_path: Path
) -> None:
    """-L FILE in the container's rootfs: the attached process replaces it with a
    symlink to a host file (it used to be opened only once the process ran, by path),
    and a symlink planted before is refused, not followed."""
    decoy = tmp_path / "decoy"
    decoy.write_text("host file\n")
    log = runtime.lxcpath / running / "rootfs" / "tmp" / "pty.log"
    script = f"ln -sf {decoy} /tmp/pty.log; echo LOGGED_$((6*7))"
    terminal = Terminal(attach_argv(runtime, running, "-L", str(log), "--", "sh", "-c", script), runtime.env)
    terminals.append(terminal)
    terminal.expect(b"LOGGED_42")
    assert terminal.wait() == 0
    assert decoy.read_text() == "host file\n"
    assert log.is_symlink()  # the container's, and now planted before the next attach:
    terminal = Terminal(attach_argv(runtime, running, "-L", str(log), "--", "echo", "AGAIN"), runtime.env)
    terminals.append(terminal)
    terminal.expect(b"is a symlink")
    assert terminal.wait() != 0
    assert decoy.read_text() == "host file\n"


def test_tty_dir(runtime: Cli, busybox: str, terminals: list[Terminal]) -> None:
    """lxc.tty.dir: the ttys live in /dev/DIR/ and /dev/ttyN link to them; gettys still run."""
    started = runtime("lxc-start", "-n", busybox, "-s", "lxc.tty.dir=lxc")
    assert started.returncode == 0, started.stderr
    result = runtime("lxc-attach", "-n", busybox, "--", "sh", "-c", "readlink /dev/tty1; test -c /dev/lxc/tty5 && echo ok")
    assert result.stdout.split() == ["lxc/tty1", "ok"], result.stderr
    terminal = console(runtime, terminals, busybox, "-t", "1")
    terminal.send(b"\r")
    terminal.expect(f"{busybox} login:".encode())
    terminal.send(DETACH)
    assert terminal.wait() == 0


def test_console_follows_the_window_size(runtime: Cli, running: str, terminals: list[Terminal]) -> None:
    argv = [str(BIN / "lxc-console"), "-P", str(runtime.lxcpath), "-n", running, "-t", "0"]
    terminal = Terminal(argv, runtime.env, size=(33, 111))
    terminals.append(terminal)
    terminal.expect(b"Connected to tty 0")
    terminal.send(b"\r")
    terminal.expect(b"built-in shell")
    terminal.send(b"stty size\r")
    terminal.expect(b"33 111")
    set_winsize(terminal.master, 40, 120)
    terminal.process.send_signal(signal.SIGWINCH)  # no controlling terminal here to send it
    time.sleep(0.3)
    terminal.send(b"stty size\r")
    terminal.expect(b"40 120")
    terminal.send(DETACH)
    assert terminal.wait() == 0


def test_after_a_daemon_crash(runtime: Cli, running: str, terminals: list[Terminal]) -> None:
    """lxc-attach needs no daemon; a re-adopted container's terminals are gone (and say so)."""
    kill_daemon(runtime)
    result = runtime("lxc-attach", "-n", running, "--", "hostname")
    assert (result.returncode, result.stdout) == (0, f"{running}\n"), result.stderr
    lost = console(runtime, terminals, running, "-t", "1")  # starts a daemon, which re-adopts
    assert lost.wait() == 1
    assert b"were lost with the daemon" in lost.output
    assert state(runtime, running) == "RUNNING"
