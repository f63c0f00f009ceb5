"""/dev of a container with a rootfs: lxc.autodev, a new devpts, /dev/shm, terminals.

lxc.autodev (default 1, as in LXC) mounts a tmpfs on /dev (size
`lxc.autodev.tmpfs.size`, default LXC's 500000) with the nodes null, zero, full,
random, urandom and tty (mknod, 0666; when mknod is refused the host's node is
bind-mounted onto an empty file instead), the links fd, stdin, stdout, stderr
and ptmx -> pts/ptmx, and the directories pts and shm.

Every container with a rootfs gets a new devpts instance on /dev/pts
(newinstance, ptmxmode=0666, mode=0620, gid=5, max=lxc.pty.max when set) so its
ptys are its own and the host's are not visible. Without autodev the rootfs's own
/dev/ptmx is bind-mounted over by pts/ptmx (or linked to it when missing).
/dev/shm gets a tmpfs (mode 1777) when autodev is on and no fstab line or
lxc.mount.entry mounted something there already.

Terminals: the daemon may pass host paths of ptys for /dev/console and the ttys
(`ChildRequest.console`, `.ttys`); they are bind-mounted in, under
/dev/<lxc.tty.dir>/ with /dev/ttyN links when lxc.tty.dir is set.

A container on the host's root (no lxc.rootfs.path) gets none of this: its /dev
is the host's and is left alone.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING

from runtime.kernel import linux
from runtime.spawn import resolve
from runtime.spawn.errors import SetupError, describe_os_error
from runtime.spawn.mounts import MountContext, ensure_mountpoint

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

#: (name, major, minor) of the nodes an autodev /dev gets.
NODES = (
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
)
LINKS = (
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
)
DEFAULT_TMPFS_SIZE = 500000
DEVPTS_OPTIONS = "newinstance,ptmxmode=0666,mode=0620,gid=5"


def _make_node(dev_fd: int, name: str, major: int, minor: int) -> None:
    """mknod (0666 whatever the umask); bind the host's node when mknod is refused."""
    try:
        os.mknod(name, stat.S_IFCHR | 0o666, os.makedev(major, minor), dir_fd=dev_fd)
        os.chmod(name, 0o666, dir_fd=dev_fd)
        return
    except FileExistsError:
        return
    except PermissionError:
        pass
    fd = os.open(
        name,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
        0o666,
        dir_fd=dev_fd,
    )
    os.close(fd)
    target = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dev_fd)
    try:
        linux.mount(f"/dev/{name}", resolve.fd_path(target), None, linux.MS_BIND)
    finally:
        os.close(target)


def mount_autodev(ctx: MountContext, config: ContainerConfig, populate: bool = True) -> None:
    """A tmpfs on /dev with the standard nodes and links (with `populate=False`
    only the directories pts and shm: `populate_autodev` makes the rest later, after
    the lxc.hook.autodev hooks, as LXC orders them)."""
    key = "lxc.autodev"
    fd = ensure_mountpoint(ctx, "dev", key, refuse_symlink=True)  # as /proc, /sys
    size = config.autodev_tmpfs_size or DEFAULT_TMPFS_SIZE
    try:
        linux.mount(
            "none",
            resolve.fd_path(fd),
            "tmpfs",
            linux.MS_NOSUID | linux.MS_NOEXEC,
            f"size={size},mode=755",
        )
    except OSError as err:
        raise SetupError(key, f"cannot mount a tmpfs on /dev: {describe_os_error(err)}") from None
    finally:
        os.close(fd)
    _fill_dev(ctx, populate)


def populate_autodev(ctx: MountContext) -> None:
    """The nodes and links of an autodev /dev mounted with `populate=False`; what a
    hook made already is kept."""
    _fill_dev(ctx, True)


