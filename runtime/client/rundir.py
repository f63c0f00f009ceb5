"""The run directory of one lxcpath: locks, the daemon's sockets and records.

One directory per lxcpath under `/run/trio-lxc` (tmpfs, so it is empty after a
reboot, when no container can be running), named by a short hash of the lxcpath so
that the daemon's Unix socket path stays far below the 108-byte limit whatever the
lxcpath is. Mode 0700: only root reaches the control socket and the records.
`TRIO_LXC_RUNDIR` moves the root (tests use it to stay out of the system's way).

The key is the lxcpath with every symlink resolved: `-P /srv/lxc` and `-P
/var/lib/lxc` naming the same directory through a symlink must meet the same
daemon, the same container locks and the same records, or one of them could
destroy a container the other runs.

A daemon that exits idle removes its run directory (nothing of it is needed any
more), so the lock protocol must survive the lock file being unlinked: a daemon
takes the flock and then checks that the file it locked is still the one at the
path (same inode); if not, the file was removed by a daemon that was exiting, and
it starts over with a fresh directory.
"""

from __future__ import annotations

import _socket  # not `socket`, which imports `enum` and `selectors`: start-up time
import time

from runtime.client import lean_os as os  # not `os`: start-up time

DEFAULT_RUN_ROOT = "/run/trio-lxc"
LOCK_NAME = "daemon.lock"


def _lock_nb(fd: int) -> None:
    """flock(LOCK_EX | LOCK_NB); BlockingIOError when held. `fcntl` is imported here,
    not at the top: the commands that only read records (lxc-info) never lock."""
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def run_root() -> str:
    return os.environ.get("TRIO_LXC_RUNDIR", DEFAULT_RUN_ROOT)


def lxcpath_key(lxcpath: str) -> str:
    """The lxcpath as the run directory knows it: absolute, symlinks resolved."""
    return os.path.realpath(lxcpath)


#: (run root, lxcpath) -> run directory, fixed for this process (`pin_run_dir`).
_pinned: dict[tuple[str, str], str] = {}


def run_dir(lxcpath: str) -> str:
    """The run directory for an lxcpath (not created)."""
    if _pinned:
        pinned = _pinned.get((run_root(), lxcpath))
        if pinned is not None:
            return pinned
    return os.path.join(run_root(), path_digest(lxcpath_key(lxcpath)))


def pin_run_dir(lxcpath: str, directory: str) -> None:
    """Fix `lxcpath`'s run directory for the rest of this process: the daemon's.

    The daemon resolves its lxcpath once, when it starts, and serves that run
    directory until it exits (it must outlive a symlink changed meanwhile); without
    the pin every record it writes (two per start) resolved the symlinks and hashed
    the path again."""
    _pinned[(run_root(), lxcpath)] = directory


def path_digest(path: str) -> str:
    """64-bit FNV-1a of the path, in hex.

    Not a security boundary (the directory is root's, and holds a note of its
    lxcpath); chosen over hashlib because loading OpenSSL costs every client
    command milliseconds at start-up.
    """
    value = 0xCBF29CE484222325
    for byte in path.encode():
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def ensure_run_dir(lxcpath: str) -> str:
    """Create the run directory (mode 0700) with a note of which lxcpath it serves."""
    path = run_dir(lxcpath)
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    note = os.path.join(path, "lxcpath")
    if not os.path.exists(note):
        tmp = f"{note}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(lxcpath_key(lxcpath) + "\n")
        os.rename(tmp, note)
    return path


def records_dir(lxcpath: str) -> str:
    """Where the daemon keeps one runtime record per live container."""
    return os.path.join(run_dir(lxcpath), "containers")


