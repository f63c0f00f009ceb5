"""`lxc-copy -a` of a running hostile container must not copy host files.

The attack: while the host copies the rootfs, the container swaps a directory and
a symlink to a host path (renameat2 RENAME_EXCHANGE in a tight loop), so that a
copy which checks an entry and then uses its path again descends into the host
directory the symlink names and copies the host's files into the clone. The copy
walks the source by file descriptors (runtime/storage/fscopy.py): what it copies
is what it opened without following a symlink, so the host's file never appears.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Cli, create_busybox, unique

#: Swaps /x (a directory) and /x.l (a symlink to the host's secret directory) forever.
SWAPPER = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
    for (;;)
        syscall(SYS_renameat2, AT_FDCWD, "/x", AT_FDCWD, "/x.l", 2 /* RENAME_EXCHANGE */);
}
"""

COPIES = 6


@pytest.fixture
def secret_dir() -> Iterator[Path]:
    """A host directory holding a file the container must never get a copy of."""
    path = Path("/tmp") / unique("lxct-secret-")
    path.mkdir()
    (path / "f").write_text(f"HOST-SECRET {path.name}\n")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def build_swapper(tmp_path: Path) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the swapper")
    source = tmp_path / "swapper.c"
    source.write_text(SWAPPER)
    binary = tmp_path / "swapper"
    subprocess.run(["gcc", "-static", "-O2", "-o", str(binary), str(source)], check=True)
    return binary


def holds_secret(rootfs: Path, marker: str) -> list[str]:
    """Files below `rootfs` (never following a symlink) whose text has `marker`."""
    found = []
    for path in rootfs.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            if marker in path.read_text(errors="replace"):
                found.append(str(path))
        except OSError:
            continue
    return found


def test_copy_of_running_container_never_copies_through_swapped_symlinks(
    runtime: Cli, tmp_path: Path, secret_dir: Path
) -> None:
    name = create_busybox(runtime, tmp_path, "lxc.net.0.type = empty\n", "cpysrc")
    rootfs = runtime.lxcpath / name / "rootfs"
    shutil.copy(build_swapper(tmp_path), rootfs / "swapper")
    (rootfs / "x").mkdir()
    (rootfs / "x" / "f").write_text("inside\n")
    (rootfs / "x.l").symlink_to(secret_dir)  # the host's path, named from inside
    marker = f"HOST-SECRET {secret_dir.name}"
    assert runtime("lxc-start", "-n", name, "-d").returncode == 0
    started = runtime("lxc-attach", "-n", name, "--", "/bin/sh", "-c", "/swapper </dev/null >/dev/null 2>&1 &")
    assert started.returncode == 0, started.stderr
    for attempt in range(COPIES):
        clone = f"{name}c{attempt}"
        result = runtime("lxc-copy", "-n", name, "-N", clone, "-a")
        assert result.returncode == 0, result.stderr
        try:
            leaked = holds_secret(runtime.lxcpath / clone / "rootfs", marker)
            assert leaked == [], f"copy {attempt} holds the host's file: {leaked}"
        finally:
            assert runtime("lxc-destroy", "-n", clone).returncode == 0
    assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
