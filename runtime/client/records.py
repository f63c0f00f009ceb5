"""Runtime records: what the daemon knows about each live container, on disk.

Written atomically (write, then swapped in: `_replace`) under `<rundir>/containers/<name>.json`
on every transition, so a daemon that was killed can re-adopt what still runs and
clean up what died, and so the commands (`lxc-info`, `lxc-ls`) can read states
without a round trip (see runtime.client.status, which reads the same fields). Removed
when the container reaches STOPPED (its file is kept, under a spare's name: see
"spares" below).

A record is a `ContainerRecord`, written as one JSON object with `"version": 2`.
Version 2 keeps every field of version 1 under the same name (the commands read
them directly) and names the start's command line `command`: what the user gave,
possibly empty (the daemon chooses pid 1 from it and the config at every start,
runtime.spawn.start_spec). Version 1 had no `version` and kept pid 1's resolved argv as
`argv`; a version-1 record is read as version 2 with that argv as the command,
which starts the same pid 1. A record of a later version is refused
(`RecordError`): a daemon never guesses at fields it does not know.

No fsync: a record describes processes, and no process outlives the machine, so
after a crash of the host every record is stale whether it reached the disk or
not (a daemon checks each pid and start time before it believes one). The swap
keeps a record whole against a killed daemon; an fsync would only block the
daemon's loop at every transition of every container, before the bus publishes
it (0.3 ms idle on this machine's ext4 /run, more under load; 100 containers x 3
cycles ran 10-20% faster without it, bench/bus_runtime.py).

Standard library only: the client commands import this module.
"""

from __future__ import annotations

import errno
import json

from runtime.client import lean_os as os  # not `os`: start-up time
from runtime.client.rundir import records_dir
from runtime.client.status import process_start_time


def record_path(lxcpath: str, name: str) -> str:
    return os.path.join(records_dir(lxcpath), name + ".json")


VERSION = 2


class RecordError(ValueError):
    """A record this daemon cannot read (garbled, or of a later version)."""


