"""The OCI "created" state: the init waits, set up, before the user's program.

`trio-lxc-oci create` (cli/oci.py) makes a FIFO named `exec.fifo` in the
container's directory (`<lxcpath>/<name>/`) before it asks the daemon for the
start. A child that finds it there holds its payload back:

1. `open_gate` (before the namespaces, as the host's root: a user namespace's
   root could not reach `<lxcpath>`, and the gate was then silently lost) keeps an
   O_PATH fd on the FIFO; no FIFO, no gate (every `lxc-start` container).
2. `wait` (after every other step, just before the exec) checks that the program
   can be found (as runc does at create, so a typo fails `create`, not `start`),
   closes the sync socket (the daemon sees the exec-equivalent EOF: the container
   is RUNNING on the bus, "created" for OCI), then opens the FIFO for writing
   through /proc/self/fd. That open blocks until `trio-lxc-oci start` opens it
   for reading; one byte goes through and the exec follows.

With `exec.terminal` beside the FIFO (process.terminal: create gave the init the
slave of a pty whose master went to the console socket), that terminal (fd 0)
becomes the init's controlling terminal before the exec, as under runc. Never
otherwise: a terminal that `create` merely inherited stays a plain fd.

So no daemon change is needed for the gate: for the daemon the start is done,
and the only thing the container has not done yet is the exec. The FIFO lives
in the container's directory, never in the rootfs, so the container cannot reach
it other than through the O_PATH fd it holds until the exec (close-on-exec).

The environment of an OCI process is exactly `process.env`: `container=lxc`,
which the runtime adds for LXC's containers, is removed unless the config set it.
"""

from __future__ import annotations

import fcntl
import os
import socket
import stat
import termios
from typing import Any

from runtime.kernel import linux
from runtime.spawn.errors import SetupError, describe_os_error

FIFO_NAME = "exec.fifo"
TERMINAL_NAME = "exec.terminal"


class Gate:
    """The FIFO's O_PATH fd, and whether fd 0 is the container's own terminal."""

    __slots__ = ("fd", "terminal")

    def __init__(self, fd: int, terminal: bool) -> None:
        self.fd = fd
        self.terminal = terminal


def open_gate(lxcpath: str, name: str) -> Gate | None:
    """The container's exec gate, or None when it has no FIFO."""
    path = os.path.join(lxcpath, name, FIFO_NAME)
    try:
        fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, PermissionError):
        # No FIFO; or a container directory this (mapped) child cannot search, which
        # then holds no gate it could use: the rootfs step names the directory.
        return None
    except OSError as err:
        raise SetupError(None, f"cannot open {path}: {describe_os_error(err)}") from None
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        os.close(fd)
        raise SetupError(None, f"{path} is not a FIFO")
    try:  # a marker create made: a regular file, never whatever a link points to
        terminal = stat.S_ISREG(os.lstat(os.path.join(lxcpath, name, TERMINAL_NAME)).st_mode)
    except OSError:
        terminal = False
    return Gate(fd, terminal)


def _find_program(argv0: str, env: dict[str, str]) -> None:
    """SetupError (runc's words) when argv0 cannot be run."""
    if "/" in argv0:
        candidates = [argv0]
    else:
        candidates = [os.path.join(d or ".", argv0) for d in env.get("PATH", "").split(":")]
    for path in candidates:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue
        if stat.S_ISREG(mode) and os.access(path, os.X_OK):
            return
    raise SetupError(
        None, f'exec: "{argv0}": executable file not found in $PATH'
        if "/" not in argv0 else f'exec: "{argv0}": stat {argv0}: no such file or directory'
    )


def wait(gate: Gate, sock: socket.socket, argv: list[str], env: dict[str, str], config: Any) -> None:
    """Report the start to the daemon, then block until `trio-lxc-oci start`.

    Not dumpable while it waits (the exec makes the program dumpable again, as
    under runc): the init is still the host's Python, and `exec` can put the
    container's processes next to it for as long as the caller likes. Dumpable,
    its /proc/1/exe (the host's interpreter), /proc/1/fd (the FIFO's O_PATH fd, a
    host path) and /proc/1/mem, environ, map_files were open to any of them with
    the init's uid; now only to CAP_SYS_PTRACE of the host's user namespace."""
    linux.prctl(linux.PR_SET_DUMPABLE, 0)
    _find_program(argv[0], env)
    if gate.terminal:
        try:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        except OSError as err:
            raise SetupError(None, f"cannot make the console the controlling terminal: {describe_os_error(err)}") from None
    if not any(item.startswith("container=") for item in config.environment):
        env.pop("container", None)
    sock.close()  # EOF: the daemon marks the container started
    try:
        fd = os.open(f"/proc/self/fd/{gate.fd}", os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        os._exit(1)  # nobody to tell any more: the daemon sees the init exit
    try:
        os.write(fd, b"0")
    except OSError:
        os._exit(1)
    os.close(fd)
    os.close(gate.fd)
