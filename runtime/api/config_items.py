"""A container's configuration as python3-lxc's `Container` holds it: in memory,
changed by `set_config_item`/`clear_config_item`, written by `save_config`.

The items are the config file parsed (runtime.config.parser, so every value is
checked as a file's would be and a bad one raises ConfigError naming the key); a
change touches only memory until `save`, which edits the file in place with
runtime.config.writer (the user's comments, order and other lines stay), or writes
a copy of it to another path. Values read back as LXC's `get_config_item` gives
them (runtime.config.items): a list key is a list, anything else a string.

Files only: nothing here talks to the daemon.
"""

from __future__ import annotations

import os
import shutil

from runtime.client.errors import ConfigError, LxcError
from runtime.config import keys
from runtime.config.items import config_value
from runtime.config.parser import RawConfig, parse_file
from runtime.config.writer import append_key_to_file, set_keys_in_file

Value = str | list[str]


class InvalidKey(LxcError, KeyError):
    """A key LXC does not know (python3-lxc raises KeyError for it: so does this)."""

    def __str__(self) -> str:
        return str(self.args[0])


class ConfigItems:
    """The in-memory config of one container (its file read on first use)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._raw: RawConfig | None = None
        #: Keys changed in memory since the file was read or saved.
        self._dirty: set[str] = set()

    @property
    def raw(self) -> RawConfig:
        if self._raw is None:
            self._raw = parse_file(self.path) if os.path.isfile(self.path) else RawConfig()
        return self._raw

    @property
    def dirty(self) -> bool:
        return bool(self._dirty)

    def reload(self) -> None:
        """Forget what memory holds: the next read is the file's (after create, clone...)."""
        self._raw = None
        self._dirty.clear()

    def get(self, key: str) -> Value:
        """LXC's value: a list for a list key that holds values, else a string."""
        text = config_value(self.raw, key)
        if text is None:
            raise InvalidKey(f"{key}: Invalid configuration key")
        return text.rstrip("\n").split("\n") if text.endswith("\n") else text

    def set(self, key: str, value: Value) -> None:
        """Replace the key's values (a list sets every item of a list key); checked
        first, so a bad value raises ConfigError and memory stays as it was."""
        values = [value] if isinstance(value, str) else list(value)
        trial = self.raw.copy()
        trial.apply(key, "", "<set_config_item>", 0)
        for item in values:
            if item != "":
                trial.apply(key, item, "<set_config_item>", 0)
        self._commit(trial, [key])

    def append(self, key: str, value: str) -> None:
        """Add a value to a list key (a scalar key gets it as its value)."""
        trial = self.raw.copy()
        trial.apply(key, value, "<append_config_item>", 0)
        self._commit(trial, [key])

    def clear(self, key: str) -> None:
        """Clear a key, or a whole group (`lxc.net.0`, `lxc.cgroup2`)."""
        trial = self.raw.copy()
        trial.apply(key, "", "<clear_config_item>", 0)
        touched = [k for k in self.raw.keys() if k == key or k.startswith(key + ".")]
        self._commit(trial, touched or [key])

    def _commit(self, trial: RawConfig, touched: list[str]) -> None:
        self._raw = trial
        self._dirty.update(touched)

    def save(self, path: str | None = None) -> None:
        """Write memory to the container's file (only the changed keys are edited),
        or to another `path` (a copy of the file with the changes)."""
        target = os.path.abspath(path) if path else self.path
        if target != self.path:
            if os.path.isfile(self.path):
                shutil.copyfile(self.path, target)
            else:
                _write_empty(target)
        elif not os.path.isfile(target):
            _write_empty(target)
        for key in sorted(self._dirty):
            _write_key(target, key, self.raw.get_all(key))
        if target == self.path:
            self._dirty.clear()
            self._raw = None


def _write_empty(path: str) -> None:
    with open(path, "x", encoding="utf-8") as handle:
        handle.write("")


def _write_key(path: str, key: str, values: list[str]) -> None:
    """Make the file give `key` exactly `values`: its own lines replaced in place;
    when an included file sets the key too, cleared and set again at the end (after
    every include), so the file's own lines win."""
    set_keys_in_file(path, {key: values[0] if values else None})
    for value in values[1:]:
        append_key_to_file(path, key, value)
    if parse_file(path).get_all(key) == values:
        return
    set_keys_in_file(path, {key: None})
    _append_line(path, key)
    for value in values:
        append_key_to_file(path, key, value)
    if parse_file(path).get_all(key) != values:
        raise ConfigError(path, 0, key, "could not be saved as set (an include overrides it)")


def _append_line(path: str, key: str) -> None:
    """`key =`: clears what the includes above set."""
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        text = handle.read()
    if text and not text.endswith("\n"):
        text += "\n"
    from runtime.config.writer import write_atomically

    write_atomically(path, text + f"{key} =\n")


def subkeys(raw: RawConfig, key: str | None) -> list[str]:
    """python3-lxc's `get_keys`: every top-level key LXC knows, or the sub-keys
    valid under `key` (`lxc.net.0` -> `type`, `link`, `ipv4.address`...)."""
    if key is None:
        return sorted(spec.name for spec in keys.EXACT_KEYS)
    parts = key.split(".")
    if len(parts) == 3 and parts[:2] == ["lxc", "net"] and parts[2].isdigit():
        return [spec.name for spec in keys.NET_KEYS]
    prefix = key.rstrip(".") + "."
    found = {k[len(prefix) :] for k in raw.keys() if k.startswith(prefix)}
    found.update(
        spec.name[len(prefix) :] for spec in keys.EXACT_KEYS if spec.name.startswith(prefix)
    )
    if not found:
        try:
            keys.lookup(key)
        except (keys.UnknownKey, keys.BadMember):
            raise InvalidKey(f"{key}: Invalid configuration key") from None
    return sorted(found)
