"""Opening a host file on a container's behalf, without the container steering it.

Why: the daemon runs as root on the host and opens config paths on a container's
behalf (lxc.console.logfile, lxc.console.buffer.logfile, lxc.console.path); so do
the commands (`-o FILE`, `lxc-attach -L FILE`: `open_for_append`) and the container
child before its pivot_root (a bind source given as a host path: `open_source`).
When such a path lies inside the container's rootfs, every directory on the way and
the file itself are the container's to replace: a symlink `var/log -> /etc` or
`console.log -> /etc/shadow` made the daemon overwrite (or, on rotation, rename) a
host file, and a FIFO made it hang. So:

- The path is walked from `/` one component at a time. Outside the rootfs a
  symlink is the host's own and is followed (by hand, so that a walk that enters
  the rootfs is noticed whatever the spelling of the path). "The rootfs" is every
  host directory the container can change (`runtime.storage.spec.container_trees`:
  a `dir:` or `btrfs:` rootfs, an overlay's upper and lower directories, where an
  overlay or loop is mounted; the commands add the lxcpath, where every container's
  files are). Once the walk reaches one of them (same device and inode), the rest
  is opened beneath it with
  openat2 `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS` (on a
  kernel without openat2: component by component with O_NOFOLLOW, `..` refused).
- The result is an O_PATH fd of the directory the file is in (`Location`): the
  file is created in it with O_EXCL|O_NOFOLLOW, or an existing one is taken as an
  O_PATH|O_NOFOLLOW fd, checked to be a regular file (a device or FIFO would be
  opened by root on the host), and only then opened for writing through
  `/proc/self/fd/N`, which reopens that very inode. Rotation renames within the
  directory fd. A container that swaps a directory after the walk changes nothing:
  the daemon keeps writing into the directory it resolved.

A container that replaces the file later only gets a file of its own written.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence

from runtime.kernel import linux

_O_PATH = os.O_PATH | os.O_CLOEXEC
_BENEATH = linux.RESOLVE_BENEATH | linux.RESOLVE_NO_SYMLINKS | linux.RESOLVE_NO_MAGICLINKS
_MAX_SYMLINKS = 40

#: False once openat2 turned out to be missing (ENOSYS): walk by hand.
_have_openat2 = True


def _error(code: int | None, path: str, what: str | None = None) -> OSError:
    return OSError(code, what or os.strerror(code or 0), path)


def _beneath(dir_fd: int, parts: list[str], path: str) -> int:
    """O_PATH fd of the directory `parts` below `dir_fd`, no symlink followed, no escape."""
    global _have_openat2
    if not parts:
        return os.dup(dir_fd)
    if _have_openat2:
        try:
            return linux.openat2(dir_fd, "/".join(parts), _O_PATH | os.O_DIRECTORY, 0, _BENEATH)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise _error(errno.ELOOP, path, "a symlink on the way inside a container's files") from None
            if err.errno == errno.EXDEV:
                raise _error(errno.EXDEV, path, "leaves the container's files") from None
            if err.errno != errno.ENOSYS:
                raise _error(err.errno, path) from None
            _have_openat2 = False
    current = os.dup(dir_fd)
    try:
        for part in parts:
            if part == "..":
                raise _error(errno.EXDEV, path, "leaves the container's files")
            try:
                fd = os.open(part, _O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY, dir_fd=current)
            except OSError as err:
                code = errno.ELOOP if err.errno == errno.ENOTDIR and _is_link(current, part) else err.errno
                raise _error(code, path) from None
            os.close(current)
            current = fd
        fd, current = current, -1
        return fd
    finally:
        if current >= 0:
            os.close(current)


def _is_link(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _tree_ids(trees: Sequence[str]) -> set[tuple[int, int]]:
    """(device, inode) of each container tree that is a directory (not the host's `/`)."""
    if isinstance(trees, str):  # one path, not its characters
        trees = (trees,)
    ids = set()
    for tree in trees:
        try:
            info = os.stat(tree)  # the host's path to it: its symlinks are the admin's
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or os.path.realpath(tree) == "/":
            continue  # no rootfs of its own: the container sees the host's files anyway
        ids.add((info.st_dev, info.st_ino))
    return ids


def open_directory(directory: str, trees: Sequence[str]) -> tuple[int, bool]:
    """O_PATH fd of `directory` (see the module docstring) and whether it is in one of
    the container's `trees`."""
    root_ids = _tree_ids(trees)
    pending = [part for part in reversed(directory.split("/")) if part and part != "."]
    current = os.open("/", _O_PATH | os.O_DIRECTORY)
    inside = False
    followed = 0
    try:
        while pending:
            info = os.fstat(current)
            if (info.st_dev, info.st_ino) in root_ids:
                pending.reverse()
                fd = _beneath(current, pending, directory)
                os.close(current)
                current = fd
                inside = True
                break
            part = pending.pop()
            fd = os.open(part, _O_PATH | os.O_NOFOLLOW, dir_fd=current)
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):
                try:
                    target = os.readlink(part, dir_fd=current)
                finally:
                    os.close(fd)
                followed += 1
                if followed > _MAX_SYMLINKS:
                    raise _error(errno.ELOOP, directory)
                if target.startswith("/"):
                    os.close(current)
                    current = os.open("/", _O_PATH | os.O_DIRECTORY)
                pending.extend(part for part in reversed(target.split("/")) if part and part != ".")
                continue
            if not stat.S_ISDIR(mode):
                os.close(fd)
                raise _error(errno.ENOTDIR, directory)
            os.close(current)
            current = fd
        else:
            info = os.fstat(current)
            inside = (info.st_dev, info.st_ino) in root_ids
        fd, current = current, -1
        return fd, inside
    finally:
        if current >= 0:
            os.close(current)


