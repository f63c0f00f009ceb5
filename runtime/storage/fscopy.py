"""Copy a container's directory faithfully, for lxc-copy.

shutil.copytree loses what a root filesystem needs: hard links (busybox's
/sbin/init is one), device nodes, fifos, ownership, setuid bits and file
capabilities (the `security.capability` xattr). This walks the tree itself and
keeps all of them, like `rsync -aHXx`: it stays on the source's filesystem so a
mount inside the tree (a bind of the host's /lib, say) is never copied in.
"""

from __future__ import annotations

import errno
import os
import stat


def copy_tree(src: str, dst: str, exclude: frozenset[str] = frozenset()) -> None:
    """Copy directory `src` to `dst` (which must not exist), without the entries of
    `src` itself named in `exclude` (a container's store files, its snapshots)."""
    root_dev = os.lstat(src).st_dev
    links: dict[tuple[int, int], str] = {}
    _copy_dir(src, dst, root_dev, links, exclude)


def _copy_dir(
    src: str,
    dst: str,
    root_dev: int,
    links: dict[tuple[int, int], str],
    exclude: frozenset[str] = frozenset(),
) -> None:
    st = os.lstat(src)
    os.mkdir(dst, 0o700)
    for entry in sorted(os.scandir(src), key=lambda e: e.name):
        if entry.name in exclude:
            continue
        _copy_entry(entry.path, os.path.join(dst, entry.name), root_dev, links)
    _copy_metadata(src, dst, st)


def _copy_entry(src: str, dst: str, root_dev: int, links: dict[tuple[int, int], str]) -> None:
    st = os.lstat(src)
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        if st.st_dev != root_dev:
            # A mount point: make the empty directory, do not descend into the mount.
            os.mkdir(dst, stat.S_IMODE(mode))
            _copy_metadata(src, dst, st)
            return
        _copy_dir(src, dst, root_dev, links)
        return
    identity = (st.st_dev, st.st_ino)
    if st.st_nlink > 1 and identity in links:
        os.link(links[identity], dst)
        return
    if stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISREG(mode):
        _copy_file(src, dst)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
        os.mknod(dst, mode, st.st_rdev)
    elif stat.S_ISSOCK(mode):
        return  # a socket cannot be copied; a stale one is of no use in a copy
    _copy_metadata(src, dst, st)
    if st.st_nlink > 1:
        links[identity] = dst


def _copy_file(src: str, dst: str) -> None:
    in_fd = os.open(src, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        out_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            size = os.fstat(in_fd).st_size
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
    finally:
        os.close(in_fd)


def _copy_metadata(src: str, dst: str, st: os.stat_result) -> None:
    """Owner first (chown clears setuid bits), then xattrs, mode and times."""
    is_link = stat.S_ISLNK(st.st_mode)
    os.lchown(dst, st.st_uid, st.st_gid)
    _copy_xattrs(src, dst, is_link)
    if not is_link:
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _copy_xattrs(src: str, dst: str, is_link: bool) -> None:
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError:
        return
    for name in names:
        if is_link and not name.startswith("trusted."):
            continue
        try:
            os.setxattr(
                dst, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False
            )
        except OSError:
            continue  # the target filesystem may not take that namespace