def acquire_daemon_lock(lxcpath: str, *, wait: float = 10.0) -> tuple[int, str] | None:
    """The daemon's single-instance lock: (locked fd, run dir), or None if a daemon serves.

    A lock held by a daemon that answers on its control socket means that daemon
    serves the lxcpath: None at once. A lock held by one that does not answer is a
    daemon on its way out (it stops listening first): wait for it, at most `wait`
    seconds. The locked file must still be the one at the path: an exiting daemon
    unlinks it (see the module docstring).
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            rundir = ensure_run_dir(lxcpath)
            path = os.path.join(rundir, LOCK_NAME)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            continue  # the directory went away under us: an exiting daemon removed it
        try:
            _lock_nb(fd)
        except BlockingIOError:
            os.close(fd)
            if _answers(os.path.join(rundir, "control.sock")) or time.monotonic() > deadline:
                return None
            time.sleep(0.02)
            continue
        if same_file(fd, path):
            return fd, rundir
        os.close(fd)  # removed by the daemon that held it: start over


def same_file(fd: int, path: str) -> bool:
    try:
        at_path = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (at_path.st_dev, at_path.st_ino)


def _answers(path: str) -> bool:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError:
        return False
    finally:
        sock.close()
    return True


def remove_pid_file(path: str) -> None:
    """Unlink the daemon's pid file if it is still ours (a successor may have its own
    there once our run directory was removed)."""
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read().strip() != str(os.getpid()):
                return
        os.unlink(path)
    except (OSError, ValueError):
        pass


def remove_run_dir(rundir: str) -> bool:
    """Remove a run directory nothing needs any more; call it holding the daemon lock.

    Kept (False) while it holds a container record (a re-adoption needs it) or a
    spawner listens in it (it has children, or exits to hand over), or a command
    holds a container lock. Otherwise everything but the lock file goes first, the
    lock file last, so a daemon starting meanwhile either waits for the lock or
    finds its file unlinked and starts over.
    """
    if _holds_records(rundir):
        return False
    if os.path.join(rundir, "spawner.sock") in _listening_unix_paths():
        return False
    locks = os.path.join(rundir, "locks")
    if not all(_unlink_unlocked(os.path.join(locks, entry)) for entry in _listdir(locks)):
        return False
    records = os.path.join(rundir, "containers")
    for entry in _listdir(records):  # spare records (runtime.client.records), debris
        try:
            os.unlink(os.path.join(records, entry))
        except FileNotFoundError:
            pass
        except OSError:
            return False  # not ours to remove (a directory someone made): kept
    for sub in ("locks", "containers"):
        try:
            os.rmdir(os.path.join(rundir, sub))
        except FileNotFoundError:
            pass
        except OSError:
            return False  # a command is taking a container lock right now
    for entry in _listdir(rundir):
        if entry == LOCK_NAME:
            continue
        try:
            os.unlink(os.path.join(rundir, entry))
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            return False
    try:
        os.unlink(os.path.join(rundir, LOCK_NAME))
        os.rmdir(rundir)
    except FileNotFoundError:
        pass
    except OSError:
        return False  # something new appeared: a daemon is starting; it is its directory now
    return True


def tidy_run_dir(lxcpath: str) -> None:
    """After a command used the run directory without a daemon (a container lock for
    lxc-create, lxc-destroy, lxc-copy): remove it unless a daemon holds it or it is
    needed (`remove_run_dir`)."""
    rundir = run_dir(lxcpath)
    path = os.path.join(rundir, LOCK_NAME)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        return
    try:
        _lock_nb(fd)
        if same_file(fd, path):
            remove_run_dir(rundir)
    except BlockingIOError:
        pass  # a daemon serves the lxcpath: the directory is its to remove
    finally:
        os.close(fd)


def sweep_vanished(root: str | None = None) -> list[str]:
    """Remove the run directories of lxcpaths that no longer exist; returns them.

    They are what killed daemons of deleted lxcpaths left (benchmarks and tests make
    and delete lxcpaths by the dozen). Only a directory that no daemon holds, that
    keeps no container record and where no spawner listens is removed, under its
    lock, with the same protocol as an idle daemon's own (`remove_run_dir`).
    """
    root = root or run_root()
    listening = _listening_unix_paths()
    removed = []
    for entry in _listdir(root):
        directory = os.path.join(root, entry)
        try:
            with open(os.path.join(directory, "lxcpath"), encoding="utf-8") as handle:
                lxcpath = handle.read().strip()
        except OSError:
            continue
        if not lxcpath or os.path.exists(lxcpath) or os.path.join(directory, "spawner.sock") in listening:
            continue
        if _holds_records(directory):
            continue
        try:
            fd = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            continue
        try:
            _lock_nb(fd)
            if same_file(fd, os.path.join(directory, LOCK_NAME)) and remove_run_dir(directory):
                removed.append(directory)
        except BlockingIOError:
            pass
        finally:
            os.close(fd)
    return removed


def _holds_records(rundir: str) -> bool:
    """Whether a container record (`NAME.json`) is in the run directory; the spares
    of records (runtime.client.records) and other debris do not count."""
    return any(entry.endswith(".json") for entry in _listdir(os.path.join(rundir, "containers")))


def _listening_unix_paths() -> set[str]:
    """Paths of bound Unix sockets (/proc/net/unix), without connecting to any."""
    try:
        with open("/proc/net/unix", encoding="utf-8", errors="replace") as handle:
            return {line.split(None, 7)[7].strip() for line in handle if len(line.split(None, 7)) == 8}
    except OSError:
        return set()


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


def _unlink_unlocked(path: str) -> bool:
    """Unlink a container lock file if nobody holds it (taken, unlinked, released)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    try:
        try:
            _lock_nb(fd)
        except BlockingIOError:
            return False
        if same_file(fd, path):
            os.unlink(path)
        return True
    finally:
        os.close(fd)
