"""Check a container's config without parsing it when nothing it was made of changed.

Why: `lxc-info` reports a config that does not load, as LXC does, but only needs
to know that it loads. Parsing costs it more than its whole budget above the
interpreter's start-up: the key table and its checkers (with the network types)
are ~1.5 ms to import, and an `ipv4.address` line loads `ipaddress` (~3 ms).

How: after a full parse that succeeded, a stamp (`<rundir>/<name>.config-ok`, root's
0700 run directory) records the identity of everything the result depended on:
each file read and each path an `lxc.include` named (device, inode, size, mtime,
ctime, mode; for a path with nothing there, that and its parent directory, whose
times change when something appears in it), and the source files of the parser and
its key table (an upgrade changes the rules; another install of trio-lxc, whose
rules may differ, does not trust this one's stamps). The next check stats those paths;
if every one is as recorded, the config is the one that loaded, and nothing is
parsed. Anything else (no stamp, another config path, a changed or unreadable
entry, a stamp that does not decode) runs the full parse, which raises the very
ConfigError it always did, and writes a new stamp when the parse succeeds.

A change made while the parse ran could be missed by a stat taken after it (same
size, and a ctime within the same clock tick): a stamp is only written when every
entry's mtime and ctime are older than the parse's start by a margin far above the
kernel's timestamp granularity, the rule git uses for its "racily clean" index.

The stamp is written only while the container runs (its record keeps the run
directory, see runtime.client.rundir.remove_run_dir) and only if the run directory
exists; a failure to write is ignored (the next command parses again).
"""

from __future__ import annotations

import sys
import time

from runtime.client import lean_os as os  # not `os`: start-up time
from runtime.client.rundir import run_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runtime.config.parser import RawConfig

VERSION = 1
SUFFIX = ".config-ok"
#: Which copy of the rules made a stamp: two installs (a release and a checkout)
#: share /run/trio-lxc, and one's rules must not vouch for the other's.
CODE = os.path.dirname(os.path.abspath(__file__))
#: How much older than the parse's start every entry must be (ns): the kernel stamps
#: files with its coarse clock, at most a tick (1-10 ms) behind.
RACY_MARGIN_NS = 100_000_000
#: The modules whose rules decide whether a config loads.
RULE_MODULES = ("runtime.config", "runtime.net.types", "runtime.client.errors")

Entry = list[object]


def stamp_path(lxcpath: str, name: str) -> str:
    return os.path.join(run_dir(lxcpath), name + SUFFIX)


def check_config(path: str, lxcpath: str, name: str, *, running: bool) -> None:
    """Raise the ConfigError `parse_file(path)` raises, or return if it loads.

    The stamp of `name` in `lxcpath`'s run directory spares the parse when it matches;
    a full parse that succeeds writes one if the container is `running`."""
    path = os.path.abspath(path)
    stamp = stamp_path(lxcpath, name)
    if _matches(stamp, path):
        return
    from runtime.config.parser import parse_file

    started = time.time_ns()
    config = parse_file(path)
    if running:
        _write(stamp, path, config, started)


def _identity(path: str) -> Entry:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return [path]
    return [path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode]


def _matches(stamp: str, path: str) -> bool:
    try:
        with open(stamp, "rb") as handle:
            text = handle.read()
    except OSError:
        return False
    from bus.wire_json import loads

    try:
        data = loads(text.decode("utf-8", "surrogateescape"))
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return False
        if data.get("config") != path or data.get("code") != CODE:
            return False
        entries = data["entries"]
        if not isinstance(entries, list) or not entries:
            return False
        for entry in entries:
            if not isinstance(entry, list) or not entry or not isinstance(entry[0], str):
                return False
            if _identity(entry[0]) != entry:
                return False
    except (ValueError, KeyError, OSError, UnicodeError):
        return False
    return True


def _rule_files() -> list[str]:
    files = []
    for module_name, module in list(sys.modules.items()):
        if any(module_name == p or module_name.startswith(p + ".") for p in RULE_MODULES):
            source = getattr(module, "__file__", None)
            if isinstance(source, str):
                files.append(source)
    return sorted(files)


def entries_of(config: RawConfig) -> list[Entry]:
    """The identity of every path the parse of `config` depended on (see the module
    docstring), the parser's own sources included."""
    paths: list[str] = []
    for item in [*config.files, *config.includes, *_rule_files()]:
        if item not in paths:
            paths.append(item)
    entries = []
    for item in paths:
        entry = _identity(item)
        entries.append(entry)
        if len(entry) == 1:  # nothing there: what would make it appear is its parent's change
            parent = _identity(os.path.dirname(item.rstrip("/")) or "/")
            if parent not in entries:
                entries.append(parent)
    return entries


def _racy(entries: list[Entry], started: int) -> bool:
    limit = started - RACY_MARGIN_NS
    for entry in entries:
        if len(entry) > 1:
            mtime, ctime = entry[4], entry[5]
            if not isinstance(mtime, int) or not isinstance(ctime, int) or max(mtime, ctime) >= limit:
                return True
    return False


def _write(stamp: str, path: str, config: RawConfig, started: int) -> None:
    entries = entries_of(config)
    if _racy(entries, started) or not os.path.isdir(os.path.dirname(stamp)):
        return
    from bus.wire_json import dumps

    text = dumps({"version": VERSION, "config": path, "code": CODE, "entries": entries})
    temporary = f"{stamp}.{os.getpid()}.tmp"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, text.encode("utf-8", "surrogateescape"))
        finally:
            os.close(fd)
        os.rename(temporary, stamp)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass
