"""Loop devices for `loop:` rootfs images, attached with LO_FLAGS_AUTOCLEAR.

Why autoclear: the device is attached and mounted by the container child in the
container's mount namespace; with the flag the kernel detaches it by itself when
its last user goes, that is when the namespace (and the mount in it) dies, or at
once when the mount failed and the fd is closed. So no stop path, crash or kill
can leave a loop device behind, and nothing has to remember its number.
LOOP_CONFIGURE (Linux 5.8) sets the backing file and the flag in one step.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import struct
from collections.abc import Iterator
from contextlib import contextmanager

from runtime.kernel import linux

LOOP_CTL_GET_FREE = 0x4C82
LOOP_CONFIGURE = 0x4C0A
LO_FLAGS_AUTOCLEAR = 4
_NAME_SIZE = 64
#: struct loop_config: fd, block_size, struct loop_info64, 8 reserved u64.
_LOOP_CONFIG = struct.Struct("=II5Q4I64s64s32s2Q8Q")

_VIEW_FLAGS = linux.MS_RDONLY | linux.MS_NODEV | linux.MS_NOSUID | linux.MS_NOEXEC

#: Filesystems tried first on an image (the ones mkfs makes here), then the rest
#: of /proc/filesystems that need a device.
_PREFERRED = ("ext4", "ext3", "ext2")


def _config(backing_fd: int, name: str) -> bytes:
    label = os.fsencode(name)[: _NAME_SIZE - 1]
    return _LOOP_CONFIG.pack(
        backing_fd, 0, 0, 0, 0, 0, 0, 0, 0, 0, LO_FLAGS_AUTOCLEAR, label, b"", b"", 0, 0,
        *([0] * 8),
    )  # fmt: skip


def attach(backing_fd: int, name: str) -> tuple[int, str]:
    """A free loop device bound to `backing_fd` (autoclear): its open fd and path.

    Another process may take the free device between the query and the configure
    (EBUSY): ask again, a few times."""
    control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        for _ in range(16):
            number = fcntl.ioctl(control, LOOP_CTL_GET_FREE)
            path = f"/dev/loop{number}"
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            try:
                fcntl.ioctl(fd, LOOP_CONFIGURE, _config(backing_fd, name))
            except OSError as err:
                os.close(fd)
                if err.errno == errno.EBUSY:
                    continue
                raise
            return fd, path
    finally:
        os.close(control)
    raise OSError(errno.EBUSY, "no free loop device")


def filesystems() -> list[str]:
    """The block filesystems to try on an image, ext4 first."""
    found: list[str] = []
    try:
        with open("/proc/filesystems", encoding="ascii") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) == 1:
                    found.append(fields[0])
    except OSError:
        pass
    return [*_PREFERRED, *(fs for fs in found if fs not in _PREFERRED)]


def mount_device(device: str, target: str, flags: int = 0) -> str:
    """Mount `device` on `target` with the first filesystem type that takes it."""
    last: OSError | None = None
    for fstype in filesystems():
        try:
            linux.mount(device, target, fstype, flags)
            return fstype
        except OSError as err:
            if err.errno not in (errno.EINVAL, errno.ENODEV, errno.ENOTBLK, errno.EBADMSG):
                raise
            last = err
    raise last or OSError(errno.EINVAL, "no filesystem recognised")


def open_image(path: str, writable: bool = True) -> int:
    """The image file, never through a symlink at its last component."""
    mode = os.O_RDWR if writable else os.O_RDONLY
    fd = os.open(path, mode | os.O_NOFOLLOW | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, f"'{path}' is not a regular file")
    return fd


@contextmanager
def mounted_on_host(image: str, target: str) -> Iterator[str]:
    """The image mounted read-only on `target` for the time of a copy (lxc-copy
    and lxc-snapshot out of a loop rootfs); unmounted, and so detached, after."""
    image_fd = open_image(image, writable=False)
    try:
        loop_fd, device = attach(image_fd, image)
        try:
            # Read only, and nothing in it usable as a device, setuid file or program
            # on the host: the tree is the container's to write.
            mount_device(device, target, _VIEW_FLAGS)
        finally:
            os.close(loop_fd)
    finally:
        os.close(image_fd)
    try:
        yield target
    finally:
        linux.umount2(target, linux.MNT_DETACH)
