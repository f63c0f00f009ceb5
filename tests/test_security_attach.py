"""lxc-attach against a hostile container (as root, real busybox containers).

The busybox template keeps CAP_SYS_ADMIN and CAP_SYS_PTRACE, so container root can
open `/proc/PID/root`, `/proc/PID/cwd`, `/proc/PID/fd/*` and `/proc/PID/environ` of
any process it sees. An attached process must therefore never be visible in the
container while it still holds something of the host: a scanner inside races
every attach and tries to reach the host through each new pid.

Also here: what an attached process holds once it runs (only its stdio, the
container's root), and the terminal bytes of `lxc-attach` under script(1).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BIN, Cli

CONF = "lxc.net.0.type = empty\n"
ATTACHES = 25

# Every pid but its own, each loop: write through root and cwd (cheap builtins; a
# write through a cwd inside the container lands in the container, harmless);
# each pid once, when first seen: read a host file through root, environ, the
# command line, the fd links and the cwd. Everything read goes to stdout.
SCANNER = r"""
seen=" $$ "
echo READY
while [ ! -e /tmp/stop-scan ]; do
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = "$$" ] && continue
    echo x 2>/dev/null > "/proc/$p/root$ESCAPE" && echo "WROTE-ROOT $p"
    echo x 2>/dev/null > "/proc/$p/cwd/$ESCAPE_NAME"
    case "$seen" in *" $p "*) continue ;; esac
    seen="$seen$p "
    cat "/proc/$p/root$SECRET" 2>/dev/null
    tr '\0' ' ' < "/proc/$p/environ" 2>/dev/null
    tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null
    ls -l "/proc/$p/fd/" 2>/dev/null
    readlink "/proc/$p/cwd" 2>/dev/null
    echo
  done
