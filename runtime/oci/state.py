"""The OCI side of a container's directory in `--root` (the lxcpath).

`<root>/<id>/config` is the LXC config the translation made (the daemon starts
it like any other container), `<root>/<id>/oci.json` what only the OCI command
knows (bundle, creation time, annotations, hooks, the keeper's pid), and
`<root>/<id>/exec.fifo` exists from `create` until `start` (the "created" state:
runtime.spawn.exec_gate). The status is computed, never stored: the daemon's
state, plus the FIFO to tell "created" from "running".

Nothing here follows a symlink: the container's directory is opened with
O_NOFOLLOW and every file in it through that fd, new files are made with
O_EXCL, oci.json is replaced by a rename. A link planted as the directory, as
oci.json or as the FIFO (by whatever else can write under the root) therefore
never makes the runtime read, write or open a host file in their place.

Standard library only (the OCI command is a client like the lxc-* ones).
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import time

FIFO = "exec.fifo"
TERMINAL = "exec.terminal"
STATE_FILE = "oci.json"
CONFIG = "config"

#: runc's rule for container ids (ASCII: Go's \w; a whole match, no trailing newline).
_ID = re.compile(r"[A-Za-z0-9_+\-.]+")
#: The largest oci.json read: what create writes comes from a config.json of at
#: most 16 MiB (runtime.oci.bundle_files.MAX_JSON), so twice that is never reached.
_MAX_STATE = 32 << 20

#: daemon state -> OCI status (RUNNING is "created" while the FIFO exists).
_STATUS = {
    "STARTING": "creating",
    "RUNNING": "running",
    "FREEZING": "paused",
    "FROZEN": "paused",
    "THAWED": "running",
    "STOPPING": "stopped",
    "ABORTING": "stopped",
    "STOPPED": "stopped",
}


class NotFound(Exception):
    """No container of that id under the root."""


class Damaged(Exception):
    """The container's oci.json cannot be read (the message says why, naming it)."""


def check_id(container_id: str) -> str:
    if not _ID.fullmatch(container_id) or container_id in (".", "..") or len(container_id) > 64:
        raise ValueError(f"invalid container id format: {container_id!r}")
    return container_id


def open_directory(root: str, container_id: str) -> int:
    """An fd on `<root>/<id>/` (never through a symlink); NotFound otherwise."""
    try:
        return os.open(
            directory(root, container_id), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        )
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            raise NotFound(container_id) from None
        raise


def is_own_directory(root: str, container_id: str) -> bool:
    """`<root>/<id>` is a real directory (not a symlink to one)."""
    try:
        return stat.S_ISDIR(os.lstat(directory(root, container_id)).st_mode)
    except OSError:
        return False


def create_file(dirfd: int, name: str, text: str, mode: int = 0o600) -> None:
    """A new file in the container's directory (O_EXCL: nothing there is reused).

    Root's alone: the config holds process.env (often secrets), and the directory
    is 0711 (searchable, for a mapped init) under a root that may be too."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dirfd)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def make_fifo(dirfd: int, owner: int) -> None:
    """The exec FIFO: only `owner` (the init's host uid when it opens it) and root.

    runc makes it 0622: any local user could then write the byte that makes
    `start` report a start while the init still waits."""
    os.mkfifo(FIFO, 0o600, dir_fd=dirfd)
    os.chown(FIFO, owner, -1, dir_fd=dirfd, follow_symlinks=False)


def open_fifo(root: str, container_id: str) -> int:
    """The FIFO opened for reading (non-blocking): FileNotFoundError when it is
    gone, OSError naming it when it is not a FIFO (a symlink is not one)."""
    dirfd = open_directory(root, container_id)
    try:
        try:
            fd = os.open(FIFO, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise OSError(errno.EINVAL, f"{FIFO} is not a FIFO") from None
            raise
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, f"{FIFO} is not a FIFO")
        return fd
    finally:
        os.close(dirfd)


def remove_fifo(root: str, container_id: str) -> None:
    dirfd = open_directory(root, container_id)
    try:
        os.unlink(FIFO, dir_fd=dirfd)
    finally:
        os.close(dirfd)


def check_root(root: str) -> None:
    """ValueError when `--root` exists but others could write to it: whoever can make
    `<root>/<id>/` can hand the runtime (root) an LXC config and hooks to run."""
    try:
        info = os.stat(root)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        raise ValueError(f"--root: {root} is not a directory")
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise ValueError(f"--root: {root} is writable by other users or not owned by this user (refused)")


def directory(root: str, container_id: str) -> str:
    return os.path.join(root, container_id)


def rfc3339(seconds: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{whole}.{int((seconds % 1) * 1e9):09d}Z"


def write(root: str, container_id: str, data: dict[str, object]) -> None:
    """oci.json, atomically (a new file, fsync, rename over the old one)."""
    tmp = STATE_FILE + ".tmp"
    dirfd = open_directory(root, container_id)
    try:
        try:
            os.unlink(tmp, dir_fd=dirfd)  # an interrupted write's (or a planted link: unlinked, not followed)
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dirfd)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, STATE_FILE, src_dir_fd=dirfd, dst_dir_fd=dirfd)
    finally:
        os.close(dirfd)


def read(root: str, container_id: str) -> dict[str, object]:
    """oci.json; NotFound without one, Damaged when it cannot be read as one."""
    dirfd = open_directory(root, container_id)
    try:
        fd = os.open(STATE_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dirfd)
    except FileNotFoundError:
        raise NotFound(container_id) from None
    except OSError as err:
        reason = "it is a symlink" if err.errno == errno.ELOOP else err.strerror
        raise Damaged(f'container "{container_id}": its state file {STATE_FILE} cannot be read: {reason}') from None
    finally:
        os.close(dirfd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Damaged(f'container "{container_id}": its state file {STATE_FILE} is not a regular file')
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(_MAX_STATE + 1)
        data = json.loads(raw.decode("utf-8")) if len(raw) <= _MAX_STATE else None
    except (ValueError, RecursionError, OSError) as err:
        raise Damaged(f'container "{container_id}": its state file {STATE_FILE} cannot be read: {err}') from None
    finally:
        os.close(fd)
    if not isinstance(data, dict):
        raise Damaged(f'container "{container_id}": its state file {STATE_FILE} is not a JSON object')
    return data


def status(root: str, container_id: str, daemon_state: str | None) -> str:
    """The OCI status from the daemon's state and the exec FIFO."""
    oci = _STATUS.get(daemon_state or "STOPPED", "stopped")
    if oci == "running" and os.path.lexists(os.path.join(directory(root, container_id), FIFO)):
        return "created"
    return oci


def document(
    data: dict[str, object], container_id: str, status_text: str, pid: int | None
) -> dict[str, object]:
    """The state JSON of `runc state` (and of the hooks' stdin)."""
    doc: dict[str, object] = {
        "ociVersion": data.get("oci_version") or "1.0.2",
        "id": container_id,
        "pid": pid if status_text not in ("stopped",) and pid else 0,
        "status": status_text,
        "bundle": data.get("bundle") or "",
        "rootfs": data.get("rootfs") or "",
        "created": data.get("created") or "",
        "owner": "",
    }
    annotations = data.get("annotations")
    if annotations:
        doc["annotations"] = annotations
    return doc
