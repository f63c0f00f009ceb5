"""Read LXC 5 container configuration files into a `RawConfig`.

The format: one `key = value` per line; blank lines and `#` comments; lines that do
not start with `lxc.` are ignored (as LXC does); a value in matching quotes loses
them; `lxc.include` reads a file or every `*.conf` of a directory in place; list
keys accumulate and an empty value clears them; `lxc.net`, `lxc.net.N`,
`lxc.cgroup`, ... with an empty value clear a whole group.

Every value is checked against the key table when it is read, so an error names the
file, the line and the key: `config:3: lxc.tty.max: 'abc' is not a number`. What is
accepted can be written back and read to the same thing, so the parser also refuses
what no file could hold: a key with a character outside LXC's key alphabet, a value
with a NUL, a line break or a lone surrogate, a list value with no item in it (`" "`),
a family member that is not a file name of its interface (`runtime.config.names`:
`lxc.cgroup.memory.x/../../release_agent`), an include of something that is not a
regular file. Every error is one printable line (`names.shown` escapes the rest).

Deliberate differences from LXC, both to lose less:
- a relative `lxc.include` is resolved against the including file's directory
  (LXC uses the caller's working directory, which breaks when run from elsewhere);
- a directory include (`lxc.include = dir/`) whose directory does not exist adds
  nothing, so Debian's own `userns.conf` (which names a `userns.conf.d/` it does not
  ship) can be used; a missing file include is an error.

Standard library only: the client commands import this on their start-up path.
"""

from __future__ import annotations

import errno
import os
import stat

from runtime.client.errors import ConfigError
from runtime.config import keys
from runtime.config.names import shown

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: `collections.abc` costs ~2 ms at start-up
    from collections.abc import Iterable, Iterator

MAX_INCLUDE_DEPTH = 32
#: The most text one config reads, its includes counted (a real one is a few KiB):
#: a 30 GB sparse file given as a start's config would otherwise be read whole into
#: the daemon, blocking it, then killing it for memory.
MAX_CONFIG_TEXT = 16 << 20


class Entry:
    """One accepted `key = value` line and where it came from."""

    __slots__ = ("key", "value", "file", "line")

    def __init__(self, key: str, value: str, file: str, line: int) -> None:
        self.key = key
        self.value = value
        self.file = file
        self.line = line

    def __repr__(self) -> str:
        return f"Entry({self.key!r}, {self.value!r}, {self.file!r}, {self.line})"


