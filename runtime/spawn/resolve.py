"""Finding and creating paths inside a container's rootfs, never outside it.

Why: mounts are set up from the host side of `pivot_root`, on paths under the
rootfs. A rootfs is the container's to write: a symlink `rootfs/mnt -> /etc` (or
`../../..`) must not turn `lxc.mount.entry = tmpfs mnt ...` into a mount on the
host's /etc. So every target is looked up as if the rootfs were `/`: with openat2
`RESOLVE_IN_ROOT` (Linux 5.6+), or on older kernels by walking the components
with O_PATH|O_NOFOLLOW and following each symlink by hand inside the root. The
result is an O_PATH fd, and the mount goes onto `/proc/self/fd/N`, so nothing is
looked up a second time between the check and the use.

A mount changes what a path means: after mounting on a target, look it up again
(an fd taken before the mount still names the directory underneath).
"""

from __future__ import annotations

import errno
import os
import stat

from runtime.kernel import linux

_O_PATH = os.O_PATH | os.O_CLOEXEC
_RESOLVE = linux.RESOLVE_IN_ROOT | linux.RESOLVE_NO_MAGICLINKS
_MAX_SYMLINKS = 40

#: False once openat2 turned out to be missing (ENOSYS): use the manual walk.
_have_openat2 = True


def fd_path(fd: int) -> str:
    """The magic-link path that names exactly what `fd` refers to (for mount(2))."""
    return f"/proc/self/fd/{fd}"


def components(path: str) -> list[str]:
    """The non-empty components of `path` (a leading / means the same as none)."""
    return [part for part in path.split("/") if part and part != "."]


def open_in_root(root_fd: int, path: str, directory: bool = False) -> int:
    """An O_PATH fd for `path` resolved with `root_fd` as `/`; OSError (ENOENT...) if not."""
    global _have_openat2
    flags = _O_PATH | (os.O_DIRECTORY if directory else 0)
    relative = "/".join(components(path)) or "."
    if _have_openat2:
        try:
            return linux.openat2(root_fd, relative, flags, 0, _RESOLVE)
        except OSError as err:
            if err.errno != errno.ENOSYS:
                raise
            _have_openat2 = False
    return walk_in_root(root_fd, relative, directory)


def walk_in_root(root_fd: int, path: str, directory: bool = False) -> int:
    """open_in_root without openat2: one component at a time, symlinks followed by hand.

    `..` stops at the root, an absolute symlink restarts at the root, at most 40
    symlinks are followed (ELOOP), as the kernel does for RESOLVE_IN_ROOT.
    """
    pending = components(path)
    pending.reverse()  # a stack: the next component is at the end
    stack = [os.dup(root_fd)]  # the directories walked through, for `..`
    followed = 0
    try:
        while pending:
            name = pending.pop()
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            fd = os.open(name, _O_PATH | os.O_NOFOLLOW, dir_fd=stack[-1])
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):
                try:
                    target = os.readlink(name, dir_fd=stack[-1])
                finally:
                    os.close(fd)
                followed += 1
                if followed > _MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                parts = components(target)
                parts.reverse()
                pending.extend(parts)
                continue
            if pending and not stat.S_ISDIR(mode):
                os.close(fd)
                raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
            stack.append(fd)
        result = stack.pop()
        if directory and not stat.S_ISDIR(os.fstat(result).st_mode):
            os.close(result)
            raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
        return result
    finally:
        for fd in stack:
            os.close(fd)


def _symlink_target(parent_fd: int, name: str, parent: str, depth: int) -> str:
    """Where the dangling symlink `name` (in directory `parent` of the root) points."""
    if depth >= _MAX_SYMLINKS:
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), name)
    target = os.readlink(name, dir_fd=parent_fd)  # EINVAL if it is not a symlink
    return target if target.startswith("/") else f"{parent}/{target}"


def make_dirs(root_fd: int, path: str, mode: int = 0o755, _depth: int = 0) -> int:
    """`mkdir -p` of `path` inside the root; an O_PATH fd of the directory.

    Each missing component is created with mkdirat in its (already resolved)
    parent. A dangling symlink on the way is followed inside the root: what it
    points to is created there, never on the host.
    """
    parts = components(path)
    for index, name in enumerate(parts):
        try:
            os.close(open_in_root(root_fd, "/".join(parts[: index + 1]), directory=True))
            continue
        except FileNotFoundError:
            pass
        parent = "/".join(parts[:index])
        parent_fd = open_in_root(root_fd, parent, directory=True)
        try:
            try:
                os.mkdir(name, mode, dir_fd=parent_fd)
            except FileExistsError:
                target = _symlink_target(parent_fd, name, parent, _depth)
                os.close(make_dirs(root_fd, target, mode, _depth + 1))
        finally:
            os.close(parent_fd)
    return open_in_root(root_fd, path, directory=True)


def make_file(root_fd: int, path: str, mode: int = 0o644, _depth: int = 0) -> int:
    """Create an empty file at `path` inside the root if missing (parents too); its fd.

    A dangling symlink is followed inside the root, as in make_dirs.
    """
    parts = components(path)
    if not parts:
        raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    try:
        return open_in_root(root_fd, path)
    except FileNotFoundError:
        pass
    parent = "/".join(parts[:-1])
    parent_fd = make_dirs(root_fd, parent)
    try:
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            os.close(os.open(parts[-1], flags, mode, dir_fd=parent_fd))
        except FileExistsError:
            target = _symlink_target(parent_fd, parts[-1], parent, _depth)
            os.close(make_file(root_fd, target, mode, _depth + 1))
    finally:
        os.close(parent_fd)
    return open_in_root(root_fd, path)


def exists_in_root(root_fd: int, path: str) -> bool:
    """Whether `path` resolves inside the root (symlinks followed inside it)."""
    try:
        fd = open_in_root(root_fd, path)
    except OSError:
        return False
    os.close(fd)
    return True