class Location:
    """Where a file the daemon writes lives: its directory (an O_PATH fd) and name."""

    def __init__(self, path: str, trees: Sequence[str]) -> None:
        if not path.startswith("/"):
            raise _error(errno.EINVAL, path, "not an absolute path")
        directory, _, name = path.rpartition("/")
        if name in ("", ".", ".."):
            raise _error(errno.EISDIR, path)
        self.path = path
        self.name = name
        self.dir_fd, self.in_rootfs = open_directory(directory or "/", trees)

    def _existing(self) -> int:
        """O_PATH fd of the existing file, which must be a regular file (ELOOP: a symlink)."""
        fd = os.open(self.name, _O_PATH | os.O_NOFOLLOW, dir_fd=self.dir_fd)
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            if stat.S_ISLNK(mode):
                raise _error(errno.ELOOP, self.path, "is a symlink")
            raise _error(errno.EPERM, self.path, "is not a regular file")
        return fd

    def open_file(self, *, truncate: bool = False, append: bool = True) -> int:
        """A write fd of the regular file, created (0600) when missing."""
        flags = os.O_WRONLY | os.O_CLOEXEC | os.O_NOCTTY | (os.O_APPEND if append else 0)
        try:
            return os.open(self.name, flags | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=self.dir_fd)
        except FileExistsError:
            pass
        handle = self._existing()
        try:
            return os.open(f"/proc/self/fd/{handle}", flags | (os.O_TRUNC if truncate else 0))
        finally:
            os.close(handle)

    def open_device(self) -> int:
        """A read-write fd of the character device at the path (lxc.console.path)."""
        handle = os.open(self.name, _O_PATH | os.O_NOFOLLOW, dir_fd=self.dir_fd)
        try:
            mode = os.fstat(handle).st_mode
            if not stat.S_ISCHR(mode):
                what = "is a symlink" if stat.S_ISLNK(mode) else "is not a character device"
                raise _error(errno.ENODEV, self.path, what)
            return os.open(f"/proc/self/fd/{handle}", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        finally:
            os.close(handle)

    def rename(self, new_name: str) -> None:
        """Rename the file within its directory (rotation: `FILE` -> `FILE.1`)."""
        os.rename(self.name, new_name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)

    def close(self) -> None:
        if self.dir_fd >= 0:
            os.close(self.dir_fd)
            self.dir_fd = -1


def write_file(path: str, trees: Sequence[str], data: bytes) -> None:
    """Replace the contents of the file at `path` with `data` (lxc.console.buffer.logfile)."""
    location = Location(path, trees)
    try:
        fd = location.open_file(truncate=True, append=False)
    finally:
        location.close()
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def locate(path: str, trees: Sequence[str]) -> Location:
    """The Location of the absolute `path`, its last component included: when that is
    a symlink outside the trees (the host's own), it is followed by hand, one link at a
    time, so that a host link pointing into a container's rootfs is then walked as any
    path there (through none of the container's symlinks). A link on procfs (a magic
    link: `/dev/stderr` -> `/proc/self/fd/2`) is left to the kernel."""
    location = Location(path, trees)
    for _ in range(_MAX_SYMLINKS):
        if location.in_rootfs or _on_procfs(location.dir_fd):
            return location
        try:
            info = os.stat(location.name, dir_fd=location.dir_fd, follow_symlinks=False)
            target = os.readlink(location.name, dir_fd=location.dir_fd) if stat.S_ISLNK(info.st_mode) else None
        except OSError:
            return location  # nothing there yet: made where the path says
        if target is None:
            return location
        directory = location.path.rpartition("/")[0] or "/"
        location.close()
        location = Location(target if target.startswith("/") else f"{directory}/{target}", trees)
    location.close()
    raise _error(errno.ELOOP, path)


def _on_procfs(dir_fd: int) -> bool:
    try:
        return os.fstat(dir_fd).st_dev == os.stat("/proc").st_dev
    except OSError:
        return False


def open_for_append(path: str, trees: Sequence[str], mode: int = 0o644) -> int:
    """A write fd (O_APPEND) of the file at the absolute `path`, for a file a command
    writes while containers run (`-o FILE`, `lxc-attach -L FILE`, opened by root on the
    host). Beneath one of the container `trees` nothing is followed and only a regular
    file is taken, as for the console files (a container could otherwise turn a
    directory or the file into a symlink to a host file, or plant a device node to be
    opened). Elsewhere the path is the host's own and is opened as given, its last
    component followed as LXC does (`-o /dev/stderr`), unless it leads into a tree."""
    location = locate(path, trees)
    try:
        if location.in_rootfs:
            return location.open_file(append=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOCTTY
        return os.open(location.name, flags, mode, dir_fd=location.dir_fd)
    finally:
        location.close()


def open_source(path: str, trees: Sequence[str]) -> int:
    """An O_PATH fd of what the absolute `path` names (a bind mount's source): through
    no symlink beneath a tree (ELOOP), as the host's path elsewhere."""
    location = locate(path, trees)
    try:
        if not location.in_rootfs:
            return os.open(location.name, _O_PATH, dir_fd=location.dir_fd)
        fd = os.open(location.name, _O_PATH | os.O_NOFOLLOW, dir_fd=location.dir_fd)
    finally:
        location.close()
    if stat.S_ISLNK(os.fstat(fd).st_mode):
        os.close(fd)
        raise _error(errno.ELOOP, path, "is a symlink inside a container's files")
    return fd
