"""pid 1 of an application container: the trio-lxc-init program, run from a sealed memfd.

Why: the container child is a fork of the spawner, a Python process mapping the
host's python binary and libpython. Were it to stay pid 1, container root could
open those host files through /proc/1/map_files/ or /proc/1/exe and write to
them. So pid 1 execs `init/trio-lxc-init` (a small static C program, built by
`make setup`; see its source for what it does) from a memfd sealed against
writing, growing, shrinking and (where the kernel has F_SEAL_EXEC) a chmod:
afterwards pid 1 maps nothing of the host, and a write through /proc/1/exe or
/proc/1/map_files/ fails.

The spawner reads the program once (`load_image`); every container makes its own
sealed copy (`sealed_memfd`) just before the exec, so a container root that
changes its copy's inode (owner, xattrs) changes nothing another container runs.

`WAITED` is the set of signals the program waits for; the child blocks them
before it forks the application and a blocked mask survives execve, so none sent
in between is lost. It must match the lists in the C source.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal

#: Where `make setup` builds the program (gitignored), next to its source. (A str:
#: pathlib is half a MiB in the spawner, which imports this module.)
INIT_PATH = os.path.join(os.path.dirname(os.path.realpath(__file__)), "init", "trio-lxc-init")
NOT_BUILT = f"{INIT_PATH} is not built: run `make setup`"

FORWARDED = frozenset(
    {
        signal.SIGINT,
        signal.SIGTERM,
        signal.SIGHUP,
        signal.SIGQUIT,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGPWR,
        signal.SIGWINCH,
        signal.SIGCONT,
        signal.SIGALRM,
    }
)
WAITED = frozenset({signal.SIGCHLD, *FORWARDED})

# Linux 6.3+: an executable memfd (else the kernel logs a warning per process), and
# a seal on the mode's exec bits. Older kernels refuse both with EINVAL.
MFD_EXEC = 0x0010
F_SEAL_EXEC = 0x0020
SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


class InitNotBuilt(Exception):
    """The program is missing: `make setup` builds it."""

    def __init__(self) -> None:
        super().__init__(NOT_BUILT)


def load_image(path: str = INIT_PATH) -> bytes:
    """The program's bytes; InitNotBuilt when it is missing."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise InitNotBuilt() from None


def sealed_memfd(image: bytes) -> int:
    """A close-on-exec memfd holding `image`, sealed so that nothing can change it."""
    base = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
    try:
        fd = os.memfd_create("trio-lxc-init", base | MFD_EXEC)
    except OSError as err:
        if err.errno != errno.EINVAL:
            raise
        fd = os.memfd_create("trio-lxc-init", base)
    try:
        view = memoryview(image)
        while view:
            view = view[os.write(fd, view) :]
        try:
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS | F_SEAL_EXEC)
        except OSError as err:
            if err.errno != errno.EINVAL:
                raise
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd
