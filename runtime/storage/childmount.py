"""Mounting an overlay or loop rootfs in the container child, before pivot_root.

The child is in the container's new (slave) mount namespace, so the mount is the
container's alone: it never appears on the host and goes when the namespace dies
(with it, the loop device: `loopdev` attaches with autoclear). Every directory and
the image are opened with O_NOFOLLOW on their last component and handed to the
kernel as /proc/self/fd/N: a container that writes inside its delta or image can
never make the mount follow a symlink it planted, and commas or colons in a path
cannot be mistaken for overlay options.
"""

from __future__ import annotations

import os

from runtime.kernel import linux
from runtime.storage import loopdev
from runtime.storage.spec import RootfsSpec

_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def open_directory(path: str, role: str) -> int:
    """An O_PATH fd of a store directory; OSError naming its role otherwise."""
    try:
        return os.open(path, _DIR)
    except OSError as err:
        raise OSError(err.errno, f"the {role} '{path}': {os.strerror(err.errno or 0)}") from None


def mount_rootfs(spec: RootfsSpec, target: str) -> None:
    """Mount the rootfs of `spec` (overlay or loop) on the directory `target`."""
    target_fd = open_directory(target, "mount point")
    try:
        if spec.kind == "overlay":
            _mount_overlay(spec, fd_path(target_fd))
        elif spec.kind == "loop":
            _mount_loop(spec, fd_path(target_fd))
        else:
            raise OSError(0, f"'{spec.kind}' is not a store the container mounts")
    finally:
        os.close(target_fd)


def _mount_overlay(spec: RootfsSpec, target: str) -> None:
    assert spec.upper is not None
    fds: list[int] = []
    try:
        for path, role in ((spec.path, "overlay's lower directory"), (spec.upper, "overlay's upper directory"),
                           (spec.workdir, "overlay's work directory")):  # fmt: skip
            fds.append(open_directory(path, role))
        lower, upper, work = (fd_path(fd) for fd in fds)
        linux.mount(
            "overlay", target, "overlay", 0, f"lowerdir={lower},upperdir={upper},workdir={work}"
        )
    finally:
        for fd in fds:
            os.close(fd)


def _mount_loop(spec: RootfsSpec, target: str) -> None:
    image_fd = loopdev.open_image(spec.path)
    try:
        loop_fd, device = loopdev.attach(image_fd, spec.path)
        try:
            loopdev.mount_device(device, target)
        finally:
            os.close(loop_fd)  # autoclear: detached now unless the mount holds it
    finally:
        os.close(image_fd)
