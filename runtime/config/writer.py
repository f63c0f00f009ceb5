"""Write container configuration files: render settings, and edit a file in place.

Two jobs:
- `render()` turns (key, value) pairs into `key = value` lines the parser reads back
  to the same values (quoting a value whose surrounding spaces or quotes the parser
  would otherwise strip); `render_model()` does it for a typed `ContainerConfig`.
- `set_keys_in_file()` / `append_key_to_file()` change a few keys of an existing
  config (what `lxc-copy` and `lxc-create` do to a container's `config`), keeping the
  user's comments, blank lines, other lines and order. Every new value is checked by
  the parser's rules first, so a bad value raises ConfigError and leaves the file as it
  was; the new file is written next to the old one, fsynced and renamed over it, so a
  crash leaves either the old or the new file, never half of one.

Only the named file is edited, never what it includes: a key set in an included file
is overridden by appending (or replacing) it in the container's own file.

Standard library only: `lxc-copy` and `lxc-create` import it on their start-up path.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

from runtime.client.errors import ConfigError
from runtime.config.parser import LINE_BREAKS as _LINE_BREAKS
from runtime.config.parser import RawConfig, split_line, strip_quotes

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the model needs attrs and cattrs
    from runtime.config.model import ContainerConfig


def quote_value(value: str) -> str:
    """The text to write after `key = ` so that the parser reads back `value` exactly.

    The parser strips surrounding whitespace and then one pair of matching quotes, so
    a value with surrounding whitespace, or one that itself starts and ends with the
    same quote, is wrapped in double quotes (the parser removes exactly that pair).
    """
    if _LINE_BREAKS.intersection(value):
        raise ValueError(f"a value cannot contain a line break: {value!r}")
    if value != value.strip() or strip_quotes(value) != value:
        return f'"{value}"'
    return value


def format_line(key: str, value: str) -> str:
    """One `key = value` line (without its newline); an empty value is `key =`."""
    if not key.startswith("lxc.") or "=" in key or key != "".join(key.split()):
        raise ValueError(f"'{key}' is not a configuration key")
    if value == "":
        return f"{key} ="
    return f"{key} = {quote_value(value)}"


def render(settings: Iterable[tuple[str, str]], header: str | None = None) -> str:
    """Config file text for `settings`, in the order given, optionally after a header.

    Each header line becomes a `# ` comment, followed by a blank line.
    """
    lines = []
    if header is not None:
        for line in header.splitlines():
            lines.append(line if line.startswith("#") else f"# {line}".rstrip())
        lines.append("")
    lines.extend(format_line(key, value) for key, value in settings)
    return "\n".join(lines) + "\n"


def render_model(cfg: ContainerConfig, header: str | None = None) -> str:
    """Config file text for a typed `ContainerConfig` (see `model.to_settings`)."""
    # Imported here: the model needs attrs and cattrs, which clients must not pay for;
    # whoever holds a model has imported it already.
    from runtime.config.model import to_settings

    return render(to_settings(cfg), header)


# -- editing a file in place --------------------------------------------------------


def _validate(path: str, key: str, value: str | None) -> None:
    """Raise ConfigError if `key = value` would not be accepted by the parser.

    None (delete) is accepted for any well-formed key, even one the parser refuses, so
    that a pre-3.0 key can be removed from an old file.
    """
    try:
        format_line(key, value or "")
    except ValueError as err:
        raise ConfigError(path, 0, key, str(err)) from None
    if value is not None:
        RawConfig().apply(key, value, path, 0)


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
            return handle.read().splitlines(keepends=True)
    except OSError as err:
        raise ConfigError(path, 0, None, f"cannot read the config file: {err.strerror}") from None


def _line_key(line: str) -> str | None:
    """The key of a config line, None for comments, blank, non-lxc and malformed lines."""
    try:
        parsed = split_line(line)
    except ValueError:
        return None
    return parsed[0] if parsed else None


def _newline_of(lines: list[str]) -> str:
    """The file's own line ending (a file written on Windows keeps its CRLF)."""
    for line in lines:
        if line.endswith("\r\n"):
            return "\r\n"
        if line.endswith("\n"):
            return "\n"
    return "\n"


def _append(lines: list[str], text: str, newline: str) -> None:
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline
    lines.append(text + newline)


def set_keys_in_file(path: str, changes: dict[str, str | None]) -> None:
    """Set, clear or delete keys in the config file at `path`, keeping everything else.

    For each key: a string value replaces the first line of that key in the file and
    the later lines of the key are removed (an empty string writes `key =`, which clears
    a list key); None removes every line of the key; a key the file does not have is
    appended at the end, in the order of `changes`. Every value is checked first: a bad
    one raises ConfigError and the file is not touched.
    """
    for key, value in changes.items():
        _validate(path, key, value)
    lines = _read_lines(path)
    newline = _newline_of(lines)
    seen: set[str] = set()
    result: list[str] = []
    for line in lines:
        line_key = _line_key(line)
        if line_key is None or line_key not in changes:
            result.append(line)
            continue
        value = changes[line_key]
        if value is None or line_key in seen:
            continue
        seen.add(line_key)
        ending = line[len(line.rstrip("\r\n")) :]
        result.append(format_line(line_key, value) + ending)
    for key, value in changes.items():
        if value is not None and key not in seen:
            _append(result, format_line(key, value), newline)
    write_atomically(path, "".join(result))


def append_key_to_file(path: str, key: str, value: str) -> None:
    """Add one `key = value` line at the end of the file (another value of a list key).

    The value is checked first; a bad one raises ConfigError and the file is untouched.
    For a scalar key the appended line wins over earlier ones when the file is read;
    use `set_keys_in_file` to replace them instead.
    """
    _validate(path, key, value)
    lines = _read_lines(path)
    _append(lines, format_line(key, value), _newline_of(lines))
    write_atomically(path, "".join(lines))


def write_atomically(path: str, text: str, mode: int = 0o644) -> None:
    """Replace the file at `path` with `text`: temp file in the same directory, fsync,
    rename, fsync of the directory.

    An existing file keeps its permission bits and owner (a symlink is followed and its
    target replaced); a new file gets `mode`.
    """
    real = os.path.realpath(path)
    directory = os.path.dirname(real)
    try:
        old = os.stat(real)
    except FileNotFoundError:
        old = None
    fd, tmp = _create_temp(directory, os.path.basename(real))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as out:
            out.write(text)
            out.flush()
            if old is not None:
                os.fchmod(out.fileno(), stat.S_IMODE(old.st_mode))
                if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
                    os.fchown(out.fileno(), old.st_uid, old.st_gid)
            else:
                os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        os.replace(tmp, real)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _create_temp(directory: str, name: str) -> tuple[int, str]:
    """A new, exclusive `.NAME.XXXXXXXX` file in `directory`.

    Not `tempfile.mkstemp`: importing tempfile pulls in `random` and `shutil`, which
    the client commands that import this module would pay for on every start.
    """
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{os.urandom(4).hex()}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file in {directory}")