done
echo DONE
"""


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def attach_argv(runtime: Cli, name: str, *args: str) -> list[str]:
    return [str(BIN / "lxc-attach"), "-P", str(runtime.lxcpath), "-n", name, *args]


@pytest.fixture
def running(runtime: Cli, tmp_path: Path) -> str:
    name = unique("sa")
    conf = tmp_path / "bb.conf"
    conf.write_text(CONF)
    result = runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf))
    assert result.returncode == 0, result.stderr
    result = runtime("lxc-start", "-n", name)
    assert result.returncode == 0, result.stderr
    return name


@pytest.fixture
def host_dir() -> Iterator[Path]:
    """A directory only the host has (under /tmp, so a path the container has too)."""
    path = Path("/tmp") / unique("attach-host-")
    path.mkdir()
    try:
        yield path
    finally:
        for entry in path.iterdir():
            entry.unlink()
        path.rmdir()


def test_scanner_in_the_container_reaches_nothing_of_the_host(
    runtime: Cli, running: str, host_dir: Path
) -> None:
    secret_value = unique("secret-")
    secret = host_dir / "secret"
    secret.write_text(secret_value + "\n")
    escape = host_dir / "escaped"  # /proc/PID/root + this path: the host's directory
    env_marker = unique("hostenv-")
    scanner_env = dict(
        runtime.env, ESCAPE=str(escape), ESCAPE_NAME="escaped-cwd", SECRET=str(secret)
    )
    scanner = subprocess.Popen(
        attach_argv(runtime, running, "--clear-env", "--keep-var", "ESCAPE", "--keep-var", "ESCAPE_NAME",
                    "--keep-var", "SECRET", "--", "sh", "-c", SCANNER),
        env=scanner_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        cwd="/",
    )  # fmt: skip
    try:
        assert scanner.stdout is not None
        assert scanner.stdout.readline() == b"READY\n"
        attach_env = dict(runtime.env, ATTACH_SECRET=env_marker)
        for _ in range(ATTACHES):
            result = subprocess.run(
                attach_argv(runtime, running, "--clear-env", "--", "/bin/true"), env=attach_env,
                stdin=subprocess.DEVNULL, capture_output=True, cwd=host_dir, timeout=30,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
        stop = runtime("lxc-attach", "-n", running, "--", "touch", "/tmp/stop-scan")
        assert stop.returncode == 0, stop.stderr
        output, _ = scanner.communicate(timeout=30)
    finally:
        scanner.kill()
        scanner.wait()
    text = output.decode(errors="replace")
    assert text.rstrip().endswith("DONE"), text[-2000:]
    assert "WROTE-" not in text, text
    assert not escape.exists() and not (host_dir / "escaped-cwd").exists()
    assert secret_value not in text  # a host file, through /proc/PID/root
    assert env_marker not in text  # the caller's environment, before exec
    assert str(runtime.lxcpath) not in text  # lxc-attach's command line
    assert host_dir.name not in text  # a cwd or an fd in the host's directory
    assert "pidfd" not in text and "/sys/fs/cgroup" not in text  # the helper's own fds


def test_attached_process_holds_only_its_stdio_and_the_container(
    runtime: Cli, running: str, host_dir: Path
) -> None:
    # No command substitution for the fds: the shell would hold its pipe meanwhile.
    script = 'ls /proc/$$/fd; echo "root=$(readlink /proc/$$/root)"; echo "cwd=$(readlink /proc/$$/cwd)"; grep PPid /proc/$$/status'
    result = subprocess.run(
        attach_argv(runtime, running, "--", "sh", "-c", script), env=runtime.env,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=host_dir, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    *fds, root, cwd, ppid = result.stdout.splitlines()
    assert fds == ["0", "1", "2"]
    assert root == "root=/"  # the container's root, as the container sees it
    assert cwd == "cwd=/"  # the caller's directory does not exist inside: the container's /
    assert ppid.split() == ["PPid:", "0"]  # its parent (lxc-attach) is outside


def attach_on_a_terminal(runtime: Cli, name: str, script: str) -> subprocess.CompletedProcess[bytes]:
    """`lxc-attach -n NAME -- sh -c SCRIPT` on a terminal of its own (`script`)."""
    command = " ".join(attach_argv(runtime, name, "--", "sh", "-c", f"'{script}'"))
    return subprocess.run(
        ["script", "-qec", command, "/dev/null"], env=runtime.env, stdin=subprocess.DEVNULL,
        capture_output=True, timeout=60,
    )  # fmt: skip


def test_attached_process_on_a_terminal_holds_only_the_containers_pty(runtime: Cli, running: str) -> None:
    # The glob's own directory fd is closed by the time readlink looks at it.
    result = attach_on_a_terminal(runtime, running, "for f in /proc/$$/fd/*; do readlink $f; done; true")
    assert result.returncode == 0, result
    links = result.stdout.decode().split()
    assert len(links) == 3 and len(set(links)) == 1, links
    assert links[0].startswith("/dev/pts/")  # a pty of the container's own devpts


def test_attach_never_hands_the_container_a_host_pty(runtime: Cli, running: str) -> None:
    """The container takes its devpts away (`umount -l /dev/pts`): lxc-attach on a
    terminal used to fall back to a pty of the host's devpts, a host terminal held
    inside the container. It is refused now, saying why; without a terminal the
    attach still runs."""
    host_pts = os.stat("/dev/pts").st_dev
    result = runtime("lxc-attach", "-n", running, "--", "umount", "-l", "/dev/pts")
    assert result.returncode == 0, result.stderr
    result = attach_on_a_terminal(runtime, running, "stat -L -c %d /proc/self/fd/0")
    output = result.stdout.decode(errors="replace")
    assert str(host_pts) not in output.split(), output
    assert "Failed to allocate a pseudo terminal in the container's /dev/pts" in output, output
    assert result.returncode != 0, output
    # Redirected, no terminal is needed: the attach itself still works.
    result = runtime("lxc-attach", "-n", running, "--", "hostname")
    assert result.returncode == 0 and result.stdout.strip() == running, result


def script_attach(
    runtime: Cli, name: str, redirect: str, tmp_path: Path
) -> subprocess.CompletedProcess[bytes]:
    command = " ".join(attach_argv(runtime, name, "--", "hostname")) + redirect
    return subprocess.run(
        ["script", "-qec", command, "/dev/null"], env=runtime.env, stdin=subprocess.DEVNULL,
        capture_output=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip


# `script -qec CMD /dev/null </dev/null`: script's stdin ends at once, so it writes
# an EOF character into the pty, which lxc-attach's terminal still holds in its
# canonical buffer when it goes raw; that used to become a NUL the container's pty
# echoed (`^@` before the output, every time). The exact case 20 times, then the
# variants with lxc-attach's own stdin/stdout/stderr redirected. With stdout on the
# terminal the output is the container pty's `\r\n` (our raw mode has no output
# processing, as ssh; LXC 5 keeps ONLCR and shows `\r\r\n`).
@pytest.mark.parametrize(
    ("redirect", "runs"),
    [
        ("", 20),
        (" </dev/null", 5),
        (" >out", 5),
        (" 2>err", 5),
        (" </dev/null >out 2>err", 5),
        (" <in", 5),
    ],
)
def test_attach_under_script_prints_exactly_the_output(
    runtime: Cli, running: str, tmp_path: Path, redirect: str, runs: int
) -> None:
    (tmp_path / "in").write_text("")
    for _ in range(runs):
        result = script_attach(runtime, running, redirect, tmp_path)
        assert result.returncode == 0, result
        if ">out" in redirect:
            assert (tmp_path / "out").read_bytes() == f"{running}\n".encode()
            assert result.stdout == b""
        else:
            assert result.stdout == f"{running}\r\n".encode()
        if "2>err" in redirect:
            assert (tmp_path / "err").read_bytes() == b""


@pytest.mark.parametrize("plant", ["mkfifo /etc/passwd", "ln -s /dev/zero /etc/passwd"], ids=["fifo", "dev-zero"])
def test_a_hostile_passwd_does_not_hang_attach(runtime: Cli, running: str, plant: str) -> None:
    """lxc-attach without a command looks up the login shell in the container's
    /etc/passwd: a FIFO there hung the command, a link to /dev/zero made it read for
    ever. It falls back to /bin/sh."""
    result = runtime("lxc-attach", "-n", running, "--", "sh", "-c", f"rm -f /etc/passwd && {plant}")
    assert result.returncode == 0, result.stderr
    result = subprocess.run(
        attach_argv(runtime, running), input="echo SHELL-RAN\n", env=runtime.env,
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0 and "SHELL-RAN" in result.stdout, result
