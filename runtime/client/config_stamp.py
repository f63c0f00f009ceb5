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

`lxc-info -c KEY` needs values, not only a yes: the stamp also keeps the text of
every key asked since the files last changed (`config_answers`). An answer is a
function of the files and of the code that computes it (`cli.lxc_info` is one of
the rule modules for that reason), both of which the stamp's entries pin.
"""

from __future__ import annotations

import sys
import time

from runtime.client import lean_os as os  # not `os`: start-up time
from runtime.client.rundir import run_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from runtime.config.parser import RawConfig

VERSION = 1
SUFFIX = ".config-ok"
#: Which copy of the rules made a stamp: two installs (a release and a checkout)
#: share /run/trio-lxc, and one's rules must not vouch for the other's.
CODE = os.path.dirname(os.path.abspath(__file__))
#: How much older than the parse's start every entry must be (ns): the kernel stamps
#: files with its coarse clock, at most a tick (1-10 ms) behind.
RACY_MARGIN_NS = 100_000_000
#: The modules whose rules decide whether a config loads, and what `-c` prints of it.
RULE_MODULES = ("runtime.config", "runtime.net.types", "runtime.client.errors", "cli.lxc_info")
#: At most this many `-c` answers are kept in a stamp (the first ones asked).
MAX_ANSWERS = 256

Entry = list[object]


def stamp_path(lxcpath: str, name: str) -> str:
    return os.path.join(run_dir(lxcpath), name + SUFFIX)


def check_config(path: str, lxcpath: str, name: str, *, running: bool) -> None:
    """Raise the ConfigError `parse_file(path)` raises, or return if it loads.

    The stamp of `name` in `lxcpath`'s run directory spares the parse when it matches;
    a full parse that succeeds writes one if the container is `running`."""
    path = os.path.abspath(path)
    stamp = stamp_path(lxcpath, name)
    if _load(stamp, path) is not None:
        return
    from runtime.config.parser import parse_file

    started = time.time_ns()
    config = parse_file(path)
    if running:
        _write(stamp, path, config, started)


def config_answers(
    path: str,
    lxcpath: str,
    name: str,
    keys: list[str],
    answer: Callable[[RawConfig, str], str | None],
    *,
    running: bool,
) -> list[str | None]:
    """`answer(config, key)` for each of `keys` (`lxc-info -c`): from the stamp when it
    matches and holds them all, else from a full parse (raising its ConfigError), whose
    answers join the stamp's when the container is `running`."""
    path = os.path.abspath(path)
    stamp = stamp_path(lxcpath, name)
    data = _load(stamp, path)
    kept = data.get("answers") if data is not None else None
    known: dict[str, str | None] = {}
    if isinstance(kept, dict):
        known = {k: v for k, v in kept.items() if isinstance(k, str) and (v is None or isinstance(v, str))}
    if all(key in known for key in keys):
        return [known[key] for key in keys]
    from runtime.config.parser import parse_file

    started = time.time_ns()
    config = parse_file(path)
    values = [answer(config, key) for key in keys]
    if running:
        # Every kept key answered again from this parse: the files may have changed
        # since the stamp was read, and the new stamp vouches for what was parsed now.
        asked = dict(zip(keys, values, strict=True))
        kept_keys = [*known, *(key for key in keys if key not in known)][:MAX_ANSWERS]
        fresh = {key: asked[key] if key in asked else answer(config, key) for key in kept_keys}
        _write(stamp, path, config, started, fresh)  # after `answer`: its modules are pinned too
    return values


def _identity(path: str) -> Entry:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return [path]
    return [path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode]


def _load(stamp: str, path: str) -> dict[str, object] | None:
    """The stamp's content when it vouches for `path` as it is now, else None."""
    try:
        with open(stamp, "rb") as handle:
            text = handle.read()
    except OSError:
        return None
    from bus.wire_json import loads

    try:
        data = loads(text.decode("utf-8", "surrogateescape"))
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return None
        if data.get("config") != path or data.get("code") != CODE:
            return None
        entries = data["entries"]
        if not isinstance(entries, list) or not entries:
            return None
        for entry in entries:
            if not isinstance(entry, list) or not entry or not isinstance(entry[0], str):
                return None
            if _identity(entry[0]) != entry:
                return None
    except (ValueError, KeyError, OSError, UnicodeError):
        return None
    return data


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


def _write(
    stamp: str, path: str, config: RawConfig, started: int, answers: dict[str, str | None] | None = None
) -> None:
    entries = entries_of(config)
    if _racy(entries, started) or not os.path.isdir(os.path.dirname(stamp)):
        return
    from bus.wire_json import dumps

    content: dict[str, object] = {"version": VERSION, "config": path, "code": CODE, "entries": entries}
    if answers:
        content["answers"] = answers
    text = dumps(content)
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
