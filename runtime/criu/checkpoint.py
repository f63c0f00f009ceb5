"""Checkpoint and restore a running container with CRIU, the way LXC drives criu.

`dump`: criu dumps the container's init and every descendant (`-t PID`) into DIR,
with what LXC describes to it: the cgroups (`--manage-cgroups=full`, and the v1
freezer cgroup so criu freezes the tree with it), the mounts (`--ext-mount-map
auto`, external sharing/masters), TCP connections, file locks and unlinked files,
and the console's pty as an external terminal. The container's runtime record
(cgroup paths, veth host names, config) is saved beside the images. Without
`stop` the container keeps running (`--leave-running`); with it criu kills the
tree after the dump and the supervisor sees its init exit (STOPPING, STOPPED).

`restore`: criu restores the images detached into the container's rootfs, the
veth pairs given back their host names (`--veth-pair`), and the daemon adopts
the restored init under a new supervisor that publishes STARTING and RUNNING.

`criu check` is run first (`problem()`): a host where criu is missing or cannot
work (on this project's VMs: "vdso: Unexpected rt vDSO area bounds") gets that
reason and nothing is changed. A failed dump removes the images it wrote (and
DIR if it made it); a failed restore kills whatever criu left and leaves the
container STOPPED with no record.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from typing import Any

#: The saved runtime record, beside criu's images.
RECORD_FILE = "trio-lxc-record.json"
PIDFILE = "restore.pid"
#: What every dump and restore passes, as LXC does.
COMMON = (
    "--tcp-established", "--file-locks", "--link-remap", "--manage-cgroups=full",
    "--ext-mount-map", "auto", "--enable-external-sharing", "--enable-external-masters",
    "--enable-fs", "hugetlbfs", "--enable-fs", "tracefs",
)  # fmt: skip


class CheckpointError(Exception):
    """A checkpoint or restore that failed: one line for the user."""


def criu_path() -> str | None:
    """criu: `TRIO_LXC_CRIU` if set (tests, other installs), else the one on PATH."""
    configured = os.environ.get("TRIO_LXC_CRIU")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("criu") or next(
        (p for p in ("/usr/sbin/criu", "/sbin/criu") if os.access(p, os.X_OK)), None
    )


def problem() -> str | None:
    """Why criu cannot checkpoint here (missing, or `criu check` fails), or None."""
    criu = criu_path()
    if criu is None:
        return "execing criu failed, is it installed?"
    try:
        result = subprocess.run(
            [criu, "check"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"criu check failed: {err}"
    if result.returncode != 0:
        lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        reason = next((line for line in lines if "rror" in line), lines[-1] if lines else "")
        return f"criu check failed: {reason or f'exit status {result.returncode}'}"
    return None


def _freezer_path(record: dict[str, Any]) -> str | None:
    cgroups = record.get("cgroups") or {}
    if isinstance(cgroups, dict):
        for key in ("freezer", "unified", ""):
            path = cgroups.get(key)
            if isinstance(path, str) and path:
                return path
    return None


def _console_external(pid: int) -> list[str]:
    """The console's pty as criu's external tty (`tty[RDEV:DEV]`), if pid 1 has one."""
    try:
        found = os.stat(f"/proc/{pid}/fd/0")
    except OSError:
        return []
    if os.major(found.st_rdev) not in range(136, 144):
        return []
    return ["--external", f"tty[{found.st_rdev:x}:{found.st_dev:x}]"]


def dump_argv(
    criu: str, pid: int, record: dict[str, Any], directory: str, *, stop: bool,
    verbose: bool, predump: bool = False, predump_dir: str | None = None,
    action_script: str | None = None,
) -> list[str]:  # fmt: skip
    argv = [criu, "pre-dump" if predump else "dump", "-D", directory, "-o", "dump.log",
            "-t", str(pid), *COMMON]  # fmt: skip
    freezer = _freezer_path(record)
    if freezer:
        argv += ["--freeze-cgroup", freezer]
    if predump or not stop:
        argv.append("--leave-running")
    if predump:
        argv.append("--track-mem")
    if predump_dir:
        argv += ["--prev-images-dir", predump_dir, "--track-mem"]
    if verbose:
        argv.append("-v4")
    if action_script:
        argv += ["--action-script", action_script]
    return argv + _console_external(pid)


def restore_argv(
    criu: str, record: dict[str, Any], rootfs: str, directory: str, *, verbose: bool,
    action_script: str | None = None,
) -> list[str]:  # fmt: skip
    argv = [criu, "restore", "-D", directory, "-o", "restore.log", "--restore-detached",
            "--pidfile", os.path.join(directory, PIDFILE), "--root", rootfs, *COMMON]  # fmt: skip
    for entry in record.get("net") or []:
        if isinstance(entry, dict) and entry.get("type") == "veth" and entry.get("host"):
            argv += ["--veth-pair", f"{entry.get('inside')}={entry.get('host')}"]
    if verbose:
        argv.append("-v4")
    if action_script:
        argv += ["--action-script", action_script]
    return argv


def save_record(directory: str, record: dict[str, Any]) -> None:
    """Written through a directory fd with O_NOFOLLOW: a symlink planted in DIR (or
    DIR itself a symlink) is refused, never followed to overwrite another file."""
    dirfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fd = os.open(
            RECORD_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600, dir_fd=dirfd,
        )  # fmt: skip
    finally:
        os.close(dirfd)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(record, handle)


def load_record(directory: str, name: str) -> dict[str, Any]:
    """The record a dump saved; CheckpointError if there is none or it is another's."""
    try:
        with open(os.path.join(directory, RECORD_FILE), encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError) as err:
        raise CheckpointError(f"no checkpoint of {name} in {directory}: {err}") from None
    if not isinstance(record, dict) or record.get("name") != name:
        raise CheckpointError(f"the checkpoint in {directory} is not {name}'s")
    return record


def remove_dump(directory: str, made_dir: bool, before: set[str]) -> None:
    """After a failed dump: what it wrote goes (DIR too if the dump made it)."""
    if made_dir:
        shutil.rmtree(directory, ignore_errors=True)
        return
    try:
        names = set(os.listdir(directory))
    except OSError:
        return
    for entry in names - before:
        path = os.path.join(directory, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass


def clear_pidfile(directory: str) -> None:
    """Before a restore: a `restore.pid` already there (an earlier restore's, or one
    planted) goes, so the only pid read afterwards is the one this criu wrote."""
    try:
        os.unlink(os.path.join(directory, PIDFILE))
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        shutil.rmtree(os.path.join(directory, PIDFILE), ignore_errors=True)


def take_pid(directory: str) -> int | None:
    """The pid criu wrote to `restore.pid`, the file removed at once (None if none)."""
    path = os.path.join(directory, PIDFILE)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        with os.fdopen(fd, encoding="ascii") as handle:
            text = handle.read(32).strip()
    except (OSError, ValueError):
        text = ""
    try:
        os.unlink(path)
    except OSError:
        pass
    try:
        pid = int(text)
    except ValueError:
        return None
    return pid if pid > 1 else None


def kill_restored(pidfd: int) -> None:
    """After a failed restore: the tree criu left is killed through the pidfd opened
    when criu returned (never by a bare pid, which may name another process by now)."""
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except ProcessLookupError:
        pass
