"""The run directory of one lxcpath: locks now, the daemon's socket and records later.

One directory per lxcpath under `/run/trio-lxc` (tmpfs, so it is empty after a
reboot, when no container can be running), named by a short hash of the lxcpath so
that the daemon's Unix socket path stays far below the 108-byte limit whatever the
lxcpath is. Mode 0700: only root reaches the control socket and the records.
`TRIO_LXC_RUNDIR` moves the root (tests use it to stay out of the system's way).
"""

from __future__ import annotations

import os

DEFAULT_RUN_ROOT = "/run/trio-lxc"


def run_root() -> str:
    return os.environ.get("TRIO_LXC_RUNDIR", DEFAULT_RUN_ROOT)


def run_dir(lxcpath: str) -> str:
    """The run directory for an lxcpath (not created)."""
    return os.path.join(run_root(), path_digest(os.path.abspath(lxcpath)))


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
        with open(note, "w", encoding="utf-8") as handle:
            handle.write(os.path.abspath(lxcpath) + "\n")
    return path


def records_dir(lxcpath: str) -> str:
    """Where the daemon keeps one runtime record per live container."""
    return os.path.join(run_dir(lxcpath), "containers")
