"""`loop`: the rootfs is a filesystem in an image file (`<container>/rootdev`).

The image is made with mke2fs `-d`, which fills the new filesystem from a
directory: the template builds an ordinary directory and no mount on the host is
needed to create or fill an image. Only ext2/3/4 can be made that way (`--fstype`);
`--fssize` sizes the sparse image (LXC's default 1 GiB). The container child mounts
it through an autoclear loop device (runtime.storage.childmount, loopdev); a copy
out of it mounts it read-only on the host for the time of the copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from runtime.client.errors import LxcError
from runtime.storage import loopdev
from runtime.storage.options import StoreOptions

PREFIX = "loop:"
IMAGE = "rootdev"
FSTYPES = ("ext4", "ext3", "ext2")


def check(opts: StoreOptions) -> None:
    """Refuse what cannot be made before anything is built."""
    if opts.fstype not in FSTYPES:
        raise LxcError(f"--fstype {opts.fstype}: a loop rootfs is made with ext4, ext3 or ext2")
    if shutil.which("mke2fs") is None:
        raise LxcError("backing store 'loop' needs the 'mke2fs' tool (e2fsprogs), not installed")


def new(staging: str, final_dir: str, opts: StoreOptions) -> tuple[str, str]:
    """(value, where the template builds the tree that `seal` puts in the image)."""
    check(opts)
    os.mkdir(os.path.join(staging, "rootfs"), 0o755)
    return PREFIX + os.path.join(final_dir, IMAGE), os.path.join(staging, "rootfs")


def seal(staging: str, tree: str, opts: StoreOptions) -> None:
    """Make the image from `tree`, then empty `tree` (it is the mount point)."""
    make_image(os.path.join(staging, IMAGE), tree, opts)
    stat = os.stat(tree)
    shutil.rmtree(tree)
    os.mkdir(tree, 0o755)
    os.chown(tree, stat.st_uid, stat.st_gid)


def make_image(image: str, tree: str, opts: StoreOptions) -> None:
    check(opts)
    fd = os.open(image, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.ftruncate(fd, opts.fssize)
    finally:
        os.close(fd)
    result = subprocess.run(
        ["mke2fs", "-q", "-F", "-t", opts.fstype, "-d", tree, image],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        detail = " ".join((result.stderr or result.stdout).split())
        raise LxcError(
            f"cannot make the {opts.fstype} image ({opts.fssize} bytes, --fssize): "
            f"{detail or f'mke2fs exited {result.returncode}'}"
        )


def copy_image(src: str, staging: str, final_dir: str) -> str:
    """A copy of an image, holes kept (a 1 GiB image is mostly holes)."""
    dst = os.path.join(staging, IMAGE)
    result = subprocess.run(
        ["cp", "--sparse=always", "--reflink=auto", "--", src, dst],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise LxcError(f"cannot copy the image {src}: {result.stderr.strip()}")
    os.chmod(dst, 0o600)
    os.makedirs(os.path.join(staging, "rootfs"), 0o755, exist_ok=True)
    return PREFIX + os.path.join(final_dir, IMAGE)


def copy_from(view: str, staging: str, final_dir: str, opts: StoreOptions) -> str:
    """A new image filled from the directory `view`."""
    make_image(os.path.join(staging, IMAGE), view, opts)
    os.makedirs(os.path.join(staging, "rootfs"), 0o755, exist_ok=True)
    return PREFIX + os.path.join(final_dir, IMAGE)


@contextmanager
def mounted_view(image: str) -> Iterator[str]:
    """The image mounted read-only on a temporary directory for a copy."""
    place = tempfile.mkdtemp(prefix="trio-lxc-loop-")
    try:
        with loopdev.mounted_on_host(image, place) as view:
            yield view
    finally:
        os.rmdir(place)