class ContainerRecord:
    """One live container as the daemon records it (see the module docstring).

    Treated as immutable: the supervisor makes a new one for every write.
    """

    __slots__ = (
        "name", "state", "mode", "command", "config_path", "config_text", "defines", "pid",
        "pid_start_time", "daemon_pid", "daemon_start_time", "cgroups", "cgroup_limits", "net",
        "attach",
    )  # fmt: skip

    def __init__(
        self,
        *,
        name: str,
        state: str,
        mode: str = "system",
        command: tuple[str, ...] = (),
        config_path: str | None = None,
        config_text: str | None = None,
        defines: tuple[str, ...] = (),
        pid: int | None = None,
        pid_start_time: int | None = None,
        daemon_pid: int | None = None,
        daemon_start_time: int | None = None,
        cgroups: dict[str, str] | None = None,
        cgroup_limits: dict[str, str] | None = None,
        net: list[dict[str, object]] | None = None,
        attach: dict[str, object] | None = None,
    ) -> None:
        self.name = name
        self.state = state
        self.mode = mode
        self.command = tuple(command)
        self.config_path = config_path
        self.config_text = config_text
        self.defines = tuple(defines)
        self.pid = pid
        self.pid_start_time = pid_start_time
        self.daemon_pid = daemon_pid
        self.daemon_start_time = daemon_start_time
        self.cgroups = cgroups
        self.cgroup_limits = cgroup_limits
        self.net = net
        self.attach = attach

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ContainerRecord):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    def __repr__(self) -> str:
        return f"ContainerRecord(name={self.name!r}, state={self.state!r}, pid={self.pid!r})"

    def to_json(self) -> dict[str, object]:
        """The object written to disk (and kept in a checkpoint directory)."""
        data: dict[str, object] = {slot: getattr(self, slot) for slot in self.__slots__}
        data["command"] = list(self.command)
        data["defines"] = list(self.defines)
        data["version"] = VERSION
        return {key: value for key, value in data.items() if value is not None or key == "pid"}

    @classmethod
    def from_json(cls, data: object) -> ContainerRecord:
        """A record read back; RecordError if it is not one this daemon understands."""
        if not isinstance(data, dict):
            raise RecordError("a record must be a JSON object")
        version = data.get("version", 1)
        if version not in (1, VERSION):
            raise RecordError(f"record version {version!r} is not understood (this daemon writes {VERSION})")
        command = data.get("command") if version == VERSION else data.get("argv")
        name, state = data.get("name"), data.get("state")
        if not isinstance(name, str) or not isinstance(state, str):
            raise RecordError("a record needs a name and a state")
        return cls(
            name=name,
            state=state,
            mode=_text(data.get("mode")) or "system",
            command=_texts(command),
            config_path=_text(data.get("config_path")),
            config_text=_text(data.get("config_text")),
            defines=_texts(data.get("defines")),
            pid=_int(data.get("pid")),
            pid_start_time=_int(data.get("pid_start_time")),
            daemon_pid=_int(data.get("daemon_pid")),
            daemon_start_time=_int(data.get("daemon_start_time")),
            cgroups=_paths(data.get("cgroups")),
            cgroup_limits=_paths(data.get("cgroup_limits")),
            net=[dict(e) for e in data["net"] if isinstance(e, dict)] if isinstance(data.get("net"), list) else None,
            attach=dict(data["attach"]) if isinstance(data.get("attach"), dict) else None,
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _texts(value: object) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _paths(value: object) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    return {str(k): str(v) for k, v in value.items()}


def write_record(lxcpath: str, name: str, record: ContainerRecord) -> None:
    """Replace the container's record atomically (write a spare, swap it in).

    No fsync: a record describes processes that cannot outlive the machine, and the
    swap alone is atomic for every reader and across a crash of the daemon (the
    page cache survives it). After a power loss the record is stale whatever it
    says (the daemon drops records whose init is gone). An fsync per transition
    cost each start three disk flushes (0.3 to several ms each on ext4).
    """
    directory = records_dir(lxcpath)  # once: it resolves the lxcpath's symlinks
    path = os.path.join(directory, name + ".json")
    data = json.dumps(record.to_json(), sort_keys=True).encode()
    fd, spare = _writable_spare(path)
    try:
        written = os.write(fd, data)
        if written != len(data):  # never swap in a record cut short (a full disk)
            raise OSError(errno.ENOSPC, f"{spare}: {written} of {len(data)} bytes written")
        os.ftruncate(fd, len(data))  # a reused spare may be longer
    finally:
        os.close(fd)  # ends the lease: an open that raced us goes on, and reads it whole
    _replace(spare, path)


# -- spares ------------------------------------------------------------------------------
#
# A transition writes the new record into a spare file and swaps it in; the old record,
# now at the spare's name, is the next transition's spare, and STOPPED parks the record
# itself as a second spare. A container that starts and stops again and again makes and
# deletes no file: on ext4 without a journal (this project's machine's /run) every new
# file walks past the inodes deleted in the last ~30 s (`recently_deleted`), which made
# each of a start's three records cost 0.2-0.35 ms under a run of starts, against ~7 µs
# to rewrite a spare. A spare is written only under a write lease (fcntl F_SETLEASE),
# which the kernel grants only when no other open file refers to it: a reader that
# opened the record before it became a spare keeps reading the old record whole, and the
# spare is replaced by a new file. Spares are named after the record and the daemon's pid
# (`NAME.json.PID.tmp`, `.tmp2`); remove_container_records, remove_leftovers and
# runtime.client.rundir.remove_run_dir delete them.

#: None until the first lease is asked for; False where the filesystem (or
#: fs.leases-enable = 0) refuses leases: then no spare is kept, every record is a new file.
_leases_work: bool | None = None


def _spare_names(path: str) -> tuple[str, str]:
    pid = os.getpid()
    return f"{path}.{pid}.tmp", f"{path}.{pid}.tmp2"


def _writable_spare(path: str) -> tuple[int, str]:
    """An fd to write the next record into, and its name: a spare nobody else has
    open (under a write lease, held until the fd is closed), else a new file."""
    first, second = _spare_names(path)
    if _leases_work is not False:
        for spare in (first, second):
            try:
                # O_NONBLOCK: an open that would wait for someone else's lease on the
                # spare to break (up to fs.lease-break-time) fails at once instead.
                fd = os.open(spare, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            except BlockingIOError:
                fd = -1
            if fd >= 0 and _leased(fd):
                return fd, spare
            if fd >= 0:
                os.close(fd)
            _unlink_quietly(spare)  # a reader still has it: it keeps the inode, we make a new one
    else:
        _unlink_quietly(first)  # never write into an inode a reader may hold
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(first, flags, 0o600)
    except FileNotFoundError:  # the first record of this run directory
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(first, flags, 0o600)
    return fd, first


def _leased(fd: int) -> bool:
    """Take a write lease on `fd`: False while another open file refers to its inode
    (EAGAIN), or where leases are refused (then none is asked for again)."""
    global _leases_work
    import fcntl  # the daemon alone writes records
    import signal

    try:
        # A lease break (an open racing our write, which waits the few µs until we
        # close) signals the holder: SIGURG, ignored by default, not SIGIO, which kills.
        fcntl.fcntl(fd, fcntl.F_SETSIG, signal.SIGURG)  # before the lease
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
    except OSError as err:
        if err.errno != errno.EAGAIN:
            _leases_work = False  # EINVAL (no leases on this filesystem), EACCES, ...
        return False
    _leases_work = True
    return True


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


#: False once the filesystem refused RENAME_EXCHANGE: plain renames from then on.
_exchange_works = True


def _replace(tmp: str, path: str) -> None:
    """Put `tmp` in place of `path` atomically (a reader finds the old record or the
    new one, never none).

    An existing record is swapped with the new one (renameat2 RENAME_EXCHANGE); the
    old one, now named `tmp`, is the next write's spare (removed where leases are
    refused). Not renamed over: ext4 (what /run is on some hosts, and on the
    project's machine) starts writing the new file's data out when a rename
    replaces a file (its `auto_da_alloc` guard for editors that do not fsync):
    40-150 µs per record against ~10 for the swap, three records per start.
    The first record of a start has nothing to swap with: a plain rename.
    """
    global _exchange_works
    if _exchange_works:
        from runtime.kernel import linux  # the daemon alone writes records

        try:
            linux.exchange_paths(tmp, path)
        except OSError as err:
            if err.errno == errno.ENOENT:  # no record yet
                os.rename(tmp, path)
                return
            if err.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
            _exchange_works = False  # a filesystem without it (or an old kernel)
        else:
            if _leases_work is False:
                os.unlink(tmp)
            return
    os.rename(tmp, path)


def remove_record(lxcpath: str, name: str, *, keep_spares: bool = True) -> None:
    """The container is STOPPED: its record goes (parked as a spare, see above).

    `keep_spares` False (a container not defined in the lxcpath: a volatile config, an
    undefined name) removes the spares too: such a name may never start again, and
    spares kept for each one would pile up in a daemon that never goes idle."""
    path = record_path(lxcpath, name)
    if not keep_spares:
        for spare in (path, *_spare_names(path)):
            _unlink_quietly(spare)
        return
    if _leases_work:  # spares are kept (not before this daemon's first lease)
        from runtime.kernel import linux  # the daemon alone removes records

        for spare in reversed(_spare_names(path)):
            try:
                linux.rename_noreplace(path, spare)
                return
            except FileExistsError:
                continue
            except FileNotFoundError:
                return  # no record
            except OSError:
                break  # RENAME_NOREPLACE refused here: removed
    _unlink_quietly(path)


def remove_container_records(lxcpath: str, name: str) -> None:
    """Everything the run directory keeps about a container that is gone for good
    (destroyed or renamed, and not running): its record, any other file named after
    it, and its lock file (runtime.client.locks re-checks the file it locked, so unlinking
    one that is held, by our caller, is safe)."""
    directory = records_dir(lxcpath)
    for entry in _listdir(directory):
        # NAME.json, NAME.status, its spares NAME.json.PID.tmp(2): not another
        # container's ("NAME.x.json").
        rest = entry[len(name) + 1 :].split(".") if entry.startswith(name + ".") else []
        if rest in (["json"], ["status"]) or (len(rest) == 3 and rest[0] == "json" and rest[2] in ("tmp", "tmp2")):
            try:
                os.unlink(os.path.join(directory, entry))
            except FileNotFoundError:
                pass
    from runtime.client.locks import lock_path

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


def read_records(lxcpath: str) -> dict[str, ContainerRecord | RecordError]:
    """Every record in the run directory, by container name: the record, or why it
    cannot be read (a later version: the caller leaves it alone). Files that are not
    records at all (unreadable, not JSON) are skipped."""
    directory = records_dir(lxcpath)
    found: dict[str, ContainerRecord | RecordError] = {}
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return found
    for entry in names:
        if not entry.endswith(".json"):
            continue
        try:
            with open(os.path.join(directory, entry), encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            continue
        try:
            found[entry[:-5]] = ContainerRecord.from_json(data)
        except RecordError as err:
            found[entry[:-5]] = err
    return found


def pid_start_time(pid: int) -> int | None:
    """The start time that goes with a recorded pid, so a reused pid is never
    mistaken for ours."""
    return process_start_time(pid)
