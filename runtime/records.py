"""Runtime records: what the daemon knows about each live container, on disk.

Written atomically (write, fsync, rename) under `<rundir>/containers/<name>.json`
on every transition, so a daemon that was killed can re-adopt what still runs and
clean up what died, and so the commands (`lxc-info`, `lxc-ls`) can read states
without a round trip (see runtime.status, which reads the same fields). Removed
when the container reaches STOPPED.
"""

from __future__ import annotations

import json
import os

from runtime.rundir import records_dir
from runtime.status import process_start_time


def record_path(lxcpath: str, name: str) -> str:
    return os.path.join(records_dir(lxcpath), name + ".json")


def write_record(lxcpath: str, name: str, record: dict[str, object]) -> None:
    """Replace the container's record atomically."""
    directory = records_dir(lxcpath)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = record_path(lxcpath, name)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, json.dumps(record, sort_keys=True).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def remove_record(lxcpath: str, name: str) -> None:
    try:
        os.unlink(record_path(lxcpath, name))
    except FileNotFoundError:
        pass


def remove_container_records(lxcpath: str, name: str) -> None:
    """Everything the run directory keeps about a container that is gone for good
    (destroyed or renamed, and not running): its record, any other file named after
    it, and its lock file (runtime.locks re-checks the file it locked, so unlinking
    one that is held, by our caller, is safe)."""
    directory = records_dir(lxcpath)
    for entry in _listdir(directory):
        # NAME.json, NAME.status, NAME.json.PID.tmp: not another container's ("NAME.x.json").
        rest = entry[len(name) + 1 :].split(".") if entry.startswith(name + ".") else []
        if rest in (["json"], ["status"]) or (len(rest) == 3 and rest[0] == "json" and rest[2] == "tmp"):
            try:
                os.unlink(os.path.join(directory, entry))
            except FileNotFoundError:
                pass
    from runtime.locks import lock_path

    try:
        os.unlink(lock_path(lxcpath, name))
    except FileNotFoundError:
        pass


def remove_leftovers(lxcpath: str, live: set[str]) -> None:
    """After a re-adoption: drop every file in the records directory that is not the
    record of a live container (records of the dead are gone by then; what is left
    is debris: half-written temporaries, status files of destroyed containers)."""
    directory = records_dir(lxcpath)
    for entry in _listdir(directory):
        if entry.endswith(".json") and entry[:-5] in live:
            continue
        try:
            os.unlink(os.path.join(directory, entry))
        except (FileNotFoundError, IsADirectoryError):
            pass


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


def read_records(lxcpath: str) -> dict[str, dict[str, object]]:
    """Every record in the run directory, by container name (unreadable ones skipped)."""
    directory = records_dir(lxcpath)
    found: dict[str, dict[str, object]] = {}
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return found
    for entry in names:
        if not entry.endswith(".json"):
            continue
        try:
            with open(os.path.join(directory, entry), encoding="utf-8") as handle:
                found[entry[:-5]] = json.load(handle)
        except (OSError, ValueError):
            continue
    return found


def pid_identity(pid: int) -> dict[str, object]:
    """A pid with its start time, so a reused pid is never mistaken for ours."""
    return {"pid": pid, "pid_start_time": process_start_time(pid)}
