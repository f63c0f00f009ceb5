"""Pseudo-terminals: open a pair from a given devpts instance, window sizes.

Used by the daemon (a container's console and ttys) and by `lxc-attach` (a pty
from the container's own devpts instance). Standard library only: the commands
import it.

Why not `os.openpty()`: glibc may open the slave without O_NOCTTY, and the daemon
is a session leader without a controlling terminal, so the first pty it opened
would become its controlling terminal (and then no container init could make it
its own). Here both ends are opened O_NOCTTY and close-on-exec, the master from
whichever `ptmx` the caller names (an fd opened inside a container's root selects
that container's devpts instance), and the slave through `TIOCGPTPEER`, which
needs no path lookup at all.
"""

from __future__ import annotations

import fcntl
import os
import struct
import termios

#: ioctl requests (asm-generic/ioctls.h): unlock the slave, the pty number, open the peer.
TIOCSPTLCK = 0x40045431
TIOCGPTN = 0x80045430
TIOCGPTPEER = 0x5441

_WINSIZE = "HHHH"


def open_pair(ptmx: str | int = "/dev/ptmx") -> tuple[int, int]:
    """(master, slave) of a new pty; `ptmx` is a path or an already opened ptmx fd.

    A given fd becomes the master (the caller gives up ownership of it).
    """
    if isinstance(ptmx, int):
        master = ptmx
    else:
        master = os.open(ptmx, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        try:
            slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError:  # kernels before 4.13: by path (the host's devpts only)
            slave = os.open(
                f"/dev/pts/{pty_number(master)}", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC
            )
    except BaseException:
        os.close(master)
        raise
    return master, int(slave)


def pty_number(master: int) -> int:
    """N of /dev/pts/N for a master."""
    return int(struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0])


def get_winsize(fd: int) -> tuple[int, int] | None:
    """(rows, cols) of a terminal, None when fd is not one."""
    try:
        rows, cols, _, _ = struct.unpack(
            _WINSIZE, fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * struct.calcsize(_WINSIZE))
        )
    except OSError:
        return None
    return rows, cols


def set_winsize(fd: int, rows: int, cols: int) -> None:
    """Set a terminal's size (on a master: the slave's foreground group gets SIGWINCH)."""
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack(_WINSIZE, rows, cols, 0, 0))
    except OSError:
        pass


def make_raw(fd: int) -> None:
    """cfmakeraw(3) on a terminal: no echo, no line editing, no signals, no output mangling."""
    attrs = termios.tcgetattr(fd)
    attrs[0] &= ~(
        termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP
        | termios.INLCR | termios.IGNCR | termios.ICRNL | termios.IXON
    )  # fmt: skip
    attrs[1] &= ~termios.OPOST
    attrs[2] &= ~(termios.CSIZE | termios.PARENB)
    attrs[2] |= termios.CS8
    attrs[3] &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    attrs[6][termios.VMIN] = 1
    attrs[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
