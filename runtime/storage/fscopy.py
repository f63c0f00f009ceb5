"""Copy a container's directory faithfully, for lxc-copy.

shutil.copytree loses what a root filesystem needs: hard links (busybox's
/sbin/init is one), device nodes, fifos, ownership, setuid bits and file
capabilities (the `security.capability` xattr). This walks the tree itself and
keeps all of them, like `rsync -aHXx`: it stays on the source's filesystem so a
mount inside the tree (a bind of the host's /lib, say) is never copied in.

The source may be a running container's rootfs (`lxc-copy -a`), changed by a
hostile container while it is copied: a directory swapped for a symlink to a host
path between a check and its use must not make the copy read the host. So the
source is walked by file descriptors only: every entry is reached from its
parent directory's fd, opened with O_NOFOLLOW (a directory with O_DIRECTORY too),
and what is copied is what that fd refers to, never a path resolved again. The
destination is a fresh staging directory of ours, out of the container's reach.
"""

from __future__ import annotations

import errno
import os
import stat

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: O_PATH opens a symlink itself (with O_NOFOLLOW), for its owner's xattrs.
_LINK_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


def copy_tree(src: str, dst: str, exclude: frozenset[str] = frozenset()) -> None:
    """Copy directory `src` to `dst` (which must not exist), without the entries of
    `src` itself named in `exclude` (a container's store files, its snapshots)."""
    src_fd = os.open(src, _DIR_FLAGS)
    try:
        st = os.fstat(src_fd)
        links: dict[tuple[int, int], str] = {}
        _copy_dir(src_fd, dst, st, st.st_dev, links, exclude)
    finally:
        os.close(src_fd)


def _copy_dir(
    dir_fd: int,
    dst: str,
    st: os.stat_result,
    root_dev: int,
    links: dict[tuple[int, int], str],
    exclude: frozenset[str] = frozenset(),
) -> None:
    """Copy the directory open at `dir_fd` (whose stat is `st`) to `dst`."""
    os.mkdir(dst, 0o700)
    with os.scandir(dir_fd) as entries:
        names = sorted(entry.name for entry in entries)
    for name in names:
        if name in exclude:
            continue
        _copy_entry(dir_fd, name, os.path.join(dst, name), root_dev, links)
    _copy_metadata(dir_fd, dst, st)


def _copy_entry(parent_fd: int, name: str, dst: str, root_dev: int, links: dict[tuple[int, int], str]) -> None:
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return  # gone since the listing (a running container's tree)
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except OSError as err:
            if err.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                return  # replaced since its stat: what it is now was not listed
            raise
        try:
            st = os.fstat(fd)  # what is open, not what the stat above saw
            if st.st_dev != root_dev:
                # A mount point: make the empty directory, do not descend into the mount.
                os.mkdir(dst, stat.S_IMODE(st.st_mode))
                _copy_metadata(fd, dst, st)
                return
            _copy_dir(fd, dst, st, root_dev, links)
        finally:
            os.close(fd)
        return
    identity = (st.st_dev, st.st_ino)
    if st.st_nlink > 1 and identity in links:
        os.link(links[identity], dst)
        return
    if stat.S_ISREG(mode):
        copied = _copy_file(parent_fd, name, dst)
        if copied is None:
            return
        st = copied
    elif stat.S_ISLNK(mode):
        try:
            target = os.readlink(name, dir_fd=parent_fd)
        except OSError as err:
            if err.errno in (errno.EINVAL, errno.ENOENT):
                return  # no longer a symlink since its stat (a running container's tree)
            raise
        os.symlink(target, dst)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
        os.mknod(dst, mode, st.st_rdev)
    else:
        return  # a socket cannot be copied; a stale one is of no use in a copy
    entry_fd = _open_entry(parent_fd, name, st)
    if entry_fd is None:
        return
    try:
        _copy_metadata(entry_fd, dst, st)
    finally:
        os.close(entry_fd)
    if st.st_nlink > 1:
        links[identity] = dst


def _open_entry(parent_fd: int, name: str, st: os.stat_result) -> int | None:
    """An O_PATH fd of the entry itself (never through a symlink), for its xattrs;
    None when it was replaced by something else since `st`."""
    try:
        fd = os.open(name, _LINK_FLAGS, dir_fd=parent_fd)
    except OSError:
        return None
    now = os.fstat(fd)
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        return None
    return fd


def _copy_file(parent_fd: int, name: str, dst: str) -> os.stat_result | None:
    """Copy the regular file `name` of `parent_fd`; its stat, or None when it is no
    longer a regular file (a running container replaced it)."""
    try:
        in_fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=parent_fd)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ELOOP):
            return None
        raise
    try:
        st = os.fstat(in_fd)
        if not stat.S_ISREG(st.st_mode):
            return None  # swapped for a fifo or a device since its stat: not read
        out_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            size = st.st_size
            copied = 0
            while copied < size:
                try:
                    sent = os.copy_file_range(in_fd, out_fd, size - copied)
                except OSError as err:
                    if err.errno not in (errno.EXDEV, errno.EINVAL, errno.EOPNOTSUPP):
                        raise
                    break  # across filesystems (a mounted image, an overlay): read below
                if sent == 0:
                    break
                copied += sent
            while True:  # a file that grew, or a filesystem without copy_file_range
                chunk = os.read(in_fd, 1 << 20)
                if not chunk:
                    break
                os.write(out_fd, chunk)
        finally:
            os.close(out_fd)
        return st
    finally:
        os.close(in_fd)


def _copy_metadata(src_fd: int, dst: str, st: os.stat_result) -> None:
    """Owner first (chown clears setuid bits), then xattrs, mode and times."""
    is_link = stat.S_ISLNK(st.st_mode)
    os.lchown(dst, st.st_uid, st.st_gid)
    _copy_xattrs(src_fd, dst, is_link)
    if not is_link:
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _copy_xattrs(src_fd: int, dst: str, is_link: bool) -> None:
    """The source's xattrs, read through its fd (/proc/self/fd for an O_PATH one,
    which names the open file itself: no path is resolved again)."""
    source = f"/proc/self/fd/{src_fd}"
    try:
        names = os.listxattr(source)
    except OSError:
        return
    for name in names:
        if is_link and not name.startswith("trusted."):
            continue
        try:
            os.setxattr(dst, name, os.getxattr(source, name), follow_symlinks=False)
        except OSError:
            continue  # the target filesystem may not take that namespace