def _fill_dev(ctx: MountContext, nodes: bool) -> None:
    key = "lxc.autodev"
    dev_fd = ctx.open("dev", directory=True)
    try:
        for name, major, minor in NODES if nodes else ():
            _make_node(dev_fd, name, major, minor)
        for name, target in LINKS if nodes else ():
            try:
                os.symlink(target, name, dir_fd=dev_fd)
            except FileExistsError:
                pass
        for name in ("pts", "shm"):
            try:
                os.mkdir(name, 0o755, dir_fd=dev_fd)
            except FileExistsError:
                pass
    except OSError as err:
        raise SetupError(key, f"cannot populate /dev: {describe_os_error(err)}") from None
    finally:
        os.close(dev_fd)


def mount_devpts(ctx: MountContext, config: ContainerConfig) -> None:
    """A new devpts instance on /dev/pts (the container's ptys only)."""
    key = "lxc.pty.max"
    fd = ensure_mountpoint(ctx, "dev/pts", key)
    data = DEVPTS_OPTIONS
    if config.pty_max:
        data += f",max={config.pty_max}"
    try:
        linux.mount(
            "devpts", resolve.fd_path(fd), "devpts", linux.MS_NOSUID | linux.MS_NOEXEC, data
        )
    except OSError as err:
        raise SetupError(
            key, f"cannot mount a devpts instance on /dev/pts: {describe_os_error(err)}"
        ) from None
    finally:
        os.close(fd)


def setup_ptmx(ctx: MountContext) -> None:
    """/dev/ptmx of a rootfs's own /dev: bind pts/ptmx over it, or link it if missing."""
    try:
        dev_fd = ctx.open("dev", directory=True)
    except OSError:
        return
    try:
        try:
            mode = os.stat("ptmx", dir_fd=dev_fd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            try:
                os.symlink("pts/ptmx", "ptmx", dir_fd=dev_fd)
            except OSError:
                pass  # a read-only /dev: ptys still work through /dev/pts/ptmx
            return
        if stat.S_ISLNK(mode):
            return
        source = ctx.open("dev/pts/ptmx")
        target = os.open("ptmx", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dev_fd)
        try:
            linux.mount(resolve.fd_path(source), resolve.fd_path(target), None, linux.MS_BIND)
        except OSError as err:
            raise SetupError(
                "lxc.pty.max", f"cannot bind /dev/pts/ptmx on /dev/ptmx: {describe_os_error(err)}"
            ) from None
        finally:
            os.close(source)
            os.close(target)
    finally:
        os.close(dev_fd)


def mount_shm(ctx: MountContext) -> None:
    """A tmpfs on /dev/shm unless an fstab line or entry already put something there."""
    if "dev/shm" in ctx.mounted:
        return
    fd = ensure_mountpoint(ctx, "dev/shm", "lxc.autodev")
    try:
        linux.mount(
            "shm", resolve.fd_path(fd), "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "mode=1777"
        )
    except OSError as err:
        raise SetupError(
            "lxc.autodev", f"cannot mount a tmpfs on /dev/shm: {describe_os_error(err)}"
        ) from None
    finally:
        os.close(fd)


def _bind_terminal(ctx: MountContext, source: str, target: str) -> None:
    fd = resolve.make_file(ctx.root_fd, target, 0o600)
    try:
        linux.mount(source, resolve.fd_path(fd), None, linux.MS_BIND)
    finally:
        os.close(fd)


def bind_terminals(
    ctx: MountContext, config: ContainerConfig, console: str | None, ttys: tuple[str, ...]
) -> None:
    """The daemon's ptys on /dev/console and /dev/tty1..N."""
    try:
        if console:
            _bind_terminal(ctx, console, "dev/console")
        tty_dir = config.tty_dir
        for number, source in enumerate(ttys, 1):
            name = f"tty{number}"
            if not tty_dir:
                _bind_terminal(ctx, source, f"dev/{name}")
                continue
            _bind_terminal(ctx, source, f"dev/{tty_dir}/{name}")
            dev_fd = ctx.open("dev", directory=True)
            try:
                os.symlink(f"{tty_dir}/{name}", name, dir_fd=dev_fd)
            except OSError as err:
                if err.errno != errno.EEXIST:
                    raise
            finally:
                os.close(dev_fd)
    except OSError as err:
        raise SetupError(
            "lxc.tty.max", f"cannot set up the terminals: {describe_os_error(err)}"
        ) from None