class RawConfig:
    """A container's settings as text, after includes and clearing, in first-seen order.

    Scalar keys hold one entry (the last one set), list keys one entry per value.
    This is what the client commands work with; `runtime.config.model` turns it into
    typed attrs classes for the runtime.
    """

    def __init__(self) -> None:
        self._settings: dict[str, list[Entry]] = {}
        #: Every file read, in order (the container's config and what it included).
        self.files: list[str] = []
        #: Every path an `lxc.include` named, resolved (a file, a directory, or nothing
        #: there): what a cached check must see unchanged (runtime.client.config_stamp).
        self.includes: list[str] = []
        #: Characters read from files so far (bounded by MAX_CONFIG_TEXT).
        self.text_read = 0

    # -- reading ------------------------------------------------------------
    def get(self, key: str) -> str | None:
        """The value of a scalar key (the last one for a list key), or None if unset."""
        entries = self._settings.get(key)
        return entries[-1].value if entries else None

    def get_all(self, key: str) -> list[str]:
        """Every value of a list key in order (one for a scalar key, none if unset)."""
        return [e.value for e in self._settings.get(key, ())]

    def keys(self) -> list[str]:
        """The keys that are set, in the order they first appeared."""
        return list(self._settings)

    def entries(self) -> Iterator[Entry]:
        """Every accepted entry, grouped by key in first-seen order."""
        for entries in self._settings.values():
            yield from entries

    def with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        """(key, value) pairs of every entry whose key starts with `prefix`."""
        return [(e.key, e.value) for e in self.entries() if e.key.startswith(prefix)]

    def net_indices(self) -> list[int]:
        """The indices N for which some `lxc.net.N.*` key is set, sorted."""
        found = set()
        for key in self._settings:
            if key.startswith("lxc.net."):
                found.add(int(key.split(".")[2]))
        return sorted(found)

    def __contains__(self, key: str) -> bool:
        return key in self._settings

    def copy(self) -> RawConfig:
        other = RawConfig()
        other._settings = {k: list(v) for k, v in self._settings.items()}
        other.files = list(self.files)
        other.includes = list(self.includes)
        return other

    # -- changing -----------------------------------------------------------
    def apply(self, key: str, value: str, file: str = "<string>", line: int = 0) -> None:
        """Check and apply one `key = value` as if read from `file` at `line`.

        Raises ConfigError naming file, line and key.
        """
        key = _checked_key(key, file, line)
        _check_text(key, value, file, line)
        if value == "":
            self._clear(key, file, line)
            return
        if keys.is_clearing_key(key):
            raise config_error(file, line, key, "takes no value (give it empty to clear the group)")
        resolved = _resolve(key, file, line)
        try:
            typed = resolved.spec.check(value)
        except ValueError as err:
            raise config_error(file, line, key, str(err)) from None
        if isinstance(typed, list) and not typed:
            # `lxc.cap.drop = " "`: nothing to keep, and nothing to write back either.
            raise config_error(
                file, line, key, f"'{value}' holds no value (an empty value clears the key)"
            )
        entry = Entry(key, value, file, line)
        if resolved.spec.kind == keys.LIST:
            self._settings.setdefault(key, []).append(entry)
        else:
            self._settings[key] = [entry]

    def _clear(self, key: str, file: str, line: int) -> None:
        if keys.is_clearing_key(key):
            prefix = key + "."
            exact = {spec.name for spec in keys.EXACT_KEYS}
            for existing in [k for k in self._settings if k.startswith(prefix)]:
                if existing not in exact:
                    del self._settings[existing]
            return
        _resolve(key, file, line)
        self._settings.pop(key, None)


#: Characters str.splitlines() breaks a line at: no value can hold one (the writer
#: could not write it, the parser would read two lines).
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def config_error(file: str, line: int, key: str | None, reason: str) -> ConfigError:
    """A ConfigError whose text is one printable line whatever the file, key and value
    hold (a line break would forge a second message, an escape sequence would drive
    the user's terminal): see `names.shown`."""
    return ConfigError(shown(file), line, None if key is None else shown(key), shown(reason))


def _checked_key(key: str, file: str, line: int) -> str:
    """The key in its one spelling: `lxc.net.01.x` is `lxc.net.1.x`."""
    try:
        return keys.canonical_key(key)
    except keys.BadMember as err:
        raise config_error(file, line, err.key, err.reason) from None


def _resolve(key: str, file: str, line: int) -> keys.Resolved:
    """The key's spec, or ConfigError: a family member that is not a name of its
    interface (`lxc.cgroup.memory.x/../../release_agent`) names the key and says why;
    a key with a character no LXC key has (`\u3000`, `/`, a NUL) could not be written
    back, and is refused even where the table would match it."""
    try:
        resolved = keys.lookup(key)
    except keys.BadMember as err:
        raise config_error(file, line, err.key, err.reason) from None
    except keys.UnknownKey as err:
        if keys.KEY_CHARACTERS.issuperset(key):
            raise config_error(file, line, None, str(err)) from None
        resolved = None
    if resolved is None or not keys.KEY_CHARACTERS.issuperset(key):
        raise config_error(
            file,
            line,
            None,
            f"'{shown(key)}' is not a configuration key (letters, digits, '.', '_' and '-')",
        )
    return resolved


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return True


def _check_text(key: str, value: str, file: str, line: int) -> None:
    """Refuse a value no file can hold: a NUL (LXC reads C strings, the kernel takes
    none in a path or argument), a line break (it would be two lines once written),
    text that has no bytes (a lone surrogate that is not an escaped byte)."""
    problem = None
    if "\x00" in value:
        problem = "contains a NUL character"
    elif not LINE_BREAKS.isdisjoint(value):
        problem = "contains a line break"
    elif not _encodable(value):
        problem = "is not valid text (it holds a lone surrogate)"
    if problem is not None:
        raise config_error(file, line, key, f"'{shown(value)}' {problem}")


def strip_quotes(value: str) -> str:
    """LXC drops one pair of matching quotes around a value."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def split_line(raw: str) -> tuple[str, str] | None:
    """(key, value) of a config line, None for a line LXC ignores; ValueError if malformed."""
    line = raw.strip()
    if not line or line.startswith("#") or not line.startswith("lxc."):
        return None
    key, sep, value = line.partition("=")
    if not sep:
        raise ValueError(f"invalid line '{shown(line)}' (expected KEY = VALUE)")
    return key.strip(), strip_quotes(value.strip())


def parse_lines(
    lines: Iterable[str], file: str, config: RawConfig | None = None, *, _depth: int = 0
) -> RawConfig:
    """Apply the lines of one file (named `file` in errors) to `config` (or a new one)."""
    config = config if config is not None else RawConfig()
    for number, raw in enumerate(lines, start=1):
        try:
            parsed = split_line(raw)
        except ValueError as err:
            raise config_error(file, number, None, str(err)) from None
        if parsed is None:
            continue
        key, value = parsed
        if key == "lxc.include":
            _include(value, file, number, config, _depth)
        else:
            config.apply(key, value, file, number)
    return config


def _include(value: str, file: str, line: int, config: RawConfig, depth: int) -> None:
    if not value:
        raise config_error(file, line, "lxc.include", "needs a file or directory")
    _check_text("lxc.include", value, file, line)
    if depth >= MAX_INCLUDE_DEPTH:
        raise config_error(file, line, "lxc.include", "includes nest too deep (a loop?)")
    path = value
    if not os.path.isabs(path) and file.startswith("/"):
        path = os.path.join(os.path.dirname(file), path)
    config.includes.append(path)
    try:
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                member = os.path.join(path, name)
                if name.endswith(".conf") and os.path.isfile(member):
                    _parse_path(member, config, depth + 1)
            return
        if value.endswith("/") and not os.path.exists(path):
            return
        _parse_path(path, config, depth + 1)
    except OSError as err:
        raise config_error(
            file, line, "lxc.include", f"cannot read '{shown(value)}': {err.strerror or err}"
        ) from None


def _parse_path(path: str, config: RawConfig, depth: int) -> None:
    """Read one file; only a regular file (`lxc.include = /dev/zero` would never end,
    a FIFO would block the start)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        handle = os.fdopen(fd, encoding="utf-8", errors="surrogateescape")
    except BaseException:
        os.close(fd)
        raise
    budget = MAX_CONFIG_TEXT - config.text_read
    with handle:
        text = handle.read(budget + 1)
    config.text_read += len(text)
    if len(text) > budget:
        raise OSError(errno.EFBIG, f"more than {MAX_CONFIG_TEXT >> 20} MiB of config text")
    config.files.append(path)
    parse_lines(text.splitlines(), path, config, _depth=depth)


def parse_file(path: str, config: RawConfig | None = None) -> RawConfig:
    """Read a config file (and its includes) onto `config` or a new RawConfig.

    A file that cannot be read raises ConfigError naming it and the reason.
    """
    config = config if config is not None else RawConfig()
    if "\x00" in path or not _encodable(path):
        raise config_error(path, 0, None, "is not a file name (it holds a NUL or a lone surrogate)")
    try:
        _parse_path(os.path.abspath(path), config, 0)
    except OSError as err:
        raise config_error(
            path, 0, None, f"cannot read the config file: {err.strerror or err}"
        ) from None
    return config


def parse_text(text: str, file: str = "<string>", config: RawConfig | None = None) -> RawConfig:
    """Parse config text (for tests and for configs built in memory)."""
    return parse_lines(text.splitlines(), file, config)


def apply_define(config: RawConfig, define: str) -> None:
    """Apply one `-s KEY=VALUE` from the command line (scalars replace, lists append)."""
    key, sep, value = define.partition("=")
    label = f"-s {define}"
    if not sep or not key.strip().startswith("lxc."):
        raise config_error(label, 0, None, "expected KEY=VALUE with a key like lxc.tty.max")
    key, value = key.strip(), strip_quotes(value.strip())
    if key == "lxc.include":
        _include(value, label, 0, config, 0)
    else:
        config.apply(key, value, label, 0)
